"""The nbgrader assignment: the source notebook's layout, the release, and a real run of the notebook.

The release is made by the real ``nbgrader generate_assignment`` in a temporary course (the
``released_course`` fixture); the notebook really executes in a Jupyter kernel of this virtual
environment. Autograding is tested in ``test_grading.py``.
"""

import re
import shutil
import sys
from pathlib import Path

import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell
from PIL import Image

import nst_checks
from course import (
    ASSIGNMENT,
    NOTEBOOK,
    ROOT,
    SOURCE_DIR,
    SOURCE_NOTEBOOK,
    cell_by_grade_id,
    error_text,
    nbgrader_meta,
    read_notebook,
)
from helpers import shrink_run
from nst_grader.scoring import reported_call

WEIGHTS = ROOT / "pretrained-model" / "vgg19-normalised.mat"


SOURCE = read_notebook(SOURCE_NOTEBOOK)
SOLUTION_IDS = [nbgrader_meta(c)["grade_id"] for c in SOURCE.cells if nbgrader_meta(c).get("solution")]
POINTS = {
    nbgrader_meta(c)["grade_id"]: nbgrader_meta(c)["points"] for c in SOURCE.cells if nbgrader_meta(c).get("grade")
}
TOTAL_POINTS = 10


def test_source_notebook_grading_layout():
    """Each exercise is a solution cell named after its function with a graded test_<function> cell."""
    assert sorted(SOLUTION_IDS) == sorted(nst_checks.FUNCTIONS.values())
    assert sorted(POINTS) == sorted(f"test_{name}" for name in nst_checks.FUNCTIONS.values())
    assert sum(POINTS.values()) == TOTAL_POINTS


def _assert_cleared(notebook, name):
    """Every code cell of ``notebook`` has no outputs and no execution count; else the first that has is named."""
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{name}: cell {index} (from 0) has outputs or an execution count (clear all outputs):\n"
                f"{cell.source[:200]}"
            )


def test_committed_source_notebook_has_no_outputs():
    """The source notebook (read with nbformat) is committed with its outputs cleared."""
    _assert_cleared(SOURCE, SOURCE_NOTEBOOK.relative_to(ROOT))


# ------------------------------------------------------------------------------------------------
# Release


@pytest.fixture(scope="module")
def release_dir(released_course):
    return released_course / "release" / ASSIGNMENT


@pytest.fixture(scope="module")
def release_notebook(release_dir):
    return read_notebook(release_dir / NOTEBOOK)


def test_release_contains_exactly_the_student_files(release_dir):
    files = {path.relative_to(release_dir).as_posix() for path in release_dir.rglob("*") if path.is_file()}
    images = {f"images/{path.name}" for path in (SOURCE_DIR / "images").iterdir()}
    assert "images/CREDITS.md" in images and any(name.endswith(".jpg") for name in images)
    assert files == {NOTEBOOK, "nst_utils.py", "vgg_weights.py", "atomic_files.py", "nst_checks.py", *images}
    for name in ("neural_style", "nst_grader", "tests", "pretrained-model", "outputs"):
        assert not (release_dir / name).exists(), name
    for path in release_dir.rglob("*"):
        assert not path.is_symlink(), path


def test_release_notebook_has_no_solutions_or_hidden_tests(release_dir, release_notebook):
    text = (release_dir / NOTEBOOK).read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS"):
        assert marker not in text, marker

    released_lines = {
        line.strip() for cell in release_notebook.cells if cell.cell_type == "code" for line in cell.source.splitlines()
    }
    solution_lines = []
    for grade_id in SOLUTION_IDS:
        source = cell_by_grade_id(SOURCE, grade_id).source
        body = source.split("### BEGIN SOLUTION", 1)[1].split("### END SOLUTION", 1)[0]
        solution_lines += [line.strip() for line in body.splitlines() if line.strip()]
    assert solution_lines
    leaked = [line for line in solution_lines if line in released_lines]
    assert not leaked, f"solution lines in the release: {leaked}"


