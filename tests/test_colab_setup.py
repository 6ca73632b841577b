"""The published course and the notebook's Colab setup cell (grade_id "setup") that fetches it, run for real.

``make release`` publishes the student bundle in two steps, both real here: ``nbgrader
generate_assignment`` (the shared ``released_course``), then ``python -m nst_grader.publish`` (the
course's address written into the notebook, ``MANIFEST.sha256`` and ``art_generation.zip``).
``helpers.LoopbackServer`` serves the result over real HTTP. Outside Colab the setup cell must do
nothing. In Colab it takes the course file by file from COURSE_URL, or from the archive COURSE_URL
names, checks every file against the manifest, and prepares the VGG-19 weights; without an address,
or when the download fails, it asks for ``art_generation.zip`` and takes the course from that. Colab
is simulated by a stand-in ``google.colab`` package, a real module on PYTHONPATH whose
``files.upload()`` returns the bytes of the file that ``FAKE_COLAB_UPLOAD`` names, or nothing (a learner
who closes the dialog): the only thing faked. The cell's own source runs unchanged except for
COURSE_URL, which points at the server.
"""

import ast
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbgrader.utils import compute_checksum

from course import ASSIGNMENT, NOTEBOOK, ROOT, SOURCE_NOTEBOOK, cell_by_grade_id

MANIFEST = "MANIFEST.sha256"
WEIGHTS = Path("pretrained-model") / "vgg19-normalised.mat"
FIGURES = ("unrolling.png", "gram.png", "reference_result.png", "reference_result.json")
TIMEOUT_S = 120
SETUP_SOURCE = cell_by_grade_id(nbformat.read(SOURCE_NOTEBOOK, as_version=4), "setup").source
COURSE_ZIP = f"{ASSIGNMENT}.zip"
NO_FILE_CHOSEN = f"no file was chosen. Run this cell again and choose {COURSE_ZIP}"
FAKE_FILES = """\
import os


def upload():
    \"\"\"As Colab's: {name: bytes} of the file the learner chose; here FAKE_COLAB_UPLOAD's, or none.\"\"\"
    print("files.upload() called")
    path = os.environ.get("FAKE_COLAB_UPLOAD")
    if not path:
        return {}
    with open(path, "rb") as file:
        return {os.path.basename(path): file.read()}
"""


def _with_url(course_url):
    """The setup cell's source with COURSE_URL set (and nothing else changed)."""
    source, count = re.subn(r'^COURSE_URL = "[^"\n]*"', f"COURSE_URL = {course_url!r}", SETUP_SOURCE, flags=re.M)
    assert count == 1, f"expected one COURSE_URL assignment in the setup cell, replaced {count}"
    return source


def _env(pythonpath=None, upload=None):
    """This environment without PYTHONPATH or NST_WEIGHTS (or with exactly ``pythonpath``), and with
    ``upload`` as the file the stand-in ``files.upload()`` returns."""
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "NST_WEIGHTS")}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    if upload is not None:
        env["FAKE_COLAB_UPLOAD"] = str(upload)
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    return env


def _run(command, cwd, pythonpath=None, upload=None):
    return subprocess.run(
        command, cwd=cwd, env=_env(pythonpath, upload), capture_output=True, text=True, timeout=TIMEOUT_S
    )


def _run_python(code, cwd, pythonpath=None, upload=None):
    return _run([sys.executable, "-c", code], cwd, pythonpath, upload)


def _output(result):
    return f"exit {result.returncode}\n--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-5000:]}"


def _files(folder):
    """Every file under ``folder``, as sorted posix paths relative to it."""
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())


def _manifest(folder):
    """``{path: sha256}`` of ``folder/MANIFEST.sha256``, in its order, read independently of the code under test."""
    entries = {}
    for line in (folder / MANIFEST).read_text().splitlines():
        digest, name = line.split("  ", 1)
        entries[name] = digest
    return entries


def _publish(folder, *options):
    return _run([sys.executable, "-m", "nst_grader.publish", str(folder), *options], ROOT)


@pytest.fixture(scope="module")
def published(released_course, tmp_path_factory):
    """A copy of nbgrader's release of the assignment, published by ``python -m nst_grader.publish``."""
    folder = tmp_path_factory.mktemp("published") / ASSIGNMENT
    shutil.copytree(released_course / "release" / ASSIGNMENT, folder)
    result = _publish(folder)
    assert result.returncode == 0, _output(result)
    return folder


