"""``python -m nst_grader.grade``: every submission graded on a real Dask LocalCluster, in the
sandbox, into the course's gradebook; a rerun grades only what is missing; ``--force`` regrades."""

import csv
import shutil
import subprocess
import sys

import nbformat
import pytest

from course import (ASSIGNMENT, NOTEBOOK, PG_BIN, SOURCE_NOTEBOOK, PostgresServer, cell_by_grade_id,
                    fill_solutions, make_course, nbgrader_env, read_notebook, scores)
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


@pytest.fixture(scope="module")
def postgres():
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"needs PostgreSQL 15 in {PG_BIN} (apt-get install postgresql; .ci/run installs it)")
    server = PostgresServer()
    yield server
    server.stop()


def test_a_postgresql_gradebook_gets_the_same_grades(course, postgres):
    printed = grade(course, "--workers", "2", "--db", postgres.url)
    assert "5 to grade" in printed and "graded 2, failed 3" in printed
    students = ["solved", "mistaken"]
    assert scores(course, students, postgres.url) == scores(course, students)


def test_a_rerun_grades_only_what_is_missing_and_force_regrades(course):
    printed = grade(course, "--workers", "1")
    assert "5 submissions, 2 already graded, 3 to grade" in printed  # the failed ones are retried
    printed = grade(course, "--workers", "1", "--force")
    assert "0 already graded, 5 to grade" in printed
    assert scores(course, ["solved"])["solved"][1] == 10


def test_an_existing_dask_cluster_grades_the_same(course, tmp_path):
    """--scheduler sends the tasks to a cluster started elsewhere (here: a LocalCluster of this
    process); a separate gradebook starts empty, so everything is graded again."""
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        database = f"sqlite:///{tmp_path / 'elsewhere.db'}"
        printed = grade(course, "--scheduler", cluster.scheduler_address, "--db", database)
    assert "5 to grade" in printed and "graded 2, failed 3" in printed
    students = ["solved", "mistaken"]
    assert scores(course, students, database) == scores(course, students)


@pytest.fixture(scope="module")
def report(course):
    """``make report``'s command on the graded course (after the SQLite runs above)."""
    result = subprocess.run([sys.executable, "-m", "nst_grader.report"], cwd=course, env=nbgrader_env(),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return course / "reports"


def test_the_report_csv_has_a_row_per_student_with_the_failed_checks(report):
    with (report / "report.csv").open() as file:
        rows = {row["student"]: row for row in csv.DictReader(file)}
    assert set(rows) == {"solved", "mistaken", "dying", "garbage", "empty"}
    assert rows["solved"]["total"] == "10.0" and rows["solved"]["failed checks"] == ""
    assert rows["mistaken"]["test_total_cost"] == "0.0" and "swapped_weights" in rows["mistaken"]["failed checks"]
    assert rows["empty"]["status"] == "failed" and NOTEBOOK in rows["empty"]["failed checks"]


CHROMIUM = "/usr/bin/chromium"


@pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs Debian's chromium (.ci/run installs it)")
def test_the_report_page_shows_the_class_in_a_real_browser(report):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
        page = browser.new_page()
        page.goto((report / "report.html").as_uri())
        assert "2 graded, 3 could not be graded" in page.inner_text("#summary")
        histogram = page.locator("img[alt='histogram of scores']")
        assert histogram.evaluate("image => image.complete && image.naturalWidth > 0")
        rates = page.locator("#pass-rates tr").all_inner_texts()
        assert any("total_cost" in row and "50%" in row for row in rates), rates
        assert "alpha weights the content cost" in page.inner_text("#mistakes")
        looks = page.inner_text("#needs-a-look")
        assert all(student in looks for student in ("dying", "garbage", "empty")), looks
        page.screenshot(path=str(report / "report.png"), full_page=True)
        browser.close()


def test_feedback_shows_verdicts_and_hints_but_not_the_hidden_tests(course, report):
    result = subprocess.run([sys.executable, "-m", "nbgrader", "generate_feedback", ASSIGNMENT, "--force"],
                            cwd=course, env=nbgrader_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    page = next((course / "feedback" / "mistaken" / ASSIGNMENT).glob("*.html")).read_text()
    assert "alpha weights the content cost" in page  # the failed check's hint
    assert "nst_checks.report" not in page and "HIDDEN TESTS" not in page
