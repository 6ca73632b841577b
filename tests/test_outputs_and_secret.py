"""Outputs out and a secret in, through the real nbgrader command line (issue 29, parts 2 and 3).

Two copies of the released course, each with its own course secret (``course_secret.key``), grade
with plain ``nbgrader autograde`` (in the sandbox) a solved notebook and the untouched release; the
first also grades ``hostile_outputs.leaky_submission``: solved, plus a cell that prints IPython's
history (the hidden tests, with this year's seeds) and shows scripts, handlers, frames, forms and
JavaScript, and a markdown cell with a script. Then ``nbgrader generate_feedback``.

Each key gives other inputs than the other and than the source notebook, and under both a correct
submission gets full marks and the release none. No key material reaches ``release/``,
``autograded/`` or ``feedback/``. The feedback page holds what the student submitted and the
verdicts, nothing the kernel printed (no hidden source, no seed), and nothing of the payload that
would run. The graded notebook that formgrader renders is inert too (the browser test is in
``test_formgrader.py``).
"""

import os
import shutil
import subprocess
import sys

import nbformat
import pytest

import nst_checks
from course import (
    ASSIGNMENT,
    NOTEBOOK,
    SOURCE_NOTEBOOK,
    cell_by_grade_id,
    fill_solutions,
    nbgrader,
    read_notebook,
    scores,
)
from hostile_outputs import MARKER, STUDENT_OUTPUT, leaky_submission, live_parts
from nst_grader import secret
from nst_grader.scoring import reported_call

pytestmark = pytest.mark.skipif(
    shutil.which("bwrap") is None, reason="grading needs bubblewrap (apt-get install bubblewrap; .ci/run installs it)"
)
KEYS = {"A": bytes(range(32)), "B": bytes(range(100, 132))}
BEACON = "http://127.0.0.1:9/beacon"  # never asked: nothing of the payload runs here
GRADE_IDS = [f"test_{function}" for function in nst_checks.FUNCTIONS.values()]


def write_key(course, key):
    path = course / secret.KEY_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(key.hex() + "\n")


@pytest.fixture(scope="module")
def courses(tmp_path_factory, released_course):
    """{"A", "B"}: a graded course each, with feedback, under its own key."""
    release = released_course / "release" / ASSIGNMENT
    solved = fill_solutions(read_notebook(release / NOTEBOOK), read_notebook(SOURCE_NOTEBOOK))
    built = {}
    for name, key in KEYS.items():
        course = tmp_path_factory.mktemp(f"secret-{name}") / "course"
        shutil.copytree(released_course, course)
        write_key(course, key)
        students = {"solved": solved, "untouched": read_notebook(release / NOTEBOOK)}
        if name == "A":
            students["leaky"] = leaky_submission(solved, BEACON)
        for student, notebook in students.items():
            shutil.copytree(release, course / "submitted" / student / ASSIGNMENT)
            nbformat.write(notebook, course / "submitted" / student / ASSIGNMENT / NOTEBOOK)
        nbgrader(course, "autograde", ASSIGNMENT)
        nbgrader(course, "generate_feedback", ASSIGNMENT)
        built[name] = {"course": course, "key": key, "students": list(students)}
    return built


def graded(course, student):
    return read_notebook(course / "autograded" / student / ASSIGNMENT / NOTEBOOK)


def feedback_page(course, student):
    return next((course / "feedback" / student / ASSIGNMENT).glob("*.html")).read_text()


def test_each_key_gives_its_own_inputs_and_grades_right_and_wrong_alike(courses):
    source = read_notebook(SOURCE_NOTEBOOK)
    inputs = {}
    for name, built in courses.items():
        course, key = built["course"], built["key"]
        found = scores(course, built["students"])
        assert found["solved"][1] == 12 and found["untouched"][1] == 0, found
        for grade_id in GRADE_IDS:
            exercise, public = reported_call(cell_by_grade_id(source, grade_id).source)
            exercise_run, cases = reported_call(cell_by_grade_id(graded(course, "solved"), grade_id).source)
            assert exercise_run == exercise
            assert cases == secret.secret_cases(key, exercise, public)  # the key's seeds, the same shapes
            assert [seed for seed, _ in cases] != [seed for seed, _ in public]
            inputs[name, grade_id] = cases
    for grade_id in GRADE_IDS:
        assert inputs["A", grade_id] != inputs["B", grade_id]


