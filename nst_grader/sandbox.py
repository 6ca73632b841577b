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
threads, the size of any file it writes, and the size of its ``/tmp`` (where everything it writes
for itself goes: IPython's and matplotlib's folders). Its private folder on the host's disk, which
holds its sockets and connection files, it sees at ``KERNEL_FOLDER``, out of that ``/tmp``: before
ipykernel starts, the kernel's process confines itself with Landlock (``nst_grader.landlock``), so
that there it can make its sockets and nothing else, whoever runs the grader: no file lands on the
host's disk. As root the folder also becomes root's once the sockets exist (``seal_private_dir``).
Without Landlock (older Linux), a normal user's kernel could write files there, each within
``file_size_limit_mb``, and the grader warns (``UNCONFINED_WARNING``). What the
kernel (or anything it starts) prints goes to ``/dev/null``, never the grader's console or log.
``--SandboxedKernelManager.sandbox=False`` runs trusted notebooks without all this, with a warning.

A notebook graded under the temporary folder, as the grading command grades each one
(``nst_grader.grade``, which shares that folder with the server's user), gets its kernel from this
process's fork server (``nst_grader.forkserver``), or from the one its parent lent it
(``lend_fork_server``, ``LENT_SERVER``): the same sandbox, with the course's modules already
imported, and each kernel in namespaces and folders of its own. Any other notebook (plain
``nbgrader autograde`` in a course folder, say) gets a kernel started afresh in a sandbox of its own.

Whether sandboxed or not, the grader's side of the connection refuses any message from the kernel
larger than ``message_size_limit_mb``: a kernel could otherwise make the grader hold a message as
large as its own memory. ZeroMQ drops such a message unread and closes the connection;
``nst_grader.execute`` notes the lost output and connects again. Each of the grader's sockets also
queues at most ``message_queue_limit`` messages it has not read (ZeroMQ's ``RCVHWM``), on every
channel and whatever their parent header: the grader holds at most (4 + 1) x 16 MB = 80 MB per
socket from a kernel however fast it sends (measured: 40 unread messages of 15 MB cost the grader
15-30 MB with the limit, 600 MB without); the rest waits in the kernel's sandbox, in its memory.
"""

import atexit
import functools
import json
import os
import random
import re
import select
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import zmq
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from traitlets import Bool, Int, List, Unicode, default

from nst_grader import forkserver, landlock

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
# What the fork server imports before it forks kernels: what the course's notebook and ipykernel import.
PRELOADED = (
    "numpy",
    "tensorflow",
    "matplotlib.pyplot",
    "matplotlib_inline.backend_inline",
    "PIL.Image",
    "tqdm.auto",
    "IPython",
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
)
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/localtime", "/etc/nsswitch.conf", "/etc/passwd", "/etc/group", "/etc/fonts")


def _parents(path, existing=()):
    """bwrap arguments that create the folders above ``path`` traversable by any user (bwrap's own
    would be private to root), except those under a folder in ``existing`` (already there)."""
    args = []
    for parent in reversed(Path(path).parents[:-1]):
        if str(parent) != "/tmp" and not any(_under(parent, folder) for folder in existing):
            args += ["--perms", "0755", "--dir", str(parent)]
    return args


def _under(path, folder):
    return Path(path) == Path(folder) or Path(folder) in Path(path).parents


def _python_folders():
    """The folders of the Python installation and the virtual environment."""
    return sorted({sys.base_prefix, sys.prefix, str(Path(sys.executable).resolve().parents[1])})


def _system_args(bwrap):
    """bwrap's namespaces, the read-only system, and a new /proc and /dev."""
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
    return [*args, "--proc", "/proc", "--dev", "/dev"]


def _environment(variables, env):
    """``variables``, plus those of ``env`` in KEPT_VARIABLES."""
    return {**variables, **{name: env[name] for name in KEPT_VARIABLES if name in env}}


def _environment_args(variables, env):
    """bwrap arguments for the environment ``_environment(variables, env)``."""
    return [arg for name, value in _environment(variables, env).items() for arg in ("--setenv", name, value)]


def _user_args(uid):
    """The command prefix that runs as user ``uid`` (None: the grader's own) without capabilities."""
    if uid is None:
        return []
    return ["/usr/bin/setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all"]


# The PATH inside the sandbox: the virtual environment's commands, then the system's.
SANDBOX_PATH = f"{Path(sys.executable).parent}:/usr/bin:/bin"
# Where the kernel sees its private folder: a path of its own, outside the kernel's writable /tmp, so
# that Landlock can confine the folder (nst_grader.landlock); and where a fresh sandbox holds landlock.py.
KERNEL_FOLDER = "/run/nst-kernel"
LANDLOCK_SCRIPT = "/run/nst-landlock.py"
KERNEL_CONNECTION = "kernel-connection.json"  # the kernel's connection file, in its private folder


# The temporary folders of a grading process: each prefix is followed by its creator's PID and "-",
# so that those of a process that is gone can be told apart and removed (``remove_orphans``).
TEMP_PREFIXES = {"grade": "nst-grade-", "forkserver": "nst-forkserver-", "kernel": "nst-kernel-"}
# A fork server started by a parent process, described for its children (``lend_fork_server``).
LENT_SERVER = "NST_FORK_SERVER"


def temp_prefix(role: str) -> str:
    """The prefix of a temporary folder this process makes for ``role`` (a key of TEMP_PREFIXES)."""
    return f"{TEMP_PREFIXES[role]}{os.getpid()}-"


def remove_orphans(folder: str | Path | None = None) -> int:
    """Remove the temporary folders (in ``folder``, default the temporary folder) of grading
    processes that no longer run: a grader killed, or stopped by a timeout or Ctrl-C, leaves none
    behind past the next cleanup. Returns how many were removed."""
    folder = Path(folder or tempfile.gettempdir())
    pattern = re.compile("^(?:" + "|".join(map(re.escape, TEMP_PREFIXES.values())) + r")(\d+)-[^-]+$")
    removed = 0
    for path in folder.iterdir():
        match = pattern.match(path.name)
        if match and not _running(int(match.group(1))):
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed


def _running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        return True
    return True


def _lent():
    """The fork server a parent process lent this one (``LENT_SERVER``), as a dict, or None."""
    description = os.environ.get(LENT_SERVER)
    return json.loads(description) if description else None


def _shared_folder():
    """The folder the fork server sees (resolved): that of the server lent to this process, or the
    grader's temporary folder."""
    lent = _lent()
    return Path(lent["shared"]) if lent else Path(tempfile.gettempdir()).resolve()


# Everything the kernel writes for itself goes to its sized /tmp, not to its private folder.
KERNEL_VARIABLES = {
    "PATH": SANDBOX_PATH,
    "HOME": "/tmp",
    "IPYTHONDIR": "/tmp/ipython",
    "MPLCONFIGDIR": "/tmp/matplotlib",
}


@functools.cache
def _font_list():
    """Matplotlib's list of the system's fonts, from this process's matplotlib (which builds it on
    first use), or None."""
    import matplotlib
    from matplotlib import font_manager

    path = Path(matplotlib.get_cachedir()) / f"fontlist-v{font_manager.FontManager.__version__}.json"
    return path if path.is_file() else None


def _copy_font_list(folder):
    """A copy of the font list in ``folder`` (its path), or None."""
    font_list = _font_list()
    return None if font_list is None else Path(shutil.copy(font_list, folder))


@functools.cache
def server_user() -> tuple[int, int]:
    """(uid, gid) of this process's fork server and its kernels: as root, a user of its own (the
    process limit counts per user); otherwise the grader's own."""
    lent = _lent()
    if lent:
        return lent["uid"], lent["uid"]
    if os.geteuid() == 0:
        uid = random.randrange(200_000, 300_000)
        return uid, uid
    return os.getuid(), os.getgid()


def share_with_kernels(folder: str | Path) -> None:
    """Let this process's fork server reach ``folder``, a folder of the grader's temporary folder in
    which notebooks are graded: as root, it gets the group of the server's user and mode 0750
    (nothing changes for anyone else; the kernels see only their own notebook's folder in it)."""
    if os.geteuid() == 0:
        os.chown(folder, -1, server_user()[1])
        os.chmod(folder, 0o750)


def _reachable(folder, uid, gid):
    """Whether user ``uid:gid`` may go through every folder down to ``folder`` and read it."""
    path = Path(folder)
    for current in [*reversed(path.parents), path]:
        info = current.stat()
        shift = 6 if info.st_uid == uid else 3 if info.st_gid == gid else 0
        needed = 0o5 if current == path else 0o1
        if (info.st_mode >> shift) & needed != needed:
            return False
    return True


class ForkServer:
    """This process's fork server (``nst_grader.forkserver``) in its bubblewrap sandbox: the
    kernel's system view, plus the grader's temporary folder, in which each kernel it forks sees only
    its own folders."""

    def __init__(self, bwrap, modules, env, log):
        self.uid, gid = server_user()
        self.shared = str(_shared_folder())
        self.folder = Path(tempfile.mkdtemp(prefix=temp_prefix("forkserver")))
        self.socket = str(self.folder / "socket")
        self.script = str(self.folder / "forkserver.py")
        shutil.copy(forkserver.__file__, self.script)
        shutil.copy(landlock.__file__, self.folder / "landlock.py")  # which the server imports
        home = self.folder / "home"
        (home / "matplotlib").mkdir(parents=True)
        _copy_font_list(home / "matplotlib")
        if os.geteuid() == 0:
            for path in (self.folder, *self.folder.rglob("*")):
                os.chown(path, self.uid, gid)
        python = []
        for prefix in _python_folders():
            python += [*_parents(prefix, existing=[self.shared]), "--ro-bind", prefix, prefix]
        variables = {
            "PATH": SANDBOX_PATH,
            "HOME": str(home),
            "MPLCONFIGDIR": str(home / "matplotlib"),
            "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        }
        command = [
            *_system_args(bwrap),
            "--bind",
            self.shared,
            self.shared,
            *python,
            *_parents(KERNEL_FOLDER),
            "--perms",  # where each kernel binds its private folder, in its own namespace
            "0755",
            "--dir",
            KERNEL_FOLDER,
            "--clearenv",
            *_environment_args(variables, env),
            "--",
            *_user_args(self.uid if os.geteuid() == 0 else None),
            sys.executable,
            "-E",  # no PYTHON* variables and no user site (but not -I: ipykernel must add the notebook's folder)
            "-s",
            self.script,
            "serve",
            self.socket,
            self.shared,
            *modules,
        ]
        # Its standard error (and a kernel's, until the kernel takes its own) never reaches the grader's console.
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env={"PATH": "/usr/bin:/bin"}
        )
        ready, _, _ = select.select([self.process.stdout], [], [], SERVER_START_TIMEOUT_S)
        line = self.process.stdout.readline().decode(errors="replace").strip() if ready else ""
        if line != "ready":
            self.close()
            raise RuntimeError(f"the fork server did not start: {line or 'no answer'}")
        log.info("Fork server started (user %d, preloaded: %s)", self.uid, ", ".join(modules))

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)

    def kernel_command(self, request: dict) -> list[str]:
        return _kernel_command(self.script, self.socket, request)

    def describe(self) -> str:
        """What a child process needs to use this server (the value of ``LENT_SERVER``)."""
        return json.dumps({"socket": self.socket, "script": self.script, "uid": self.uid, "shared": self.shared})


def _kernel_command(script, socket, request):
    """The command, started in place of a kernel, that asks the server at ``socket`` for one."""
    return [sys.executable, "-I", "-S", script, "request", socket, json.dumps(request)]


class LentForkServer:
    """A fork server that a parent process started and lent to this one (``LENT_SERVER``): the
    parent keeps it running, and stops it."""

    def __init__(self, description):
        self.socket, self.script, self.uid, self.shared = (
            description[key] for key in ("socket", "script", "uid", "shared")
        )

    def alive(self) -> bool:
        return os.path.exists(self.socket)

    def kernel_command(self, request: dict) -> list[str]:
        return _kernel_command(self.script, self.socket, request)


SERVER_START_TIMEOUT_S = 180  # imports on a loaded grader
_server = None
_server_failed = False  # it could not start here: not tried again (each try costs the imports)
_server_lock = threading.Lock()


def _fork_server(bwrap, modules, env, log):
    """This process's fork server, started on first use (and again if it died), or None if it
    cannot start here."""
    global _server, _server_failed
    lent = _lent()
    if lent:
        server = LentForkServer(lent)
        return server if server.alive() else None
    with _server_lock:
        if not _server_failed and (_server is None or not _server.alive()):
            if _server is not None:
                _server.close()
            try:
                _server = ForkServer(bwrap, modules, env, log)
            except (OSError, RuntimeError) as error:
                log.warning("Kernels start without the fork server: %s", error)
                _server, _server_failed = None, True
            else:
                atexit.register(_server.close)
        return _server


def lend_fork_server(log) -> str | None:
    """Start this process's fork server (with the default modules) if it can, and return the value
    of ``LENT_SERVER`` that lets a child process use it, or None."""
    bwrap = shutil.which("bwrap")
    server = _fork_server(bwrap, list(PRELOADED), os.environ, log) if bwrap else None
    return server.describe() if isinstance(server, ForkServer) else None


UNCONFINED_WARNING = (
    "Landlock is not available on this system (Linux 5.13 or later, with Landlock enabled): each "
    "kernel may fill its private folder on the host's disk with files of up to file_size_limit_mb "
    "each. Grade as root (which takes the folder back once the kernel is ready), or on a system with Landlock"
)
_warned = set()


def _warn_once(log, warning):
    """Log ``warning`` the first time this process gives it."""
    if warning not in _warned:
        _warned.add(warning)
        log.warning(warning)


class LimitedKernelClient(AsyncKernelClient):
    """A kernel client whose sockets refuse messages over its manager's ``message_size_limit_mb`` and
    queue at most ``message_queue_limit`` messages each: whatever the kernel sends, on any channel
    and with any parent header, a socket holds at most (queue limit + 1) x size limit bytes (past the
    queue limit the kernel's side holds or drops them, in the sandbox's memory)."""

    def _context_default(self):
        context = super()._context_default()  # its own, destroyed with the channels
        context.setsockopt(zmq.MAXMSGSIZE, self.parent.message_size_limit_mb * 2**20)
        context.setsockopt(zmq.RCVHWM, self.parent.message_queue_limit)
        return context

    async def wait_for_ready(self, timeout=None):
        await super().wait_for_ready(timeout=timeout)
        self.parent.seal_private_dir()


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernels run in a bubblewrap sandbox (see the module docstring)."""

    sandbox = Bool(True, help="Run kernels in the sandbox. Turn off only for trusted notebooks.").tag(config=True)
    fork_server = Bool(
        True,
        help="Fork kernels from a server that has imported PRELOADED once (nst_grader.forkserver), for "
        "notebooks under the temporary folder that the server's user can reach; else start each afresh.",
    ).tag(config=True)
    preloaded = List(Unicode(), default_value=list(PRELOADED), help="Modules the fork server imports.").tag(config=True)
    memory_limit_mb = Int(4096, help="Address space of the kernel (TensorFlow alone maps about 1.5 GB).").tag(
        config=True
    )
    process_limit = Int(256, help="Processes and threads of the kernel's user (TensorFlow starts dozens).").tag(
        config=True
    )
    file_size_limit_mb = Int(64, help="Largest file the kernel may write.").tag(config=True)
    tmp_size_mb = Int(
        512, help="Size of the kernel's private /tmp (and /dev/shm): memory not counted in its address space."
    ).tag(config=True)
    message_size_limit_mb = Int(16, help="Largest message the grader accepts from the kernel.").tag(config=True)
    message_queue_limit = Int(
        4, help="Messages the grader queues per socket, unread (ZeroMQ's RCVHWM): bounds its memory."
    ).tag(config=True)

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
        self._private_dir = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIXES['kernel']}{os.getpid()}-"))
        self.transport = "ipc"
        self.ip = str(self._private_dir / "kernel")
        self.connection_file = str(self._private_dir / "connection.json")
        kernel_cmd, kw = await super()._async_pre_start_kernel(**kw)
        kernel_cmd = self._connect_from_kernel_folder(kernel_cmd)
        if os.geteuid() != 0 and landlock.abi() == 0:
            _warn_once(self.log, UNCONFINED_WARNING)
        workdir = str(Path(kw.get("cwd") or os.getcwd()).resolve())
        env = kw.get("env") or os.environ
        kw["env"] = {"PATH": "/usr/bin:/bin"}  # for bwrap itself; the kernel's own is set below
        # What the kernel (or bwrap) prints never reaches the grader's console or log.
        kw["stdout"] = kw["stderr"] = subprocess.DEVNULL
        forkable = (
            self.fork_server
            and "ipykernel_launcher" in kernel_cmd
            and _under(workdir, _shared_folder())
            and _reachable(workdir, *server_user())
        )
        server = _fork_server(bwrap, self.preloaded, env, self.log) if forkable else None
        # A forked kernel's matplotlib has its font list loaded already.
        font_list = None if server else _copy_font_list(self._private_dir)
        # As root, a user of its own (since the process limit counts per user): the fork server's, or
        # one for this kernel. It owns its private folder until its sockets exist (seal_private_dir).
        uid = server.uid if server else random.randrange(200_000, 300_000) if os.geteuid() == 0 else None
        if os.geteuid() == 0:  # (a normal user's kernel, forked or not, is that user already)
            for path in (self._private_dir, self.connection_file, self._private_dir / KERNEL_CONNECTION):
                os.chown(path, uid, uid)
        if server is None:
            return self._wrap(bwrap, kernel_cmd, workdir, env, uid, font_list), kw
        request = {
            "shared": server.shared,
            # Python's folders that the kernel's fresh /tmp (or shared folder) would hide, bound back.
            "read_only": [
                workdir,
                *(prefix for prefix in _python_folders() if _under(prefix, forkserver.covered(server.shared))),
            ],
            "private": {"host": str(self._private_dir), "kernel": KERNEL_FOLDER},
            "cwd": workdir,
            "env": _environment(KERNEL_VARIABLES, env),
            "argv": kernel_cmd[kernel_cmd.index("ipykernel_launcher") + 1 :],
            "limits": {
                "memory": self.memory_limit_mb * 2**20,
                "processes": self.process_limit,
                "file_size": self.file_size_limit_mb * 2**20,
            },
            "tmp_size_mb": self.tmp_size_mb,
        }
        return server.kernel_command(request), kw

    def _connect_from_kernel_folder(self, kernel_cmd):
        """``kernel_cmd`` reading a connection file of its own (KERNEL_CONNECTION, beside the
        manager's), which names its sockets where the kernel sees its private folder (KERNEL_FOLDER):
        the same sockets as the manager's file names at the host's path (which jupyter_client checks
        and the grader's clients use)."""
        connection = json.loads(Path(self.connection_file).read_text())
        connection["ip"] = f"{KERNEL_FOLDER}/kernel"
        own = Path(self.connection_file).with_name(KERNEL_CONNECTION)
        own.touch(mode=0o600)
        own.write_text(json.dumps(connection, indent=1))
        inside = f"{KERNEL_FOLDER}/{KERNEL_CONNECTION}"
        return [inside if arg == self.connection_file else arg for arg in kernel_cmd]

    def seal_private_dir(self) -> None:
        """Once the kernel's sockets exist (it is ready, and no student code has run yet): as root,
        its private folder becomes root's, mode 0700, so that the kernel can make nothing more there,
        not even a socket (its own keep working): a second wall behind Landlock's. As a normal user
        the kernel runs as the grader's user, owns the folder and could make it writable again:
        nothing is changed, and Landlock alone keeps files out (``nst_grader.landlock``)."""
        if self._private_dir is not None and os.geteuid() == 0:
            os.chown(self._private_dir, 0, 0)
            os.chmod(self._private_dir, 0o700)

    def _wrap(self, bwrap, kernel_cmd, workdir, env, uid, font_list):
        """``kernel_cmd`` inside bwrap, as user ``uid`` (None: the grader's own), under resource limits;
        ``font_list``: matplotlib's font list, for its config folder in the kernel's /tmp."""
        # The private /tmp first: the folders bound below may lie under the real /tmp.
        args = [*_system_args(bwrap), "--perms", "1777", "--size", str(self.tmp_size_mb * 2**20), "--tmpfs", "/tmp"]
        if font_list is not None:
            config = KERNEL_VARIABLES["MPLCONFIGDIR"]
            args += ["--perms", "1777", "--dir", config, "--ro-bind", str(font_list), f"{config}/{font_list.name}"]
        for prefix in _python_folders():
            args += [*_parents(prefix), "--ro-bind", prefix, prefix]
        args += [
            *_parents(workdir),
            "--ro-bind",
            workdir,
            workdir,
            *_parents(KERNEL_FOLDER),
            "--bind",
            str(self._private_dir),
            KERNEL_FOLDER,
            "--ro-bind",
            landlock.__file__,
            LANDLOCK_SCRIPT,
            "--chdir",
            workdir,
            "--clearenv",
            *_environment_args(KERNEL_VARIABLES, env),
        ]
        limits = [
            "/usr/bin/prlimit",
            f"--as={self.memory_limit_mb * 2**20}",
            f"--nproc={self.process_limit}",
            f"--fsize={self.file_size_limit_mb * 2**20}",
            "--core=0",
        ]
        confined = [sys.executable, "-I", "-S", LANDLOCK_SCRIPT, KERNEL_FOLDER]  # then it runs kernel_cmd
        return [*args, "--", *_user_args(uid), *limits, "--", *confined, *kernel_cmd]

    async def _async_cleanup_resources(self, restart=False):
        await super()._async_cleanup_resources(restart=restart)
        if self._private_dir is not None and not restart:
            shutil.rmtree(self._private_dir, ignore_errors=True)
            self._private_dir = None