@pytest.fixture
def fake_colab(tmp_path):
    """A folder holding a stand-in ``google.colab`` package (with ``files.upload``), for PYTHONPATH."""
    fake = tmp_path / "fake"
    (fake / "google" / "colab").mkdir(parents=True)
    (fake / "google" / "__init__.py").write_text("")
    (fake / "google" / "colab" / "__init__.py").write_text("")
    (fake / "google" / "colab" / "files.py").write_text(FAKE_FILES)
    return fake


@pytest.fixture
def content(tmp_path):
    """Colab's working folder (/content), empty."""
    folder = tmp_path / "content"
    folder.mkdir()
    return folder


def _tar_gz(folder, extra=()):
    """``folder`` as a .tar.gz under ``folder.name/`` (bytes); ``extra``: ``(tarfile.TarInfo, data or
    None)`` pairs, added first."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for member, data in extra:
            member.size = len(data or b"")
            archive.addfile(member, None if data is None else io.BytesIO(data))
        archive.add(folder, arcname=folder.name)
    return buffer.getvalue()


@pytest.fixture
def course_server(loopback_server, published):
    """The published course over HTTP: ``/art_generation/`` (its files), ``/art_generation.zip`` (from
    ``nst_grader.publish``) and ``/art_generation.tar.gz`` (the same folder, tarred here)."""
    root = loopback_server.root
    shutil.copytree(published, root / ASSIGNMENT)
    shutil.copyfile(published.with_name(f"{ASSIGNMENT}.zip"), root / f"{ASSIGNMENT}.zip")
    (root / f"{ASSIGNMENT}.tar.gz").write_bytes(_tar_gz(published))
    return loopback_server


def _assert_course_arrived(content, served):
    """Every file of the served course is in ``content``, byte for byte, and nothing half-written is."""
    for name in [*_manifest(served), MANIFEST]:
        assert (content / name).read_bytes() == (served / name).read_bytes(), name
    assert list(content.rglob("*.part*")) == []


def _assert_nothing_saved(content, result):
    """The download failed, the cell offered the upload, the learner chose nothing (the stand-in's
    default): it stopped saying what to do, and saved nothing."""
    assert result.returncode != 0, _output(result)
    assert f"Upload {COURSE_ZIP} instead." in result.stderr, _output(result)
    assert "files.upload() called" in result.stdout, _output(result)
    assert NO_FILE_CHOSEN in result.stderr, _output(result)
    assert _files(content) == [], f"a failed setup saved files\n{_output(result)}"


# --------------------------------------------------------------------------------------------
# The published course
# --------------------------------------------------------------------------------------------


def test_publish_writes_a_manifest_that_sha256sum_checks_and_a_reproducible_zip(published, tmp_path):
    files = [name for name in _files(published) if name != MANIFEST]
    assert list(_manifest(published)) == files

    assert shutil.which("sha256sum"), "coreutils' sha256sum is needed to check the manifest's format"
    check = _run(["sha256sum", "--check", "--strict", MANIFEST], published)
    assert check.returncode == 0, _output(check)
    assert check.stdout.count(": OK\n") == len(files), _output(check)

    archive_path = published.with_name(f"{ASSIGNMENT}.zip")
    with zipfile.ZipFile(archive_path) as archive:
        assert archive.namelist() == [f"{ASSIGNMENT}/{name}" for name in [*files, MANIFEST]]
        for name in [*files, MANIFEST]:
            assert archive.read(f"{ASSIGNMENT}/{name}") == (published / name).read_bytes(), name

    # The same files, published elsewhere at another time, give the same bytes.
    again = tmp_path / ASSIGNMENT
    shutil.copytree(published, again)
    (again / MANIFEST).unlink()
    result = _publish(again)
    assert result.returncode == 0, _output(result)
    assert (again / MANIFEST).read_bytes() == (published / MANIFEST).read_bytes()
    assert again.with_name(f"{ASSIGNMENT}.zip").read_bytes() == archive_path.read_bytes()


@pytest.mark.parametrize("name", ["images/my photo.jpg", "images/.DS_Store"])
def test_publish_refuses_a_name_the_setup_cell_would_refuse(tmp_path, name):
    folder = tmp_path / ASSIGNMENT
    (folder / "images").mkdir(parents=True)
    (folder / "nst_utils.py").write_text("")
    (folder / name).write_bytes(b"x")

    result = _publish(folder)

    assert result.returncode == 1, _output(result)
    assert f"error: cannot publish {name}: use only letters, digits" in result.stderr, _output(result)
    assert sorted(os.listdir(tmp_path)) == [ASSIGNMENT]  # no archive
    assert _files(folder) == sorted(["nst_utils.py", name])  # no manifest


def _project_imports(source):
    """Top-level names imported by Python ``source`` that are this project's modules or packages."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return {name for name in names if (ROOT / f"{name}.py").is_file() or (ROOT / name / "__init__.py").is_file()}