def test_no_key_material_in_the_release_the_graded_notebooks_or_the_feedback(courses):
    for built in courses.values():
        course, key = built["course"], built["key"]
        assert (os.stat(course / secret.KEY_FILE).st_mode & 0o777) == 0o600
        searched = 0
        for folder in ("release", "autograded", "feedback"):
            for path in (course / folder).rglob("*"):
                if path.is_file():
                    data = path.read_bytes()
                    searched += 1
                    assert key.hex().encode() not in data and key not in data, path
        assert searched >= 6


def test_a_missing_key_is_created_private_on_first_use(tmp_path):
    path = tmp_path / secret.KEY_FILE
    key = secret.load_key(path)
    assert len(key) == secret.KEY_BYTES and (os.stat(path).st_mode & 0o777) == 0o600
    assert secret.load_key(path) == key
    assert [entry.name for entry in tmp_path.iterdir()] == [secret.KEY_FILE]  # no temporary left


def test_graders_starting_at_once_agree_on_one_key(tmp_path):
    path = tmp_path / secret.KEY_FILE
    code = f"from nst_grader.secret import load_key; print(load_key({str(path)!r}).hex())"
    processes = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(4)]
    keys = {process.communicate(timeout=60)[0].strip() for process in processes}
    assert keys == {path.read_text().strip()}


@pytest.mark.parametrize("problem", ["link", "readable", "short", "not_hex", "folder"])
def test_a_bad_key_file_is_refused_with_its_reason(tmp_path, problem):
    path = tmp_path / secret.KEY_FILE
    good = "ab" * secret.KEY_BYTES
    if problem == "link":
        (tmp_path / "elsewhere").write_text(good)
        path.symlink_to(tmp_path / "elsewhere")
    elif problem == "folder":
        path.mkdir()
    else:
        text = {"readable": good, "short": "ab" * 8, "not_hex": "zz" * secret.KEY_BYTES}[problem]
        path.write_text(text)
        path.chmod(0o644 if problem == "readable" else 0o600)
    expected = {
        "link": "Too many levels of symbolic links",
        "readable": "readable by others: chmod 600",
        "short": "must be 64 hex digits",
        "not_hex": "must be 64 hex digits",
        "folder": "must be a regular file",
    }[problem]
    with pytest.raises((ValueError, OSError), match=expected):
        secret.load_key(path)


def test_feedback_holds_what_the_student_submitted_and_the_verdicts_only(courses):
    course, key = courses["A"]["course"], courses["A"]["key"]
    assert scores(course, ["leaky"])["leaky"][1] == 12
    # While graded, the cell printed the hidden tests: they are in the graded notebook (the instructor's).
    graded_text = nbformat.writes(graded(course, "leaky"))
    assert "nst_checks.report" in graded_text
    page = feedback_page(course, "leaky")
    assert STUDENT_OUTPUT in page  # the student's own output, as submitted
    assert "right on" in page  # the graded cells' verdicts
    assert "nst_checks.report" not in page and "HIDDEN TESTS" not in page
    for grade_id in GRADE_IDS:
        exercise, public = reported_call(cell_by_grade_id(read_notebook(SOURCE_NOTEBOOK), grade_id).source)
        for seed, _ in secret.secret_cases(key, exercise, public):
            assert str(seed) not in page, (grade_id, seed)


def test_no_student_payload_runs_in_the_feedback_page(courses):
    course = courses["A"]["course"]
    page = feedback_page(course, "leaky")
    assert MARKER in page  # shown, as text
    assert live_parts(page) == []
    assert "application/javascript" not in page


def test_the_graded_notebook_formgrader_renders_is_inert(courses):
    notebook = graded(courses["A"]["course"], "leaky")
    hostile, notes = notebook.cells[-2], notebook.cells[-1]
    kinds = {key for output in hostile.outputs for key in output.get("data", {})}
    assert kinds <= {"text/html", "text/plain"}, kinds  # the JavaScript output is gone
    rendered = "".join(output.get("data", {}).get("text/html", "") for output in hostile.outputs)
    assert MARKER in rendered and live_parts(rendered) == []
    assert MARKER in notes.source and live_parts(notes.source) == []
    assert "widgets" not in notebook.metadata
