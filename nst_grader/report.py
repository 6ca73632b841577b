"""The class at a glance: ``python -m nst_grader.report`` (``make report``).

Reads the gradebook, the graded notebooks and ``grading_log.csv``, and writes
``reports/report.html`` (one self-contained page: a histogram of the scores, the pass rate of each
exercise, the most common mistakes, each exercise's clusters of mistakes, and the submissions that
need a human look), ``reports/report.csv`` (a row per student: total, each exercise's score, and the
hint of each failed check) and ``reports/clusters.csv`` (a row per cluster).

A mistake is a cluster of students whose function computed the same on the hidden inputs
(``nst_grader.clusters``), named by the hint its graded cell gave (``nst_checks.HINTS``) or by how
its value relates to the reference; the page marks the clusters that have no comment in
``comments/art_generation.yaml`` yet (``nst_grader.comments``). A submission needs a
look when it could not be graded, met a grading limit or had entries dropped (``grading_log.csv``;
for a submission graded by plain ``nbgrader autograde``, which has no row there, ``nst_grader.intake``
is asked again), when a graded cell stopped (a timeout, a crash, a sandbox limit) or reported no
result, or when the student's own cells reach past the exercises (``RED_FLAGS``).
"""

import argparse
import base64
import csv
import html
import io
import os
import re
import sys
import tempfile
from pathlib import Path

from nst_grader.behaviour import hint_key
from nst_grader.clusters import cluster, course_failures
from nst_grader.comments import COMMENTS, load_comments
from nst_grader.grade import ASSIGNMENT, LOG, NOTEBOOK

# A CSV cell starting with one of these is read as a formula by spreadsheets (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Graded cells' messages that mean the cell itself went wrong, not the student's function.
NEEDS_A_LOOK = ("stopped before it reported", "reported no result", "results are malformed", "sets of results")
# What a student's own cells (code, markdown) may do to reach past the exercises: the grader's checking
# code replaced, gradients made by hand or numpy hidden in TensorFlow, the kernel's history, channels or
# console, active content in outputs, files written outside the notebook's folder. Found in a line the
# release does not hold, each needs a look (issue #29): none is needed to solve an exercise.
RED_FLAGS = {
    "replaces the grader's checking code": r"\bnst_checks\s*\.\s*\w+\s*=(?!=)|setattr\(\s*nst_checks",
    "makes gradients by hand or hides numpy in TensorFlow": r"\btf\.(custom_gradient|numpy_function|py_function)\b",
    "reads the kernel's history": r"\b(In|Out|_ih|_oh)\s*[\[)]|history_manager",
    "talks to the kernel's channels": r"\.kernel\b|\biopub|session\.send",
    "writes to the console": r"\bos\.write\(|/dev/tty|\bsys\.__std(out|err)__",
    "shows scripts": r"(?i)<script|javascript:|<iframe|\bon(error|load|click)\s*=|application/javascript",
    "writes outside its folder": r"/dev/shm|MPLCONFIGDIR|gettempdir\(|expanduser\(",
}


def _failed_checks(course, student):
    """{grade_id: message} of the graded cells that failed, from the graded notebook."""
    import nbformat

    path = Path(course) / "autograded" / student / ASSIGNMENT / NOTEBOOK
    if not path.is_file():
        return {}
    failed = {}
    for cell in nbformat.read(path, as_version=4).cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        errors = [
            output.get("evalue", "") for output in cell.get("outputs", []) if output.get("output_type") == "error"
        ]
        if grade_id.startswith("test_") and errors:
            failed[grade_id] = errors[0]
    return failed


def red_flags(course: str | Path, student: str) -> list[str]:
    """The ``RED_FLAGS`` whose pattern a line of the student's cells matches (graded cells and the
    release's own lines left out), each with the first such line."""
    import nbformat

    path = Path(course) / "autograded" / student / ASSIGNMENT / NOTEBOOK
    release = Path(course) / "release" / ASSIGNMENT / NOTEBOOK
    if not path.is_file():
        return []
    released = nbformat.read(release, as_version=4).cells if release.is_file() else []
    own = {line.strip() for cell in released for line in cell.source.splitlines()}
    lines = [
        line.strip()
        for cell in nbformat.read(path, as_version=4).cells
        if not cell.metadata.get("nbgrader", {}).get("grade_id", "").startswith("test_")
        for line in cell.source.splitlines()
        if line.strip() not in own
    ]
    flags = []
    for what, pattern in RED_FLAGS.items():
        found = next((line for line in lines if re.search(pattern, line)), None)
        if found is not None:
            flags.append(f"its code {what}: {found[:80]}")
    return flags


