"""The kernel that runs a student's notebook during grading, inside a bubblewrap sandbox.

``nbgrader_config.py`` makes nbgrader's ``Execute`` start every kernel with this manager, so plain
``nbgrader autograde`` is sandboxed. The kernel sees:

* the system (``/usr``), the Python installation and the virtual environment, read-only;
* the notebook's own folder (nbgrader's copy of that student's submission), read-only: no source
  notebook, gradebook, grader code or other student;
* a private ``/tmp`` and ``/dev``, its own process tree, and no network at all (it talks to nbgrader
  over Unix sockets in a private folder, not over TCP);
* an environment reduced to a few harmless variables;
* a copy of the grader's matplotlib font list, so that ``import matplotlib.pyplot`` does not scan the
  system's fonts again in every kernel.

It runs as an unprivileged user of its own, under limits on memory (address space), processes and
threads, and the size of any file it writes. ``--SandboxedKernelManager.sandbox=False`` runs
trusted notebooks without all this, with a warning.

Whether sandboxed or not, the grader's side of the connection refuses any message from the kernel
larger than ``message_size_limit_mb``: a kernel could otherwise make the grader hold a message as
large as its own memory. ZeroMQ drops such a message unread and closes the connection;
``nst_grader.execute`` notes the lost output and connects again.
"""

import functools
import os
import random
import shutil
import sys
import tempfile
from pathlib import Path

import zmq
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from traitlets import Bool, Int, default

INSTALL_HINT = (
    "bubblewrap (bwrap) is not installed: grading runs student code in its sandbox. Install it "
    "(Debian/Ubuntu: apt-get install bubblewrap), or grade trusted notebooks without a sandbox "
    "with --SandboxedKernelManager.sandbox=False"
)
# The environment the kernel keeps (everything else, such as database passwords, is dropped).
KEPT_VARIABLES = (
    "LANG",
    "LC_ALL",
    "TF_CPP_MIN_LOG_LEVEL",
    "NBGRADER_EXECUTION",
    "NBGRADER_VALIDATING",
    "JPY_PARENT_PID",
    "JPY_SESSION_NAME",
    "MPLBACKEND",
    "PYDEVD_DISABLE_FILE_VALIDATION",
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "OMP_NUM_THREADS",
)
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/localtime", "/etc/nsswitch.conf", "/etc/passwd", "/etc/group", "/etc/fonts")


def _parents(path):
    """bwrap arguments that create the folders above ``path`` traversable by any user (bwrap's own
    would be private to root)."""
    args = []
    for parent in reversed(Path(path).parents[:-1]):
        if str(parent) != "/tmp":  # the private /tmp stays writable by all (1777)
            args += ["--perms", "0755", "--dir", str(parent)]
    return args


@functools.cache
def _font_list():
    """Matplotlib's list of the system's fonts, from this process's matplotlib (which builds it on
    first use), or None."""
    import matplotlib
    from matplotlib import font_manager

    path = Path(matplotlib.get_cachedir()) / f"fontlist-v{font_manager.FontManager.__version__}.json"
    return path if path.is_file() else None