def test_release_holds_every_file_the_notebook_and_its_modules_use(published):
    manifest = _manifest(published)
    notebook = nbformat.read(published / NOTEBOOK, as_version=4)

    referenced = {name for cell in notebook.cells for name in re.findall(r"images/[\w/.-]+\.\w+", cell.source)}
    assert {"images/chelsea.jpg", "images/swirls.jpg"} <= referenced
    assert referenced <= set(manifest), f"used by the notebook, not in the release: {referenced - set(manifest)}"
    assert {f"images/figures/{name}" for name in FIGURES} <= set(manifest)

    code = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    modules = [name for name in manifest if name.endswith(".py")]
    imported = set().union(
        *(_project_imports(source) for source in code + [(published / m).read_text() for m in modules])
    )
    assert {"nst_utils", "nst_checks", "vgg_weights", "atomic_files"} <= imported
    assert {f"{name}.py" for name in imported} <= set(manifest), imported

    credits = (published / "images" / "CREDITS.md").read_text()
    pictures = [name.removeprefix("images/") for name in manifest if name.endswith((".jpg", ".png"))]
    assert [name for name in pictures if f"`{name}`" not in credits] == [], "pictures not in images/CREDITS.md"


def test_missing_weights_error_in_the_release_says_what_to_do_there(published, tmp_path):
    """In the bundle (no Makefile, no weights) the error names the command and the folder; running
    that command there makes weights that the bundle then reads."""
    folder = tmp_path / ASSIGNMENT
    shutil.copytree(published, folder)
    read = (
        "import nst_utils\n"
        "try:\n"
        "    weights = nst_utils.read_vgg19()\n"
        "except nst_utils.WeightsError as error:\n"
        "    print(error)\n"
        "else:\n"
        "    print('read', weights.network)\n"
    )

    before = _run_python(read, folder)
    assert before.returncode == 0, _output(before)
    here = folder.resolve()  # as the bundle's nst_utils names its folder
    assert f"no VGG-19 weights at {here / WEIGHTS}" in before.stdout, _output(before)
    assert f"run `python vgg_weights.py normalised` in {here}" in before.stdout, _output(before)
    assert "`make" not in before.stdout, "the bundle has no Makefile"

    make = _run([sys.executable, "vgg_weights.py", "normalised"], folder)
    assert make.returncode == 0, _output(make)

    after = _run_python(read, folder)
    assert after.stdout.strip() == "read normalised", _output(after)


# --------------------------------------------------------------------------------------------
# The setup cell
# --------------------------------------------------------------------------------------------


def test_setup_cell_does_nothing_outside_colab(content):
    check = _run_python(
        "import importlib.util, sys; sys.exit(importlib.util.find_spec('google.colab') is not None)", content
    )
    assert check.returncode == 0, "google.colab is importable in this environment: the test would be meaningless"

    result = _run_python(SETUP_SOURCE, content)

    assert result.returncode == 0, _output(result)
    assert result.stdout == "", _output(result)
    assert sorted(os.listdir(content)) == [], "the setup cell wrote files outside Colab"


