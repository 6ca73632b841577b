"""A course on JupyterHub with nbgrader's exchange, walked end to end in a real browser.

JupyterHub (``hub/jupyterhub_config.py``, as ``make hub`` starts it, with configurable-http-proxy from
``hub/node_modules``) runs on 127.0.0.1, its state and nbgrader's exchange in a temporary folder. An
instructor and two students are real local users (useradd), removed afterwards; each user's server
runs as that user (``hub/user_view.py``). The course is the instructor's copy (``course.make_course``
in their home). Headless Chromium (Debian's, through Playwright) and the instructor's commands then
walk the loop:

1. the instructor releases the assignment (``nbgrader release_assignment``, as the instructor);
2. each student logs in, fetches it from JupyterLab's Assignments tab, fills in the notebook (one all
   correct, one with the Gram matrix transposed the wrong way: ``submission_corpus``) through the
   contents API with the browser's session, runs Validate (nbgrader runs the notebook, and the graded
   cells run the visible checks: the mistaken one fails), and submits;
3. the instructor collects, grades with the grading command (``python -m nst_grader.grade``, in the
   sandbox, as the instructor: a normal user), generates and releases feedback, and sees the scores
   in formgrader;
4. each student fetches the feedback and sees their own score and hints, nothing of the other's.

The scores must equal those the grading command gives the same collected notebooks in a course of
its own, run directly.
"""

import contextlib
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest

import nst_checks
from course import (
    ASSIGNMENT,
    NOTEBOOK,
    NOTEBOOK_ID,
    ROOT,
    SOURCE_NOTEBOOK,
    cell_by_grade_id,
    fill_solutions,
    nbgrader_env,
    read_notebook,
    scores,
)
from lab_server import CHROMIUM, CHROMIUM_ARGS, free_port, log_tail
from submission_corpus import MISTAKES

HUB = ROOT / "hub"
sys.path.insert(0, str(HUB))
# hub/ is not a package: its modules are found the way JupyterHub's config finds them.
import user_view  # noqa: E402
from hub_settings import course_id  # noqa: E402

PROXY = HUB / "node_modules" / ".bin" / "configurable-http-proxy"
SCREENSHOTS = ROOT / "outputs"

pytestmark = [
    pytest.mark.skipif(
        os.geteuid() != 0,
        reason="not applicable here: the hub test makes local users and starts their servers, which needs root",
    ),
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"needs Debian's chromium at {CHROMIUM} (apt-get install chromium; .ci/run installs it)",
    ),
    pytest.mark.skipif(
        shutil.which("bwrap") is None,
        reason="the hub's servers and grading need bubblewrap (apt-get install bubblewrap; .ci/run installs it)",
    ),
    pytest.mark.skipif(
        not PROXY.exists(), reason=f"needs JupyterHub's proxy in {PROXY.parent}: make hub-proxy (npm, Node.js)"
    ),
]

INSTRUCTOR = "nsthub-teacher"
# Each student's mistake (None: all correct) and the score it must earn (gram_matrix is worth 2 points).
STUDENTS = {"nsthub-ada": (None, 12), "nsthub-bob": ("gram_outer", 10)}
HUB_START_S = 90  # the hub answering /hub/api
SPAWN_S = 180  # a user's JupyterLab shown (the server starts as the user, on a loaded machine)
STEP_S = 240  # an Assignments-tab action finished (Validate runs the notebook)


# ------------------------------------------------------------------------------------------------
# Users, course and hub