def test_release_has_each_check_and_graded_cells_without_their_inputs(release_notebook):
    """Each exercise keeps its visible check; its graded cell keeps only its comment."""
    checks = [cell.source for cell in release_notebook.cells if "nst_checks.check(" in cell.source]
    assert sorted(re.search(r"nst_checks\.check\('(\w+)'", source).group(1) for source in checks) == sorted(
        nst_checks.FUNCTIONS
    )
    for function in nst_checks.FUNCTIONS.values():
        graded = cell_by_grade_id(release_notebook, f"test_{function}").source
        assert "nst_checks.report" not in graded and graded.startswith("# Graded"), graded
        assert reported_call(cell_by_grade_id(SOURCE, f"test_{function}").source) is not None


def test_release_exercise_cells_are_stubs(release_notebook):
    for function in nst_checks.FUNCTIONS.values():
        source = cell_by_grade_id(release_notebook, function).source
        assert f"def {function}(" in source
        assert "raise NotImplementedError()" in source, source


def test_release_notebook_has_no_outputs(release_notebook):
    _assert_cleared(release_notebook, f"release/{ASSIGNMENT}/{NOTEBOOK}")


# ------------------------------------------------------------------------------------------------
# The notebook itself, with the real weights


@pytest.mark.skipif(not WEIGHTS.exists(), reason=f"needs {WEIGHTS.relative_to(ROOT)} (make weights)")
def test_source_notebook_runs_top_to_bottom(tmp_path, monkeypatch):
    workdir = tmp_path / ASSIGNMENT
    shutil.copytree(
        SOURCE_DIR, workdir, symlinks=False, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints")
    )
    # The copied nst_utils.py looks for pretrained-model/ above the temporary directory: point it
    # at the real weights. The kernel inherits this process's environment.
    monkeypatch.setenv("NST_WEIGHTS", str(WEIGHTS))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)  # the full notebook, not the grading path
    monkeypatch.delenv("MPLBACKEND", raising=False)  # inline figures

    notebook = read_notebook(workdir / NOTEBOOK)
    shrink_run(notebook)  # 3 steps at 64 x 48
    [explore] = [cell for cell in notebook.cells if cell.source.startswith("EXPLORE = False")]
    explore.source = "EXPLORE = True\nEXPLORE_SIZE = (32, 32)\nEXPLORE_STEPS = 1"  # every exploration, briefly
    notebook.cells.append(new_code_cell("import sys\nprint(sys.prefix)"))

    # kernel_name python3: the kernelspec in this venv's share/jupyter, whose argv "python"
    # jupyter_client replaces with sys.executable, checked by the last cell.
    client = NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
    )
    client.execute()

    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert not error_text(cell), f"{cell.source[:80]}\n{error_text(cell)}"
    kernel_prefix = "".join(o.get("text", "") for o in notebook.cells[-1].outputs).strip()
    assert Path(kernel_prefix).resolve() == Path(sys.prefix).resolve()

    generated = workdir / "outputs" / "generated.png"
    assert generated.exists()
    with Image.open(generated) as image:
        assert image.size == (64, 48)

    assert (workdir / "outputs" / "result.png").exists()  # the content | style | generated figure
    [generate_cell] = [cell for cell in notebook.cells if 'save_image("outputs/generated.png"' in cell.source]
    printed = "".join(output.get("text", "") for output in generate_cell.outputs)
    assert "saved outputs/generated.png" in printed
    progress = [
        output
        for output in generate_cell.outputs  # tqdm.auto: a widget, or text without one
        if "application/vnd.jupyter.widget-view+json" in output.get("data", {}) or "3/3" in output.get("text", "")
    ]
    assert progress, generate_cell.outputs
    figures = [
        cell
        for cell in notebook.cells
        if cell.cell_type == "code" and any("image/png" in output.get("data", {}) for output in cell.outputs)
    ]
    # images, result, loss curve + snapshots (one cell), and the five explorations
    assert len(figures) >= 8, [cell.source[:40] for cell in figures]
