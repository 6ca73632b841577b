"""The grading command's own steps, each run for real without a kernel: a new gradebook stamped as
nbgrader stamps one, an oversized notebook refused unread, and the limits read back from
nbgrader's log. test_grading.py grades a class of 50 with the whole command.

Then the command itself (``python -m nst_grader.grade --workers 2``, real kernels in the sandbox) under
load that spills over, with a private TMPDIR: a notebook that hangs past the submission's time limit,
a grading process killed once (retried, graded), a Dask worker killed twice while it holds a
submission (recorded as failed), and a run stopped by SIGTERM or Ctrl-C. A bystander gets full
marks, and no temporary folder or process of the run is left.
"""

import csv
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import pytest
from sqlalchemy import create_engine, text

from course import (
    ASSIGNMENT,
    NOTEBOOK,
    SOURCE_NOTEBOOK,
    fill_solutions,
    make_course,
    nbgrader_env,
    read_notebook,
)
from nst_grader import grade, intake
from nst_grader.execute import LIMIT_NOTE


def test_a_new_gradebook_gets_the_schema_version_nbgrader_gives_one(tmp_path, monkeypatch):
    """``new_gradebook`` learns the version in process; nbgrader asks ``alembic heads`` in a subprocess."""
    from nbgrader.api import Gradebook, get_alembic_version

    monkeypatch.setenv("PATH", nbgrader_env()["PATH"])  # nbgrader calls alembic by name

    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    grade.new_gradebook(url)
    engine = create_engine(url)
    with engine.connect() as connection:
        [version] = connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
    engine.dispose()
    assert version == get_alembic_version()
    with Gradebook(url) as gradebook:  # nbgrader takes it as its own
        gradebook.add_student("someone")
        assert [student.id for student in gradebook.students] == ["someone"]
    grade.new_gradebook(url)  # a gradebook that has tables is left alone
    with Gradebook(url) as gradebook:
        assert [student.id for student in gradebook.students] == ["someone"]


def test_an_oversized_notebook_is_refused_unread(tmp_path):
    folder = tmp_path / "submitted" / "big" / ASSIGNMENT
    folder.mkdir(parents=True)
    with (folder / NOTEBOOK).open("wb") as file:  # sparse: no 51 MB written
        file.truncate((intake.MAX_FILE_MB + 1) * 2**20)
    result = grade.grade_submission(str(tmp_path), "big", str(tmp_path / "no-template.db"))
    assert result["status"] == "failed"
    assert result["reason"] == f"{NOTEBOOK} is over {intake.MAX_FILE_MB} MB: not graded"
    assert os.listdir(tmp_path) == ["submitted"]  # nothing copied, no course made


def test_the_limits_a_notebook_met_are_read_back_from_nbgrader_s_log():
    log = "\n".join(
        [
            "[INFO] Autograding x.ipynb",
            f"[WARNING] {LIMIT_NOTE}cell 8 (compute_content_cost): the cell ran past its 20 s",
            "[ERROR] Timeout waiting for execute reply (20s).",
            f"[WARNING] {LIMIT_NOTE}cell 8 (compute_content_cost): the cell ran past its 20 s",
            f"[WARNING] {LIMIT_NOTE}cell 25 (total_cost): the notebook ran past its 120 s",
        ]
    )
    assert grade.limits_met({"log": log}) == (
        "cell 8 (compute_content_cost): the cell ran past its 20 s; "
        "cell 25 (total_cost): the notebook ran past its 120 s"
    )
    assert grade.limits_met({"log": "[INFO] nothing"}) == "" == grade.limits_met({})


TEMP_PREFIXES = ("nst-grade-", "nst-forkserver-", "nst-kernel-")
SUBMISSION_TIMEOUT_S = 150  # well past a correct submission's grading on a loaded machine
# A first cell that ignores interrupts and never ends.
HANG = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"


