"""The nbgrader assignment: the source notebook's layout and the release.

The release is made by the real ``nbgrader generate_assignment`` in a temporary course (the
``released_course`` fixture). The notebook's real run is in ``test_notebook_run.py``, autograding in
``test_grading.py``.
"""

import re

import pytest

import nst_checks
from course import (
    ASSIGNMENT,
    NOTEBOOK,
    ROOT,
    SOURCE_DIR,
    SOURCE_NOTEBOOK,
    cell_by_grade_id,
    nbgrader_meta,
    read_notebook,
)
from nst_grader.scoring import reported_call

SOURCE = read_notebook(SOURCE_NOTEBOOK)
SOLUTION_IDS = [nbgrader_meta(c)["grade_id"] for c in SOURCE.cells if nbgrader_meta(c).get("solution")]
POINTS = {
    nbgrader_meta(c)["grade_id"]: nbgrader_meta(c)["points"] for c in SOURCE.cells if nbgrader_meta(c).get("grade")
}
TOTAL_POINTS = 12


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
    images = {path.relative_to(SOURCE_DIR).as_posix() for path in (SOURCE_DIR / "images").rglob("*") if path.is_file()}
    assert "images/CREDITS.md" in images and any(name.endswith(".jpg") for name in images)
    assert "images/figures/unrolling.png" in images
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


def test_release_markdown_figures_are_in_the_release(release_dir, release_notebook):
    """Every figure that a markdown cell shows (other than the Colab badge) is a file of the release, at
    the path it names."""
    figures = [
        path
        for cell in release_notebook.cells
        if cell.cell_type == "markdown"
        for path in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", cell.source)
        if not path.startswith("https://")
    ]
    assert len(figures) == 3, figures  # the Gram matrix, the unrolling, the reference result
    assert [path for path in figures if not (release_dir / path).is_file()] == []


def test_first_code_cell_is_a_collapsed_setup_and_the_next_is_about_the_assignment(release_notebook):
    """Colab shows a cell with a ``# @title`` and ``cellView: form`` as its title only, JupyterLab hides a
    ``source_hidden`` cell's code: what a student reads first is the assignment, not the download code."""
    code = [cell for cell in release_notebook.cells if cell.cell_type == "code"]
    setup = code[0]
    assert nbgrader_meta(setup)["grade_id"] == "setup"
    assert setup.source.startswith("# @title Setup: run this cell first.")
    assert setup.metadata["cellView"] == "form" and setup.metadata["jupyter"]["source_hidden"] is True
    assert "Instructors" not in setup.source  # their notes are in docs/instructor.md
    assert "import nst_checks" in code[1].source


def test_every_exercise_shows_its_expected_output_and_the_notebook_ends_with_a_conclusion(release_notebook):
    ids = [nbgrader_meta(cell).get("grade_id") for cell in release_notebook.cells]
    for function in nst_checks.FUNCTIONS.values():
        after = release_notebook.cells[ids.index(f"check_{function}") + 1]
        assert nbgrader_meta(after)["grade_id"] == f"expected_{function}"
        assert after.source.startswith("**Expected output.**") and "It returned " in after.source
    conclusion = release_notebook.cells[ids.index("conclusion")].source
    assert "What you should remember" in conclusion
    assert all(name in conclusion for name in ("total variation", "Johnson", "Huang & Belongie"))
    assert ids.index("conclusion") == len(ids) - 2 and ids[-1] == "references"