def test_setup_cell_in_colab_fetches_the_course_file_by_file_and_prepares_weights(content, fake_colab, course_server):
    served = course_server.root / ASSIGNMENT
    source = _with_url(f"{course_server.url}/{ASSIGNMENT}/")

    result = _run_python(source, content, fake_colab)

    assert result.returncode == 0, _output(result)
    _assert_course_arrived(content, served)
    assert course_server.requests == [f"/{ASSIGNMENT}/{name}" for name in [MANIFEST, *_manifest(served)]]
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
        content,
    )
    assert load.returncode == 0 and "loaded" in load.stdout, _output(load)

    # Running the cell again (Colab "Run all" twice) downloads nothing and keeps everything.
    before = {path: path.stat().st_mtime_ns for path in content.rglob("*") if path.is_file()}
    requests_before = len(course_server.requests)

    again = _run_python(source, content, fake_colab)

    assert again.returncode == 0, _output(again)
    assert course_server.requests[requests_before:] == []
    after = {path: path.stat().st_mtime_ns for path in content.rglob("*") if path.is_file()}
    assert after == before, "the second run changed the files"


@pytest.mark.parametrize("suffix", [".zip", ".tar.gz"])
def test_setup_cell_in_colab_takes_the_course_from_an_archive(content, fake_colab, course_server, suffix):
    result = _run_python(_with_url(f"{course_server.url}/{ASSIGNMENT}{suffix}"), content, fake_colab)

    assert result.returncode == 0, _output(result)
    _assert_course_arrived(content, course_server.root / ASSIGNMENT)
    assert course_server.requests == [f"/{ASSIGNMENT}{suffix}"]
    assert (content / WEIGHTS).is_file(), _output(result)


@pytest.mark.parametrize(
    "failure, message",
    [
        ("missing", "could not download {url}nst_checks.py: HTTP Error 404"),  # the server answers 404
        ("cut-short", "could not download {url}nst_checks.py: IncompleteRead"),  # the connection breaks off
        ("truncated", "nst_checks.py from {url}: missing or not the file that MANIFEST.sha256 lists"),
        ("error-page", "nst_checks.py from {url}: missing or not the file that MANIFEST.sha256 lists"),
    ],
)
def test_setup_cell_in_colab_saves_nothing_when_a_file_fails(content, fake_colab, course_server, failure, message):
    served = course_server.root / ASSIGNMENT
    failing = served / "nst_checks.py"
    if failure == "missing":
        failing.unlink()
    elif failure == "cut-short":  # the whole Content-Length announced, half the bytes sent
        course_server.cut_short.add(f"/{ASSIGNMENT}/nst_checks.py")
    elif failure == "truncated":  # a file cut short on the server: its Content-Length is its own
        failing.write_bytes(failing.read_bytes()[:1000])
    else:  # a server that answers 200 with a page in the file's place
        failing.write_bytes(b"<!DOCTYPE html><html><body>Sorry, this page is not available.</body></html>\n")
    url = f"{course_server.url}/{ASSIGNMENT}/"

    result = _run_python(_with_url(url), content, fake_colab)

    assert message.format(url=url) in result.stderr, _output(result)
    _assert_nothing_saved(content, result)
    assert f"/{ASSIGNMENT}/nst_checks.py" in course_server.requests


@pytest.mark.parametrize(
    "manifest",
    [
        b"<!DOCTYPE html><html><body>404: Not Found</body></html>\n",
        f"{hashlib.sha256(b'print(1)').hexdigest()}  ../evil.py\n".encode(),
        f"{hashlib.sha256(b'print(1)').hexdigest()}  /tmp/evil.py\n".encode(),
        b"",
    ],
    ids=["error-page", "parent-path", "absolute-path", "empty"],
)
def test_setup_cell_in_colab_refuses_a_manifest_that_is_not_one(content, fake_colab, course_server, manifest):
    (course_server.root / ASSIGNMENT / MANIFEST).write_bytes(manifest)
    (course_server.root / "evil.py").write_text("print(1)")
    url = f"{course_server.url}/{ASSIGNMENT}/"

    result = _run_python(_with_url(url), content, fake_colab)

    assert f"{MANIFEST} from {url} is not a course manifest" in result.stderr, _output(result)
    _assert_nothing_saved(content, result)
    assert course_server.requests == [f"/{ASSIGNMENT}/{MANIFEST}"]


