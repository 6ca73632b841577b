"""The grading perimeter (issue #29), end to end with real parts: a hostile class graded by the grading
command on 2 workers (as ``make autograde`` runs it) and by plain ``nbgrader autograde``, then
``make feedback`` and ``make report`` on each.

The class: 3 bystanders (correct work, each in different correct idioms) and every attack of
``perimeter_attacks.ATTACKS``. Plain nbgrader grades one bystander and ``PLAIN_ATTACKS``, at least one
attack of each class. For every attack, in both runs: the run finishes, the bystanders get full
marks, the attack scores only the exercises it implemented, nothing from outside the student's folder
(the source notebook, the gradebook, another student's notebook, ``/etc/shadow``), no hidden-test
source and no live student script reaches ``autograded/`` or ``feedback/``, the report lists the
attack under "needs a human look", no temporary folder of the grader is left, and the grader's
console holds nothing a kernel wrote.
"""

import html.parser
import json
import os
import re
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

import nst_checks
from course import ASSIGNMENT, NOTEBOOK, SOURCE_NOTEBOOK, fill_solutions, nbgrader_env, read_notebook, scores
from perimeter_attacks import ATTACKS, CONSOLE_MARK, FILLER_MARK, SCRIPT_MARK, Course
from submission_corpus import CORRECT

pytestmark = pytest.mark.skipif(
    shutil.which("bwrap") is None, reason="needs bubblewrap (apt-get install bubblewrap; .ci/run installs it)"
)

IS_ROOT = os.geteuid() == 0
# Each bystander writes these exercises in these correct idioms (the model solution elsewhere).
BYSTANDERS = {
    "bystander-0": ("content_norm_squared", "gram_einsum", "layer_inline_einsum"),
    "bystander-1": ("content_loop_over_channels", "style_add_n_keywords", "total_tf_ops"),
    "bystander-2": ("gram_linalg", "layer_reversed_axes", "style_builtin_sum"),
}
PEER = "bystander-0"
# Graded by plain nbgrader too: one bystander and at least one attack of each class.
PLAIN_ATTACKS = (
    "relative_link_escaping",
    "notebook_is_link_to_peer",
    "fifo",
    "print_hidden_tests",
    "scripts_in_outputs",
    "console_writes",
    "gradient_faked_along_public_direction",
    "iopub_flood",
    "disk_filler",
)
RUNS = ("command", "plain")
ATTACKERS = {f"attack-{name}": attack for name, attack in ATTACKS.items() if IS_ROOT or not attack.needs_root}
STUDENTS = {"command": [*BYSTANDERS, *ATTACKERS], "plain": [PEER, *(f"attack-{name}" for name in PLAIN_ATTACKS)]}
GRADE_IDS = {exercise: f"test_{function}" for exercise, function in nst_checks.FUNCTIONS.items()}
# The courses are configured as in production, except each cell's time limit: 60 s instead of 20 s,
# so that the imports cell of a kernel started without the fork server (plain nbgrader's, always)
# meets no limit on a loaded 2-core host. No attack here relies on a cell's time limit.
CELL_TIMEOUT = 60
COMMAND_TIMEOUT = 600  # seconds; a command still running then has hung (a copy blocked on a FIFO, say)
RUN_ATTACKS = [
    pytest.param(run, student, id=f"{run}-{student}")
    for run in RUNS
    for student in STUDENTS[run]
    if student in ATTACKERS
]
HIDDEN = re.compile(r"(?ms)^[ \t]*### BEGIN HIDDEN TESTS[ \t]*\n(.*?)\n[ \t]*### END HIDDEN TESTS")


def _run(argv, cwd, env):
    """Run ``argv`` in its own session; on a hang, kill its whole process group. Returns
    ``{"argv", "returncode" (None: killed after COMMAND_TIMEOUT), "output": bytes, "seconds"}`` (the
    seconds are printed for the record, never asserted on)."""
    start = time.monotonic()
    process = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        output, _ = process.communicate(timeout=COMMAND_TIMEOUT)
        returncode = process.returncode
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, returncode = process.communicate()[0], None
    return {"argv": argv, "returncode": returncode, "output": output, "seconds": time.monotonic() - start}


def _submit(course, context, students):
    release = course / "release" / ASSIGNMENT
    source = read_notebook(SOURCE_NOTEBOOK)
    for student in students:
        folder = course / "submitted" / student / ASSIGNMENT
        shutil.copytree(release, folder)
        if student in BYSTANDERS:
            notebook = fill_solutions(context.release, source)
            for name in BYSTANDERS[student]:
                variant = CORRECT[name]
                [cell] = [
                    cell
                    for cell in notebook.cells
                    if cell.metadata.get("nbgrader", {}).get("grade_id") == nst_checks.FUNCTIONS[variant.exercise]
                ]
                cell.source = variant.source.strip("\n")
            nbformat.write(notebook, folder / NOTEBOOK)
        else:
            ATTACKERS[student].build(folder, context)


