"""A fork server for grading kernels: the slow imports once per grader, a fresh kernel per notebook.

A kernel spends most of its start importing TensorFlow, numpy, matplotlib and IPython. The server
runs inside the grader's bubblewrap sandbox (``nst_grader.sandbox`` starts one per grading process),
imports those modules once, and then forks one kernel per request. Its sandbox sees the grader's
temporary folder, where each notebook is graded; a forked kernel, before any student code runs:

* enters new user, mount, PID, IPC, network and UTS namespaces, so it sees none of the server's or
  an earlier kernel's processes, shared memory or sockets, and everything it starts ends with it;
* gets a fresh, empty temporary folder (and ``/dev/shm``) into which only its notebook's folder
  (read-only) and the Python installation are bound back: no other submission, gradebook or grader
  file; its manager's private folder (the kernel's sockets, on the host's disk) is bound at the path
  the request names (``sandbox.KERNEL_FOLDER``), outside that temporary folder;
* sets its limits (address space, processes, file size, no core files), drops every capability, and
  confines itself with Landlock (``landlock.py``, copied beside this script): in its private folder
  it may make its sockets and nothing else, so that it cannot undo any of this or fill the host's disk.

A forked process changes only its own memory, so nothing a kernel does reaches the server or the
kernels after it.

This module's other role is the client, ``python -I -S forkserver.py request SOCKET REQUEST``, which
the kernel manager starts as if it were the kernel: it hands the server its standard streams and
the request (JSON), waits, and exits with the kernel's exit status. Killing it (or a SIGTERM, which
it also gets when the process that started it dies) kills the kernel and everything the kernel
started. Only the standard library is imported here at the top:
the client starts in milliseconds.
"""

import contextlib
import ctypes
import json
import os
import resource
import selectors
import signal
import socket
import sys
import traceback

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 1024, 2048, 1 << 21
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 4, 24, 38
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
CAPABILITY_VERSION_3 = 0x20080522
LIMITS = {"memory": resource.RLIMIT_AS, "processes": resource.RLIMIT_NPROC, "file_size": resource.RLIMIT_FSIZE}
REQUEST_TIMEOUT_S = 10  # for a client to send its request once connected
ORDER = {"client": 0, "exited": 1}  # the order the server handles its events in (new kernels: 2)
SETUP_FAILED = 70  # the exit status of a kernel that could not be set up (the reason is on its stderr)

_libc = ctypes.CDLL(None, use_errno=True)


def _call(name, *args):
    if getattr(_libc, name)(*args) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{name}{args!r}: {os.strerror(error)}")


def _mount(source, target, fstype, flags, data=None):
    encode = lambda text: None if text is None else os.fsencode(text)
    _call("mount", encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags), encode(data))


def _locked_flags(path):
    """The mount flags of ``path`` that a remount inside a user namespace must keep."""
    flags = os.statvfs(path).f_flag
    kept = flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME)
    return kept | (MS_RELATIME if flags & os.ST_RELATIME else 0)


def covered(shared: str) -> str:
    """The folder a kernel's fresh, sized /tmp covers: its /tmp is always that one, so where the shared
    folder lies under /tmp (the grader's TMPDIR, say), /tmp itself, and the shared folder is made again
    in it; else the shared folder. What the kernel needs under it must be bound back."""
    return "/tmp" if str(shared).startswith("/tmp/") else str(shared)