def processes(text):
    """``{pid: (parent pid, command line)}`` of the processes whose command line holds ``text``."""
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            command = Path(f"/proc/{name}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            parent = int(Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if text in command:
            found[int(name)] = (parent, command)
    return found


def leftovers(tmpdir):
    """The run's temporary folders and processes still there (none may be)."""
    folders = sorted(path.name for path in Path(tmpdir).iterdir() if path.name.startswith(TEMP_PREFIXES))
    return folders, sorted(command for _, command in processes(str(tmpdir)).values())


@pytest.fixture(scope="module")
def load_course(tmp_path_factory):
    """A course whose notebook limits are lifted, so that only the submission's limit stops a hang,
    with a private TMPDIR (under /tmp, so that the fork server's user can reach it)."""
    course = make_course(tmp_path_factory.mktemp("load") / "course")
    with (course / "nbgrader_config.py").open("a") as config:
        config.write("\nc.LimitedExecute.notebook_timeout = 3600\nc.Execute.timeout = 3600\n")
    release = read_notebook(course / "release" / ASSIGNMENT / NOTEBOOK)
    solved = fill_solutions(release, read_notebook(SOURCE_NOTEBOOK))
    hang = nbformat.from_dict(solved)
    hang.cells.insert(0, nbformat.v4.new_code_cell(HANG))
    for student, notebook in {"bystander": solved, "hang": hang, "regraded": solved, "victim": solved}.items():
        folder = course / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(notebook, folder / NOTEBOOK)
    tmpdir = tempfile.mkdtemp(prefix="grade-command-test-", dir="/tmp")
    os.chmod(tmpdir, 0o755)
    yield course, tmpdir
    shutil.rmtree(tmpdir, ignore_errors=True)


def command(course, tmpdir, *args):
    return subprocess.Popen(
        [sys.executable, "-m", "nst_grader.grade", "--workers", "2", "--quiet", *args],
        cwd=course,
        env={**nbgrader_env(), "TMPDIR": tmpdir},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def kill_when_graded(student, times, parent, stop, killed):
    """Each time a new grading process for ``student`` appears, kill it (``parent`` False) or the
    Dask worker that started it (True), ``times`` times in all; records the PIDs killed."""
    seen = set()
    while len(killed) < times and not stop.is_set():
        for pid, (ppid, _) in processes(f"--grade-one {student} ").items():
            if pid not in seen:
                seen.add(pid)
                os.kill(ppid if parent else pid, signal.SIGKILL)
                killed.append(ppid if parent else pid)
                break
        time.sleep(0.2)


def test_a_run_outlasts_a_hang_a_killed_grading_process_and_a_worker_killed_twice(load_course):
    course, tmpdir = load_course
    stop, killed_graders, killed_workers = threading.Event(), [], []
    watchers = [
        threading.Thread(target=kill_when_graded, args=("regraded", 1, False, stop, killed_graders)),
        threading.Thread(target=kill_when_graded, args=("victim", 2, True, stop, killed_workers)),
    ]
    for watcher in watchers:
        watcher.start()
    try:
        run = command(course, tmpdir, "--timeout", str(SUBMISSION_TIMEOUT_S))
        output, _ = run.communicate(timeout=1500)
    finally:
        stop.set()
        for watcher in watchers:
            watcher.join()
    output = output.decode(errors="replace")
    assert run.returncode == 0, output[-5000:]
    assert len(killed_graders) == 1 and len(killed_workers) == 2, output[-5000:]
    with (course / grade.LOG).open() as file:
        rows = {row["student"]: row for row in csv.DictReader(file)}
    assert {student: (row["status"], row["score"]) for student, row in rows.items()} == {
        "bystander": ("graded", "12.0"),
        "hang": ("failed", ""),
        "regraded": ("graded", "12.0"),
        "victim": ("failed", ""),
    }, output[-5000:]
    assert rows["hang"]["reason"] == f"timed out: not graded within {SUBMISSION_TIMEOUT_S} s (copying included)"
    assert rows["victim"]["reason"] == "the worker grading it died 2 times"
    assert rows["bystander"]["reason"] == rows["regraded"]["reason"] == ""
    assert leftovers(tmpdir) == ([], [])


@pytest.mark.parametrize("stop", ["SIGTERM to the command", "Ctrl-C"])
def test_a_stopped_run_leaves_no_temporary_folder_or_process(load_course, tmp_path, stop):
    course, tmpdir = load_course
    copy = tmp_path / "course"
    shutil.copytree(course, copy, ignore=shutil.ignore_patterns("autograded", "gradebook.db", grade.LOG))
    for student in ("bystander", "regraded", "victim"):
        shutil.rmtree(copy / "submitted" / student)
    run = command(copy, tmpdir)
    try:
        while not any(Path(tmpdir).rglob("nst-kernel-*")) and run.poll() is None:  # the hang's kernel runs
            time.sleep(0.5)
        assert run.poll() is None, run.stdout.read().decode(errors="replace")[-5000:]
        if stop == "Ctrl-C":
            os.killpg(run.pid, signal.SIGINT)  # as a terminal sends it: to the whole foreground group
        else:
            os.kill(run.pid, signal.SIGTERM)
        run.communicate(timeout=300)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    assert run.returncode != 0
    deadline = time.monotonic() + 60  # processes killed with their parents take a moment to go
    while leftovers(tmpdir) != ([], []) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert leftovers(tmpdir) == ([], [])


def test_a_submission_time_that_does_not_parse_is_recorded_as_none():
    """timestamp.txt is the student's file: whatever it holds must not stop the run for everyone."""
    assert str(grade._submission_time("2026-12-01 10:00:00.000000 UTC")) == "2026-12-01 10:00:00"
    for stamp in ("", "  \n", "tomorrow at noon, honest", "9" * 40, "2026-13-45"):
        assert grade._submission_time(stamp) is None, stamp
