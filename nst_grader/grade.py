"""Grade every submission, in parallel on Dask: ``python -m nst_grader.grade`` (``make autograde``).

Each submission ``submitted/<student>/art_generation/`` is one Dask task. A worker grades it in a
grading process of its own, with nbgrader's own autograder, in a private copy of the course: that
student's folder, a private gradebook holding only the assignment, and the course's
``nbgrader_config.py`` (so the notebook runs in the sandbox and is scored grader-side). The task
returns the graded notebook and its scores; this process, the only writer, stores them in the
course's gradebook (SQLite by default, or ``--db postgresql://...``) with nbgrader's
``SaveAutoGrades`` and writes ``autograded/<student>/art_generation/``.

* ``--workers N`` starts a local cluster of N single-threaded worker processes (default: one per
  core); ``--scheduler ADDRESS`` sends the same tasks to an existing Dask cluster, whose workers
  must see the course directory at the same path.
* A rerun grades only the submissions not graded yet; ``--force`` regrades all.
* The submission's folder is copied by ``nst_grader.intake``, which follows no link and copies
  only regular files and folders, within limits; a notebook that is not a regular file is not
  graded, and every entry left out is recorded (its ``dropped`` column and its reason).
* A submission that cannot be graded (no notebook, a notebook that is not a regular file, does not
  parse or is over ``intake.MAX_FILE_MB``, a kernel that dies) costs only itself: it is recorded
  with the reason in ``grading_log.csv`` and retried by the next run. A graded submission that ran
  into a limit (time, output, the sandbox's memory, processes or file size: ``nst_grader.execute``)
  is recorded there with the limits it met.
* Load that spills over costs only its submission (``grade_with_limits``): everything done for one
  submission, copying included, has ``--timeout`` seconds (``SUBMISSION_TIMEOUT_S``), past which
  its grading process is killed with its kernel, and the submission recorded as ``timed out``; a
  grading process that dies is started once more; a Dask worker that dies while it holds a
  submission has that task started once more elsewhere, and then it is recorded (``the worker
  grading it died 2 times``). Each worker starts one fork server (``nst_grader.sandbox``) and lends
  it to its grading processes.
* Every temporary folder (``nst-grade-``, ``nst-forkserver-``, ``nst-kernel-``) is named after the
  process that made it; at the start and the end of a run, those of processes that no longer run are
  removed, so that a crash, a timeout, Ctrl-C or SIGTERM (which stops a run as Ctrl-C does) leaves
  none behind.
"""

import argparse
import contextlib
import csv
import ctypes
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ASSIGNMENT = "art_generation"
NOTEBOOK = "Art_Generation_with_Neural_Style_Transfer.ipynb"
LOG = "grading_log.csv"
# The time one submission may take, everything included (the notebook alone may run 120 s, and a
# loaded grader takes a while to start a kernel and write the results).
SUBMISSION_TIMEOUT_S = 300
# A grading process that dies is started once more.
GRADING_ATTEMPTS = 2
PR_SET_PDEATHSIG = 1
# What nbgrader's exchange puts beside a submitted notebook, and its feedback commands need beside the
# graded one: the submission's time, and the secret that names the student's feedback file (its
# release_feedback and fetch_feedback hash the notebook with it).
EXCHANGE_FILES = ("timestamp.txt", "submission_secret.txt")


def _config(course, root, db_url):
    """The course's nbgrader configuration, pointed at ``root`` and ``db_url``."""
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    config.CourseDirectory.root = str(root)
    config.CourseDirectory.source_directory = str(Path(course) / "notebooks")
    config.CourseDirectory.db_url = db_url
    return config


def _api(course, root, db_url):
    from nbgrader.apps.api import NbGraderAPI

    return NbGraderAPI(config=_config(course, root, db_url))


