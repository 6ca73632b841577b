"""An LMS's download graded through the course's pipeline: ``python -m nst_grader.lms ARCHIVE`` (what
``make collect-zip`` runs) on a Canvas-style archive built here, with a resubmission, a misnamed file, a
file that is not a notebook and hostile members (a link to /etc/shadow, a name that climbs out), then
the grading command. Real nbgrader zip_collect, real sandboxed grading."""

import csv
import stat
import subprocess
import sys
import zipfile

import nbformat
import pytest

import nst_checks
from course import ASSIGNMENT, NOTEBOOK, SOURCE_NOTEBOOK, cell_by_grade_id, fill_solutions, read_notebook, scores
from submission_corpus import MISTAKES
from test_cluster_recipe import POINTS_LOST, TOTAL

STEM = NOTEBOOK.removesuffix(".ipynb")
MISTAKE = "content_mean"


def _link(archive, name, target):
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive.writestr(info, target)


@pytest.fixture
def course(tmp_path, released_course):
    course = tmp_path / "course"
    subprocess.run(["cp", "-a", str(released_course), str(course)], check=True)
    return course


def test_a_canvas_download_places_each_student_s_latest_notebook_and_grades(course, tmp_path):
    release = read_notebook(course / "release" / ASSIGNMENT / NOTEBOOK)
    solved = nbformat.writes(fill_solutions(release, read_notebook(SOURCE_NOTEBOOK)))
    mistaken = nbformat.reads(solved, as_version=4)
    variant = MISTAKES[MISTAKE]
    cell_by_grade_id(mistaken, nst_checks.FUNCTIONS[variant.exercise]).source = variant.source.strip("\n")
    mistaken = nbformat.writes(mistaken)
    download = tmp_path / "submissions.zip"
    with zipfile.ZipFile(download, "w") as archive:
        archive.writestr(f"lovelaceada_1001_5001_{STEM}.ipynb", solved)
        # Babbage uploaded twice: the correct notebook first, then (late) one with a mistake.
        archive.writestr(f"babbagecharles_1002_5002_{STEM}.ipynb", solved)
        archive.writestr(f"babbagecharles_LATE_1002_5002_{STEM}-1.ipynb", mistaken)
        archive.writestr("hoppergrace_1003_5003_my_notebook.ipynb", solved)
        archive.writestr("hoppergrace_1003_5003_notes.txt", "notes")
        _link(archive, f"mallory_1004_5004_{STEM}.ipynb", "/etc/shadow")
        archive.writestr(f"../../eve_1005_5005_{STEM}.ipynb", solved)

    result = subprocess.run(
        [sys.executable, "-m", "nst_grader.lms", str(download)], cwd=course, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-5000:]
    assert "placed 2 submissions in submitted/: babbagecharles, lovelaceada" in result.stdout, result.stdout
    left_out = [line for line in result.stdout.splitlines() if line.startswith("left out: ")]
    assert any(
        "babbagecharles_1002_5002" in line and "an older submission of babbagecharles" in line for line in left_out
    )
    assert any("my_notebook.ipynb" in line and "not the assignment's notebook" in line for line in left_out)
    assert any("notes.txt" in line and "not a notebook" in line for line in left_out)
    assert any("mallory" in line for line in left_out) and any("eve" in line for line in left_out), left_out
    with (course / "collect_log.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert [row["student"] for row in rows if row["placed"] == "yes"] == ["babbagecharles", "lovelaceada"]
    assert len([row for row in rows if row["placed"] == "no"]) == len(left_out)
    assert sorted(path.name for path in (course / "submitted").iterdir()) == ["babbagecharles", "lovelaceada"]
    assert not list(course.parent.rglob("eve_*"))
    assert (course / "submitted" / "babbagecharles" / ASSIGNMENT / NOTEBOOK).read_text() == mistaken

    graded = subprocess.run(
        [sys.executable, "-m", "nst_grader.grade", "--quiet", "--workers", "2"],
        cwd=course,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert "graded 2, failed 0" in graded.stdout, graded.stdout + graded.stderr[-3000:]
    totals = {student: total for student, (_, total) in scores(course, ["lovelaceada", "babbagecharles"]).items()}
    assert totals == {"lovelaceada": TOTAL, "babbagecharles": TOTAL - POINTS_LOST}
