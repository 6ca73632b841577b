"""Grades students can trust, for a class of 53, in the real sandbox (bubblewrap), from the grading
command (``python -m nst_grader.grade``) in two configurations and from plain ``nbgrader autograde``:

* **A**: the SQLite gradebook, and a Dask LocalCluster of 2 workers that the command starts
  (``--workers 2``);
* **B**: a real PostgreSQL server (``--db postgresql://...``; SQLite where PostgreSQL is missing, and
  then only the PostgreSQL test is skipped), and a Dask LocalCluster of 1 worker
  started by this test (``--scheduler``).

A and B each grade their own copy of one course. A holds 53 submissions: the model solution, the
untouched release, 21 students who mix correct variants, typical mistakes and the model solution
exercise by exercise (``submission_corpus.mixed_students``), the 14 tampering attempts
(``TAMPERING``) and the 16 attacks on the grader (``HOSTILE``), the 3 that take a worker's time on
purpose among them (a hang, a cell that ignores interrupts, a notebook of slow cells). B holds 13 of
them (``B_STUDENTS``), at least one of each kind: what B adds is its gradebook and its scheduler,
not more grading of the same notebooks.

What is compared, in A's gradebook and in B's (and so between them, for B's 13): every graded cell
of each submission scores what its corpus entry implies (full marks, except that each mistake loses
exactly its exercise, a tampering attempt scores only what it implemented and an attack only what
it broke); the same 3 submissions cannot be graded, for the expected reasons; and
``grading_log.csv`` holds, for each attack, the limit it met, and no reason at all for any other
submission.

The courses are configured as in production, except the notebook's time limit in A and B: 60 s
instead of 120 s, so that the notebook of slow cells holds a worker for less long. Two chains of
commands run at once. B's single worker grades one submission after the other, so B must never wait
for a core: chain A (its kernels too) keeps off one. Chain A: A, then on A's course a rerun, the
report and one student's feedback. Chain B: B, then C (plain ``nbgrader autograde`` of two of the
submissions in a third course, configured as in production, then the grading command on that
course, and ``--force``), then a probe that measures the grader's memory while it grades the
submissions with 100 MB of output. While A runs, its two kernels share one core, as if four kernels
shared the two: correct work meets no limit all the same.
"""

import contextlib
import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import threading

import nbformat
import pytest

import nst_checks
from course import (
    ASSIGNMENT,
    NOTEBOOK,
    PG_BIN,
    SOURCE_NOTEBOOK,
    PostgresServer,
    cell_by_grade_id,
    error_text,
    fill_solutions,
    nbgrader_env,
    read_notebook,
    scores,
)
from submission_corpus import CORRECT, HOSTILE, MISTAKES, TAMPERING, mixed_students

pytestmark = pytest.mark.skipif(
    shutil.which("bwrap") is None, reason="needs bubblewrap (apt-get install bubblewrap; .ci/run installs it)"
)