def new_gradebook(db_url: str) -> None:
    """Create the tables of an nbgrader gradebook at ``db_url`` if it has none, stamped with the schema
    version as nbgrader's ``Gradebook`` does for a new database, but without the subprocess
    (``alembic heads``, which imports nbgrader again: seconds) it runs to learn that version."""
    from alembic.script import ScriptDirectory
    from nbgrader import dbutil
    from nbgrader.api import Base
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(db_url)
    try:
        if inspect(engine).get_table_names():
            return
        Base.metadata.create_all(bind=engine)
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
            connection.execute(
                text("INSERT INTO alembic_version (version_num) VALUES (:version)"),
                {"version": ScriptDirectory(dbutil.ALEMBIC_DIR).get_current_head()},
            )
    finally:
        engine.dispose()


def _generate_assignment(course, root, db_url):
    """``nbgrader generate_assignment`` into ``db_url`` (its release goes to ``root``, not the course)."""
    Path(root).mkdir(exist_ok=True)
    new_gradebook(db_url)
    result = _api(course, root, db_url).generate_assignment(ASSIGNMENT, force=True)
    if not result["success"]:
        raise RuntimeError(f"could not add the assignment to {db_url}:\n{result.get('error') or result.get('log', '')}")


def make_template(course: str | Path, folder: str | Path) -> Path:
    """A gradebook that holds the assignment and nothing else (the workers copy it)."""
    template = Path(folder) / "template.db"
    _generate_assignment(course, Path(folder) / "template", f"sqlite:///{template}")
    return template


def ensure_assignment(course: str | Path, db_url: str, folder: str | Path) -> None:
    """Put the assignment (its notebook and graded cells) into the gradebook if it is not there,
    as ``nbgrader generate_assignment`` would (a new PostgreSQL gradebook, say)."""
    from nbgrader.api import Gradebook, MissingEntry

    new_gradebook(db_url)
    with Gradebook(db_url) as gradebook:
        try:
            gradebook.find_assignment(ASSIGNMENT)
            return
        except MissingEntry:
            pass
    _generate_assignment(course, Path(folder) / "main", db_url)


def _reason(result):
    """The error a failed nbgrader run stopped with (its last exception line other than nbgrader's
    own summary), or its last line."""
    from nst_grader.execute import printable_line

    lines = [
        line.strip() for line in f"{result.get('log', '')}\n{result.get('error', '')}".splitlines() if line.strip()
    ]
    errors = [
        line
        for line in lines
        if re.match(r"^[\w.]+(Error|Exception|Interrupt|Exit)\b.*:", line) and "NbGraderException" not in line
    ]
    return printable_line((errors or lines or ["nbgrader failed without a message"])[-1])


def limits_met(result: dict[str, object]) -> str:
    """The limits nbgrader's log says the notebook ran into (``nst_grader.execute``), as one line."""
    from nst_grader.execute import LIMIT_NOTE, printable_line

    notes = re.findall(re.escape(LIMIT_NOTE) + r"(.*)", result.get("log", ""))
    return printable_line("; ".join(dict.fromkeys(notes)), 500)


def grade_submission(course: str | Path, student: str, template: str | Path) -> dict[str, object]:
    """Grade one submission in a private copy of the course (runs on a Dask worker).

    Returns ``{"student", "status": "graded"|"failed", "reason", "dropped", "notebook", "seconds"}``:
    the reason of a graded submission lists the limits it ran into and the entries of its folder that
    were not copied (empty if none); ``dropped`` lists those entries as JSON (``nst_grader.intake``).
    """
    from nst_grader.intake import Refused, admit
    from nst_grader.sandbox import share_with_kernels, temp_prefix

    start = time.perf_counter()
    folder = Path(course) / "submitted" / student / ASSIGNMENT

    def failed(reason, dropped=""):
        return {
            "student": student,
            "status": "failed",
            "reason": reason,
            "dropped": dropped,
            "seconds": time.perf_counter() - start,
        }

    with tempfile.TemporaryDirectory(prefix=temp_prefix("grade")) as work:
        work = Path(work)
        share_with_kernels(work)
        try:
            intake = admit(folder, work / "submitted" / student / ASSIGNMENT, NOTEBOOK)
        except Refused as refused:
            return failed(refused.reason)
        shutil.copy(template, work / "gradebook.db")
        result = _api(course, work, f"sqlite:///{work / 'gradebook.db'}").autograde(ASSIGNMENT, student)
        graded = work / "autograded" / student / ASSIGNMENT / NOTEBOOK
        notes = [intake.dropped_text()]
        if not result["success"] or not graded.is_file():
            return failed("; ".join(filter(None, [_reason(result), *notes])), intake.dropped_json())
        return {
            "student": student,
            "status": "graded",
            "reason": "; ".join(filter(None, [limits_met(result), *notes])),
            "dropped": intake.dropped_json(),
            "notebook": graded.read_text(),
            "exchange_files": {
                name: path.read_text()[:1000] for name in EXCHANGE_FILES if (path := graded.with_name(name)).is_file()
            },
            "seconds": time.perf_counter() - start,
        }


