"""The notebook's Colab setup cell (grade_id "setup"), run for real in fresh Python processes.

Outside Colab the cell must do nothing. In Colab it downloads the course files and prepares the
VGG-19 weights; here Colab is simulated by a stand-in ``google.colab`` package (the only thing
faked) and the course files are served over real HTTP by ``helpers.LoopbackServer``, which holds a
copy of the assignment's release files. The cell's own source runs unchanged except for COURSE_URL,
which points at the local server.
"""

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE_DIR = ROOT / "notebooks" / "art_generation"
SOURCE_NOTEBOOK = SOURCE_DIR / "Art_Generation_with_Neural_Style_Transfer.ipynb"
RELEASE_FILES = ("nst_utils.py", "vgg_weights.py", "atomic_files.py", "nst_checks.py", "images")
WEIGHTS = Path("pretrained-model") / "vgg19-normalised.mat"
TIMEOUT_S = 120


def _setup_cell_source():
    notebook = nbformat.read(SOURCE_NOTEBOOK, as_version=4)
    cells = [cell for cell in notebook.cells if cell.metadata.get("nbgrader", {}).get("grade_id") == "setup"]
    assert len(cells) == 1, f"{len(cells)} cells with grade_id 'setup'"
    assert cells[0].cell_type == "code"
    return cells[0].source


SETUP_SOURCE = _setup_cell_source()


def _course_files():
    """COURSE_FILES as the cell defines it (a literal list, read without running the cell)."""
    for node in ast.parse(SETUP_SOURCE).body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == "COURSE_FILES"
        ):
            return ast.literal_eval(node.value)
    raise AssertionError("the setup cell defines no COURSE_FILES")


COURSE_FILES = _course_files()


def _with_course_url(url):
    """The setup cell's source with COURSE_URL set to ``url`` (and nothing else changed)."""
    source, count = re.subn(r'^COURSE_URL = "[^"\n]*"$', f"COURSE_URL = {url!r}", SETUP_SOURCE, flags=re.M)
    assert count == 1, f"expected one COURSE_URL assignment in the setup cell, replaced {count}"
    return source