POINTS = {
    "compute_content_cost": 2,
    "gram_matrix": 2,
    "compute_layer_style_cost": 3,
    "compute_style_cost": 2,
    "total_cost": 1,
    "train_step": 2,
}
GRADE_IDS = {exercise: f"test_{function}" for exercise, function in nst_checks.FUNCTIONS.items()}
TOTAL = sum(POINTS.values())
MIXED = mixed_students(21)
STUDENTS = [  # course A's
    "release",
    "solved",
    *(f"student-{index:02d}" for index in range(len(MIXED))),
    *(f"tamper-{name}" for name in TAMPERING),
    *(f"hostile-{name}" for name in HOSTILE),
]
[SWAPPED] = [f"student-{index:02d}" for index, student in enumerate(MIXED) if "total_swapped" in student.values()]
# Course B's: the release, the solution, 3 mixed students, 2 tampering attempts, the attacks on the
# sandbox (course files, writing outside, the network) and the 3 that cannot be graded.
UNGRADABLE = [f"hostile-{name}" for name, attack in HOSTILE.items() if attack.lost is None]
B_STUDENTS = [
    "release",
    "solved",
    *sorted({SWAPPED, "student-06", "student-07"}),
    "tamper-forge_results",
    "tamper-patch_numpy",
    *(f"hostile-{name}" for name in ("read_course_files", "write_outside", "reach_network")),
    *UNGRADABLE,
]
NOTEBOOK_TIMEOUT = 60
GRADED_NOTEBOOK_MB = 5  # nbgrader_config.py's output limit (4 MB), and the notebook's code
# Graded by plain nbgrader in course C (as in A and B): grader-side scoring, the sandbox, a limit.
PLAIN = ["tamper-forge_results", "hostile-print_100mb_at_once"]
BIG_OUTPUTS = ["hostile-print_100mb_lines", "hostile-print_100mb_at_once"]
# B's single worker grades one submission after the other, so it must never wait for a core: chain A
# (its kernels too) keeps off the first one.
SPARE_ONE_CORE = (
    ["taskset", "--cpu-list", ",".join(map(str, sorted(os.sched_getaffinity(0))[1:]))]
    if len(os.sched_getaffinity(0)) > 1
    else []
)
# Grades, in a fresh process, the solved submission and then those with 100 MB of output, and
# prints the process's peak memory after each.
MEMORY_PROBE = """
import json, resource, sys, tempfile
from nst_grader.grade import grade_submission, make_template
course, students = sys.argv[1], sys.argv[2:]
with tempfile.TemporaryDirectory() as folder:
    template = make_template(course, folder)
    for student in students:
        status = grade_submission(course, student, str(template))["status"]
        print("PEAK", json.dumps([student, status, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024]))
"""


def submissions(release, course, port):
    """student -> (notebook, or str for a file that is not a notebook, or None for no notebook;
    the exercises it loses, or None if it cannot be graded)."""
    source = read_notebook(SOURCE_NOTEBOOK)
    solved = fill_solutions(release, source)
    subs = {"release": (release, set(nst_checks.FUNCTIONS)), "solved": (solved, set())}
    for index, student in enumerate(MIXED):
        notebook = nbformat.from_dict(solved)
        for exercise, name in student.items():
            variant = {**CORRECT, **MISTAKES}[name]
            cell_by_grade_id(notebook, nst_checks.FUNCTIONS[exercise]).source = variant.source.strip("\n")
        subs[f"student-{index:02d}"] = (notebook, {exercise for exercise, name in student.items() if name in MISTAKES})
    for name, attempt in TAMPERING.items():
        implemented = {nst_checks.FUNCTIONS[exercise] for exercise in attempt.implemented}
        subs[f"tamper-{name}"] = (
            attempt.change(fill_solutions(release, source, implemented)),
            set(nst_checks.FUNCTIONS) - attempt.implemented,
        )
    for name, attack in HOSTILE.items():
        subs[f"hostile-{name}"] = (attack.change(solved, course, port), attack.lost)
    assert sorted(subs) == sorted(STUDENTS) and len(STUDENTS) == 53
    return subs


def submit(course, subs):
    release = course / "release" / ASSIGNMENT
    for student, (notebook, _) in subs.items():
        target = course / "submitted" / student / ASSIGNMENT
        if notebook is None:
            target.mkdir(parents=True)
            continue
        shutil.copytree(release, target)
        if isinstance(notebook, str):
            (target / NOTEBOOK).write_text(notebook)
        else:
            nbformat.write(notebook, target / NOTEBOOK)


def grade(*args):
    return [sys.executable, "-m", "nst_grader.grade", "--quiet", *args]


