"""nbgrader's Validate (the Assignments tab's button, ``nbgrader validate``) on the released notebook:
graded cells only report results for the autograder, so under Validate they run the visible check too,
and a mistake fails validation on its exercise instead of passing. Real nbgrader CLI, real kernels."""

import shutil

import nbformat

import nst_checks
from course import ASSIGNMENT, NOTEBOOK, SOURCE_NOTEBOOK, cell_by_grade_id, fill_solutions, nbgrader, read_notebook
from submission_corpus import MISTAKES

MISTAKE = "gram_outer"


def test_validate_passes_right_work_and_fails_a_mistake_on_its_exercise(tmp_path, released_course):
    release = released_course / "release" / ASSIGNMENT
    solved = fill_solutions(read_notebook(release / NOTEBOOK), read_notebook(SOURCE_NOTEBOOK))
    mistaken = nbformat.from_dict(solved)
    variant = MISTAKES[MISTAKE]
    cell_by_grade_id(mistaken, nst_checks.FUNCTIONS[variant.exercise]).source = variant.source.strip("\n")
    said = {}
    for name, notebook in (("right", solved), ("mistaken", mistaken)):
        folder = tmp_path / name
        shutil.copytree(release, folder)
        nbformat.write(notebook, folder / NOTEBOOK)
        said[name] = nbgrader(released_course, "validate", str(folder / NOTEBOOK)).stdout
    assert "Success! Your notebook passes all the tests." in said["right"], said["right"]
    assert "VALIDATION FAILED ON 1 CELL(S)!" in said["mistaken"], said["mistaken"]
    # nbgrader cuts each line of its report to its width: the failed cell and the check's verdict show.
    assert "nst_checks.check_when_validating('gram_matrix', gram_matrix)" in said["mistaken"], said["mistaken"]
    assert "AssertionError: gram_matrix on A of shape (3, 5): the result has shape (5, 5)" in said["mistaken"]