def _failed(student, reason, start):
    return {"student": student, "status": "failed", "reason": reason, "seconds": time.perf_counter() - start}


def grade_with_limits(course: str | Path, student: str, template: str | Path, timeout_s: float) -> dict[str, object]:
    """Grade one submission (``grade_submission``) in a grading process of its own, started from
    this one (a Dask worker), within ``timeout_s`` seconds for everything, copying included. Past
    them the process is killed, and with it the kernel and its sandbox (they die with the process
    that asked for them), and the submission is recorded as timed out. A grading process that dies
    (its memory, a crash) is started once more if time is left, then the submission is recorded
    with why. Its temporary folders lie in one folder of this process's, removed whatever happens;
    what it prints goes to a file there, never to the grader's console."""
    from nst_grader.sandbox import LENT_SERVER, lend_fork_server, share_with_kernels, temp_prefix

    # This worker's fork server (started on first use, and again if it died), or None. A course that
    # turns the sandbox or the fork server off leaves it unused.
    lent = lend_fork_server(logging.getLogger("nst_grader"))
    start = time.perf_counter()
    reason = ""
    for attempt in range(GRADING_ATTEMPTS):
        left = timeout_s - (time.perf_counter() - start)
        if left <= 0:
            break
        folder = Path(tempfile.mkdtemp(prefix=temp_prefix("grade")))
        try:
            share_with_kernels(folder)
            result_path = folder / "result.json"
            command = [sys.executable, "-m", "nst_grader.grade", "--course", course, "--grade-one", student]
            command += ["--template", template, "--result", str(result_path)]
            env = {**os.environ, "TMPDIR": str(folder), **({LENT_SERVER: lent} if lent else {})}
            with (folder / "output.log").open("wb") as output:
                process = subprocess.Popen(
                    command, stdin=subprocess.DEVNULL, stdout=output, stderr=output, env=env, start_new_session=True
                )
                try:
                    process.wait(timeout=left)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
                    return _failed(student, f"timed out: not graded within {timeout_s:g} s (copying included)", start)
            if result_path.is_file():
                return {**json.loads(result_path.read_text()), "seconds": time.perf_counter() - start}
            from nst_grader.execute import printable_line  # nbgrader: imported only here, on the worker

            tail = printable_line((folder / "output.log").read_bytes()[-300:].decode(errors="replace"))
            reason = f"the grading process died ({_exit_reason(process.returncode)}) {attempt + 1} times: {tail}"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return _failed(student, reason or f"timed out: not graded within {timeout_s:g} s (copying included)", start)


def _exit_reason(returncode):
    if returncode < 0:
        return f"signal {signal.Signals(-returncode).name}"
    return f"exit status {returncode}"


def _grade_one(course, student, template, result_path):
    """The grading process: grade one submission and write its result (JSON) to ``result_path``. It
    dies with the worker that started it."""
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() == 1:
        return 1
    result = grade_submission(course, student, template)
    partial = Path(result_path).with_name("result.part")
    partial.write_text(json.dumps(result))
    os.replace(partial, result_path)
    return 0