def _python(*args):
    return [sys.executable, "-m", *args]


class _Page(html.parser.HTMLParser):
    """An HTML page as its visible text, its tags with their attributes and the text of each of
    its scripts, and the rows of its table ``#needs-a-look``."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.text, self.tags, self.scripts, self.looks = [], [], [], []
        self._script, self._table, self._row = None, False, None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._script = []
        elif tag == "table":
            self._table = dict(attrs).get("id") == "needs-a-look"
        elif tag == "tr" and self._table:
            self._row = []
        elif tag == "td" and self._row is not None:
            self._row.append("")

    def handle_endtag(self, tag):
        if tag == "script" and self._script is not None:
            self.scripts.append("".join(self._script))
            self._script = None
        elif tag == "tr" and self._row:
            self.looks.append(self._row)
            self._row = None
        elif tag == "table":
            self._table = False

    def handle_data(self, data):
        self.text.append(data)
        if self._script is not None:
            self._script.append(data)
        if self._row:
            self._row[-1] += data


def _files(folder):
    return sorted(path for path in Path(folder).rglob("*") if not path.is_dir() or path.is_symlink())


@pytest.fixture(scope="module")
def perimeter(tmp_path_factory, released_course):
    """Both runs: ``{run: {"course", "steps": {name: _run result}, "scores": {student: (cells,
    total)}}, "tmp": the grader's TMPDIR}``."""
    folder = tmp_path_factory.mktemp("perimeter")
    # The grader's temporary folders go here, where the test can see what is left (kernels must
    # reach the folders in it, as in /tmp).
    grader_tmp = Path(tempfile.mkdtemp(prefix="perimeter-tmp-"))
    grader_tmp.chmod(0o1777)
    env = {**nbgrader_env(), "TMPDIR": str(grader_tmp)}
    courses = {run: folder / f"course-{run}" for run in RUNS}
    for run, course in courses.items():
        shutil.copytree(released_course, course)
        with (course / "nbgrader_config.py").open("a") as config:
            config.write(f"\nc.Execute.timeout = {CELL_TIMEOUT}\n")
        release = read_notebook(course / "release" / ASSIGNMENT / NOTEBOOK)
        context = Course(course, release, fill_solutions(release, read_notebook(SOURCE_NOTEBOOK)), PEER)
        _submit(course, context, STUDENTS[run])
    report_and_feedback = {
        "feedback": _python("nbgrader", "generate_feedback", ASSIGNMENT, "--force"),
        "report": _python("nst_grader.report"),
    }
    chains = {
        "command": {
            "grade": _python("nst_grader.grade", "--workers", "2", "--quiet"),
            "export": _python("nbgrader", "export", "--to", "grades.csv"),
            **report_and_feedback,
        },
        "plain": {"grade": _python("nbgrader", "autograde", ASSIGNMENT), **report_and_feedback},
    }
    steps = {run: {} for run in RUNS}

    def run_chain(run):
        for name, argv in chains[run].items():
            steps[run][name] = _run(argv, courses[run], env)

    threads = [threading.Thread(target=run_chain, args=(run,)) for run in RUNS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for run in RUNS:
        for name, step in steps[run].items():
            print(f"{run}: {name}: exit {step['returncode']} after {step['seconds']:.0f} s")
    graded = {
        run: {
            "course": courses[run],
            "steps": steps[run],
            "scores": scores(
                courses[run],
                [
                    student
                    for student in STUDENTS[run]
                    if (courses[run] / "autograded" / student / ASSIGNMENT / NOTEBOOK).is_file()
                ],
            ),
        }
        for run in RUNS
    }
    yield {**graded, "tmp": grader_tmp}
    shutil.rmtree(grader_tmp, ignore_errors=True)


def _mentions(step, student):
    """The lines of a command's output that name ``student`` (the last 20)."""
    return "\n".join([line for line in _output(step, None).splitlines() if student in line][-20:])


def _output(step, last=6000):
    text = step["output"].decode("utf-8", "replace")
    return text if last is None else text[-last:]


@pytest.mark.parametrize("run", RUNS)
def test_every_command_finishes(perimeter, run):
    """No command hangs; each succeeds (plain ``nbgrader autograde`` exits 1 when it could not grade a
    notebook, which a refused notebook is)."""
    for name, step in perimeter[run]["steps"].items():
        assert step["returncode"] is not None, f"{run}: {name} still ran after {COMMAND_TIMEOUT} s\n{_output(step)}"
        refused = (
            run == "plain"
            and name == "grade"
            and any(ATTACKERS[student].implemented is None for student in STUDENTS[run] if student in ATTACKERS)
        )
        assert step["returncode"] in ((0, 1) if refused else (0,)), f"{run}: {name}\n{_output(step)}"


@pytest.mark.parametrize("run", RUNS)
def test_bystanders_get_full_marks(perimeter, run):
    for student in (student for student in STUDENTS[run] if student in BYSTANDERS):
        assert student in perimeter[run]["scores"], f"{run}: {student} was not graded"
        cells, total = perimeter[run]["scores"][student]
        assert all(score == maximum for score, maximum in cells.values()) and total == 12, f"{run}: {cells}"


@pytest.mark.parametrize(("run", "student"), RUN_ATTACKS)
def test_an_attack_scores_only_what_it_implemented(perimeter, run, student):
    implemented = ATTACKERS[student].implemented
    graded = perimeter[run]["scores"]
    if implemented is None:
        assert student not in graded, f"{run}: {student} was graded: {graded.get(student)}"
        return
    mentions = _mentions(perimeter[run]["steps"]["grade"], student)
    assert student in graded, f"{run}: {student} was not graded; its command said:\n{mentions}"
    cells, _ = graded[student]
    wanted = {GRADE_IDS[exercise]: exercise in implemented for exercise in GRADE_IDS}
    got = {grade_id: cells[grade_id][0] == cells[grade_id][1] > 0 for grade_id in wanted}
    lost = {grade_id: cells[grade_id][0] == 0 for grade_id in wanted}
    assert all(got[g] if wanted[g] else lost[g] for g in wanted), f"{run}: {student}: {cells}"


@pytest.mark.parametrize("run", RUNS)
def test_nothing_from_outside_a_student_s_folder_comes_back(perimeter, run):
    """No file of ``autograded/`` or ``feedback/`` holds the bytes of the source notebook, another
    student's submitted notebook, /etc/shadow or a gradebook (an SQLite database), or the course
    secret; none is a link, a device or a FIFO."""
    course = perimeter[run]["course"]
    outside = {"the source notebook": SOURCE_NOTEBOOK.read_bytes()}
    if os.access("/etc/shadow", os.R_OK):
        outside["/etc/shadow"] = Path("/etc/shadow").read_bytes()
    submitted = {
        student: path.read_bytes()
        for student in STUDENTS[run]
        if (path := course / "submitted" / student / ASSIGNMENT / NOTEBOOK).is_file() and not path.is_symlink()
    }
    key_file = course / "course_secret.key"
    key = key_file.read_text().strip().encode() if key_file.exists() else None
    for top in ("autograded", "feedback"):
        for path in _files(course / top):
            student = path.relative_to(course / top).parts[0]
            assert path.is_file() and not path.is_symlink(), f"{run}: {path} is not a regular file"
            data = path.read_bytes()
            assert not data.startswith(b"SQLite format 3\0"), f"{run}: {path} is a database"
            assert key is None or key not in data, f"{run}: {path} holds the course secret"
            for what, forbidden in {
                **outside,
                **{f"{s}'s notebook": b for s, b in submitted.items() if s != student},
            }.items():
                assert data != forbidden, f"{run}: {path} is {what}"


def _secrets(course):
    """What the grader keeps from students: the hidden cells' source lines (as the source notebook
    writes them), and, once the course has its secret (``nst_grader.secret``), its key and the seeds
    drawn from it."""
    hidden = [
        line.strip()
        for cell in read_notebook(SOURCE_NOTEBOOK).cells
        for body in HIDDEN.findall(cell.source)
        for line in body.splitlines()
        if len(line.strip()) > 12
    ]
    assert hidden
    key_file = course / "course_secret.key"
    if key_file.exists():
        from nst_grader.secret import load_key, secret_seed

        key = load_key(key_file)
        hidden += [key.hex(), *(str(secret_seed(key, e, i)) for e in nst_checks.FUNCTIONS for i in range(4))]
    return hidden


def _text(path):
    """A file's text as a reader sees it: an HTML page's visible text and scripts, whitespace folded."""
    text = path.read_text(errors="replace")
    return " ".join(("".join(_Page(text).text) if path.suffix == ".html" else text).split())


@pytest.mark.parametrize("run", RUNS)
def test_feedback_holds_no_hidden_test_source_or_secret(perimeter, run):
    course = perimeter[run]["course"]
    pages = _files(course / "feedback")
    assert pages, f"{run}: no feedback"
    hidden = _secrets(course)
    for path in pages:
        text = _text(path)
        for line in hidden:
            assert " ".join(line.split()) not in text, f"{run}: {path} shows what is hidden: {line}"


def _live_scripts(page):
    """What of the student's scripts (``SCRIPT_MARK``) would run in a browser: script elements,
    event handlers, ``javascript:`` links and iframes' inline documents."""
    live = [f"<script>{script[:80]}" for script in page.scripts if SCRIPT_MARK in script]
    for tag, attributes in page.tags:
        for name, value in attributes.items():
            value = value or ""
            if (name.startswith("on") and SCRIPT_MARK in value) or (name == "srcdoc" and SCRIPT_MARK in value):
                live.append(f"<{tag} {name}={value[:80]}>")
            if name in ("href", "src", "action", "formaction") and value.strip().lower().startswith("javascript:"):
                live.append(f"<{tag} {name}={value[:80]}>")
    return live


@pytest.mark.parametrize("run", RUNS)
def test_feedback_holds_no_live_student_script(perimeter, run):
    pages = _files(perimeter[run]["course"] / "feedback" / "attack-scripts_in_outputs")
    assert pages, f"{run}: no feedback for attack-scripts_in_outputs"
    for path in _files(perimeter[run]["course"] / "feedback"):
        if path.suffix == ".html":
            assert _live_scripts(_Page(path.read_text(errors="replace"))) == [], f"{run}: {path}"


CHROMIUM = "/usr/bin/chromium"


@pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs Debian's chromium (.ci/run installs it)")
def test_a_student_s_script_does_not_run_in_the_feedback_page_in_a_real_browser(perimeter):
    from playwright.sync_api import sync_playwright

    [page_path] = _files(perimeter["command"]["course"] / "feedback" / "attack-scripts_in_outputs")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        page = browser.new_page()
        page.route(re.compile(r"^(?!file:).*"), lambda route: route.abort())  # nothing but the page itself
        page.goto(page_path.as_uri(), wait_until="load")
        links = page.locator("#nst-link")
        if links.count():
            links.first.click()
        ran = page.evaluate(
            "() => [window.nstStudentScript, ...Array.from(document.querySelectorAll('iframe'),"
            " frame => { try { return frame.contentWindow.nstStudentScript; } catch (e) { return undefined; } })]"
        )
        browser.close()
    assert [value for value in ran if value] == [], ran


def _looks(course):
    page = _Page((course / "reports" / "report.html").read_text())
    return {row[0]: row[1] if len(row) > 1 else "" for row in page.looks if row}


@pytest.mark.parametrize(("run", "student"), RUN_ATTACKS)
def test_the_report_lists_the_attack_under_needs_a_human_look(perimeter, run, student):
    looks = _looks(perimeter[run]["course"])
    assert student in looks, f"{run}: {student} is not under 'needs a human look': {sorted(looks)}"
    if ATTACKERS[student].look:
        assert ATTACKERS[student].look in looks[student], f"{run}: {looks[student][:500]}"


@pytest.mark.parametrize("run", RUNS)
def test_the_report_lists_no_bystander(perimeter, run):
    looks = _looks(perimeter[run]["course"])
    listed = {student: looks[student][:300] for student in BYSTANDERS if student in looks}
    assert listed == {}, run


def test_no_temporary_folder_is_left(perimeter):
    left = sorted(path.name for path in perimeter["tmp"].iterdir() if path.name.startswith("nst-"))
    assert left == [], left


@pytest.mark.parametrize("run", RUNS)
def test_the_grader_s_console_holds_nothing_a_kernel_wrote(perimeter, run):
    for name, step in perimeter[run]["steps"].items():
        assert CONSOLE_MARK.encode() not in step["output"], f"{run}: {name}\n{_output(step)}"
        assert b"\x1b]0;" not in step["output"] and b"\x1b[2J" not in step["output"], f"{run}: {name}"


@pytest.mark.parametrize("run", RUNS)
def test_a_disk_filler_writes_no_more_than_the_kernel_s_private_folders_hold(perimeter, run):
    """The filler wrote 60 MB files into every folder it could until a write failed: in all, what it
    wrote outside /dev/shm (memory) stays within the size of the kernel's private /tmp, and nothing
    into its private folder on the host's disk."""
    from nst_grader.sandbox import KERNEL_FOLDER, SandboxedKernelManager

    path = perimeter[run]["course"] / "autograded" / "attack-disk_filler" / ASSIGNMENT / NOTEBOOK
    printed = "".join(
        output.get("text", "") for cell in read_notebook(path).cells for output in cell.get("outputs", [])
    )
    [line] = [line for line in printed.splitlines() if line.startswith(FILLER_MARK)]
    written = json.loads(line.removeprefix(FILLER_MARK))
    on_disk = sum(mb for folder, mb in written.items() if not folder.startswith("/dev/shm"))
    assert 0 < on_disk <= SandboxedKernelManager.class_traits()["tmp_size_mb"].default_value, written
    assert written[KERNEL_FOLDER] == 0, written
