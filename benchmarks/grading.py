"""Grading benchmark: ``python -m benchmarks.grading`` (the second half of ``make bench``).

Grades the same generated submissions (200 by default: half of them correct, the others with one
wrong exercise or none done) three times, in one fresh temporary course and in the same run, with
the sandbox on (the course's ``nbgrader_config.py``):

1. serially, with the real ``nbgrader autograde`` command over all of them, each kernel started
   afresh in its sandbox (``--SandboxedKernelManager.fork_server=False``, as for any course outside
   the temporary folder);
2. with the grading command on one worker, ``python -m nst_grader.grade --workers 1``, whose kernels
   come from each worker's fork server (``nst_grader.forkserver``);
3. with the grading command on two workers, ``--workers 2``.

Each timing is the wall time of the whole command, start-up included, as an instructor waits for
it. Each run's grades must be the expected ones, or the bench stops with an error and writes
nothing: a timing of wrong grades is worthless. It also times the grading command's one writer
(storing a graded submission into the gradebook), which bounds its throughput however many workers
grade, and from both estimates how long 10,000 submissions take on N workers. Last, it measures the
machine's own ceiling for two workers: how much sooner two CPU-bound processes finish than one
alone. Where two cores share one chip's caches and power, it is below 2, and two workers can beat
serial nbgrader by that much only if they spend no more CPU per submission than it does.

Writes ``outputs/grading_bench.json``, ``outputs/grading_bench.md`` and the headline record
``outputs/headline/grading-MACHINE.json`` (``benchmarks.outputs``). Run it on an otherwise idle machine:
``make bench`` does, after the engine's bench.
"""

import argparse
import collections
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from neural_style.machine import cpu_model
from nst_checks import FUNCTIONS
from nst_grader import grade

from .outputs import headline_record, write_outputs
from .sample_submissions import TYPICAL_MISTAKES as MISTAKES

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = grade.ASSIGNMENT
NOTEBOOK = grade.NOTEBOOK
SOURCE_NOTEBOOK = ROOT / "notebooks" / ASSIGNMENT / NOTEBOOK
TARGET_SPEEDUP = 1.8  # 2 workers over serial nbgrader, sandbox on (issue #14)
ESTIMATE_SUBMISSIONS = 10_000
ESTIMATE_WORKERS = (1, 2, 8, 32, 128)
RECORDING_SAMPLE = 20  # submissions whose recording into the gradebook is timed
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")

# The kinds of submission, in turn: 7 correct, 6 with one mistake (one wrong exercise, as students get it
# wrong), 1 with no exercise done.
MIX = (
    "correct",
    "gram_outer",
    "unsolved",
    "correct",
    "content_mean",
    "correct",
    "layer_no_transpose",
    "correct",
    "style_no_coefficients",
    "correct",
    "total_swapped",
    "correct",
    "step_no_clip",
    "correct",
)


class BenchError(Exception):
    """A grader failed or gave grades other than the expected ones."""


def _meta(cell):
    return cell.metadata.get("nbgrader", {})


def expected_scores(source):
    """The score each kind of submission must get, from the graded cells' points in the ``source``
    notebook: all of them when correct, none when unsolved, and for a mistake all but those of its
    exercise's test cell. Returns ``{kind: points}``."""
    points = {_meta(cell)["grade_id"]: _meta(cell)["points"] for cell in source.cells if _meta(cell).get("grade")}
    total = sum(points.values())
    wrong = {kind: total - points[f"test_{FUNCTIONS[mistake.exercise]}"] for kind, mistake in MISTAKES.items()}
    return {"correct": total, "unsolved": 0, **wrong}


