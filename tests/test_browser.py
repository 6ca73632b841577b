"""A real browser test: a student opens the released notebook in JupyterLab and runs all cells.

The notebook is the *release* one, made by the real ``nbgrader generate_assignment`` in a temporary
course (the ``released_course`` fixture), with each exercise filled in the way a student would: the
stub (``# YOUR CODE HERE`` / ``raise NotImplementedError()``) replaced by the solution lines of the
source notebook. The run is shrunk by ``helpers.shrink_run`` to 3 steps at 64 x 48 (``test_notebook_run``
shrinks its run of the source notebook with the same helper).

JupyterLab runs as ``lab_server.running_lab`` starts it (a subprocess on a free port of 127.0.0.1, its
home, settings and workspaces in the temporary directory). Headless Chromium (Debian's
``/usr/bin/chromium``, driven by Playwright) opens the notebook, waits for the kernel, clicks
Run > Run All Cells, waits until every code cell has an execution count, then checks that no output
shows a traceback and that the content | style | generated figure is rendered. A screenshot goes to
``outputs/browser_test.png``.
"""

import contextlib
import json
import re
import shutil

import nbformat
import pytest

from course import ASSIGNMENT, NOTEBOOK, ROOT, SOURCE_NOTEBOOK, fill_solutions
from helpers import shrink_run
from lab_server import CHROMIUM, CHROMIUM_ARGS, lab_env, log_tail, running_lab

WEIGHTS = ROOT / "pretrained-model" / "vgg19-normalised.mat"
SCREENSHOT = ROOT / "outputs" / "browser_test.png"

NOTEBOOK_OPEN_S = 90  # the notebook shown and its kernel idle
RUN_ALL_S = 240  # Run All Cells finished


pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"needs Debian's chromium at {CHROMIUM} (apt-get install chromium; .ci/run installs it)",
)


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory, released_course):
    """The released assignment folder, copied as a student gets it, with the exercises solved and the
    run shrunk to 3 steps at 64 x 48 (``helpers.shrink_run``)."""
    assert WEIGHTS.exists(), f"needs {WEIGHTS.relative_to(ROOT)}: run `make weights`"
    work = tmp_path_factory.mktemp("browser") / "lab" / ASSIGNMENT
    shutil.copytree(released_course / "release" / ASSIGNMENT, work)
    release = nbformat.read(work / NOTEBOOK, as_version=4)
    release = fill_solutions(release, nbformat.read(SOURCE_NOTEBOOK, as_version=4))
    shrink_run(release)
    nbformat.validate(release)
    nbformat.write(release, work / NOTEBOOK)
    return work


# ------------------------------------------------------------------------------------------------
# JupyterLab


@pytest.fixture(scope="module")
def lab(student_dir):
    """A running JupyterLab serving the student's folder: yields (base url, token, log path)."""
    root = student_dir.parent
    home, log = root.parent / "home", root.parent / "jupyterlab.log"
    # NST_WEIGHTS: the copied nst_utils.py would look for the weights above the temporary folder.
    with running_lab(root, home, log, dict(lab_env(home), NST_WEIGHTS=str(WEIGHTS))) as (base, token):
        yield base, token, log


# ------------------------------------------------------------------------------------------------
# The browser

STDERR = "application/vnd.jupyter.stderr"
ERROR = re.compile(
    r"Traceback \(most recent call last\)"  # an exception raised in a cell
    r"|^\s*Cell In\[\d+\], line \d+"  # IPython's header of a SyntaxError
    r"|^\w*(Error|Exception)(: |$)",
    re.M,
)

# State of the open notebook, read from the page as a person sees it. JupyterLab renders stream
# stderr (tqdm's progress bar, warnings) and errors alike as application/vnd.jupyter.stderr: an error
# is one that shows a traceback, IPython's "Cell In[n], line m" header or an exception line.
NOTEBOOK_STATE = """() => {
  const ERROR = new RegExp(ERROR_PATTERN, 'm');
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  if (!panel) return null;
  const indicator = panel.querySelector('.jp-Notebook-ExecutionIndicator');
  const cells = [...panel.querySelectorAll('.jp-Notebook .jp-Cell')];
  const code = cells.filter(cell => cell.classList.contains('jp-CodeCell'));
  const errors = [...panel.querySelectorAll('.jp-OutputArea-output')]
    .filter(output => output.dataset.mimeType === STDERR
                      && ERROR.test(output.textContent))
    .map(output => output.textContent.slice(0, 3000));
  return {
    status: indicator ? indicator.dataset.status : null,
    kernel: (panel.querySelector('.jp-KernelName') || {}).textContent || null,
    cells: cells.length,
    prompts: code.map(cell => (cell.querySelector('.jp-InputArea-prompt') || {}).textContent || ''),
    errors,
  };
}""".replace("ERROR_PATTERN", json.dumps(ERROR.pattern)).replace("STDERR", json.dumps(STDERR))

# Run All Cells marks every code cell "[*]:" at once; each gets its number when it finishes, and after
# an error the cells still queued go back to "[ ]:". Finished: the kernel is idle and nothing is queued.
FINISHED = f"""() => {{
  const state = ({NOTEBOOK_STATE})();
  if (!state || state.status !== 'idle') return false;
  const prompts = state.prompts.map(prompt => prompt.trim());
  return !prompts.includes('[*]:') && prompts.some(prompt => /^\\[\\d+\\]:$/.test(prompt));
}}"""

