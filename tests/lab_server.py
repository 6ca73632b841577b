"""A real JupyterLab server for the browser tests, and the headless Chromium that visits it.

The server runs ``jupyter lab`` from this venv in a subprocess of its own session, on a free port of
127.0.0.1 with a random token, with its home, settings and workspaces in a temporary folder (no
user setting leaks in, and no news or update check reaches for the internet). It is always shut
down: through its API, then SIGTERM, then SIGKILL to its whole session.
"""

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

VENV_BIN = Path(sys.executable).parent  # not resolved: a venv's python is a symlink
CHROMIUM = Path("/usr/bin/chromium")
# Headless Chromium as root, offline: no sandbox, no GPU, and none of the background requests
# (component updates, sync, QUIC probes) that would only be refused here.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_S = 90  # JupyterLab answering /api/status


def lab_env(home):
    """This process's environment with everything Jupyter reads from the user's home moved to ``home``."""
    env = dict(os.environ)
    for name in (
        "NBGRADER_EXECUTION",
        "MPLBACKEND",
        "JUPYTER_PATH",
        "JUPYTER_CONFIG_PATH",
        "JUPYTER_TOKEN",
        "PYTHONSTARTUP",
    ):
        env.pop(name, None)
    env.update(
        {
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
            "TF_CPP_MIN_LOG_LEVEL": "2",
        }
    )
    return env


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def log_tail(log, chars=6000):
    return log.read_text(errors="replace")[-chars:] if log.exists() else ""


def _write_user_settings(settings_dir):
    """No news feed, no update check: both would ask in a toast and reach for the internet."""
    path = Path(settings_dir) / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))


@contextlib.contextmanager
def running_lab(root, home, log, env=None):
    """JupyterLab serving ``root`` (also its working directory, so nbgrader's server extensions read
    ``root/nbgrader_config.py``), its output in ``log``: yields ``(base url, token)``."""
    env = env or lab_env(home)
    _write_user_settings(env["JUPYTERLAB_SETTINGS_DIR"])
    port, token = free_port(), secrets.token_hex(24)
    base = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.token={token}",
        f"--ServerApp.root_dir={root}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # CI runs as root; JupyterLab refuses to start otherwise
    with open(log, "wb") as output:
        server = subprocess.Popen(
            command,
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            assert server.poll() is None, f"JupyterLab exited with {server.returncode}\n{log_tail(log)}"
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            assert time.monotonic() < deadline, f"JupyterLab did not answer in {SERVER_START_S} s\n{log_tail(log)}"
            time.sleep(0.5)
        yield base, token
    finally:
        _stop(server, base, token)


def _stop(server, base, token):
    """Shut JupyterLab down (and with it its kernels); terminate, then kill, what is left."""
    if server.poll() is None:
        request = urllib.request.Request(
            f"{base}/api/shutdown", method="POST", headers={"Authorization": f"token {token}"}
        )
        with contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError):
            urllib.request.urlopen(request, timeout=10).close()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)
    with contextlib.suppress(
        ProcessLookupError, PermissionError
    ):  # the server's own session: a kernel it failed to stop
        os.killpg(server.pid, signal.SIGKILL)