def run_chains(chains):
    """Run the chains at once, each in a thread of its own, and the commands ``(argv, folder)`` of a
    chain one after the other, until one fails. Returns {chain: [CompletedProcess]}."""
    done = {name: [] for name in chains}

    def run(name):
        for argv, folder in chains[name]:
            done[name].append(
                subprocess.run(argv, cwd=folder, env=nbgrader_env(), capture_output=True, text=True, timeout=900)
            )
            if done[name][-1].returncode != 0:
                return

    threads = [threading.Thread(target=run, args=(name,)) for name in chains]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name, (argv, _) in ((name, chain[len(done[name]) - 1]) for name, chain in chains.items()):
        result = done[name][-1]
        assert result.returncode == 0 and len(done[name]) == len(chains[name]), (
            f"chain {name}: {' '.join(argv)} exited with {result.returncode}\n{result.stdout[-3000:]}\n"
            f"{result.stderr[-8000:]}"
        )
    return done


def log_rows(course):
    with (course / "grading_log.csv").open() as file:
        return list(csv.DictReader(file))


@pytest.fixture(scope="module")
def listener():
    """A TCP server on 127.0.0.1 that records every connection (none may come from a notebook)."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    connections, stop = [], threading.Event()

    def accept():
        while not stop.is_set():
            with contextlib.suppress(OSError):
                connections.append(server.accept()[0].recv(100))

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], connections
    stop.set()
    thread.join()
    server.close()


NO_POSTGRES = f"needs PostgreSQL 15 in {PG_BIN} (apt-get install postgresql-15; make test installs it)"


@pytest.fixture(scope="module")
def postgres():
    """A throwaway PostgreSQL server, or None where PostgreSQL is missing: B then keeps its gradebook
    in SQLite, and only the test of the PostgreSQL gradebook is skipped."""
    if not (PG_BIN / "initdb").exists():
        yield None
        return
    server = PostgresServer()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def graded(tmp_path_factory, released_course, listener, postgres):
    """Every chain run: {"A"/"B"/"C": {"course", "db", "printed": [stdout of each command],
    "scores": {student: (cell scores, total)}, "log": {student: last row}}, "expected": {student: lost
    exercises or None}, "memory": [[student, status, peak MB]]}."""
    from dask.distributed import LocalCluster

    folder = tmp_path_factory.mktemp("grading")
    courses = {name: folder / f"course-{name.lower()}" for name in "ABC"}
    shutil.copytree(released_course, courses["A"])
    with (courses["A"] / "nbgrader_config.py").open("a") as config:
        config.write(f"\nc.LimitedExecute.notebook_timeout = {NOTEBOOK_TIMEOUT}\n")
    subs = submissions(read_notebook(courses["A"] / "release" / ASSIGNMENT / NOTEBOOK), folder, listener[0])
    shutil.copytree(courses["A"], courses["B"])
    submit(courses["A"], subs)
    submit(courses["B"], {student: subs[student] for student in B_STUDENTS})
    shutil.copytree(released_course, courses["C"])
    submit(courses["C"], {student: subs[student] for student in PLAIN})
    dbs = {
        "A": f"sqlite:///{courses['A'] / 'gradebook.db'}",
        "B": postgres.url if postgres else f"sqlite:///{courses['B'] / 'gradebook.db'}",
        "C": f"sqlite:///{courses['C'] / 'gradebook.db'}",
    }
    feedback = [sys.executable, "-m", "nbgrader", "generate_feedback", ASSIGNMENT, "--force", f"--student={SWAPPED}"]
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        done = run_chains(
            {
                "A": [
                    (SPARE_ONE_CORE + argv, cwd)
                    for argv, cwd in [
                        (grade("--workers", "2"), courses["A"]),
                        (grade("--workers", "1"), courses["A"]),
                        ([sys.executable, "-m", "nst_grader.report"], courses["A"]),
                        (feedback, courses["A"]),
                    ]
                ],
                "B": [
                    (grade("--scheduler", cluster.scheduler_address, "--db", dbs["B"]), courses["B"]),
                    ([sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT], courses["C"]),
                    ([sys.executable, "-m", "nbgrader", "export", "--to", "plain_grades.csv"], courses["C"]),
                    (grade(), courses["C"]),
                    (grade("--workers", "1", "--force"), courses["C"]),
                    ([sys.executable, "-c", MEMORY_PROBE, str(courses["A"]), "solved", *BIG_OUTPUTS], folder),
                ],
            }
        )
    graded = {
        "expected": {student: lost for student, (_, lost) in subs.items()},
        "memory": [
            json.loads(line.removeprefix("PEAK "))
            for line in done["B"][-1].stdout.splitlines()
            if line.startswith("PEAK ")
        ],
    }
    printed = {"A": done["A"], "B": done["B"][:1], "C": done["B"][1:5]}
    for name, course in courses.items():
        log = {row["student"]: row for row in log_rows(course)}
        graded[name] = {
            "course": course,
            "db": dbs[name],
            "log": log,
            "printed": [result.stdout + result.stderr for result in printed[name]],
            "scores": scores(course, [student for student, row in log.items() if row["status"] == "graded"], dbs[name]),
        }
    return graded


def graded_notebook(graded, student, run="A"):
    return read_notebook(graded[run]["course"] / "autograded" / student / ASSIGNMENT / NOTEBOOK)


def printed(notebook, grade_id):
    return "".join(output.get("text", "") for output in cell_by_grade_id(notebook, grade_id).get("outputs", []))


def test_both_configurations_grade_all_and_fail_the_same_3(graded):
    assert "53 submissions, 0 already graded, 53 to grade" in graded["A"]["printed"][0]
    assert "graded 50, failed 3" in graded["A"]["printed"][0], graded["A"]["printed"][0]
    assert "13 submissions, 0 already graded, 13 to grade" in graded["B"]["printed"][0]
    assert "graded 10, failed 3" in graded["B"]["printed"][0], graded["B"]["printed"][0]


@pytest.mark.parametrize("student", STUDENTS)
def test_every_submission_gets_its_expected_grades_in_both(graded, student):
    """Exactly the exercises it is expected to lose score 0, all others full marks, in A and, for
    B's students, in B."""
    lost = graded["expected"][student]
    for run in ("A", "B") if student in B_STUDENTS else ("A",):
        if lost is None:
            assert graded[run]["log"][student]["status"] == "failed", graded[run]["log"][student]
            continue
        cell_scores, total = graded[run]["scores"][student]
        notebook = graded_notebook(graded, student, run)
        assert set(cell_scores) == set(GRADE_IDS.values())
        for exercise, grade_id in GRADE_IDS.items():
            score, max_score = cell_scores[grade_id]
            assert max_score == POINTS[nst_checks.FUNCTIONS[exercise]]
            expected = 0 if exercise in lost else max_score
            assert score == expected, f"{run}: {student}: {grade_id} scored {score}/{max_score}\n" + error_text(
                cell_by_grade_id(notebook, grade_id)
            )
        assert total == TOTAL - sum(POINTS[nst_checks.FUNCTIONS[exercise]] for exercise in lost)


