"""The report shows what students can choose (their id, the reasons their submission failed) as text:
escaped in the page, never a formula in the CSV (issue 29, part 2). A real gradebook and
``grading_log.csv``, the real ``make report`` code."""

import csv
import os

from nbgrader.api import Gradebook

from course import VENV_BIN
from hostile_outputs import MARKER, live_parts
from nst_grader.grade import LOG
from nst_grader.report import spreadsheet_safe, write_report

STUDENT = '=HYPERLINK("http://127.0.0.1:9/steal","open")'
REASON = f'<script>window.{MARKER}=1</script><img src=x onerror="window.{MARKER}=1">'


def test_ids_and_reasons_are_text_in_the_page_and_in_the_csv(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")  # nbgrader calls alembic
    db_url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with Gradebook(db_url):
        pass  # an empty gradebook: the student below could not be graded
    with (tmp_path / LOG).open("w", newline="") as file:
        writer = csv.DictWriter(file, ["student", "status", "reason"])
        writer.writeheader()
        writer.writerow({"student": STUDENT, "status": "failed", "reason": REASON})
        writer.writerow({"student": "+1-555-0100", "status": "failed", "reason": "-x"})
    page = write_report(tmp_path, db_url, tmp_path / "reports")
    text = page.read_text()
    assert MARKER in text and live_parts(text) == []
    assert "&lt;script&gt;" in text
    with (tmp_path / "reports" / "report.csv").open() as file:
        rows = {row["student"]: row for row in csv.DictReader(file)}
    assert set(rows) == {"'" + STUDENT, "'+1-555-0100"}
    assert rows["'+1-555-0100"]["failed checks"] == "'-x"


def test_numbers_and_plain_text_stay_as_they_are():
    assert [spreadsheet_safe(value) for value in (-2.5, 12, "alice", "a=b", "")] == [-2.5, 12, "alice", "a=b", ""]