class LimitedKernelClient(AsyncKernelClient):
    """A kernel client whose sockets refuse messages over its manager's ``message_size_limit_mb``."""

    def _context_default(self):
        context = super()._context_default()  # its own, destroyed with the channels
        context.setsockopt(zmq.MAXMSGSIZE, self.parent.message_size_limit_mb * 2**20)
        return context


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernels run in a bubblewrap sandbox (see the module docstring)."""

    sandbox = Bool(True, help="Run kernels in the sandbox. Turn off only for trusted notebooks.").tag(config=True)
    memory_limit_mb = Int(4096, help="Address space of the kernel (TensorFlow alone maps about 1.5 GB).").tag(
        config=True
    )
    process_limit = Int(256, help="Processes and threads of the kernel's user (TensorFlow starts dozens).").tag(
        config=True
    )
    file_size_limit_mb = Int(64, help="Largest file the kernel may write.").tag(config=True)
    message_size_limit_mb = Int(16, help="Largest message the grader accepts from the kernel.").tag(config=True)

    @default("client_factory")
    def _limited_client(self):
        return LimitedKernelClient

    _private_dir = None

    async def _async_pre_start_kernel(self, **kw):
        if not self.sandbox:
            self.log.warning("Kernels run WITHOUT a sandbox: only grade trusted notebooks this way")
            return await super()._async_pre_start_kernel(**kw)
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            raise RuntimeError(INSTALL_HINT)
        # A signal to bwrap would not reach the kernel: interrupt it with a message instead.
        self.kernel_spec.interrupt_mode = "message"
        # Unix sockets in a private folder: the kernel has no network, not even loopback.
        self._private_dir = Path(tempfile.mkdtemp(prefix="nst-kernel-"))
        self.transport = "ipc"
        self.ip = str(self._private_dir / "kernel")
        self.connection_file = str(self._private_dir / "connection.json")
        matplotlib_dir = self._private_dir / "matplotlib"
        matplotlib_dir.mkdir()
        font_list = _font_list()
        if font_list is not None:
            shutil.copy(font_list, matplotlib_dir)
        kernel_cmd, kw = await super()._async_pre_start_kernel(**kw)
        uid = None
        if os.geteuid() == 0:  # as root: a user of its own, since the process limit counts per user
            uid = random.randrange(200_000, 300_000)
            for path in (self._private_dir, self.connection_file, matplotlib_dir, *matplotlib_dir.iterdir()):
                os.chown(path, uid, uid)
        workdir = str(Path(kw.get("cwd") or os.getcwd()).resolve())
        env = kw.get("env") or os.environ
        kw["env"] = {"PATH": "/usr/bin:/bin"}  # for bwrap itself; the kernel's own is set below
        return self._wrap(bwrap, kernel_cmd, workdir, env, uid), kw

    def _wrap(self, bwrap, kernel_cmd, workdir, env, uid):
        """``kernel_cmd`` inside bwrap, as user ``uid`` (None: the grader's own), under resource limits."""
        args = [
            bwrap,
            "--die-with-parent",
            "--new-session",
            "--unshare-pid",
            "--unshare-net",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--ro-bind",
            "/usr",
            "/usr",
        ]
        for name in ("/bin", "/lib", "/lib64", "/sbin"):
            if os.path.islink(name):
                args += ["--symlink", os.readlink(name), name]
            elif os.path.isdir(name):
                args += ["--ro-bind", name, name]
        for path in SYSTEM_FILES:
            args += ["--ro-bind-try", path, path]
        # The private /tmp first: the folders bound below may lie under the real /tmp.
        args += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp"]
        for prefix in sorted({sys.base_prefix, sys.prefix, str(Path(sys.executable).resolve().parents[1])}):
            args += [*_parents(prefix), "--ro-bind", prefix, prefix]
        args += [
            *_parents(workdir),
            "--ro-bind",
            workdir,
            workdir,
            *_parents(self._private_dir),
            "--bind",
            str(self._private_dir),
            str(self._private_dir),
            "--chdir",
            workdir,
            "--clearenv",
            "--setenv",
            "PATH",
            f"{Path(sys.executable).parent}:/usr/bin:/bin",
            "--setenv",
            "HOME",
            "/tmp",
            "--setenv",
            "IPYTHONDIR",
            "/tmp/ipython",
            "--setenv",
            "MPLCONFIGDIR",
            str(self._private_dir / "matplotlib"),
        ]
        for name in KEPT_VARIABLES:
            if name in env:
                args += ["--setenv", name, env[name]]
        limits = [
            "/usr/bin/prlimit",
            f"--as={self.memory_limit_mb * 2**20}",
            f"--nproc={self.process_limit}",
            f"--fsize={self.file_size_limit_mb * 2**20}",
            "--core=0",
        ]
        drop = (
            []
            if uid is None
            else ["/usr/bin/setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all"]
        )
        return [*args, "--", *drop, *limits, "--", *kernel_cmd]

    async def _async_cleanup_resources(self, restart=False):
        await super()._async_cleanup_resources(restart=restart)
        if self._private_dir is not None and not restart:
            shutil.rmtree(self._private_dir, ignore_errors=True)
            self._private_dir = None
