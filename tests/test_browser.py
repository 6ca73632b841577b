"""A real browser test: a student opens the released notebook in JupyterLab and runs all cells.

The notebook is the *release* one, made by the real ``nbgrader generate_assignment`` in a temporary
course, with each exercise filled in the way a student would: the stub (``# YOUR CODE HERE`` /
``raise NotImplementedError()``) replaced by the solution lines of the source notebook. The run is
shrunk as in ``test_assignment.test_source_notebook_runs_top_to_bottom`` (3 steps at 64 x 48).

JupyterLab runs in a subprocess on a free port of 127.0.0.1 with a random token, its home, settings and
workspaces in the temporary directory (no user setting leaks in). Headless Chromium (Debian's
``/usr/bin/chromium``, driven by Playwright) opens the notebook, waits for the kernel, clicks
Run > Run All Cells, waits until every code cell has an execution count, then checks that no output
shows a traceback and that the content | style | generated figure is rendered. A screenshot goes to
``outputs/browser_test.png``.
"""

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from course import fill_solutions, nbgrader_meta

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "art_generation"
SOURCE_NOTEBOOK = ROOT / "notebooks" / ASSIGNMENT / "Art_Generation_with_Neural_Style_Transfer.ipynb"
NOTEBOOK = SOURCE_NOTEBOOK.name
WEIGHTS = ROOT / "pretrained-model" / "vgg19-normalised.mat"
VENV_BIN = Path(sys.executable).parent  # not resolved: a venv's python is a symlink
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = ROOT / "outputs" / "browser_test.png"

# Headless Chromium as root, offline: no sandbox, no GPU, and none of the background requests
# (component updates, sync, QUIC probes) that would only be refused here.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

SERVER_START_S = 90  # JupyterLab answering
NOTEBOOK_OPEN_S = 90  # the notebook shown and its kernel idle
RUN_ALL_S = 240  # Run All Cells finished (5 to 10 s here)


pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason=f"needs Debian's chromium at {CHROMIUM} (apt-get install chromium; "
                                       ".ci/run installs it)")


# ------------------------------------------------------------------------------------------------
# The notebook a student would have: the release, exercises done, the run shrunk


def shrink(notebook):
    """3 steps at 64 x 48, as in the nbclient run of the source notebook."""
    [parameters] = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    source, steps = re.subn(r"(?m)^NUM_STEPS = .*$", "NUM_STEPS = 3", parameters.source)
    source, snapshots = re.subn(r"(?m)^SNAPSHOT_EVERY = .*$", "SNAPSHOT_EVERY = 1", source)
    assert steps == snapshots == 1, parameters.source
    parameters.source = source
    [imports] = [cell for cell in notebook.cells if nbgrader_meta(cell).get("grade_id") == "imports"]
    notebook.cells.insert(notebook.cells.index(imports) + 1,
                          new_code_cell("CONFIG.image_width, CONFIG.image_height = 64, 48"))


def _env(home):
    """This process's environment with everything Jupyter reads from the user's home moved to ``home``."""
    env = dict(os.environ)
    for name in ("NBGRADER_EXECUTION", "MPLBACKEND", "JUPYTER_PATH", "JUPYTER_CONFIG_PATH", "JUPYTER_TOKEN",
                 "PYTHONSTARTUP"):
        env.pop(name, None)  # the full notebook with inline figures, nothing from outside
    env.update({
        "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",  # nbgrader calls alembic by name
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "JUPYTER_CONFIG_DIR": str(home / ".jupyter"),
        "JUPYTER_DATA_DIR": str(home / ".local" / "share" / "jupyter"),
        "JUPYTER_RUNTIME_DIR": str(home / ".local" / "share" / "jupyter" / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / ".jupyter" / "lab" / "user-settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / ".jupyter" / "lab" / "workspaces"),
        "IPYTHONDIR": str(home / ".ipython"),
        "MPLCONFIGDIR": str(home / ".config" / "matplotlib"),
        "NST_WEIGHTS": str(WEIGHTS),  # the copied nst_utils.py would look above the temporary folder
        "TF_CPP_MIN_LOG_LEVEL": "2",
    })
    return env


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    """The released assignment folder, copied as a student gets it, with the exercises solved."""
    assert WEIGHTS.exists(), f"needs {WEIGHTS.relative_to(ROOT)}: run `make weights`"
    tmp = tmp_path_factory.mktemp("browser")
    course = tmp / "course"
    course.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "notebooks", course / "notebooks", symlinks=False,  # follow the symlinks
                    ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints", "outputs"))
    home = tmp / "home"
    home.mkdir()
    result = subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", ASSIGNMENT, "--force"],
                            cwd=course, env=_env(home), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"nbgrader generate_assignment failed\n{result.stdout}\n{result.stderr}"

    work = tmp / "lab" / ASSIGNMENT
    shutil.copytree(course / "release" / ASSIGNMENT, work)
    release = nbformat.read(work / NOTEBOOK, as_version=4)
    release = fill_solutions(release, nbformat.read(SOURCE_NOTEBOOK, as_version=4))
    shrink(release)
    nbformat.validate(release)
    nbformat.write(release, work / NOTEBOOK)
    return work


# ------------------------------------------------------------------------------------------------
# JupyterLab


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _write_user_settings(settings_dir):
    """No news feed, no update check: both would ask in a toast and reach for the internet."""
    path = settings_dir / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))