def _fresh_folders(request, made_by_server):
    """Cover the shared temporary folder (or /tmp, above it) with an empty one and bind back only what the request names
    (its read-only folders at the same paths, the private folder at the path the kernel knows it by,
    out of the sized /tmp), in this process's new mount namespace. The folders above a bound folder
    are read-only, as its own parents are outside the shared folder. ``made_by_server``: folders
    the server's modules have cached as theirs (matplotlib's), made again, empty and writable."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    shared = request["shared"]
    binds = request["read_only"]
    handles = [(path, os.open(path, os.O_PATH | os.O_DIRECTORY)) for path in binds]
    private = os.open(request["private"]["host"], os.O_PATH | os.O_DIRECTORY)
    size = f"size={request['tmp_size_mb']}m"
    _mount("tmpfs", covered(shared), "tmpfs", MS_NOSUID | MS_NODEV, f"mode=1777,{size}")
    os.makedirs(shared, mode=0o755, exist_ok=True)
    if os.path.isdir("/dev/shm"):
        _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, f"mode=1777,{size}")
    # (A bound folder elsewhere under a covered /tmp has its parents made in the kernel's sized /tmp.)
    inside = [path for path in binds if path.startswith(shared + os.sep)]
    tops = {os.path.join(shared, os.path.relpath(path, shared).split(os.sep)[0]) for path in inside}
    tops -= set(binds)  # a bound folder right in the shared one has no parent to protect
    for top in tops:
        os.mkdir(top)
        _mount("tmpfs", top, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
    for path, handle in handles:
        os.makedirs(path, mode=0o755, exist_ok=True)
        _mount(f"/proc/self/fd/{handle}", path, None, MS_BIND | MS_REC)
        os.close(handle)
        _mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | _locked_flags(path))
    _mount(f"/proc/self/fd/{private}", request["private"]["kernel"], None, MS_BIND)  # made by the server's sandbox
    os.close(private)
    for top in tops:
        _mount(None, top, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    for path in made_by_server:
        if path.startswith(shared + os.sep):
            os.makedirs(path, mode=0o700, exist_ok=True)


def _drop_capabilities():
    """No capability left, none to gain again (the bounding and ambient sets emptied too)."""
    for capability in range(64):
        if _libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            break  # past the last capability this kernel knows
    _call("prctl", PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header = (ctypes.c_uint32 * 2)(CAPABILITY_VERSION_3, 0)
    _call("capset", header, (ctypes.c_uint32 * 6)())
    _call("prctl", PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


def _run_kernel(request, streams):
    """In the kernel's process (PID 1 of its namespace): limits, no capabilities, its streams, its
    folder and environment, then ipykernel, as ``python -m ipykernel_launcher`` would run it."""
    _call("prctl", PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    for name, value in request["limits"].items():
        resource.setrlimit(LIMITS[name], (value, value))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    _drop_capabilities()
    # In its private folder, only sockets from now on (see landlock.py; serve imported it).
    import landlock

    landlock.confine(request["private"]["kernel"])
    for target, stream in enumerate(streams):
        os.dup2(stream, target)
    os.closerange(3, 2**16)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    # It stays non-dumpable, as the server made it: kernels of one server share a user, and no other
    # kernel may read or write this one's memory (through /proc) while both run.
    if "numpy" in sys.modules:  # its global generator was seeded once, in the server
        sys.modules["numpy"].random.seed()
    # parent_handle=1: no poller for the manager's death (this process dies with the server's fork)
    # and no note on how to stop a kernel started from a terminal.
    sys.argv = ["ipykernel_launcher", "--IPKernelApp.parent_handle=1", *request["argv"]]
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


def _exit_status(wait_status):
    code = os.waitstatus_to_exitcode(wait_status)
    return code if code >= 0 else 128 - code


def _enter_namespaces():
    """Enter new user, mount, PID (for the next child), IPC, network and UTS namespaces, as the same user."""
    uid, gid = os.getuid(), os.getgid()
    _call("unshare", CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWUTS)
    _call("prctl", PR_SET_DUMPABLE, 1, 0, 0, 0)  # while it writes its own /proc files
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as file:
            file.write(text)
    _call("prctl", PR_SET_DUMPABLE, 0, 0, 0, 0)  # the kernel must not write this process's memory


def _can_isolate(shared):
    """Whether a fork of this process can enter the namespaces and cover ``shared`` (some systems
    allow no user namespace inside a sandbox)."""
    pid = os.fork()
    if pid == 0:
        try:
            _enter_namespaces()
            _mount("tmpfs", shared, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
        except BaseException:
            os._exit(1)
        os._exit(0)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


def _start_kernel(request, streams, report, made_by_server):
    """In a fork of the server: new namespaces and folders, then the kernel as this process's only
    child (PID 1 of the new PID namespace). Reports the kernel's PID on ``report`` and exits with its
    status once it and every process it started have ended."""
    try:
        _call("prctl", PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        _enter_namespaces()
        _fresh_folders(request, made_by_server)
        kernel = os.fork()
        if kernel == 0:
            os.close(report)
            try:
                _run_kernel(request, streams)
            except SystemExit as stop:
                os._exit(stop.code if isinstance(stop.code, int) else 0)
            os._exit(0)
    except BaseException:
        traceback.print_exc(file=os.fdopen(os.dup(streams[2]), "w"))
        os._exit(SETUP_FAILED)
    os.write(report, str(kernel).encode())
    os.close(report)
    for stream in streams:
        os.close(stream)
    # When the kernel (PID 1 of its namespace) has ended, so has everything it started.
    _, wait_status = os.waitpid(kernel, 0)
    os._exit(_exit_status(wait_status))


def _fork_kernel(listener, connection, made_by_server):
    """Start the kernel a client asks for. Returns ``(monitor PID, kernel PID)``, a PID 0 where that
    process did not start, or None for a request that could not be read."""
    try:
        connection.settimeout(REQUEST_TIMEOUT_S)
        message, streams, _, _ = socket.recv_fds(connection, 2**20, 3)
        request = json.loads(message)
    except (OSError, ValueError):
        return None
    report_read, report_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        listener.close()
        connection.close()
        os.close(report_read)
        _start_kernel(request, streams, report_write, made_by_server)
    for stream in streams:
        os.close(stream)
    os.close(report_write)
    kernel = int(os.read(report_read, 32) or 0)  # 0: the setup failed
    os.close(report_read)
    return pid, kernel


def serve(path: str, shared: str, modules: list[str]) -> None:
    """Import ``modules``, then serve kernels on the Unix socket ``path``, any number at once (each
    one's limits count in its own user namespace), for notebooks under the folder ``shared``. Prints
    "ready" on its standard output once it listens, or why it cannot serve. A kernel is killed when
    its client goes or asks; the client then gets its exit status."""
    _call("prctl", PR_SET_DUMPABLE, 0, 0, 0, 0)  # no kernel may read this process's memory
    import landlock  # noqa: F401 (beside this script, the server's copy: each kernel confines itself with it)

    if sys.path and sys.path[0] == os.path.dirname(os.path.abspath(__file__)):
        del sys.path[0]  # this script's folder; ipykernel adds the kernel's working folder instead
    import importlib

    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as error:
            print(f"fork server: {name} not preloaded ({error})", file=sys.stderr)
    made_by_server = []
    if "matplotlib" in sys.modules:
        matplotlib = sys.modules["matplotlib"]
        made_by_server = [matplotlib.get_configdir(), matplotlib.get_cachedir()]
    if not _can_isolate(shared):
        print("cannot isolate kernels here (no user namespace inside the sandbox?)", flush=True)
        sys.exit(1)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    print("ready", flush=True)
    os.dup2(2, 1)
    events = selectors.DefaultSelector()
    events.register(listener, selectors.EVENT_READ)
    while True:
        # Kills first, then ends, then new kernels: a kernel asked to die is gone before the next
        # one is forked.
        ready = sorted(
            events.select(), key=lambda event: 2 if event[0].fileobj is listener else ORDER[event[0].data[0]]
        )
        for key, _ in ready:
            if key.fileobj is listener:
                connection, _ = listener.accept()
                started = _fork_kernel(listener, connection, made_by_server)
                if started is None:
                    connection.close()
                    continue
                pid, kernel = started
                exited = os.pidfd_open(pid)
                events.register(connection, selectors.EVENT_READ, ("client", kernel))
                events.register(exited, selectors.EVENT_READ, ("exited", pid, connection))
            elif key.data[0] == "client":  # the client was killed, or asks to kill the kernel
                events.unregister(key.fileobj)
                if key.data[1]:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(key.data[1], signal.SIGKILL)
            else:
                _, pid, connection = key.data
                events.unregister(key.fileobj)
                os.close(key.fd)
                _, wait_status = os.waitpid(pid, 0)  # the kernel's namespace is empty by now
                with contextlib.suppress(KeyError):
                    events.unregister(connection)
                with contextlib.suppress(OSError):  # the client is gone
                    connection.sendall(f"exit {_exit_status(wait_status)}\n".encode())
                connection.close()


def request(path: str, message: str) -> int:
    """The client: ask the server at ``path`` for a kernel, and return its exit status."""
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.connect(path)
    socket.send_fds(connection, [message.encode()], [0, 1, 2])

    def kill(signum=None, frame=None):
        connection.shutdown(socket.SHUT_WR)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, kill)
    # The kernel dies with the process that asked for it (a grading process killed at its time limit,
    # say), even if that one could not ask.
    parent = os.getppid()
    _call("prctl", PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:
        kill()
    reply = b""
    while not reply.endswith(b"\n"):
        chunk = connection.recv(64)
        if not chunk:
            return SETUP_FAILED
        reply += chunk
    return int(reply.split()[1])


if __name__ == "__main__":
    role, path, *rest = sys.argv[1:]
    if role == "serve":
        serve(path, rest[0], rest[1:])
    else:
        sys.exit(request(path, rest[0]))