def test_postgresql_and_sqlite_hold_identical_grades(graded):
    if not graded["B"]["db"].startswith("postgresql://"):
        pytest.skip(NO_POSTGRES)
    assert graded["B"]["db"].startswith("postgresql://") and graded["A"]["db"].startswith("sqlite:///")
    assert set(graded["B"]["log"]) == set(B_STUDENTS)
    assert {student: graded["A"]["scores"][student] for student in graded["B"]["scores"]} == graded["B"]["scores"]


@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_a_mistake_loses_its_exercise_with_its_hint(graded, name):
    [student] = [f"student-{index:02d}" for index, student in enumerate(MIXED) if name in student.values()]
    mistake = MISTAKES[name]
    message = error_text(cell_by_grade_id(graded_notebook(graded, student), GRADE_IDS[mistake.exercise]))
    assert nst_checks.HINTS[mistake.hint] in message, message
    assert " on " in message and "seed" not in message  # names the inputs' shapes, not a seed


def test_the_untouched_release_says_what_to_do(graded):
    notebook = graded_notebook(graded, "release")
    for grade_id in GRADE_IDS.values():
        assert nst_checks.HINTS["not_implemented"] in error_text(cell_by_grade_id(notebook, grade_id))


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_an_attack_is_recorded_with_its_reason_in_both(graded, name):
    for run in ("A", "B") if f"hostile-{name}" in B_STUDENTS else ("A",):
        reason = graded[run]["log"][f"hostile-{name}"]["reason"]
        if HOSTILE[name].log:
            assert HOSTILE[name].log in reason, f"{run}: {reason}"
        else:
            assert reason == "", f"{run}: {reason}"


