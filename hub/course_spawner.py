"""JupyterHub's local-process spawner, with each user's server started through ``user_view``.

JupyterHub's ``LocalProcessSpawner`` drops to the user before it starts the server, and so before
bwrap could lay the venv's Python into the user's view (``user_view``: folders only root can enter
stay hidden). This spawner starts bwrap as root, in the server's folder, and bwrap drops to the user with
``setpriv``; the server's environment is JupyterHub's (``HOME``, ``USER``, the hub's tokens) plus
the course's (``JUPYTER_CONFIG_PATH`` for nbgrader's exchange, ``NST_WEIGHTS``). JupyterHub stops
a server by signalling the process it started, bwrap, which passes no signal on: this spawner
signals the server itself, which stops its kernels before it exits.
"""

import contextlib
import os
import pwd
import signal

import psutil
import user_view
from jupyterhub.spawner import LocalProcessSpawner
from traitlets import List, Unicode


class CourseSpawner(LocalProcessSpawner):
    """A ``LocalProcessSpawner`` whose server runs as the user inside ``user_view.as_user``."""

    view_read_only = List(Unicode(), help="Paths the users' servers read (the hub's nbgrader config, weights)").tag(
        config=True
    )
    view_writable = List(Unicode(), help="Paths the users' servers write besides their homes (the exchange)").tag(
        config=True
    )

    def make_preexec_fn(self, name):
        """Stay root (bwrap needs it; ``setpriv`` drops to the user) and start in the server's root
        folder (``notebook_dir``), else the user's home: nbgrader reads ``nbgrader_config.py`` in the
        folder it runs in, and the course's gradebook path is relative to it."""
        folder = self.format_string(self.notebook_dir) if self.notebook_dir else pwd.getpwnam(name).pw_dir

        def preexec():
            os.chdir(folder)

        return preexec

    async def _signal(self, sig):
        """Signal the server, bwrap's child (bwrap passes no signal on, and would die of it first):
        SIGTERM for JupyterHub's SIGINT, which a server without a terminal answers with a question
        nobody sees; SIGKILL to bwrap's whole process group. True while bwrap, the server's parent,
        still runs (it exits with the server)."""
        try:
            servers = psutil.Process(self.pid).children()
        except psutil.NoSuchProcess:
            return False
        if sig == signal.SIGKILL:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, sig)
        elif sig:
            for server in servers:
                with contextlib.suppress(psutil.NoSuchProcess):
                    server.send_signal(signal.SIGTERM if sig == signal.SIGINT else sig)
        return await super()._signal(0)

    async def start(self):
        # The server command runs as the user in the view; JupyterHub appends the server's arguments.
        server_cmd = list(self.cmd)
        self.cmd = user_view.as_user(self.user.name, server_cmd, self.view_read_only, self.view_writable)
        try:
            return await super().start()
        finally:
            self.cmd = server_cmd