def _zip_with(folder, name, data):
    """``folder`` zipped under ``folder.name/`` (bytes), with one more member ``name`` holding ``data``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, data)
        for file in _files(folder):
            archive.write(folder / file, f"{folder.name}/{file}")
    return buffer.getvalue()


def _tar_member(name, kind=tarfile.REGTYPE, link=""):
    member = tarfile.TarInfo(name)
    member.type, member.linkname = kind, link
    return member


@pytest.mark.parametrize(
    "make, outside",
    [
        (lambda folder, evil: _zip_with(folder, f"{ASSIGNMENT}/../../evil.py", b"print(1)"), "../../evil.py"),
        (lambda folder, evil: _zip_with(folder, str(evil), b"print(1)"), "/"),
        (lambda folder, evil: _tar_gz(folder, [(_tar_member(f"{ASSIGNMENT}/../evil.py"), b"print(1)")]), "../evil.py"),
        (lambda folder, evil: _tar_gz(folder, [(_tar_member(str(evil)), b"print(1)")]), "/"),
    ],
    ids=["zip-parent", "zip-absolute", "tar-parent", "tar-absolute"],
)
def test_setup_cell_in_colab_refuses_a_hostile_archive(tmp_path, content, fake_colab, course_server, make, outside):
    evil = tmp_path / "evil.py"
    (course_server.root / "course.zip").write_bytes(make(course_server.root / ASSIGNMENT, evil))
    url = f"{course_server.url}/course.zip"

    result = _run_python(_with_url(url), content, fake_colab)

    assert f"refusing {url}: it holds paths outside its folder: " in result.stderr, _output(result)
    assert outside in result.stderr.split("outside its folder: ", 1)[1], _output(result)
    _assert_nothing_saved(content, result)
    assert not evil.exists() and not (content.parent.parent / "evil.py").exists()


def test_setup_cell_in_colab_never_creates_a_link_from_an_archive(tmp_path, content, fake_colab, course_server):
    """A tar whose images/ is a link out of the course, then the images under it: the link is left
    out, the images land in a real images/ folder, and nothing reaches the link's target."""
    outside = tmp_path / "outside"
    outside.mkdir()
    link = _tar_member(f"{ASSIGNMENT}/images", tarfile.SYMTYPE, str(outside))
    (course_server.root / "course.tar.gz").write_bytes(_tar_gz(course_server.root / ASSIGNMENT, [(link, None)]))

    result = _run_python(_with_url(f"{course_server.url}/course.tar.gz"), content, fake_colab)

    assert result.returncode == 0, _output(result)
    _assert_course_arrived(content, course_server.root / ASSIGNMENT)
    assert [path for path in content.rglob("*") if path.is_symlink()] == []
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize(
    "failure, message",
    [
        ("not-an-archive", "{url} is not a readable .zip or .tar.gz archive"),
        ("no-manifest", "{url} holds no MANIFEST.sha256: it is not a course archive from `make release`"),
        ("file-missing", "images/swirls.jpg from {url}: missing or not the file that MANIFEST.sha256 lists"),
        ("file-damaged", "nst_utils.py from {url}: missing or not the file that MANIFEST.sha256 lists"),
    ],
)
def test_setup_cell_in_colab_saves_nothing_from_a_bad_archive(content, fake_colab, course_server, failure, message):
    served = course_server.root / ASSIGNMENT
    if failure == "not-an-archive":
        archive = b"<!DOCTYPE html><html><body>Sign in to continue</body></html>\n"
    else:
        if failure == "no-manifest":
            (served / MANIFEST).unlink()
        elif failure == "file-missing":
            (served / "images" / "swirls.jpg").unlink()
        else:
            (served / "nst_utils.py").write_text("# not the course's nst_utils\n")
        archive = _tar_gz(served)
    (course_server.root / "course.tar.gz").write_bytes(archive)
    url = f"{course_server.url}/course.tar.gz"

    result = _run_python(_with_url(url), content, fake_colab)

    assert message.format(url=url) in result.stderr, _output(result)
    _assert_nothing_saved(content, result)


# --------------------------------------------------------------------------------------------
# No address, or one that fails: the learner uploads art_generation.zip


def test_setup_cell_in_colab_without_an_address_takes_the_uploaded_zip(content, fake_colab, published):
    """The source notebook's cell (as `make release` without COURSE_URL leaves it) asks for the zip."""
    assert re.search(r'^COURSE_URL = ""', SETUP_SOURCE, re.M), "the source notebook must not hold an address"

    result = _run_python(SETUP_SOURCE, content, fake_colab, upload=published.with_name(COURSE_ZIP))

    assert result.returncode == 0, _output(result)
    assert f"Choose {COURSE_ZIP}, the course archive from your course page" in result.stdout, _output(result)
    assert "this notebook has no course address (COURSE_URL is empty)" in result.stderr, _output(result)
    _assert_course_arrived(content, published)
    assert (content / WEIGHTS).is_file(), _output(result)
    assert "The course files and the VGG-19 weights are ready." in result.stdout, _output(result)


