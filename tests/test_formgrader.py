"""nbgrader's formgrader, opened in the pinned JupyterLab by a real browser, shows the course as graded.

A copy of the released course (the real ``nbgrader generate_assignment``) gets two submissions: one solved,
one with a wrong Gram matrix (it loses that exercise's 2 points). The grading command grades
them (``python -m nst_grader.grade``, one worker, in the sandbox) into the course's gradebook.
JupyterLab then serves the course (``lab_server.running_lab``), and headless Chromium opens it,
clicks Nbgrader > Formgrader, as an instructor does, and reads what the formgrader panel shows:
the assignment with its 2 submissions, then each submission's student id, status and score.
A screenshot goes to ``outputs/formgrader_test.png``.

A third submission, solved, carries ``hostile_outputs.leaky_submission``'s payload: a ``<script>``, an
``onerror=`` handler, an SVG script, an iframe, a form, a ``javascript:`` link and a JavaScript output,
each of which would set ``window.nstPwned``, retitle the page and ask a loopback listener for a path,
and a markdown cell with a script. Chromium opens that submission's formgrader page (the
instructor's origin): nothing of it runs. The same payload in a bare page does run, in the same
browser, so the test can tell.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course import (
    ASSIGNMENT,
    NOTEBOOK,
    NOTEBOOK_ID,
    SOURCE_NOTEBOOK,
    cell_by_grade_id,
    fill_solutions,
    nbgrader_env,
    read_notebook,
    scores,
)
from helpers import LoopbackServer
from hostile_outputs import MARKER, leaky_submission, live_parts, payload_html
from lab_server import CHROMIUM, CHROMIUM_ARGS, lab_env, log_tail, running_lab
from submission_corpus import MISTAKES

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"needs Debian's chromium at {CHROMIUM} (apt-get install chromium; .ci/run installs it)",
    ),
    pytest.mark.skipif(
        shutil.which("bwrap") is None,
        reason="grading needs bubblewrap (apt-get install bubblewrap; .ci/run installs it)",
    ),
]
SCREENSHOT = Path(__file__).resolve().parents[1] / "outputs" / "formgrader_test.png"
PAGE_S = 90  # JupyterLab's page, then each formgrader page, shown
EXPECTED = {"solved": "12 / 12", "gram_outer": "10 / 12", "scripted": "12 / 12"}  # gram_matrix is worth 2 points


@pytest.fixture(scope="module")
def beacon(tmp_path_factory):
    """A loopback HTTP server that records every path asked of it: what a live payload would call."""
    served = tmp_path_factory.mktemp("beacon")
    with LoopbackServer(served) as server:
        yield server


@pytest.fixture(scope="module")
def course(tmp_path_factory, released_course, beacon):
    """A copy of the released course, with three submissions graded by the grading command."""
    course = tmp_path_factory.mktemp("formgrader") / "course"
    shutil.copytree(released_course, course)
    release = course / "release" / ASSIGNMENT
    solved = fill_solutions(read_notebook(release / NOTEBOOK), read_notebook(SOURCE_NOTEBOOK))
    mistaken = nbformat.from_dict(solved)
    cell_by_grade_id(mistaken, "gram_matrix").source = MISTAKES["gram_outer"].source
    scripted = leaky_submission(solved, beacon.url)
    for student, notebook in (("solved", solved), ("gram_outer", mistaken), ("scripted", scripted)):
        shutil.copytree(release, course / "submitted" / student / ASSIGNMENT)
        nbformat.write(notebook, course / "submitted" / student / ASSIGNMENT / NOTEBOOK)
    result = subprocess.run(
        [sys.executable, "-m", "nst_grader.grade", "--quiet", "--workers", "1"],
        cwd=course,
        env=nbgrader_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0 and "graded 3, failed 0" in result.stdout, result.stdout + result.stderr[-5000:]
    graded = scores(course, EXPECTED)
    assert {student: f"{total:g} / 12" for student, (_, total) in graded.items()} == EXPECTED
    return course


@pytest.fixture(scope="module")
def lab(course):
    """JupyterLab serving the course (nbgrader reads its nbgrader_config.py): yields (base url, token, log)."""
    home = course.parent / "home"
    log = course.parent / "jupyterlab.log"
    with running_lab(course, home, log, lab_env(home)) as (base, token):
        yield base, token, log


def table_rows(frame, columns):
    """The rows of the formgrader page's table (its body is ``#main-table``): one dict per row,
    ``{column class: text}``."""
    return frame.locator("#main-table > tr").evaluate_all(
        "(rows, columns) => rows.map(row => Object.fromEntries(columns.map("
        "column => [column, (row.querySelector('.' + column) || {}).textContent?.trim() ?? null])))",
        columns,
    )


def open_formgrader(page, base, token, log):
    """Open JupyterLab, click Nbgrader > Formgrader; returns the formgrader panel's frame."""
    from playwright.sync_api import Error as PlaywrightError  # its TimeoutError too

    page.goto(f"{base}/lab?token={token}", wait_until="domcontentloaded", timeout=PAGE_S * 1000)
    menu = page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Nbgrader$"))
    try:
        menu.wait_for(state="visible", timeout=PAGE_S * 1000)
    except PlaywrightError:
        raise AssertionError(f"no Nbgrader menu in JupyterLab after {PAGE_S} s\n{log_tail(log)}") from None
    menu.click()
    page.locator(
        ".lm-Menu-content .lm-Menu-item:visible",
        has=page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Formgrader$")),
    ).click()
    return page.frame_locator("#formgrader-iframe iframe")