# Ready: every cell attached (JupyterLab adds them in batches), the kernel idle, no dialog open.
KERNEL_READY = f"""cells => {{
  const state = ({NOTEBOOK_STATE})();
  return !!state && state.cells === cells && state.status === 'idle' && /Python 3/.test(state.kernel || '')
    && !document.querySelector('.jp-Dialog');
}}"""


def _open_and_run_all(page, url, notebook, log):
    """Open the notebook, wait for its kernel, Run > Run All Cells, wait until it finishes.

    Returns what the page shows: the notebook state, and the figure of the cell that saves
    outputs/generated.png. The page is left scrolled to the first error, or else to that figure.
    """
    from playwright.sync_api import Error as PlaywrightError  # its TimeoutError too

    page.goto(url, wait_until="domcontentloaded", timeout=NOTEBOOK_OPEN_S * 1000)
    try:
        page.wait_for_function(KERNEL_READY, arg=len(notebook.cells), timeout=NOTEBOOK_OPEN_S * 1000, polling=250)
    except PlaywrightError:
        raise AssertionError(
            f"the notebook or its kernel was not ready in {NOTEBOOK_OPEN_S} s: "
            f"{page.evaluate(NOTEBOOK_STATE)}\n{log_tail(log)}"
        ) from None
    state = page.evaluate(NOTEBOOK_STATE)
    assert len(state["prompts"]) == sum(cell.cell_type == "code" for cell in notebook.cells), state
    assert all(prompt.strip() in ("[ ]:", "") for prompt in state["prompts"]), state["prompts"]

    # Run > Run All Cells, as a person does.
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(
        ".lm-Menu-content .lm-Menu-item:visible",
        has=page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")),
    ).click()
    try:
        page.wait_for_function(FINISHED, timeout=RUN_ALL_S * 1000, polling=500)
    except PlaywrightError:
        raise AssertionError(
            f"Run All Cells did not finish in {RUN_ALL_S} s: {page.evaluate(NOTEBOOK_STATE)}\n{log_tail(log)}"
        ) from None
    seen = {"state": page.evaluate(NOTEBOOK_STATE)}
    if seen["state"]["errors"]:
        page.locator(
            f'.jp-OutputArea-output[data-mime-type="{STDERR}"]', has_text=ERROR
        ).first.scroll_into_view_if_needed()
        return seen

    # The content | style | generated figure, below tqdm's progress bar (an ipywidgets widget).
    [index] = [
        index for index, cell in enumerate(notebook.cells) if 'save_image("outputs/generated.png"' in cell.source
    ]
    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    cell.scroll_into_view_if_needed()
    images = cell.locator(".jp-OutputArea-output img")
    with contextlib.suppress(PlaywrightError):  # reported below, with the cell's outputs
        images.last.wait_for(state="visible", timeout=20_000)
    if images.count():
        images.last.scroll_into_view_if_needed()
    seen["figure_widths"] = images.evaluate_all("images => images.map(image => image.naturalWidth)")
    seen["figure_cell_text"] = cell.locator(".jp-OutputArea").inner_text()
    seen["progress_bars"] = cell.locator(".jp-OutputArea-output .widget-hprogress").count()
    return seen


def test_student_runs_all_cells_in_jupyterlab(lab, student_dir):
    from playwright.sync_api import sync_playwright

    base, token, log = lab
    notebook = nbformat.read(student_dir / NOTEBOOK, as_version=4)
    url = f"{base}/lab/tree/{ASSIGNMENT}/{NOTEBOOK}?token={token}"
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page_errors = []

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.on("pageerror", lambda error: page_errors.append(str(error)))
            try:
                seen = _open_and_run_all(page, url, notebook, log)
            finally:
                page.screenshot(path=str(SCREENSHOT), full_page=True)  # also (above all) when it fails
        finally:
            browser.close()
    print(f"\n[browser] figure {seen.get('figure_widths')} px wide; screenshot {SCREENSHOT}")

    state = seen["state"]
    assert not state["errors"], f"errors in the notebook (see {SCREENSHOT}):\n\n" + "\n\n".join(state["errors"])
    # A collapsed cell (the setup form: its input hidden) shows no input prompt; its errors count above.
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    unexecuted = [
        (index, prompt)
        for index, prompt in enumerate(state["prompts"])
        if not re.fullmatch(r"\[\d+\]:", prompt.strip())
        and not code[index].metadata.get("jupyter", {}).get("source_hidden")
    ]
    assert not unexecuted, f"code cells without an execution count (index, prompt): {unexecuted}"
    text = seen["figure_cell_text"]
    assert "saved outputs/generated.png" in text, text
    assert seen["progress_bars"] == 1 and "3/3" in text, (seen["progress_bars"], text)  # tqdm's widget, done
    assert seen["figure_widths"] and all(width > 0 for width in seen["figure_widths"]), seen["figure_widths"]
    assert (student_dir / "outputs" / "generated.png").exists()
    assert not page_errors, f"JavaScript errors on the page: {page_errors}"