def collect(course: str | Path, db_url: str) -> tuple[dict[str, dict], list]:
    """Per student: total, per-exercise scores, failed checks with their hint; and the failures."""
    from nbgrader.api import Gradebook, MissingEntry

    students = {}
    with Gradebook(db_url) as gradebook:
        try:
            submissions = gradebook.assignment_submissions(ASSIGNMENT)
        except MissingEntry:
            submissions = []
        for submission in submissions:
            [notebook] = submission.notebooks
            students[submission.student.id] = {
                "total": submission.score,
                "max": submission.max_score,
                "scores": {grade.name: (grade.score, grade.max_score) for grade in notebook.grades},
                "failed": _failed_checks(course, submission.student.id),
                "flags": red_flags(course, submission.student.id),
            }
    failures, logged = {}, set()
    log = Path(course) / LOG
    if log.exists():
        with log.open() as file:
            for row in csv.DictReader(file):
                logged.add(row["student"])
                if row["status"] == "failed":
                    failures[row["student"]] = row["reason"]
                else:
                    failures.pop(row["student"], None)
                    if row["student"] in students:  # the limits it met, if any (nst_grader.execute)
                        students[row["student"]]["limits"] = row["reason"]
    for student in _unlogged(course, logged):
        refused, dropped = intake_notes(course, student)
        if refused:
            failures[student] = refused
        elif student not in students:
            failures[student] = "; ".join(filter(None, ["submitted, not graded (see nbgrader's log)", dropped]))
        elif dropped:
            students[student]["limits"] = dropped
    return students, {student: reason for student, reason in failures.items() if student not in students}


def _unlogged(course, logged):
    """The students of ``submitted/`` that no row of grading_log.csv covers (graded by plain ``nbgrader
    autograde``, which keeps what it refused or dropped in its own log only)."""
    submitted = Path(course) / "submitted"
    if not submitted.is_dir():
        return []
    return sorted(entry.name for entry in os.scandir(submitted) if entry.name not in logged)


def intake_notes(course: str | Path, student: str) -> tuple[str, str]:
    """``(why the notebook is refused, the entries dropped)`` of a submission, as ``nst_grader.intake``
    finds them (each "" if none): it copies the folder, following nothing, into a folder removed after."""
    from nst_grader.intake import Refused, admit

    with tempfile.TemporaryDirectory(prefix="nst-report-") as folder:
        try:
            admitted = admit(Path(course) / "submitted" / student / ASSIGNMENT, Path(folder) / "copy", NOTEBOOK)
        except Refused as refused:
            return refused.reason, ""
    return "", admitted.dropped_text()


def _histogram_png(totals, maximum):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 3))
    axes.hist(totals, bins=[x - 0.5 for x in range(int(maximum) + 2)], color="#4c72b0", edgecolor="white")
    axes.set_xlabel("score")
    axes.set_ylabel("students")
    axes.set_xticks(range(int(maximum) + 1))
    axes.yaxis.get_major_locator().set_params(integer=True)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


def summarise(students: dict[str, dict], failures: list) -> tuple[dict[str, float], dict[str, str]]:
    """The figures the page shows: pass rates and the submissions that need a look."""
    grade_ids = sorted({grade_id for student in students.values() for grade_id in student["scores"]})
    pass_rate = (
        {
            grade_id: sum(
                student["scores"][grade_id][0] == student["scores"][grade_id][1] for student in students.values()
            )
            / len(students)
            for grade_id in grade_ids
        }
        if students
        else {}
    )
    look = dict(failures)
    for name, student in sorted(students.items()):
        reasons = [student["limits"]] if student.get("limits") else []
        reasons += [
            f"{grade_id}: {message}"
            for grade_id, message in student["failed"].items()
            if any(phrase in message for phrase in NEEDS_A_LOOK)
        ]
        reasons += student.get("flags", [])
        if reasons:
            look[name] = "; ".join(reasons)
    return pass_rate, look


def clusters_html(clusters: dict[str, list], comments: dict[str, str]) -> str:
    """Each exercise's clusters as a table (``id="clusters-EXERCISE"``): size, key, name, whether it has
    a comment, members and the representative source, all escaped."""
    escape = html.escape
    parts = []
    for exercise, found in clusters.items():
        rows = "".join(
            f'<tr class="cluster" data-key="{escape(each.key)}"><td>{len(each.sources)}</td>'
            f"<td><code>{escape(each.key)}</code></td><td>{escape(each.name)}</td>"
            f"<td>{'commented' if each.key in comments else '<strong>no comment yet</strong>'}</td>"
            f"<td>{escape(', '.join(each.members))}</td>"
            f"<td><pre><code>{escape(each.representative)}</code></pre></td></tr>"
            for each in found
        )
        parts.append(
            f'<h3>{escape(exercise)}</h3><table id="clusters-{escape(exercise)}"><tr><th>students</th><th>key</th>'
            f"<th>mistake</th><th>comment</th><th>members</th><th>representative code</th></tr>{rows}</table>"
        )
    return "".join(parts) or "<p>No failed graded cell.</p>"


