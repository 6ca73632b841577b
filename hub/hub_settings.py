"""The hub's folder: nbgrader's exchange, and the nbgrader config every user's server reads.

``STATE/`` (mode 0700: the hub's database and secrets) holds ``exchange/`` (mode 1777, as nbgrader
documents for a shared exchange: anyone may add, only the owner may remove) and ``jupyter/`` (mode
0755) with ``nbgrader_config.py`` (0644): the exchange's root and the course id, read by the students'
Assignments tab, the instructor's formgrader and the instructor's nbgrader commands alike
(``JUPYTER_CONFIG_PATH``), and ``jupyter_server_config.py``, which lets JupyterLab frame formgrader.
"""

import os
import re
from pathlib import Path

from atomic_files import atomic_path

USER_CONFIG = """\
# Written by hub/hub_settings.py for JupyterHub's users: nbgrader's exchange for this course.
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = {course_id!r}
c.Exchange.root = {exchange!r}
"""
# JupyterHub's servers forbid every page to be framed ("frame-ancestors 'none'"); JupyterLab shows
# formgrader in a frame of its own page, so the servers allow framing by their own pages.
SERVER_CONFIG = """\
# Written by hub/hub_settings.py for JupyterHub's users: formgrader's frame in JupyterLab.
c = get_config()  # noqa: F821
c.ServerApp.tornado_settings = {"headers": {"Content-Security-Policy": "frame-ancestors 'self'"}}
"""
COURSE_ID = re.compile(r"""^c\.CourseDirectory\.course_id\s*=\s*["']([^"']+)["']""", re.M)


def course_id(nbgrader_config):
    """The course id the course's ``nbgrader_config.py`` sets (read, not run: it imports the grader)."""
    found = COURSE_ID.findall(Path(nbgrader_config).read_text())
    if len(found) != 1:
        raise ValueError(f"{nbgrader_config} must set c.CourseDirectory.course_id once, found {found}")
    return found[0]


def _folder(path, mode):
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, mode)  # mkdir applies the umask, and the folder may be older
    return path


def prepare_state(state, course):
    """Create ``state`` (0700), its ``exchange/`` (1777) and ``jupyter/`` with the users' config files
    for ``course`` (the course id); returns ``(exchange folder, user config folder)``."""
    state = _folder(Path(state).resolve(), 0o700)
    exchange = _folder(state / "exchange", 0o1777)
    user_config = _folder(state / "jupyter", 0o755)
    files = {
        "nbgrader_config.py": USER_CONFIG.format(course_id=course, exchange=str(exchange)),
        "jupyter_server_config.py": SERVER_CONFIG,
    }
    for name, text in files.items():
        with atomic_path(user_config / name) as tmp:
            tmp.write_text(text)
            os.chmod(tmp, 0o644)
    return exchange, user_config