def submissions(release, source, count):
    """``count`` submissions, the kinds of ``MIX`` in turn: ``{student: (kind, notebook)}``.

    A correct one is the released notebook with each exercise done as the source notebook does it
    (the source cell without its solution markers); a mistake changes one exercise of that; an
    unsolved one is the release as it is.
    """
    import nbformat

    solutions = {
        _meta(cell)["grade_id"]: "\n".join(
            line for line in cell.source.split("\n") if line.strip() not in SOLUTION_MARKERS
        )
        for cell in source.cells
        if _meta(cell).get("solution")
    }
    released = {_meta(cell).get("grade_id") for cell in release.cells if _meta(cell).get("solution")}
    if released != set(solutions):
        raise BenchError(f"the release's exercises {sorted(released)} are not the source's {sorted(solutions)}")

    def notebook(kind):
        written = nbformat.from_dict(json.loads(json.dumps(release)))
        if kind == "unsolved":
            return written
        done = dict(solutions)
        if kind in MISTAKES:
            done[FUNCTIONS[MISTAKES[kind].exercise]] = MISTAKES[kind].source.strip()
        for cell in written.cells:
            if _meta(cell).get("solution"):
                cell.source = done[_meta(cell)["grade_id"]]
        return written

    by_kind = {kind: notebook(kind) for kind in set(MIX)}
    return {f"student{index:04d}": (MIX[index % len(MIX)], by_kind[MIX[index % len(MIX)]]) for index in range(count)}


def _run(command, course, log):
    """Run ``command`` in ``course``, its output appended to ``log``; returns its wall time in seconds."""
    with open(log, "a") as output:
        output.write(f"\n$ {' '.join(command)}\n")
        output.flush()
        start = time.perf_counter()
        result = subprocess.run(command, cwd=course, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT)
        seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise BenchError(
            f"{' '.join(command)} exited with {result.returncode}:\n{Path(log).read_text(errors='replace')[-5000:]}"
        )
    return seconds


def make_course(folder, count, log):
    """A course in ``folder``: the assignment generated by ``nbgrader generate_assignment``, and
    ``count`` submissions in ``submitted/``. Returns ``{student: kind}`` (a key of ``expected_scores``).
    Puts this virtual environment's commands first on this process's PATH: nbgrader calls alembic by
    name, in its commands and in this process (a new gradebook)."""
    import nbformat

    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"

    shutil.copy(ROOT / "nbgrader_config.py", folder)
    shutil.copytree(
        ROOT / "notebooks",
        folder / "notebooks",
        symlinks=False,  # follows the helpers' links
        ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints", "outputs"),
    )
    _run([sys.executable, "-m", "nbgrader", "generate_assignment", ASSIGNMENT, "--force"], folder, log)
    release = folder / "release" / ASSIGNMENT
    made = submissions(
        nbformat.read(release / NOTEBOOK, as_version=4), nbformat.read(SOURCE_NOTEBOOK, as_version=4), count
    )
    for student, (_, notebook) in made.items():
        shutil.copytree(release, folder / "submitted" / student / ASSIGNMENT)
        nbformat.write(notebook, folder / "submitted" / student / ASSIGNMENT / NOTEBOOK)
    return {student: kind for student, (kind, _) in made.items()}