def _run(command, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{command} exited with {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def _processes_of(uid):
    """PIDs of the processes running as ``uid`` (read from /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and entry.stat().st_uid == uid:
                pids.append(int(entry.name))
    return pids


def _remove_user(name):
    """Remove a user this test made (and its home), after the processes it left (by their PIDs)."""
    with contextlib.suppress(KeyError):
        uid = pwd.getpwnam(name).pw_uid
        for pid in _processes_of(uid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        subprocess.run(["userdel", "--remove", name], capture_output=True)


@pytest.fixture(scope="module")
def users():
    """The instructor and the students as local users with homes: ``{name: pwd entry}``."""
    names = [INSTRUCTOR, *STUDENTS]
    for name in names:
        _remove_user(name)  # left by a run that was killed
        _run(["useradd", "--create-home", "--user-group", "--shell", "/bin/bash", name])
    entries = {name: pwd.getpwnam(name) for name in names}
    yield entries
    # The hub has stopped (its fixture ends first): it must have stopped every server it started.
    left = {name: _processes_of(entry.pw_uid) for name, entry in entries.items()}
    for name in names:
        _remove_user(name)
    assert not any(left.values()), f"processes left running after the hub stopped: {left}"


@pytest.fixture(scope="module")
def instructor_course(users, released_course):
    """The instructor's copy of the released course, in their home, owned by them."""
    course = Path(users[INSTRUCTOR].pw_dir) / "course"
    shutil.copytree(released_course, course)
    _run(["chown", "-R", f"{INSTRUCTOR}:{INSTRUCTOR}", str(course)])
    return course


class Hub:
    def __init__(self, base, state, log):
        self.base, self.state, self.log = base, state, log
        self.exchange, self.user_config = state / "exchange", state / "jupyter"


@pytest.fixture(scope="module")
def hub(tmp_path_factory, users, instructor_course):
    """JupyterHub from hub/jupyterhub_config.py, as ``make hub`` runs it: yields a ``Hub``."""
    folder = tmp_path_factory.mktemp("hub")
    state, log = folder / "state", folder / "jupyterhub.log"
    port = free_port()
    env = {
        **nbgrader_env(),
        "NST_HUB_INSTRUCTOR": INSTRUCTOR,
        "NST_HUB_COURSE": str(instructor_course),
        "NST_HUB_STUDENTS": ",".join(STUDENTS),
        "NST_HUB_PASSWORD": PASSWORD,
        "NST_HUB_STATE": str(state),
        "NST_HUB_PORT": str(port),
        "NST_HUB_API_PORT": str(free_port()),
        "NST_HUB_PROXY_API_PORT": str(free_port()),
    }
    command = [str(Path(sys.executable).parent / "jupyterhub"), "-f", str(HUB / "jupyterhub_config.py")]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=folder, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + HUB_START_S
        while True:
            assert process.poll() is None, f"JupyterHub exited with {process.returncode}\n{log_tail(log)}"
            with (
                contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError),
                urllib.request.urlopen(f"{base}/hub/api", timeout=5) as response,
            ):
                if response.status == 200:
                    break
            assert time.monotonic() < deadline, f"JupyterHub did not answer in {HUB_START_S} s\n{log_tail(log)}"
            time.sleep(0.5)
        yield Hub(base, state, log)
    finally:
        process.terminate()  # JupyterHub stops the users' servers (cleanup_servers), then the proxy
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


PASSWORD = secrets.token_urlsafe(16)


def as_instructor(hub, course, *args, timeout=900):
    """Run ``python *args`` in the course as the instructor (``user_view``), as they would in a terminal."""
    entry = pwd.getpwnam(INSTRUCTOR)
    env = {
        "HOME": entry.pw_dir,
        "USER": INSTRUCTOR,
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "JUPYTER_CONFIG_PATH": str(hub.user_config),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "LANG": "C.UTF-8",
    }
    command = user_view.as_user(INSTRUCTOR, [sys.executable, *args], [hub.user_config], [hub.exchange])
    result = subprocess.run(command, cwd=course, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, (
        f"{' '.join(args)} as {INSTRUCTOR} exited with {result.returncode}\n{result.stdout}\n{result.stderr[-6000:]}"
    )
    return result.stdout + result.stderr


# ------------------------------------------------------------------------------------------------
# The browser


def log_in(browser, hub, user):
    """A browser context of its own for ``user``, logged in, with their JupyterLab shown: ``(context, page)``."""
    from playwright.sync_api import Error as PlaywrightError

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(f"{hub.base}/hub/login", wait_until="domcontentloaded")
    page.fill("#username_input", user)
    page.fill("#password_input", PASSWORD)
    page.click("#login_submit")
    try:
        page.wait_for_url(re.compile(rf"/user/{user}/lab"), timeout=SPAWN_S * 1000)
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Nbgrader$")).wait_for(timeout=SPAWN_S * 1000)
    except PlaywrightError:
        raise AssertionError(f"{user}'s JupyterLab was not shown: {page.url}\n{log_tail(hub.log)}") from None
    return context, page


def menu(page, *labels):
    """Click through JupyterLab's menu bar: the first label in the bar, the others in the menus."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(rf"^{labels[0]}$")).click()
    for label in labels[1:]:
        page.locator(
            ".lm-Menu-content .lm-Menu-item:visible",
            has=page.locator(".lm-Menu-itemLabel", has_text=re.compile(rf"^{label}$")),
        ).click()


def open_assignments(page):
    """Nbgrader > Assignment List: the Assignments tab, its lists loaded."""
    menu(page, "Nbgrader", "Assignment List")
    page.locator("#released_assignments_list_loading").wait_for(state="hidden", timeout=STEP_S * 1000)


def click_and_wait(page, button, done, what):
    from playwright.sync_api import Error as PlaywrightError

    button.click()
    try:
        done.wait_for(timeout=STEP_S * 1000)
    except PlaywrightError:
        raise AssertionError(f"{what} did not finish: {page.locator('body').inner_text()[-3000:]}") from None


def contents_api(page, user, path, method="GET", body=None):
    """The Jupyter contents API of ``user``'s server, called with the page's own session (cookie, XSRF token)."""
    return page.evaluate(
        """async ([url, method, body]) => {
          const xsrf = (document.cookie.match(/(?:^|; )_xsrf=([^;]*)/) || [])[1];
          const response = await fetch(url, {method, body: body && JSON.stringify(body),
            headers: {'Content-Type': 'application/json', ...(xsrf ? {'X-XSRFToken': decodeURIComponent(xsrf)} : {})}});
          const text = await response.text();
          try { return {status: response.status, json: JSON.parse(text)}; }
          catch (error) { return {status: response.status, text: text.slice(0, 2000)}; }
        }""",
        [f"/user/{user}/api/contents/{path}", method, body],
    )


def student_notebook(release, mistake):
    """The released notebook filled in as the student types it: all solved, then ``mistake`` if any."""
    solved = fill_solutions(release, read_notebook(SOURCE_NOTEBOOK))
    if mistake:
        variant = MISTAKES[mistake]
        cell_by_grade_id(solved, nst_checks.FUNCTIONS[variant.exercise]).source = variant.source
    return solved


def student_submits(browser, hub, student, mistake):
    """Fetch, fill in, Validate and Submit from the Assignments tab; returns what Validate said."""
    context, page = log_in(browser, hub, student)
    try:
        open_assignments(page)
        released = page.locator("#released_assignments_list .list_item", has_text=ASSIGNMENT)
        released.wait_for(timeout=STEP_S * 1000)
        fetched = page.locator("#fetched_assignments_list .list_item", has_text=ASSIGNMENT).first
        click_and_wait(page, released.locator("button", has_text="Fetch"), fetched, f"{student}'s Fetch")

        path = f"{ASSIGNMENT}/{NOTEBOOK}"
        got = contents_api(page, student, path)
        assert got["status"] == 200, got
        notebook = student_notebook(nbformat.from_dict(got["json"]["content"]), mistake)
        put = contents_api(page, student, path, "PUT", {"type": "notebook", "format": "json", "content": notebook})
        assert put["status"] == 200, put

        page.reload(wait_until="domcontentloaded")
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Nbgrader$")).wait_for(timeout=SPAWN_S * 1000)
        open_assignments(page)
        fetched = page.locator("#fetched_assignments_list > .list_item", has_text=ASSIGNMENT).first
        fetched.wait_for(timeout=STEP_S * 1000)
        page.screenshot(path=str(SCREENSHOTS / f"hub_{student}_fetched.png"), full_page=True)
        fetched.locator("a", has_text=ASSIGNMENT).first.click()  # unfold its notebooks
        validate = page.locator("#fetched_assignments_list button", has_text="Validate").first
        message = page.locator("#validation-message")
        click_and_wait(page, validate, message, f"{student}'s Validate")
        validation = {"classes": message.get_attribute("class"), "text": message.inner_text()}
        page.locator(".jp-Dialog button", has_text="OK").click()

        submit = page.locator("#fetched_assignments_list button", has_text="Submit").first
        submitted = page.locator("#submitted_assignments_list .list_item button", has_text="Fetch Feedback").first
        click_and_wait(page, submit, submitted, f"{student}'s Submit")
        page.screenshot(path=str(SCREENSHOTS / f"hub_{student}_submitted.png"), full_page=True)
        return validation
    finally:
        context.close()


def instructor_sees_scores(browser, hub):
    """Nbgrader > Formgrader, then the assignment's submissions: ``(assignment row, {student: score})``."""
    context, page = log_in(browser, hub, INSTRUCTOR)
    try:
        menu(page, "Nbgrader", "Formgrader")
        frame = page.frame_locator("#formgrader-iframe iframe")
        row = frame.locator("#main-table > tr", has=frame.locator(".name", has_text=ASSIGNMENT))
        row.wait_for(timeout=STEP_S * 1000)
        assignment = {
            "status": row.locator(".status").inner_text().strip(),
            "submissions": row.locator(".num-submissions").inner_text().strip(),
        }
        row.locator(".num-submissions a").click()
        frame.locator("#main-table > tr > .student-id", has_text=next(iter(STUDENTS))).wait_for(timeout=STEP_S * 1000)
        rows = frame.locator("#main-table > tr").evaluate_all(
            "rows => rows.map(row => [row.querySelector('.student-id')?.textContent.trim(),"
            " row.querySelector('.score')?.textContent.trim()])"
        )
        page.screenshot(path=str(SCREENSHOTS / "hub_formgrader.png"), full_page=True)
        return assignment, dict(rows)
    finally:
        context.close()


def student_reads_feedback(browser, hub, student):
    """Fetch Feedback from the Assignments tab, then open the feedback page: ``(files, page text)``."""
    context, page = log_in(browser, hub, student)
    try:
        open_assignments(page)
        button = page.locator("#submitted_assignments_list .list_item button", has_text="Fetch Feedback").first
        button.wait_for(timeout=STEP_S * 1000)
        button.click()
        folder = f"{ASSIGNMENT}/feedback"
        deadline = time.monotonic() + STEP_S
        while (listing := contents_api(page, student, folder))["status"] != 200:
            assert time.monotonic() < deadline, f"no feedback fetched for {student}: {listing}"
            time.sleep(1)
        files = []
        for timestamp in listing["json"]["content"]:
            inner = contents_api(page, student, timestamp["path"])["json"]["content"]
            files += [entry["path"] for entry in inner]
        assert len(files) == 1, files
        page.goto(f"{hub.base}/user/{student}/files/{files[0]}", wait_until="load")
        page.screenshot(path=str(SCREENSHOTS / f"hub_{student}_feedback.png"), full_page=True)
        return files, page.locator("body").inner_text()
    finally:
        context.close()


# ------------------------------------------------------------------------------------------------
# The loop


@contextlib.contextmanager
def graded_directly(tmp_path, released_course, instructor_course):
    """The collected submissions graded by the grading command in a course of their own, as root,
    beside what the block does (the instructor's grading): yields the course, graded when the block ends."""
    course = tmp_path / "direct"
    shutil.copytree(released_course, course)
    shutil.copytree(instructor_course / "submitted", course / "submitted")
    with (tmp_path / "direct.log").open("w+") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "nst_grader.grade", "--quiet", "--workers", "1"],
            cwd=course,
            env=nbgrader_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            yield course
            process.wait(timeout=900)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        log.seek(0)
        output = log.read()
    assert process.returncode == 0 and f"graded {len(STUDENTS)}, failed 0" in output, output[-5000:]


def test_course_loop_on_jupyterhub(tmp_path, released_course, instructor_course, hub):
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(exist_ok=True)
    # 1. The instructor releases into the exchange.
    as_instructor(hub, instructor_course, "-m", "nbgrader", "release_assignment", ASSIGNMENT)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            # 2. Each student fetches, fills in, validates and submits.
            validation = {
                student: student_submits(browser, hub, student, mistake) for student, (mistake, _) in STUDENTS.items()
            }
            # 3. The instructor collects, grades, generates and releases feedback, and looks at formgrader.
            as_instructor(hub, instructor_course, "-m", "nbgrader", "collect", ASSIGNMENT)
            with graded_directly(tmp_path, released_course, instructor_course) as direct:
                graded = as_instructor(hub, instructor_course, "-m", "nst_grader.grade", "--quiet", "--workers", "1")
            as_instructor(hub, instructor_course, "-m", "nbgrader", "generate_feedback", ASSIGNMENT)
            as_instructor(hub, instructor_course, "-m", "nbgrader", "release_feedback", ASSIGNMENT)
            assignment, formgrader = instructor_sees_scores(browser, hub)
            # 4. Each student fetches their feedback.
            feedback = {student: student_reads_feedback(browser, hub, student) for student in STUDENTS}
        finally:
            browser.close()

    # Validate ran the notebook for both: under it the graded cells run the visible checks
    # (nst_checks.check_when_validating), so the mistaken notebook fails on its one exercise.
    for student, (mistake, _) in STUDENTS.items():
        said = validation[student]["text"]
        if mistake is None:
            assert said.strip() == "Success! Your notebook passes all the tests.", validation
        else:
            # JupyterLab shows the failed cell and the check's verdict: the hint of the mistake.
            assert said.startswith("The following cell failed:"), validation
            assert nst_checks.HINTS[MISTAKES[mistake].hint] in said, validation

    assert f"graded {len(STUDENTS)}, failed 0" in graded, graded
    in_hub = scores(instructor_course, STUDENTS)
    assert {student: total for student, (_, total) in in_hub.items()} == {
        student: points for student, (_, points) in STUDENTS.items()
    }, in_hub
    assert in_hub == scores(direct, STUDENTS)  # every cell's score, not only the totals

    assert assignment == {"status": "released", "submissions": str(len(STUDENTS))}, assignment
    assert formgrader == {student: f"{points:g} / 12" for student, (_, points) in STUDENTS.items()}, formgrader

    for student, (mistake, points) in STUDENTS.items():
        files, text = feedback[student]
        assert files[0].endswith(f"/{NOTEBOOK_ID}.html"), files
        assert re.search(rf"Score:\s*{points:g}(\.0)?\s*/\s*12", text), text[:2000]
        others = [other for other in STUDENTS if other != student]
        assert not any(other in text for other in others), f"{others} named in {student}'s feedback"
        hints = [hint for hint in nst_checks.HINTS.values() if hint in text]
        assert hints == ([nst_checks.HINTS[MISTAKES[mistake].hint]] if mistake else []), (hints, text[:3000])
        # Nor can a student list the exchange's feedback, to find another's.
        feedback_folder = hub.exchange / course_id(ROOT / "nbgrader_config.py") / "feedback"
        listing = subprocess.run(
            user_view.as_user(student, ["ls", feedback_folder], writable=[hub.exchange]), capture_output=True, text=True
        )
        assert listing.returncode != 0 and "Permission denied" in listing.stderr, (listing.stdout, listing.stderr)