def test_no_other_submission_meets_a_limit(graded):
    """Correct work (and every mistake, every tampering attempt) on this loaded grader meets no limit."""
    for run in ("A", "B"):
        for student, row in graded[run]["log"].items():
            if not student.startswith("hostile-"):
                assert (row["status"], row["reason"]) == ("graded", ""), f"{run}: {row}"


def test_a_hang_loses_only_its_exercise_and_says_why(graded):
    message = error_text(cell_by_grade_id(graded_notebook(graded, "hostile-hang"), GRADE_IDS["content_cost"]))
    assert "stopped before it reported any result" in message and "ran past its 20 s" in message, message


def test_a_notebook_cut_short_says_why_in_the_graded_cells_it_did_not_run(graded):
    for name, why in (
        ("ignores_interrupts", "went on after it was interrupted"),
        ("display_flood", "notebook's output passed 4096 KB"),
    ):
        message = error_text(cell_by_grade_id(graded_notebook(graded, f"hostile-{name}"), GRADE_IDS["total_cost"]))
        assert "stopped before it reported any result" in message and why in message and "not run" in message, message


def test_the_sandbox_hides_the_course_and_the_network(graded, listener):
    for name in ("read_course_files", "write_outside", "reach_network"):
        for run in ("A", "B"):
            text = printed(graded_notebook(graded, f"hostile-{name}", run), "compute_content_cost")
            assert "REACHED: []" in text, f"{run}: {name}: {text}"
    assert listener[1] == []
    for course in (graded[run]["course"] for run in "ABC"):
        assert not (course / "written-by-a-student").exists()
    assert not (graded["A"]["course"].parent / "written-by-a-student").exists()


def test_a_fork_flood_stops_at_the_process_limit(graded):
    text = printed(graded_notebook(graded, "hostile-fork_flood"), "compute_content_cost")
    assert "FORKS STOPPED after" in text, text
    assert int(text.split("FORKS STOPPED after ")[1].split(":")[0]) < 256  # the process limit


def test_big_outputs_cost_the_grader_no_memory_and_stay_out_of_the_graded_notebook(graded):
    """The probe graded the solved submission, then 100 MB printed line by line and at once: its peak
    memory grows by less than one copy of that output would take."""
    (_, solved_status, solved_peak), *big = graded["memory"]
    assert solved_status == "graded" and [student for student, _, _ in big] == BIG_OUTPUTS
    assert all(status == "graded" for _, status, _ in big)
    assert big[-1][2] - solved_peak < 50, graded["memory"]
    for student in graded["A"]["log"]:
        path = graded["A"]["course"] / "autograded" / student / ASSIGNMENT / NOTEBOOK
        assert not path.exists() or path.stat().st_size < GRADED_NOTEBOOK_MB * 2**20, student


def test_graded_cells_show_no_reported_results(graded):
    """The grader replaces each graded cell's outputs: nothing the kernel showed is kept."""
    for student, lost in graded["expected"].items():
        if lost is not None:
            notebook = graded_notebook(graded, student)
            for grade_id in GRADE_IDS.values():
                for output in cell_by_grade_id(notebook, grade_id).get("outputs", []):
                    assert nst_checks.RESULTS_MIME not in output.get("data", {})