def _submission_time(stamp):
    """The time a submission's ``timestamp.txt`` holds, or None if it holds none or one that does not
    parse: it is the student's file, and must not stop the run for everyone."""
    from nbgrader.utils import parse_utc

    try:
        return parse_utc(stamp) if stamp.strip() else None
    except (ValueError, OverflowError):
        return None


def record(course: str | Path, db_url: str, result: dict[str, object]) -> float:
    """Store a graded submission in the course: its scores in the gradebook, its notebook and its
    ``EXCHANGE_FILES`` in ``autograded/``. Returns the total score."""
    import nbformat
    from nbgrader.api import Gradebook, MissingEntry
    from nbgrader.preprocessors import SaveAutoGrades

    student = result["student"]
    notebook = nbformat.reads(result["notebook"], as_version=4)
    with Gradebook(db_url) as gradebook, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLAlchemy's notes on nbgrader's session handling
        gradebook.update_or_create_student(student)
        with contextlib.suppress(MissingEntry):
            gradebook.remove_submission(ASSIGNMENT, student)
        # The submission's time, as nbgrader's autograde records it (the worker's autograde has parsed
        # it already): formgrader counts a submission graded when it matches submitted/'s timestamp.txt.
        stamp = result.get("exchange_files", {}).get("timestamp.txt", "")
        gradebook.add_submission(ASSIGNMENT, student, timestamp=_submission_time(stamp))
    resources = {
        "nbgrader": {"db_url": db_url, "assignment": ASSIGNMENT, "student": student, "notebook": Path(NOTEBOOK).stem}
    }
    SaveAutoGrades().preprocess(notebook, resources)
    target = Path(course) / "autograded" / student / ASSIGNMENT / NOTEBOOK
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    partial.write_text(result["notebook"])
    os.replace(partial, target)
    for name, text in result.get("exchange_files", {}).items():
        partial = target.with_name(name + ".part")
        partial.write_text(text)
        os.replace(partial, target.with_name(name))
    with Gradebook(db_url) as gradebook:
        return gradebook.find_submission(ASSIGNMENT, student).score


def _has_gradebook(db_url):
    """False for an SQLite gradebook that does not exist yet (nothing is graded then)."""
    return not db_url.startswith("sqlite:///") or Path(db_url.removeprefix("sqlite:///")).exists()


