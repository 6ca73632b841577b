"""``python -m nst_grader.grade``: every submission graded on a real Dask LocalCluster, in the
sandbox, into the course's gradebook; a rerun grades only what is missing; ``--force`` regrades."""

import csv
import shutil
import subprocess
import sys

import nbformat
import pytest

from course import (ASSIGNMENT, NOTEBOOK, SOURCE_NOTEBOOK, cell_by_grade_id, fill_solutions, make_course,
                    nbgrader_env, read_notebook, scores)
from submission_corpus import MISTAKES

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None,
                                reason="needs bubblewrap (apt-get install bubblewrap; .ci/run installs it)")
DIES = "import os\nos._exit(1)"


def grade(course, *args):
    result = subprocess.run([sys.executable, "-m", "nst_grader.grade", "--quiet", *args], cwd=course,
                            env=nbgrader_env(), capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr[-5000:]
    return result.stdout


def log_rows(course):
    with (course / "grading_log.csv").open() as file:
        return list(csv.DictReader(file))


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = make_course(tmp_path_factory.mktemp("grade-command") / "course")
    release = course / "release" / ASSIGNMENT
    solved = fill_solutions(read_notebook(release / NOTEBOOK), read_notebook(SOURCE_NOTEBOOK))
    mistaken = nbformat.from_dict(solved)
    cell_by_grade_id(mistaken, "total_cost").source = MISTAKES["total_swapped"].source
    dying = nbformat.from_dict(solved)
    cell_by_grade_id(dying, "gram_matrix").source = DIES
    for student, notebook in (("solved", solved), ("mistaken", mistaken), ("dying", dying),
                              ("garbage", "this is not a notebook"), ("empty", None)):
        folder = course / "submitted" / student / ASSIGNMENT
        if notebook is None:
            folder.mkdir(parents=True)
            continue
        shutil.copytree(release, folder)
        if isinstance(notebook, str):
            (folder / NOTEBOOK).write_text(notebook)
        else:
            nbformat.write(notebook, folder / NOTEBOOK)
    return course


def test_grades_every_submission_and_records_each_failure(course):
    printed = grade(course, "--workers", "2")
    assert "5 submissions, 0 already graded, 5 to grade" in printed
    found = scores(course, ["solved", "mistaken"])
    assert found["solved"][1] == 10 and found["mistaken"][1] == 9
    assert found["mistaken"][0]["test_total_cost"] == (0, 1)
    assert (course / "autograded" / "solved" / ASSIGNMENT / NOTEBOOK).is_file()
    reasons = {row["student"]: row["reason"] for row in log_rows(course) if row["status"] == "failed"}
    assert set(reasons) == {"dying", "garbage", "empty"}
    assert "no " + NOTEBOOK in reasons["empty"]
    assert "NotJSONError" in reasons["garbage"] or "not" in reasons["garbage"].lower(), reasons["garbage"]
    assert "Kernel" in reasons["dying"] or "died" in reasons["dying"].lower(), reasons["dying"]


def test_a_rerun_grades_only_what_is_missing_and_force_regrades(course):
    printed = grade(course, "--workers", "1")
    assert "5 submissions, 2 already graded, 3 to grade" in printed  # the failed ones are retried
    printed = grade(course, "--workers", "1", "--force")
    assert "0 already graded, 5 to grade" in printed
    assert scores(course, ["solved"])["solved"][1] == 10