def _log_tail(log, chars=6000):
    return log.read_text(errors="replace")[-chars:] if log.exists() else ""


@pytest.fixture(scope="module")
def lab(student_dir):
    """A running JupyterLab serving the student's folder: yields (base url, token, log path)."""
    root = student_dir.parent
    home = root.parent / "home"
    env = _env(home)
    _write_user_settings(Path(env["JUPYTERLAB_SETTINGS_DIR"]))
    port, token = _free_port(), secrets.token_hex(24)
    base = f"http://127.0.0.1:{port}"
    log = root.parent / "jupyterlab.log"
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # CI runs as root; JupyterLab refuses to start otherwise
    with open(log, "wb") as output:
        server = subprocess.Popen(command, cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=output,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            assert server.poll() is None, f"JupyterLab exited with {server.returncode}\n{_log_tail(log)}"
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            assert time.monotonic() < deadline, f"JupyterLab did not answer in {SERVER_START_S} s\n{_log_tail(log)}"
            time.sleep(0.5)
        yield base, token, log
    finally:
        _stop(server, base, token)


def _stop(server, base, token):
    """Shut JupyterLab down (and with it the kernel); terminate, then kill, what is left."""
    if server.poll() is None:
        request = urllib.request.Request(f"{base}/api/shutdown", method="POST",
                                         headers={"Authorization": f"token {token}"})
        try:
            urllib.request.urlopen(request, timeout=10).close()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)
    try:  # the server's own session: a kernel it failed to stop
        os.killpg(server.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


# ------------------------------------------------------------------------------------------------
# The browser

STDERR = "application/vnd.jupyter.stderr"
ERROR = re.compile(r"Traceback \(most recent call last\)"  # an exception raised in a cell
                   r"|^\s*Cell In\[\d+\], line \d+"  # IPython's header of a SyntaxError
                   r"|^\w*(Error|Exception)(: |$)", re.M)

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
        raise AssertionError(f"the notebook or its kernel was not ready in {NOTEBOOK_OPEN_S} s: "
                             f"{page.evaluate(NOTEBOOK_STATE)}\n{_log_tail(log)}") from None
    state = page.evaluate(NOTEBOOK_STATE)
    assert len(state["prompts"]) == sum(cell.cell_type == "code" for cell in notebook.cells), state
    assert all(prompt.strip() in ("[ ]:", "") for prompt in state["prompts"]), state["prompts"]

    # Run > Run All Cells, as a person does.
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-content .lm-Menu-item:visible",
                 has=page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$"))).click()
    start = time.perf_counter()
    try:
        page.wait_for_function(FINISHED, timeout=RUN_ALL_S * 1000, polling=500)
    except PlaywrightError:
        raise AssertionError(f"Run All Cells did not finish in {RUN_ALL_S} s: "
                             f"{page.evaluate(NOTEBOOK_STATE)}\n{_log_tail(log)}") from None
    seen = {"run_s": time.perf_counter() - start, "state": page.evaluate(NOTEBOOK_STATE)}
    if seen["state"]["errors"]:
        page.locator(f'.jp-OutputArea-output[data-mime-type="{STDERR}"]', has_text=ERROR).first \
            .scroll_into_view_if_needed()
        return seen

    # The content | style | generated figure, below tqdm's progress bar (an ipywidgets widget).
    [index] = [index for index, cell in enumerate(notebook.cells)
               if 'save_image("outputs/generated.png"' in cell.source]
    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    cell.scroll_into_view_if_needed()
    images = cell.locator(".jp-OutputArea-output img")
    try:
        images.last.wait_for(state="visible", timeout=20_000)
    except PlaywrightError:
        pass  # reported below, with the cell's outputs
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

    start = time.perf_counter()
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
    print(f"\n[browser] Run All Cells {seen['run_s']:.1f} s, browser session {time.perf_counter() - start:.1f} s; "
          f"figure {seen.get('figure_widths')} px wide; screenshot {SCREENSHOT}")

    state = seen["state"]
    assert not state["errors"], f"errors in the notebook (see {SCREENSHOT}):\n\n" + "\n\n".join(state["errors"])
    unexecuted = [(index, prompt) for index, prompt in enumerate(state["prompts"])
                  if not re.fullmatch(r"\[\d+\]:", prompt.strip())]
    assert not unexecuted, f"code cells without an execution count (index, prompt): {unexecuted}"
    text = seen["figure_cell_text"]
    assert "saved outputs/generated.png" in text, text
    assert seen["progress_bars"] == 1 and "3/3" in text, (seen["progress_bars"], text)  # tqdm's widget, done
    assert seen["figure_widths"] and all(width > 0 for width in seen["figure_widths"]), seen["figure_widths"]
    assert (student_dir / "outputs" / "generated.png").exists()
    assert not page_errors, f"JavaScript errors on the page: {page_errors}"
