"""A throwaway nbgrader course for the tests, driven through the real nbgrader command line."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "art_generation"
SOURCE_DIR = ROOT / "notebooks" / ASSIGNMENT
SOURCE_NOTEBOOK = SOURCE_DIR / "Art_Generation_with_Neural_Style_Transfer.ipynb"
NOTEBOOK = SOURCE_NOTEBOOK.name
NOTEBOOK_ID = SOURCE_NOTEBOOK.stem  # nbgrader names notebooks without the extension
VENV_BIN = Path(sys.executable).parent  # not resolved: a venv's python is a symlink
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
STUB = re.compile(r"(?m)^[ \t]*# YOUR CODE HERE\n[ \t]*raise NotImplementedError\(\)$")
SOLUTION = re.compile(r"(?ms)^[ \t]*### BEGIN SOLUTION[ \t]*\n(.*?)\n[ \t]*### END SOLUTION[ \t]*$")


def nbgrader_env():
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"  # nbgrader calls alembic by name
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    return env


def nbgrader(course, *args, timeout=1800):
    """Run ``nbgrader *args`` in ``course``; fail the test with its output if it fails."""
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=course,
        env=nbgrader_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, (
        f"nbgrader {' '.join(args)} exited with {result.returncode}\n{result.stdout[-5000:]}\n{result.stderr[-10000:]}"
    )
    return result


def nbgrader_in_parallel(courses, *args, timeout=1800):
    """Run ``nbgrader *args`` in each of ``courses`` at once (one process each, own gradebook)."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "nbgrader", *args],
            cwd=course,
            env=nbgrader_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for course in courses
    ]
    failures = []
    for course, process in zip(courses, processes):
        output, _ = process.communicate(timeout=timeout)
        if process.returncode != 0:
            failures.append(f"{course}: nbgrader {' '.join(args)} exited with {process.returncode}\n{output[-8000:]}")
    assert not failures, "\n".join(failures)


def make_course(folder):
    """A course in ``folder`` with the assignment released (``nbgrader generate_assignment``)."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "nbgrader_config.py", folder)
    shutil.copytree(
        SOURCE_DIR.parent,
        folder / "notebooks",
        symlinks=False,  # follow the symlinks
        ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"),
    )
    nbgrader(folder, "generate_assignment", ASSIGNMENT, "--force")
    return folder


def read_notebook(path):
    return nbformat.read(path, as_version=4)


def copy_notebook(notebook):
    return nbformat.from_dict(json.loads(json.dumps(notebook)))


def nbgrader_meta(cell):
    return cell.metadata.get("nbgrader", {})


def cell_by_grade_id(notebook, grade_id):
    cells = [cell for cell in notebook.cells if nbgrader_meta(cell).get("grade_id") == grade_id]
    assert len(cells) == 1, f"{len(cells)} cells with grade_id {grade_id!r}"
    return cells[0]


def error_text(cell):
    """Every error output of ``cell`` as plain text (name, value and traceback, colours removed)."""
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "error":
            parts += [f"{output.ename}: {output.evalue}", *(ANSI.sub("", line) for line in output.traceback)]
    return "\n".join(parts)


def solution_body(source):
    """The lines between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (markers removed)."""
    regions = SOLUTION.findall(source)
    assert len(regions) == 1, source
    return regions[0]


def without_markers(source):
    return "\n".join(
        line for line in source.split("\n") if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION")
    )


def fill_solutions(release, source, grade_ids=None):
    """A copy of ``release`` with the stubs of ``grade_ids`` (default: all) replaced by the source
    notebook's solution lines, as a student would type them."""
    release = copy_notebook(release)
    solutions = [cell for cell in release.cells if nbgrader_meta(cell).get("solution")]
    assert solutions and sorted(nbgrader_meta(cell)["grade_id"] for cell in solutions) == sorted(
        nbgrader_meta(cell)["grade_id"] for cell in source.cells if nbgrader_meta(cell).get("solution")
    )
    for cell in solutions:
        grade_id = nbgrader_meta(cell)["grade_id"]
        if grade_ids is None or grade_id in grade_ids:
            solved = cell_by_grade_id(source, grade_id).source
            body = solution_body(solved)
            cell.source, count = STUB.subn(lambda _, body=body: body, cell.source)
            assert count == 1, f"{grade_id}: no single nbgrader stub in\n{cell.source}"
            # What the student typed is exactly the source cell without its markers.
            assert cell.source == without_markers(solved), grade_id
    return release


def scores(course, students, db_url=None):
    """``{student: ({grade_id: (score, max_score)}, total)}`` from the course's gradebook."""
    from nbgrader.api import Gradebook

    found = {}
    with Gradebook(db_url or f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for student in students:
            submission = gradebook.find_submission_notebook(NOTEBOOK_ID, ASSIGNMENT, student)
            found[student] = (
                {grade.name: (grade.score, grade.max_score) for grade in submission.grades},
                submission.score,
            )
    return found


PG_BIN = Path("/usr/lib/postgresql/15/bin")


class PostgresServer:
    """A throwaway PostgreSQL server on a Unix socket in a folder of its own (initdb, pg_ctl); as
    root, it runs as the ``postgres`` user, since PostgreSQL refuses to run as root (and its folder
    lies outside pytest's, which only root may enter)."""

    def __init__(self):
        folder = self.folder = Path(tempfile.mkdtemp(prefix="nst-postgres-"))
        self.data, self.socket = folder / "data", folder / "socket"
        self.socket.mkdir(parents=True)
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if as_postgres:
            shutil.chown(folder, "postgres")
            shutil.chown(self.socket, "postgres")
        self._as = as_postgres
        self._run(PG_BIN / "initdb", "-D", self.data, "-U", "postgres", "--auth=trust")
        self._run(
            PG_BIN / "pg_ctl",
            "-D",
            self.data,
            "-l",
            folder / "server.log",
            "-w",
            "start",
            "-o",
            f"-k {self.socket} -c listen_addresses=''",
        )
        self._run(PG_BIN / "createdb", "-h", self.socket, "-U", "postgres", "gradebook")
        self.url = f"postgresql://postgres@/gradebook?host={self.socket}"

    def _run(self, *command):
        result = subprocess.run([*self._as, *map(str, command)], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"{command[0]} failed:\n{result.stdout}\n{result.stderr}"

    def stop(self):
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-m", "immediate", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)