def graded_students(course: str | Path, db_url: str) -> set[str]:
    """Students whose submission is in the gradebook and whose graded notebook is written."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url) as gradebook:
        try:
            in_gradebook = {submission.student.id for submission in gradebook.assignment_submissions(ASSIGNMENT)}
        except MissingEntry:  # a gradebook without the assignment yet
            return set()
    return {
        student for student in in_gradebook if (Path(course) / "autograded" / student / ASSIGNMENT / NOTEBOOK).is_file()
    }


LOG_FIELDS = ["student", "status", "score", "reason", "seconds", "dropped"]


def _append_log(course, row):
    """Append ``row`` to ``grading_log.csv`` (a log written with fewer columns is rewritten first)."""
    path = Path(course) / LOG
    if path.exists():
        with path.open(newline="") as file:
            reader = csv.DictReader(file)
            if reader.fieldnames != LOG_FIELDS:
                rows = list(reader)
                partial = path.with_name(path.name + ".part")
                with partial.open("w", newline="") as out:
                    writer = csv.DictWriter(out, fieldnames=LOG_FIELDS, restval="", extrasaction="ignore")
                    writer.writeheader()
                    writer.writerows(rows)
                os.replace(partial, path)
    new = not path.exists()
    with path.open("a", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=LOG_FIELDS)
        if new:
            writer.writeheader()
        writer.writerow(row)


def _stop(signum, frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _submitted_students(course):
    """The names in ``submitted/``: folders, and links (which are recorded as not graded)."""
    submitted = Path(course) / "submitted"
    if not submitted.is_dir():
        return []
    with os.scandir(submitted) as entries:
        return sorted(entry.name for entry in entries if entry.is_dir(follow_symlinks=False) or entry.is_symlink())


def _grade_all(course, db_url, pending, template, args):
    """Grade ``pending`` on Dask and record each result as it comes. Returns how many failed."""
    import dask
    from dask.distributed import Client, KilledWorker, LocalCluster, as_completed
    from tqdm import tqdm

    from nst_grader.execute import printable_line

    # A worker that dies (its memory, a crash) costs only the submission it held: that task is
    # started once more on another worker, then it fails with KilledWorker (an existing cluster
    # follows its own setting).
    dask.config.set({"distributed.scheduler.allowed-failures": GRADING_ATTEMPTS - 1})
    cluster = (
        None
        if args.scheduler
        else LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None)
    )
    failed = 0
    try:
        with Client(args.scheduler or cluster) as client:
            futures = {
                client.submit(grade_with_limits, str(course), student, str(template), args.timeout, pure=False): student
                for student in pending
            }
            for future in tqdm(
                as_completed(futures), total=len(futures), desc="grading", unit="submission", disable=args.quiet
            ):
                try:
                    result = future.result()
                except KilledWorker:
                    result = _failed(
                        futures[future], f"the worker grading it died {GRADING_ATTEMPTS} times", time.perf_counter()
                    )
                except Exception as error:  # noqa: BLE001 - one submission's failure is recorded, the run goes on
                    result = _failed(
                        futures[future], printable_line(f"{type(error).__name__}: {error}"), time.perf_counter()
                    )
                score = record(course, db_url, result) if result["status"] == "graded" else ""
                failed += result["status"] == "failed"
                _append_log(
                    course,
                    {
                        "student": result["student"],
                        "status": result["status"],
                        "score": score,
                        "reason": result.get("reason", ""),
                        "seconds": f"{result['seconds']:.1f}",
                        "dropped": result.get("dropped", ""),
                    },
                )
    finally:
        if cluster is not None:
            cluster.close()
    return failed


def main(argv: list[str] | None = None) -> int:
    # nbgrader runs alembic by name: this interpreter's commands come first, venv activated or not.
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--course", type=Path, default=Path.cwd(), help="course directory (default: here)")
    parser.add_argument("--db", default=None, help="gradebook URL (default: sqlite:///COURSE/gradebook.db)")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="local worker processes")
    parser.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler")
    parser.add_argument("--force", action="store_true", help="regrade submissions already graded")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--timeout",
        type=float,
        default=SUBMISSION_TIMEOUT_S,
        help=f"seconds one submission may take, everything included (default {SUBMISSION_TIMEOUT_S})",
    )
    # A grading process started by grade_with_limits: --grade-one STUDENT --template DB --result FILE.
    parser.add_argument("--grade-one", help=argparse.SUPPRESS)
    parser.add_argument("--template", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    course = args.course.resolve()
    if args.grade_one:
        return _grade_one(str(course), args.grade_one, args.template, args.result)
    db_url = args.db or f"sqlite:///{course / 'gradebook.db'}"
    students = _submitted_students(course)
    done = set() if args.force or not _has_gradebook(db_url) else graded_students(course, db_url)
    pending = [student for student in students if student not in done]
    print(f"{len(students)} submissions, {len(students) - len(pending)} already graded, {len(pending)} to grade")
    if not pending:
        return 0

    from nst_grader.sandbox import remove_orphans

    # A SIGTERM stops the run as Ctrl-C does: the workers, their grading processes and kernels end,
    # and no temporary folder is left (those of processes killed outright go at the next run).
    signal.signal(signal.SIGTERM, _stop)
    remove_orphans()
    try:
        with tempfile.TemporaryDirectory(prefix="nst-grade-template-", dir=course) as folder:
            template = make_template(course, folder)
            ensure_assignment(course, db_url, folder)
            failed = _grade_all(course, db_url, pending, template, args)
    finally:
        remove_orphans()
    print(f"graded {len(pending) - failed}, failed {failed} (reasons in {course / LOG})")
    return 0


if __name__ == "__main__":
    # Run as nst_grader.grade, not __main__: the tasks sent to Dask name their functions by module, and
    # a scheduler or worker started from the command line has no __main__ of ours.
    from nst_grader.grade import main as command

    sys.exit(command())