def test_setup_cell_in_colab_falls_back_to_the_upload_when_the_download_fails(content, fake_colab, course_server):
    served = course_server.root / ASSIGNMENT
    zip_path = course_server.root / COURSE_ZIP
    (served / MANIFEST).unlink()  # the folder published without its manifest: 404
    url = f"{course_server.url}/{ASSIGNMENT}/"

    result = _run_python(_with_url(url), content, fake_colab, upload=zip_path)

    assert result.returncode == 0, _output(result)
    assert f"Could not fetch the course: could not download {url}{MANIFEST}: HTTP Error 404" in result.stderr
    assert f"Upload {COURSE_ZIP} instead." in result.stderr, _output(result)
    with zipfile.ZipFile(zip_path) as archive:
        for name in archive.namelist():
            assert (content / name.removeprefix(f"{ASSIGNMENT}/")).read_bytes() == archive.read(name), name
    assert course_server.requests == [f"/{ASSIGNMENT}/{MANIFEST}"]


@pytest.mark.parametrize(
    "damage, message",
    [
        ("not-a-zip", "is not a readable .zip or .tar.gz archive"),
        ("file-damaged", "nst_utils.py from {name}: missing or not the file that MANIFEST.sha256 lists"),
        ("no-manifest", "{name} holds no MANIFEST.sha256: it is not a course archive from `make release`"),
    ],
)
def test_setup_cell_in_colab_saves_nothing_from_a_bad_upload(tmp_path, content, fake_colab, published, damage, message):
    upload = tmp_path / "art_generation (1).zip"  # as a browser names a second download
    if damage == "not-a-zip":
        upload.write_bytes(b"<!DOCTYPE html><html><body>Sign in to continue</body></html>\n")
    else:
        folder = tmp_path / "damaged" / ASSIGNMENT
        shutil.copytree(published, folder)
        if damage == "file-damaged":
            (folder / "nst_utils.py").write_text("# not the course's nst_utils\n")
        else:
            (folder / MANIFEST).unlink()
        upload.write_bytes(_zip_with(folder, f"{ASSIGNMENT}/README.txt", b"from the course page"))

    result = _run_python(SETUP_SOURCE, content, fake_colab, upload=upload)

    assert result.returncode != 0, _output(result)
    assert message.format(name=upload.name) in result.stderr, _output(result)
    assert f"Download {COURSE_ZIP} again, run this cell again and choose it" in result.stderr, _output(result)
    assert _files(content) == [], f"a failed setup saved files\n{_output(result)}"


def test_setup_cell_in_colab_says_what_to_do_when_no_file_is_chosen(content, fake_colab):
    result = _run_python(SETUP_SOURCE, content, fake_colab)

    assert result.returncode != 0, _output(result)
    assert NO_FILE_CHOSEN in result.stderr, _output(result)
    assert _files(content) == []


# --------------------------------------------------------------------------------------------
# The course's address: make release COURSE_URL=... -> setup cell, badge and published files agree


def _released_copy(released_course, tmp_path):
    folder = tmp_path / ASSIGNMENT
    shutil.copytree(released_course / "release" / ASSIGNMENT, folder)
    return folder


def _setup_and_intro(folder):
    notebook = nbformat.read(folder / NOTEBOOK, as_version=4)
    return cell_by_grade_id(notebook, "setup"), notebook.cells[0]


def _colab_links(cell):
    return re.findall(r"\]\((https://colab\.research\.google\.com/github/[^)\s]+)\)", cell.source)


