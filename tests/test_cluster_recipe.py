"""docs/instructor.md's "Grading on a cluster" recipe, run exactly as written: a real ``dask scheduler``
and ``dask worker`` started from the command line, the grading command and ``nbgrader export`` with a
real PostgreSQL gradebook, in a shell whose PATH has no virtual environment on it (the venv is not
activated). Only the placeholders are filled in: the scheduler's address and port, and the database URL.
"""

import csv
import os
import re
import shlex
import signal
import socket
import subprocess
import time

import nbformat
import pytest

import nst_checks
from course import (
    ASSIGNMENT,
    NOTEBOOK,
    PG_BIN,
    ROOT,
    SOURCE_NOTEBOOK,
    PostgresServer,
    cell_by_grade_id,
    fill_solutions,
    read_notebook,
)
from submission_corpus import MISTAKES

GUIDE = ROOT / "docs" / "instructor.md"
MISTAKE = "content_mean"
POINTS_LOST = 2  # compute_content_cost's points
TOTAL = 12
PLAIN_PATH = "/usr/local/bin:/usr/bin:/bin"

pytestmark = pytest.mark.skipif(
    not (PG_BIN / "initdb").exists(), reason=f"needs PostgreSQL 15 in {PG_BIN} (make test installs it)"
)


def recipe():
    """The shell block under "## Grading on a cluster": [(comment, command)], the commands joined
    across their line continuations."""
    section = GUIDE.read_text().split("## Grading on a cluster", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1).replace("\\\n", " ")
    steps, comment = [], None
    for line in block.splitlines():
        if line.startswith("#"):
            comment = line
        elif line.strip():
            steps.append((comment, re.sub(r"\s+", " ", line.strip())))
    return steps


def filled(command, port, db_url):
    return (
        command.replace("SCHEDULER:8786", f"127.0.0.1:{port}")
        .replace("--port 8786", f"--port {port}")
        .replace("--host SCHEDULER", "--host 127.0.0.1")
        .replace("--host WORKER", "--host 127.0.0.1")
        .replace("postgresql://grader@DBHOST/gradebook", shlex.quote(db_url))
    )


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port, process, seconds=120):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, "the scheduler exited"
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise AssertionError(f"nothing listens on port {port}")


@pytest.fixture
def course(tmp_path, released_course):
    """The released course with two submissions (one correct, one that loses the content cost), and
    the project's .venv where the recipe expects it: in the course directory."""
    course = tmp_path / "course"
    subprocess.run(["cp", "-a", str(released_course), str(course)], check=True)
    (course / ".venv").symlink_to(ROOT / ".venv")
    release = read_notebook(course / "release" / ASSIGNMENT / NOTEBOOK)
    solved = fill_solutions(release, read_notebook(SOURCE_NOTEBOOK))
    mistaken = nbformat.from_dict(solved)
    variant = MISTAKES[MISTAKE]
    cell_by_grade_id(mistaken, nst_checks.FUNCTIONS[variant.exercise]).source = variant.source.strip("\n")
    for student, notebook in (("ada", solved), ("bob", mistaken)):
        folder = course / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(notebook, folder / NOTEBOOK)
    return course


def test_the_cluster_recipe_grades_into_postgresql_as_written(course):
    steps = recipe()
    assert [command.split()[0] for _, command in steps] == [
        ".venv/bin/dask",
        ".venv/bin/dask",
        ".venv/bin/python",
        ".venv/bin/python",
    ], steps
    (_, scheduler), (_, worker), *recording = steps
    port = free_port()
    server = PostgresServer()
    env = {**{key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}, "PATH": PLAIN_PATH}
    started = []
    logs = (course / "dask.log").open("w")
    try:
        for command in (scheduler, worker):
            started.append(
                subprocess.Popen(
                    ["bash", "-c", "exec " + filled(command, port, server.url)],
                    cwd=course,
                    env=env,
                    stdout=logs,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
            if command is scheduler:
                wait_for_port(port, started[0])
        script = "set -e\n" + "\n".join(filled(command, port, server.url) for _, command in recording)
        result = subprocess.run(
            ["bash", "-c", script], cwd=course, env=env, capture_output=True, text=True, timeout=900
        )
        assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
        log = (course / "grading_log.csv").read_text() if (course / "grading_log.csv").exists() else ""
        dask_log = (course / "dask.log").read_text()[-5000:]
        assert "graded 2, failed 0" in result.stdout, f"{result.stdout}\n{log}\n{dask_log}"
    finally:
        for process in started:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=60)
        server.stop()
        logs.close()
    with (course / "grades.csv").open() as file:
        totals = {row["student_id"]: float(row["score"]) for row in csv.DictReader(file)}
    assert totals == {"ada": TOTAL, "bob": TOTAL - POINTS_LOST}