def _env(pythonpath=None):
    """This environment without PYTHONPATH (or with exactly ``pythonpath``)."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    return env


def _run_python(code, cwd, pythonpath=None):
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=_env(pythonpath), capture_output=True, text=True, timeout=TIMEOUT_S
    )


def _output(result):
    return f"exit {result.returncode}\n--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-5000:]}"


def _leftovers(folder):
    """Temporary download/conversion files (``x.part``, ``.x.XXXX.part.mat``) anywhere in ``folder``."""
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*.part*"))


@pytest.fixture
def fake_colab(tmp_path):
    """A folder holding a stand-in ``google.colab`` package, for PYTHONPATH."""
    fake = tmp_path / "fake"
    (fake / "google" / "colab").mkdir(parents=True)
    (fake / "google" / "__init__.py").write_text("")
    (fake / "google" / "colab" / "__init__.py").write_text("")
    return fake


@pytest.fixture
def course_server(loopback_server):
    """The release files, copied (symlinks resolved) and served over HTTP on 127.0.0.1."""
    for name in RELEASE_FILES:
        source = SOURCE_DIR / name
        if source.is_dir():
            shutil.copytree(source, loopback_server.root / name)  # symlinks=False: copies what the links point to
        else:
            shutil.copyfile(source, loopback_server.root / name)  # follows the symlink
    missing = [name for name in COURSE_FILES if not (loopback_server.root / name).is_file()]
    assert not missing, f"COURSE_FILES not among the release files: {missing}"
    return loopback_server


def test_setup_cell_does_nothing_outside_colab(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    check = _run_python(
        "import importlib.util, sys; sys.exit(importlib.util.find_spec('google.colab') is not None)", cwd=home
    )
    assert check.returncode == 0, "google.colab is importable in this environment: the test would be meaningless"

    result = _run_python(SETUP_SOURCE, cwd=home)

    assert result.returncode == 0, _output(result)
    assert result.stdout == "", _output(result)
    assert sorted(os.listdir(home)) == [], "the setup cell wrote files outside Colab"


def test_setup_cell_in_colab_downloads_course_files_and_prepares_weights(tmp_path, fake_colab, course_server):
    content = tmp_path / "content"
    content.mkdir()
    source = _with_course_url(course_server.url + "/")

    result = _run_python(source, cwd=content, pythonpath=fake_colab)

    assert result.returncode == 0, _output(result)
    for name in COURSE_FILES:
        downloaded = content / name
        assert downloaded.is_file(), f"{name} was not downloaded\n{_output(result)}"
        assert downloaded.read_bytes() == (course_server.root / name).read_bytes(), f"{name} is not the served file"
    assert sorted(course_server.requests) == sorted("/" + name for name in COURSE_FILES)
    assert _leftovers(content) == []
    assert (content / WEIGHTS).is_file(), _output(result)

    # The downloaded nst_utils (and the vgg_weights it imports) read the weights the cell made,
    # and find them by default from their own folder. No stand-in google package here: TensorFlow
    # needs the real google.protobuf.
    load = _run_python(
        "from pathlib import Path\n"
        "import nst_utils, vgg_weights\n"
        "here = Path.cwd().resolve()\n"
        "assert Path(nst_utils.__file__).resolve().parent == here, nst_utils.__file__\n"
        "assert Path(vgg_weights.__file__).resolve().parent == here, vgg_weights.__file__\n"
        "assert nst_utils.CONFIG.weights_path.resolve() == (here / 'pretrained-model' / 'vgg19-normalised.mat'), "
        "nst_utils.CONFIG.weights_path\n"
        "weights = nst_utils.read_vgg19()\n"
        "assert len(weights.kernels) == 16, sorted(weights.kernels)\n"
        "assert weights.kernels['conv1_1'][0].shape == (3, 3, 3, 64)\n"
        "assert weights.kernels['conv5_4'][0].shape == (3, 3, 512, 512)\n"
        "assert weights.mean_rgb.shape == (3,)\n"
        "assert weights.description == vgg_weights.NORMALISED_DESCRIPTION, weights.description\n"
        "print('loaded')\n",
        cwd=content,
    )
    assert load.returncode == 0 and "loaded" in load.stdout, _output(load)

    # Running the cell again (Colab "Run all" twice) downloads nothing and keeps everything.
    before = {path: path.stat().st_mtime_ns for path in content.rglob("*") if path.is_file()}
    requests_before = len(course_server.requests)

    again = _run_python(source, cwd=content, pythonpath=fake_colab)

    assert again.returncode == 0, _output(again)
    assert len(course_server.requests) == requests_before, course_server.requests[requests_before:]
    after = {path: path.stat().st_mtime_ns for path in content.rglob("*") if path.is_file()}
    assert after == before, "the second run changed the files"


@pytest.mark.parametrize(
    "failure, message",
    [
        ("missing", "HTTP Error 404"),  # the server answers 404
        ("cut-short", "retrieval incomplete"),  # half the file arrives, then the connection closes
    ],
)
def test_setup_cell_in_colab_stops_at_a_failed_download(tmp_path, fake_colab, course_server, failure, message):
    failing = "nst_checks.py"
    assert failing in COURSE_FILES
    if failure == "missing":
        (course_server.root / failing).unlink()
    else:
        course_server.cut_short.add(f"/{failing}")
    content = tmp_path / "content"
    content.mkdir()

    result = _run_python(_with_course_url(course_server.url + "/"), cwd=content, pythonpath=fake_colab)

    assert result.returncode != 0, _output(result)
    assert f"could not download {course_server.url}/{failing}: " in result.stderr, _output(result)
    assert message in result.stderr, _output(result)
    assert f"/{failing}" in course_server.requests
    assert not (content / failing).exists()
    assert _leftovers(content) == []
    assert not (content / "pretrained-model").exists(), "the weights step ran after a failed download"
    # Files listed before the failing one arrived whole; nothing after it was attempted.
    position = COURSE_FILES.index(failing)
    for name in COURSE_FILES[:position]:
        assert (content / name).read_bytes() == (course_server.root / name).read_bytes()
    for name in COURSE_FILES[position + 1 :]:
        assert not (content / name).exists()