def test_formgrader_in_jupyterlab_shows_the_assignment_and_its_graded_submissions(lab):
    from playwright.sync_api import sync_playwright

    base, token, log = lab
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page_errors = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("pageerror", lambda error: page_errors.append(str(error)))
            try:
                frame = open_formgrader(page, base, token, log)
                # Manage Assignments: the assignment, with the number of submissions as a link.
                assignment = frame.locator("#main-table > tr", has=frame.locator(".name", has_text=ASSIGNMENT))
                assignment.wait_for(timeout=PAGE_S * 1000)
                assignments = table_rows(frame, ["name", "status", "num-submissions"])
                assignment.locator(".num-submissions a").click()
                # Manage Submissions (of that assignment): a row per student, once its data has loaded.
                frame.locator("#main-table > tr > .student-id", has_text="solved").wait_for(timeout=PAGE_S * 1000)
                submissions = table_rows(frame, ["student-id", "status", "score"])
                breadcrumb = frame.locator(".breadcrumb li.active").inner_text()
            finally:
                page.screenshot(path=str(SCREENSHOT), full_page=True)  # also (above all) when it fails
        finally:
            browser.close()

    # "draft": not released through an exchange (a JupyterHub feature; there is none here).
    assert assignments == [{"name": ASSIGNMENT, "status": "draft", "num-submissions": "3"}], assignments
    assert breadcrumb == ASSIGNMENT
    assert {row["student-id"]: (row["status"], row["score"]) for row in submissions} == {
        student: ("graded", score) for student, score in EXPECTED.items()
    }, submissions
    assert not page_errors, f"JavaScript errors on the page: {page_errors}"


def submission_id(course, student):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        return gradebook.find_submission_notebook(NOTEBOOK_ID, ASSIGNMENT, student).id


def test_a_students_script_does_not_run_in_formgrader(course, lab, beacon):
    from playwright.sync_api import sync_playwright

    base, token, log = lab
    url = f"{base}/formgrader/submissions/{submission_id(course, 'scripted')}/?token={token}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=[*CHROMIUM_ARGS, "--no-proxy-server"]
        )
        try:
            page = browser.new_page()
            dialogs = []
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            page.goto(url, wait_until="load", timeout=PAGE_S * 1000)
            # The page shows the notebook, the payload among it as text, and the graded cells' verdicts.
            page.get_by_text("right on").first.wait_for(timeout=PAGE_S * 1000)
            shown = page.content()
            title = page.title()
            pwned = page.evaluate(
                f"() => [window.{MARKER}, ...[...document.querySelectorAll('iframe')].map(f => {{"
                f"try {{ return f.contentWindow.{MARKER} }} catch (e) {{ return 'cross-origin' }} }})]"
            )
            page.wait_for_load_state("networkidle", timeout=PAGE_S * 1000)
            asked_by_formgrader = list(beacon.requests)

            # The control: the same payload in a bare page of the same browser runs, and calls the listener.
            control = browser.new_page()
            control.set_content(payload_html(beacon.url), wait_until="load")
            control.wait_for_function(f"() => window.{MARKER} === 1", timeout=PAGE_S * 1000)
            control.wait_for_load_state("networkidle", timeout=PAGE_S * 1000)
            control_title = control.title()
        finally:
            browser.close()

    assert MARKER in shown, log_tail(log)
    assert live_parts(shown) == []
    assert title != "pwned" and not dialogs
    assert all(value is None for value in pwned), pwned
    assert asked_by_formgrader == [], asked_by_formgrader
    assert control_title == "pwned" and any(path.startswith("/script") for path in beacon.requests), beacon.requests