def gradebook_scores(db_url):
    """``{student: total score}`` of every submission in the gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gradebook:
        return {submission.student.id: submission.score for submission in gradebook.assignment_submissions(ASSIGNMENT)}


def check_grades(grader, expected, found):
    """Raise ``BenchError`` unless ``found`` (``{student: score}``) is exactly ``expected``."""
    wrong = {student: (found.get(student), score) for student, score in expected.items() if found.get(student) != score}
    unexpected = sorted(set(found) - set(expected))
    if wrong or unexpected:
        raise BenchError(
            f"{grader} gave other grades than expected, so its timing is worthless. "
            f"Student: (found, expected): {wrong}; students not submitted: {unexpected}"
        )


def recording_seconds(course, students, folder):
    """Median seconds the grading command's one writer (``grade.record``) takes to store one graded
    submission: its scores into an SQLite gradebook and its notebook into ``autograded/``."""
    db_url = f"sqlite:///{folder / 'recording.db'}"
    grade.ensure_assignment(course, db_url, folder)
    times = []
    for student in students:
        notebook = (course / "autograded" / student / ASSIGNMENT / NOTEBOOK).read_text()
        start = time.perf_counter()
        grade.record(course, db_url, {"student": student, "notebook": notebook})
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# A CPU-bound task of a few seconds: pure Python, as most of a graded kernel's start and imports are.
BUSY_LOOP = "total = 0\nfor number in range(30_000_000):\n    total += number"


def parallel_ceiling(runs=3):
    """How many times as fast two copies of ``BUSY_LOOP``, run at once in two processes, finish
    as one alone: ``2 x (one's seconds) / (both's seconds)``, with the median of ``runs`` timings."""

    def seconds(copies):
        start = time.perf_counter()
        processes = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(copies)]
        if any(process.wait() != 0 for process in processes):
            raise BenchError("the busy loop failed")
        return time.perf_counter() - start

    one = statistics.median(seconds(1) for _ in range(runs))
    both = statistics.median(seconds(2) for _ in range(runs))
    return 2 * one / both


def measure(count, ceiling_runs=3):
    """Grade ``count`` submissions serially, on 1 worker and on 2 (see the module's docstring)."""
    from importlib.metadata import version

    import nbformat

    start = time.perf_counter()
    if shutil.which("bwrap") is None:
        raise BenchError("grading runs every notebook in bubblewrap: apt-get install bubblewrap")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    results = {
        "machine": {
            "cpu_model": cpu_model(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "nbgrader": version("nbgrader"),
            "dask": version("distributed"),
            "load_average_before": os.getloadavg()[0],
        },
        "submissions": count,
        "target_speedup": TARGET_SPEEDUP,
        "runs": [],
    }
    with tempfile.TemporaryDirectory(prefix="nst-grading-bench-") as folder:
        course, log = Path(folder) / "course", Path(folder) / "commands.log"
        course.mkdir()
        kinds = make_course(course, count, log)
        scores = expected_scores(nbformat.read(SOURCE_NOTEBOOK, as_version=4))
        expected = {student: scores[kind] for student, kind in kinds.items()}
        results["mix"] = dict(collections.Counter(kinds.values()).most_common())
        results["expected_scores"] = scores
        graders = [
            (
                "serial nbgrader autograde",
                None,
                [
                    *(sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT),
                    "--SandboxedKernelManager.fork_server=False",
                ],
                f"sqlite:///{course / 'gradebook.db'}",
            )
        ]
        for workers in (1, 2):  # each from a copy of the gradebook as generate_assignment left it
            shutil.copy(course / "gradebook.db", course / f"workers{workers}.db")
            db_url = f"sqlite:///{course / f'workers{workers}.db'}"
            graders.append(
                (
                    f"nst_grader.grade --workers {workers}",
                    workers,
                    [sys.executable, "-m", "nst_grader.grade", "--quiet", "--workers", str(workers), "--db", db_url],
                    db_url,
                )
            )
        for name, workers, command, db_url in graders:
            seconds = _run(command, course, log)
            grades = gradebook_scores(db_url)
            check_grades(name, expected, grades)
            results["runs"].append(
                {
                    "grader": name,
                    "workers": workers,
                    "seconds": seconds,
                    "seconds_per_submission": seconds / count,
                    "submissions_per_minute": 60 * count / seconds,
                    "grades": grades,
                }
            )
            print(f"{name}: {seconds:.0f} s, {60 * count / seconds:.1f} submissions/min", flush=True)
        writer = Path(folder) / "recording"
        writer.mkdir()
        results["recording_s_per_submission"] = recording_seconds(course, sorted(expected)[:RECORDING_SAMPLE], writer)
    results["parallel_ceiling"] = parallel_ceiling(ceiling_runs)
    serial, _, two = results["runs"]
    results["speedup_2_workers_over_serial"] = two["submissions_per_minute"] / serial["submissions_per_minute"]
    results["estimate"] = estimate(two["seconds"] * 2 / count, results["recording_s_per_submission"])
    results["bench_minutes"] = (time.perf_counter() - start) / 60
    return results


def estimate(worker_s_per_submission, recording_s_per_submission):
    """Hours for ``ESTIMATE_SUBMISSIONS`` on N workers of a core each: the workers' share of the
    grading, or the one writer's recording of them all, whichever is longer."""
    hours = {
        workers: ESTIMATE_SUBMISSIONS * max(worker_s_per_submission / workers, recording_s_per_submission) / 3600
        for workers in ESTIMATE_WORKERS
    }
    return {
        "submissions": ESTIMATE_SUBMISSIONS,
        "worker_s_per_submission": worker_s_per_submission,
        "hours_on_workers": hours,
    }


HEADLINE_RUNS = {None: "serial_nbgrader", 1: "one_worker", 2: "two_workers"}
"""The headline record's name for each run, by its workers (None: serial nbgrader)."""


def headline(r):
    """The run's headline record (``benchmarks.outputs``): each grader's seconds, submissions per
    minute and seconds per submission, and two workers' speed-up over serial nbgrader."""
    figures = {}
    for run in r["runs"]:
        name = HEADLINE_RUNS[run["workers"]]
        figures[f"{name}_seconds"] = round(run["seconds"])
        figures[f"{name}_per_minute"] = round(run["submissions_per_minute"], 1)
        figures[f"{name}_seconds_per_submission"] = round(run["seconds_per_submission"], 2)
    figures["two_workers_speedup_over_serial_nbgrader"] = round(r["speedup_2_workers_over_serial"], 2)
    return headline_record(
        f"grading {r['submissions']} generated submissions in the sandbox: serial nbgrader autograde, then the "
        "grading command on 1 and 2 workers, each run's grades checked",
        "python -m benchmarks.grading (make bench)",
        figures,
        ["two_workers_per_minute", "two_workers_seconds_per_submission", "two_workers_speedup_over_serial_nbgrader"],
        r["machine"]["load_average_before"],
    )


def markdown(r):
    m, e = r["machine"], r["estimate"]
    scores = r["expected_scores"]
    mix = ", ".join(f"{count} {kind} ({scores[kind]}/{scores['correct']})" for kind, count in r["mix"].items())
    lines = [
        f"Grading {r['submissions']} submissions ({mix}), every notebook in the sandbox. "
        f"CPU: {m['cpu_model']}, {m['cpus']} CPUs, {m['platform']}; nbgrader {m['nbgrader']}, "
        f"Dask {m['dask']}; load average before: {m['load_average_before']:.2f}.",
        "",
        "| grader | seconds | submissions/min | s/submission |",
        "|---|---|---|---|",
    ]
    for run in r["runs"]:
        lines.append(
            f"| {run['grader']} | {run['seconds']:.0f} | {run['submissions_per_minute']:.1f} | "
            f"{run['seconds_per_submission']:.2f} |"
        )
    lines += [
        "",
        "| figure | measured | target |",
        "|---|---|---|",
        f"| 2 workers / serial nbgrader (submissions per minute) | {r['speedup_2_workers_over_serial']:.2f}x | "
        f"≥ {r['target_speedup']}x |",
        f"| two CPU-bound processes at once / one alone (this machine's ceiling for 2 workers) | "
        f"{r['parallel_ceiling']:.2f}x | |",
        f"| recording one graded submission (the command's one writer, SQLite) | "
        f"{r['recording_s_per_submission']:.3f} s | |",
        "",
        f"{e['submissions']:,} submissions, at {e['worker_s_per_submission']:.2f} s per submission "
        "per worker (the 2-worker run: 2 x its seconds / submissions), one core per worker, and no faster "
        "than the one writer records them:",
        "",
        "| workers | " + " | ".join(str(n) for n in e["hours_on_workers"]) + " |",
        "|---|" + "---|" * len(e["hours_on_workers"]),
        "| hours | " + " | ".join(f"{hours:.1f}" for hours in e["hours_on_workers"].values()) + " |",
        "",
        "Every run grades the same submissions in the same fresh course, and its grades were "
        "checked; each timing is the whole command's wall time, its start included. "
        f"The bench took {r['bench_minutes']:.0f} minutes.",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=200, help="how many to grade (default %(default)s)")
    parser.add_argument("--out", type=Path, default=ROOT / "outputs", help="folder for grading_bench.json and .md")
    parser.add_argument(
        "--ceiling-runs", type=int, default=3, help="timings of the two-worker ceiling, median taken (default 3)"
    )
    args = parser.parse_args(argv)
    if args.submissions < 1 or args.ceiling_runs < 1:
        parser.error("--submissions and --ceiling-runs must be at least 1")
    try:
        results = measure(args.submissions, args.ceiling_runs)
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    write_outputs(args.out, "grading_bench", results, markdown(results), "grading", headline(results))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