def write_clusters_csv(path: Path, clusters: dict[str, list], comments: dict[str, str]) -> None:
    """A row per cluster, each exercise's largest first: exercise, key, students, mistake, whether it has
    a comment, members (space-separated), representative source."""
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["exercise", "key", "students", "mistake", "commented", "members", "representative"])
        for exercise, found in clusters.items():
            for each in found:
                row = [exercise, each.key, len(each.sources), each.name, "yes" if each.key in comments else "no"]
                writer.writerow(spreadsheet_safe(cell) for cell in [*row, " ".join(each.members), each.representative])


def spreadsheet_safe(value: object) -> object:
    """A CSV cell that a spreadsheet shows as text: a string that would start a formula (a student id
    or a reason, which students can choose) gets a leading apostrophe; numbers stay numbers."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def write_report(course: str | Path, db_url: str, out: Path) -> Path:
    students, failures = collect(course, db_url)
    pass_rate, look = summarise(students, failures)
    clusters = cluster(course_failures(course, sorted(students)))
    comments = load_comments(Path(course) / COMMENTS)
    out.mkdir(parents=True, exist_ok=True)
    write_clusters_csv(out / "clusters.csv.part", clusters, comments)
    grade_ids = sorted(pass_rate)
    with (out / "report.csv.part").open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["student", "status", "total", *grade_ids, "failed checks"])
        csv_rows = []
        for name, student in sorted(students.items()):
            csv_rows.append(
                [
                    name,
                    "graded",
                    student["total"],
                    *(student["scores"][g][0] for g in grade_ids),
                    "; ".join(f"{g}: {hint_key(m) or m}" for g, m in sorted(student["failed"].items())),
                ]
            )
        for name, reason in sorted(failures.items()):
            csv_rows.append([name, "failed", "", *([""] * len(grade_ids)), reason])
        writer.writerows([spreadsheet_safe(cell) for cell in row] for row in csv_rows)
    totals = [student["total"] for student in students.values()]
    maximum = max((student["max"] for student in students.values()), default=10)
    escape = html.escape
    rows = "".join(
        f"<tr><td>{escape(g.removeprefix('test_'))}</td><td>{rate:.0%}</td></tr>" for g, rate in pass_rate.items()
    )
    largest = sorted((each for found in clusters.values() for each in found), key=lambda c: -len(c.sources))
    common = "".join(
        f"<tr><td>{len(each.sources)}</td><td>{escape(each.exercise)}</td><td>{escape(each.name)}</td></tr>"
        for each in largest[:10]
    )
    looks = "".join(
        f"<tr><td>{escape(name)}</td><td>{escape(reason)}</td></tr>" for name, reason in sorted(look.items())
    )
    mean = sum(totals) / len(totals) if totals else 0
    histogram = (
        f'<img alt="histogram of scores" src="data:image/png;base64,{_histogram_png(totals, maximum)}">'
        if totals
        else "<p>No graded submission yet.</p>"
    )
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Grades: {ASSIGNMENT}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left}}</style></head><body>
<h1>Grades: {ASSIGNMENT}</h1>
<p id="summary">{len(students)} graded, {len(failures)} could not be graded; mean score {mean:.1f} / {maximum:g}.</p>
<h2>Scores</h2>{histogram}
<h2>Pass rate per exercise</h2><table id="pass-rates"><tr><th>exercise</th><th>full marks</th></tr>{rows}</table>
<h2>Most common mistakes</h2>
<table id="mistakes"><tr><th>students</th><th>exercise</th><th>mistake</th></tr>{common}</table>
<h2>Mistakes by cluster</h2>
<p>Students whose function computed the same wrong results on the hidden inputs, largest first. Write one
comment per cluster key in {escape(str(COMMENTS))} and run <code>make comment</code>: each member's feedback
gets it.</p>{clusters_html(clusters, comments)}
<h2>Needs a human look</h2><table id="needs-a-look"><tr><th>student</th><th>why</th></tr>{looks}</table>
</body></html>
"""
    (out / "report.html.part").write_text(page)
    os.replace(out / "report.csv.part", out / "report.csv")
    os.replace(out / "clusters.csv.part", out / "clusters.csv")
    os.replace(out / "report.html.part", out / "report.html")
    return out / "report.html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--course", type=Path, default=Path.cwd())
    parser.add_argument("--db", default=None, help="gradebook URL (default: sqlite:///COURSE/gradebook.db)")
    parser.add_argument("--out", type=Path, default=None, help="folder for the report (default: COURSE/reports)")
    args = parser.parse_args(argv)
    course = args.course.resolve()
    page = write_report(course, args.db or f"sqlite:///{course / 'gradebook.db'}", args.out or course / "reports")
    print(f"report: {page} and {page.with_suffix('.csv')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