def test_publish_writes_the_address_into_the_setup_cell_and_the_badge(released_course, tmp_path):
    folder = _released_copy(released_course, tmp_path)
    course_url = "https://raw.githubusercontent.com/a-teacher/nst-course/v1.2/art_generation/"

    result = _publish(folder, "--course-url", course_url)

    assert result.returncode == 0, _output(result)
    setup, intro = _setup_and_intro(folder)
    assert re.findall(r'^COURSE_URL = "([^"]*)"', setup.source, re.M) == [course_url]
    [link] = _colab_links(intro)
    assert link == f"https://colab.research.google.com/github/a-teacher/nst-course/blob/v1.2/art_generation/{NOTEBOOK}"
    assert f"Open in Colab: {link}" in result.stdout
    # The badge opens the notebook at the path it has under COURSE_URL; that notebook is the one the
    # manifest and the zip hold, address included.
    published_path = link.split("/blob/v1.2/", 1)[1]
    raw_path = course_url.split("/v1.2/", 1)[1] + NOTEBOOK
    assert published_path == raw_path
    notebook_bytes = (folder / NOTEBOOK).read_bytes()
    assert _manifest(folder)[NOTEBOOK] == hashlib.sha256(notebook_bytes).hexdigest()
    with zipfile.ZipFile(folder.with_name(COURSE_ZIP)) as archive:
        assert archive.read(f"{ASSIGNMENT}/{NOTEBOOK}") == notebook_bytes
    # Both cells are locked: nbgrader validate compares their checksums, recomputed for the new source.
    for cell in (setup, intro):
        assert cell.metadata.nbgrader["checksum"] == compute_checksum(cell)


def test_published_setup_cell_fetches_from_the_address_that_publish_wrote(
    released_course, tmp_path, content, fake_colab, loopback_server
):
    """Not the source's cell with a URL put in: the released cell as publish left it."""
    folder = _released_copy(released_course, tmp_path)
    url = f"{loopback_server.url}/{ASSIGNMENT}/"
    assert _publish(folder, "--course-url", url).returncode == 0
    shutil.copytree(folder, loopback_server.root / ASSIGNMENT)
    setup, intro = _setup_and_intro(folder)
    assert _colab_links(intro) == []  # Colab opens GitHub's notebooks only: no badge for another host
    assert "upload this notebook (*File → Upload notebook*)" in intro.source

    result = _run_python(setup.source, content, fake_colab)

    assert result.returncode == 0, _output(result)
    _assert_course_arrived(content, folder)
    assert "files.upload() called" not in result.stdout


def test_publish_without_an_address_tells_colab_learners_to_upload_the_zip(released_course, tmp_path):
    folder = _released_copy(released_course, tmp_path)

    result = _publish(folder)

    assert result.returncode == 0, _output(result)
    setup, intro = _setup_and_intro(folder)
    assert re.search(r'^COURSE_URL = ""', setup.source, re.M)
    assert _colab_links(intro) == []
    assert f"asks for `{COURSE_ZIP}`" in intro.source
    assert f"no COURSE_URL: in Colab, students upload the notebook, then {COURSE_ZIP}" in result.stdout


@pytest.mark.parametrize(
    "course_url, error",
    [
        (
            None,
            "refusing to publish a Colab link that is not the course's: "
            "https://colab.research.google.com/github/deep-learning-and-art/course/blob/main/release/",
        ),
        ("raw.githubusercontent.com/a-teacher/nst-course/main/", "is not the address of a published folder"),
        ('https://example.org/course"; import os; "/', "is not the address of a published folder"),
        ("https://example.org/course/art_generation.rar", "is not the address of a published folder"),
    ],
    ids=["placeholder-badge", "no-scheme", "quote", "not-an-archive"],
)
def test_publish_refuses_a_placeholder_badge_or_an_unusable_address(released_course, tmp_path, course_url, error):
    folder = _released_copy(released_course, tmp_path)
    if course_url is None:  # an old release's badge, left in a text cell
        notebook = nbformat.read(folder / NOTEBOOK, as_version=4)
        notebook.cells[0].source += (
            "\n\n[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            "(https://colab.research.google.com/github/deep-learning-and-art/course/blob/main/release/"
            f"{ASSIGNMENT}/{NOTEBOOK})"
        )
        nbformat.write(notebook, folder / NOTEBOOK)
    before = {name: (folder / name).read_bytes() for name in _files(folder)}

    result = _publish(folder, *(["--course-url", course_url] if course_url else []))

    assert result.returncode == 1, _output(result)
    assert error in result.stderr, _output(result)
    assert {name: (folder / name).read_bytes() for name in _files(folder)} == before  # nothing written
    assert not folder.with_name(COURSE_ZIP).exists()