def test_a_rerun_grades_only_what_is_missing(graded):
    rerun = graded["A"]["printed"][1]
    assert "53 submissions, 50 already graded, 3 to grade" in rerun  # the failed ones are retried
    assert "graded 0, failed 3" in rerun


def test_plain_nbgrader_gives_the_same_trusted_grades(graded):
    """nbgrader_config.py alone: the sandbox, grader-side scoring and the limits, in ``nbgrader autograde``."""
    with (graded["C"]["course"] / "plain_grades.csv").open() as file:
        plain = {row["student_id"]: float(row["score"]) for row in csv.DictReader(file)}
    assert plain == {student: graded["A"]["scores"][student][1] for student in PLAIN}
    autograde = graded["C"]["printed"][0]
    assert "Grading limit: cell" in autograde and "over the size limit" in autograde, autograde[-3000:]


def test_the_command_takes_over_from_plain_nbgrader_and_force_regrades(graded):
    takeover, force = graded["C"]["printed"][2:]
    assert "2 submissions, 2 already graded, 0 to grade" in takeover
    assert "0 already graded, 2 to grade" in force and "graded 2, failed 0" in force
    assert graded["C"]["scores"] == {student: graded["A"]["scores"][student] for student in PLAIN}
    assert "over the size limit" in graded["C"]["log"]["hostile-print_100mb_at_once"]["reason"]


def test_the_report_csv_has_a_row_per_student_with_the_failed_checks(graded):
    with (graded["A"]["course"] / "reports" / "report.csv").open() as file:
        rows = {row["student"]: row for row in csv.DictReader(file)}
    assert set(rows) == set(graded["expected"])
    assert rows["solved"]["total"] == f"{TOTAL:.1f}" == "12.0" and rows["solved"]["failed checks"] == ""
    assert rows[SWAPPED]["test_total_cost"] == "0.0" and "swapped_weights" in rows[SWAPPED]["failed checks"]
    empty = rows["hostile-empty_folder"]
    assert empty["status"] == "failed" and NOTEBOOK in empty["failed checks"]


CHROMIUM = "/usr/bin/chromium"


@pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs Debian's chromium (.ci/run installs it)")
def test_the_report_page_shows_the_class_in_a_real_browser(graded):
    from playwright.sync_api import sync_playwright

    report = graded["A"]["course"] / "reports"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        page = browser.new_page()
        page.goto((report / "report.html").as_uri())
        assert "50 graded, 3 could not be graded" in page.inner_text("#summary")
        histogram = page.locator("img[alt='histogram of scores']")
        assert histogram.evaluate("image => image.complete && image.naturalWidth > 0")
        rates = page.locator("#pass-rates tr").all_inner_texts()
        assert len(rates) == 1 + len(GRADE_IDS), rates
        mistakes = page.locator("#mistakes tr").all_inner_texts()[1:]
        assert len(mistakes) == 10 and nst_checks.HINTS["not_implemented"] in mistakes[0], mistakes
        looks = dict(row.split("\t", 1) for row in page.locator("#needs-a-look tr").all_inner_texts()[1:])
        for name, attack in HOSTILE.items():
            if attack.lost is None or attack.log:  # not gradable, or met a limit
                assert f"hostile-{name}" in looks, (name, looks)
        assert "over the size limit" in looks["hostile-print_100mb_at_once"]
        assert "solved" not in looks and SWAPPED not in looks
        page.screenshot(path=str(report / "report.png"), full_page=True)
        browser.close()


def test_feedback_shows_verdicts_and_hints_but_not_the_hidden_tests(graded):
    page = next((graded["A"]["course"] / "feedback" / SWAPPED / ASSIGNMENT).glob("*.html")).read_text()
    assert nst_checks.HINTS["swapped_weights"] in page  # the failed check's hint
    assert "nst_checks.report" not in page and "HIDDEN TESTS" not in page
