"""JupyterHub for the course (``make hub``; tests/test_hub.py starts the same): on 127.0.0.1 only.

Run as root (it starts each user's server as that user). Settings, from the environment:

NST_HUB_INSTRUCTOR   the instructor's user name; their server opens on the course folder
NST_HUB_COURSE       that folder (default ~instructor/course): the instructor's copy of the course
NST_HUB_STUDENTS     the students' user names, comma-separated
NST_HUB_PASSWORD     the password everyone logs in with (8 characters or more): for trying the hub
                     only, a real course uses PAM or OAuth (docs/instructor.md)
NST_HUB_STATE        the hub's own folder (default hub/state): its database, the proxy's pid, the
                     exchange (exchange/, mode 1777) and the users' nbgrader config (jupyter/)
NST_HUB_PORT, NST_HUB_API_PORT, NST_HUB_PROXY_API_PORT   default 8000, 8081, 8001

Every user is a local account (useradd). nbgrader's exchange lives in ``STATE/exchange``; everyone's
server reads ``STATE/jupyter/nbgrader_config.py`` (the exchange and the course id) through
``JUPYTER_CONFIG_PATH``. The servers run as their users in ``user_view`` (bubblewrap): the venv's
Python, the project's modules, the exchange and that config are reachable even where the clone is not.
"""

import os
import pwd
import sys
from pathlib import Path

HUB = Path(__file__).resolve().parent
sys.path.insert(0, str(HUB))

from hub_settings import course_id, prepare_state  # noqa: E402

c = get_config()  # noqa: F821 - provided by JupyterHub

instructor = os.environ.get("NST_HUB_INSTRUCTOR", "instructor")
students = [name.strip() for name in os.environ.get("NST_HUB_STUDENTS", "").split(",") if name.strip()]
course = Path(os.environ.get("NST_HUB_COURSE") or Path(pwd.getpwnam(instructor).pw_dir) / "course")
state = Path(os.environ.get("NST_HUB_STATE") or HUB / "state")
exchange, user_config = prepare_state(state, course_id(HUB.parent / "nbgrader_config.py"))
weights = HUB.parent / "pretrained-model" / "vgg19-normalised.mat"

c.JupyterHub.bind_url = f"http://127.0.0.1:{os.environ.get('NST_HUB_PORT', '8000')}"
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{os.environ.get('NST_HUB_API_PORT', '8081')}"
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{os.environ.get('NST_HUB_PROXY_API_PORT', '8001')}"
c.ConfigurableHTTPProxy.command = [str(HUB / "node_modules" / ".bin" / "configurable-http-proxy")]
c.ConfigurableHTTPProxy.pid_file = str(state / "proxy.pid")
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
c.JupyterHub.cleanup_servers = True  # the users' servers stop with the hub

c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = os.environ["NST_HUB_PASSWORD"]
c.Authenticator.allowed_users = {instructor, *students}

c.JupyterHub.spawner_class = "course_spawner.CourseSpawner"
c.Spawner.cmd = [str(Path(sys.prefix) / "bin" / "jupyterhub-singleuser")]
c.Spawner.ip = "127.0.0.1"
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 180  # a loaded 2-core machine starts JupyterLab slowly
c.Spawner.http_timeout = 180
c.Spawner.environment = {
    "JUPYTER_CONFIG_PATH": str(user_config),
    "PATH": f"{Path(sys.prefix) / 'bin'}:/usr/bin:/bin",  # nbgrader calls its tools by name
    "TF_CPP_MIN_LOG_LEVEL": "2",
    **({"NST_WEIGHTS": str(weights)} if weights.exists() else {}),
}
c.CourseSpawner.view_read_only = [str(user_config), *([str(weights)] if weights.exists() else [])]
c.CourseSpawner.view_writable = [str(exchange)]


def open_course_for_instructor(spawner):
    """The instructor's server opens on the course folder, where formgrader finds its gradebook."""
    spawner.notebook_dir = str(course) if spawner.user.name == instructor else ""


c.Spawner.pre_spawn_hook = open_course_for_instructor
