"""The sandbox's kernel command and the grader's sockets, built for real (the kernels themselves run in
test_grading.py); then real kernels: one that floods the grader's sockets costs the grader no more
than the sockets' bound, one cannot write to the grader's console, and none, forked or
fresh, run by root or by a normal user, can put a file in its private folder on the host's disk (Landlock,
also tested alone)."""

import asyncio
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import zmq

from helpers import run_kernels
from nst_grader import landlock
from nst_grader.sandbox import (
    KERNEL_FOLDER,
    LANDLOCK_SCRIPT,
    SandboxedKernelManager,
    _python_folders,
    share_with_kernels,
    temp_prefix,
)
from unprivileged import as_unprivileged, unprivileged_user


def start_command(tmp_path, **settings):
    """The command and launch arguments the manager would start a kernel with, in ``tmp_path``."""
    manager = SandboxedKernelManager(kernel_name="python3", **settings)
    try:
        return asyncio.run(manager._async_pre_start_kernel(cwd=str(tmp_path), env={"SECRET": "x", "LANG": "C"}))
    finally:
        asyncio.run(manager._async_cleanup_resources())


def test_without_bubblewrap_grading_refuses_and_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on this PATH
    with pytest.raises(RuntimeError, match=r"apt-get install bubblewrap.*sandbox=False"):
        start_command(tmp_path)


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap")
def test_the_kernel_command_is_sandboxed_limited_and_offline(tmp_path):
    command, launch = start_command(tmp_path)
    assert command[0].endswith("bwrap") and "--unshare-net" in command and "--clearenv" in command
    assert command[command.index("--chdir") + 1] == str(tmp_path.resolve())
    assert ["--ro-bind", str(tmp_path.resolve()), str(tmp_path.resolve())] == command[
        command.index(str(tmp_path.resolve())) - 1 :
    ][:3]
    assert "SECRET" not in command and launch["env"] == {"PATH": "/usr/bin:/bin"}
    assert any(arg.startswith("--nproc=") for arg in command) and any(arg.startswith("--as=") for arg in command)
    assert "ipykernel_launcher" in " ".join(command[command.index("--", command.index("/usr/bin/prlimit")) :])


def test_without_the_sandbox_a_warning_is_logged(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        command, _ = start_command(tmp_path, sandbox=False)
    assert "bwrap" not in " ".join(command)
    assert "WITHOUT a sandbox" in caplog.text


def test_the_grader_s_sockets_refuse_messages_over_the_size_limit(tmp_path):
    """Every socket of the kernel client carries the limit (ZeroMQ drops a larger message unread);
    test_grading.py shows a notebook printing 100 MB at once costing the grader no memory."""
    manager = SandboxedKernelManager(
        kernel_name="python3", message_size_limit_mb=3, transport="ipc", ip=str(tmp_path / "kernel")
    )
    client = manager.client()
    sockets = [client.connect_shell(), client.connect_iopub(), client.connect_control(), client.connect_stdin()]
    try:
        assert [socket.getsockopt(zmq.MAXMSGSIZE) for socket in sockets] == [3 * 2**20] * 4
        assert [socket.getsockopt(zmq.RCVHWM) for socket in sockets] == [manager.message_queue_limit] * 4
    finally:
        for socket in sockets:
            socket.close(linger=0)
        client.context.destroy(linger=0)


needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap")


def run_kernel(folder, code, **settings):
    """Run ``code`` in a sandboxed kernel started in ``folder``; returns what it printed."""
    return run_kernels(folder, code, **settings)[0]


@pytest.fixture
def grading_folder():
    """A notebook folder in the temporary folder, as the grading command makes one (forked kernels)."""
    with tempfile.TemporaryDirectory(prefix=temp_prefix("grade")) as work:
        share_with_kernels(work)
        folder = Path(work) / "autograded" / "student" / "art_generation"
        folder.mkdir(parents=True)
        yield folder


# Tries to fill the kernel's private folder (on the host's disk, where its sockets are; found from its
# connection file) with a file, a 2 MB file, 200 files and a folder; prints what each attempt met, as JSON.
FILL_PRIVATE = """
import json, os
from ipykernel.kernelapp import IPKernelApp
folder = os.path.dirname(IPKernelApp.instance().connection_file)

def attempt(write):
    try:
        write()
        return "written"
    except OSError as error:
        return error.strerror

def many():
    for index in range(200):
        open(os.path.join(folder, f"filler-{index}"), "wb").write(bytes(2**10))

print(json.dumps({
    "file": attempt(lambda: open(os.path.join(folder, "filler"), "wb").write(b"x")),
    "big file": attempt(lambda: open(os.path.join(folder, "big"), "wb").write(bytes(2 * 2**20))),
    "many files": attempt(many),
    "folder": attempt(lambda: os.mkdir(os.path.join(folder, "sub"))),
}))
"""
REFUSED = dict.fromkeys(["file", "big file", "many files", "folder"], "Permission denied")
# The cell after it: the kernel still runs cells; and whether it was forked (TensorFlow preloaded).
NEXT_CELL = "import sys\nprint(6 * 7, 'tensorflow' in sys.modules)"


@needs_bwrap
@pytest.mark.parametrize("where", ["forked", "fresh"])
def test_a_kernel_cannot_fill_its_private_folder_and_keeps_working(where, grading_folder, tmp_path):
    """With a 1 MB file size limit, so that a refusal by that limit would read "File too large". As
    root both the folder's seal (it is root's once the kernel is ready) and Landlock refuse; the
    normal user's test below has Landlock alone, and the Landlock test below runs it directly."""
    folder = grading_folder if where == "forked" else tmp_path
    [outputs] = run_kernels(folder, [FILL_PRIVATE, NEXT_CELL], file_size_limit_mb=1)
    assert json.loads(outputs[0]) == REFUSED
    assert outputs[1] == f"42 {where == 'forked'}\n"


# As a normal user: FILL_PRIVATE then NEXT_CELL in a kernel forked in a grading folder of TMPDIR, then
# in one started afresh in argv[1] (outside TMPDIR), each with a 1 MB file size limit; prints what
# each cell of each printed, and how many times the grader warned that Landlock is missing. With
# argv[2] "hidden", Landlock's system calls fail with ENOSYS in the grader and all it starts (a seccomp
# filter), as on a Linux without Landlock.
AS_USER_PROBE = """
import ctypes, json, logging, sys, tempfile
sys.path.insert(0, "tests")
from helpers import run_kernels
from test_sandbox import FILL_PRIVATE, NEXT_CELL
from nst_grader.sandbox import UNCONFINED_WARNING, share_with_kernels, temp_prefix

class Instruction(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]

class Program(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Instruction))]

if sys.argv[2] == "hidden":
    instructions = (Instruction * 5)(
        Instruction(0x20, 0, 0, 0),  # the system call's number
        Instruction(0x35, 0, 2, 444),  # from landlock_create_ruleset
        Instruction(0x25, 1, 0, 446),  # to landlock_restrict_self:
        Instruction(0x06, 0, 0, 0x00050000 | 38),  # ENOSYS
        Instruction(0x06, 0, 0, 0x7FFF0000),  # any other: allowed
    )
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(38, 1, 0, 0, 0) == 0  # PR_SET_NO_NEW_PRIVS, which a filter needs
    assert libc.prctl(22, 2, ctypes.byref(Program(5, instructions)), 0, 0) == 0  # PR_SET_SECCOMP, a filter
warnings = []

class Kept(logging.Handler):
    def emit(self, record):
        warnings.append(record.getMessage())

logging.getLogger().addHandler(Kept())
with tempfile.TemporaryDirectory(prefix=temp_prefix("grade")) as work:
    share_with_kernels(work)
    [forked] = run_kernels(work, [FILL_PRIVATE, NEXT_CELL], file_size_limit_mb=1)
[fresh] = run_kernels(sys.argv[1], [FILL_PRIVATE, NEXT_CELL], file_size_limit_mb=1)
print(json.dumps([forked, fresh, warnings.count(UNCONFINED_WARNING)]))
"""
# What the normal user's kernel manages without Landlock: each file within the file size limit.
UNCONFINED = {"file": "written", "big file": "File too large", "many files": "written", "folder": "written"}


@needs_bwrap
@pytest.mark.parametrize("hidden", [False, True], ids=["landlock", "landlock-hidden"])
def test_as_a_normal_user_the_private_folder_takes_no_file_or_the_grader_warns(hidden):
    """As a normal user the kernel runs as the grader's own user, owns its private folder, and no seal
    applies: Landlock alone refuses every file there, and the kernel goes on. Where Landlock is
    missing (hidden here by a seccomp filter), the kernel writes files there, each within the file
    size limit, and the grader warns once. (As root, CI, the test runs as
    ``unprivileged.UNPRIVILEGED_USER``, with this Python made readable to it in a mount namespace of
    its own.)"""
    if landlock.abi() == 0 and not hidden:
        pytest.skip("not applicable here: this Linux has no Landlock (the landlock-hidden case covers it)")
    with tempfile.TemporaryDirectory() as home:
        Path(home, "tmp").mkdir()
        Path(home, "fresh").mkdir()
        if os.geteuid() == 0:
            user = unprivileged_user()
            for path in (home, *Path(home).iterdir()):
                os.chown(path, user.pw_uid, user.pw_gid)
        os.chmod(home, 0o755)
        binds = [arg for prefix in (sys.base_prefix, sys.prefix) for arg in ("--ro-bind", prefix, prefix)]
        probe = subprocess.run(
            as_unprivileged(["bwrap", "--ro-bind", "/", "/", *binds, "true"]), capture_output=True, text=True
        )
        if probe.returncode != 0:
            reason = probe.stderr.strip()
            pytest.skip(f"not applicable here: a normal user's bubblewrap cannot bind this Python: {reason}")
        argv = [sys.executable, "-c", AS_USER_PROBE, str(Path(home, "fresh")), "hidden" if hidden else "there"]
        result = subprocess.run(
            as_unprivileged(argv),
            capture_output=True,
            text=True,
            timeout=600,
            cwd=Path(__file__).parents[1],
            env={"PATH": os.environ["PATH"], "HOME": home, "TMPDIR": str(Path(home, "tmp")), "MPLCONFIGDIR": home},
        )
        assert result.returncode == 0, result.stderr[-5000:]
    forked, fresh, warned = json.loads(result.stdout.splitlines()[-1])
    expected = UNCONFINED if hidden else REFUSED
    assert [json.loads(forked[0]), forked[1]] == [expected, "42 True\n"]
    assert [json.loads(fresh[0]), fresh[1]] == [expected, "42 False\n"]
    assert warned == (1 if hidden else 0)


# Run confined (landlock.py as a script, as a fresh sandbox runs it before the kernel): tries to put
# things in the private folder, and to write elsewhere; prints what each attempt met, as JSON. (A link
# or a move into it from another mount fails anyway: "Invalid cross-device link".)
CONFINED_PROBE = """
import json, os, socket, sys
private = sys.argv[1]

def attempt(action):
    try:
        action()
        return "done"
    except OSError as error:
        return error.strerror

def bind():
    with socket.socket(socket.AF_UNIX) as listening:
        listening.bind(f"{private}/socket")

open("/tmp/outside", "w").write("x")
print(json.dumps({
    "file": attempt(lambda: open(f"{private}/file", "w")),
    "folder": attempt(lambda: os.mkdir(f"{private}/folder")),
    "symbolic link": attempt(lambda: os.symlink("/tmp/outside", f"{private}/link")),
    "hard link": attempt(lambda: os.link(f"{private}/connection.json", f"{private}/copy")),
    "renamed": attempt(lambda: os.rename(f"{private}/connection.json", f"{private}/renamed")),
    "fifo": attempt(lambda: os.mkfifo(f"{private}/fifo")),
    "connection file": attempt(lambda: open(f"{private}/connection.json", "a").write("more")),
    "socket": attempt(bind),
    "socket removed": attempt(lambda: os.unlink(f"{private}/socket")),
    "tmp file": attempt(lambda: open("/tmp/file", "w").write("x" * 2**20)),
    "tmp folder": attempt(lambda: os.mkdir("/tmp/folder")),
    "tmp moved": attempt(lambda: os.rename("/tmp/outside", "/tmp/folder/moved")),
    "dev null": attempt(lambda: open("/dev/null", "w").write("x")),
}))
"""


@needs_bwrap
def test_landlock_leaves_a_kernel_only_sockets_in_its_private_folder(tmp_path):
    """landlock.py run as a fresh sandbox runs it, as root (whom permissions do not bind, so only
    Landlock refuses): nothing but a socket can be made in the private folder, nothing written to its
    files, while /tmp and /dev/null keep their rights."""
    if landlock.abi() == 0:
        pytest.skip("not applicable here: this Linux has no Landlock (the grader warns: UNCONFINED_WARNING)")
    private = tmp_path / "private"
    private.mkdir()
    (private / "connection.json").write_text("{}")
    sandbox = ["bwrap", "--bind", "/", "/", "--tmpfs", "/tmp", "--tmpfs", "/run", "--dev", "/dev", "--proc", "/proc"]
    sandbox += [arg for prefix in _python_folders() for arg in ("--ro-bind", prefix, prefix)]  # under /tmp too
    sandbox += ["--bind", str(private), KERNEL_FOLDER, "--ro-bind", landlock.__file__, LANDLOCK_SCRIPT]
    confined = [sys.executable, "-I", "-S", LANDLOCK_SCRIPT, KERNEL_FOLDER, sys.executable, "-c", CONFINED_PROBE]
    result = subprocess.run([*sandbox, *confined, KERNEL_FOLDER], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    outcomes = json.loads(result.stdout)
    made = ["file", "folder", "symbolic link", "hard link", "renamed", "fifo", "connection file"]
    assert {name: outcomes.pop(name) for name in made} == dict.fromkeys(made, "Permission denied")
    assert outcomes == dict.fromkeys(outcomes, "done")
    assert [path.name for path in private.iterdir()] == ["connection.json"]
    assert (private / "connection.json").read_text() == "{}"


@needs_bwrap
@pytest.mark.parametrize("where", ["forked", "fresh"])
def test_a_kernel_cannot_write_to_the_grader_s_console(where, grading_folder, tmp_path, capfd):
    """Neither its standard streams (ipykernel turns them into the cell's output), nor a process it
    starts, nor any file or pipe it holds open (ipykernel's copies of the streams it was started
    with among them) reach the grader's."""
    code = (
        "import os, subprocess\n"
        "os.write(1, b'KERNEL-OUT\\n')\n"
        "os.write(2, b'KERNEL-ERR\\x1b[2J\\n')\n"
        "subprocess.run(['sh', '-c', 'echo KERNEL-CHILD-OUT; echo KERNEL-CHILD-ERR >&2'])\n"
        "for fd in map(int, os.listdir('/proc/self/fd')):\n"  # ipykernel's copies of the original streams too
        "    target = os.readlink(f'/proc/self/fd/{fd}') if os.path.exists(f'/proc/self/fd/{fd}') else ''\n"
        "    if target.startswith(('pipe:', '/')) and not target.startswith('/proc'):\n"
        "        try:\n"
        "            os.write(fd, b'KERNEL-FD\\n')\n"
        "        except OSError:\n"
        "            pass\n"
        "print('done')"
    )
    output = run_kernel(grading_folder if where == "forked" else tmp_path, code)
    captured = capfd.readouterr()
    assert "done" in output, output
    assert "KERNEL-" not in captured.out + captured.err


# In a process of its own: starts a sandboxed kernel that sends 40 stream messages of 15 MB each on
# iopub while the client reads none, and prints the client process's resident memory (MB) before and
# at its highest once it has settled (what arrives is queued by ZeroMQ's thread as it comes), and how
# many of them the client then received.
FLOOD_PROBE = """
import asyncio, json, sys, time
from nst_grader.sandbox import SandboxedKernelManager

FLOOD = "import sys\\nfor _ in range(40):\\n    sys.stdout.write('x' * (15 * 2**20))\\n    sys.stdout.flush()"

def resident_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024

async def main(folder, queue_limit):
    manager = SandboxedKernelManager(kernel_name="python3", message_queue_limit=queue_limit)
    await manager.start_kernel(cwd=folder)
    client = manager.client()
    client.start_channels()
    await client.wait_for_ready(timeout=180)
    before = resident_mb()
    client.execute(FLOOD)
    reply = await client.get_shell_msg(timeout=180)  # the cell ran to its end: all of it is on its way
    samples = []  # resident memory each second, until it has not changed for 4 seconds
    while len(samples) < 4 or max(samples[-4:]) - min(samples[-4:]) > 2:
        await asyncio.sleep(1)
        samples.append(resident_mb())
    after = max(samples)
    received = 0
    while True:
        try:
            message = await client.get_iopub_msg(timeout=2)
        except Exception:
            break
        received += message["msg_type"] == "stream"
    client.stop_channels()
    await manager.shutdown_kernel(now=True)
    print(json.dumps({"before": before, "after": after, "received": received, "status": reply["content"]["status"]}))

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


@needs_bwrap
def test_an_iopub_flood_costs_the_grader_no_more_than_its_sockets_bound(tmp_path):
    """With the default queue limit (4 messages of at most 16 MB) the grader's memory grows by less
    than 6 such messages while a kernel sends 600 MB it does not read; with ZeroMQ's default (1000
    messages) it holds nearly all of the 600 MB. Either way the kernel's side keeps the rest, in the
    sandbox's memory, and the grader then receives all 40."""
    results = {}
    for queue_limit in (4, 1000):
        result = subprocess.run(
            [sys.executable, "-c", FLOOD_PROBE, str(tmp_path), str(queue_limit)],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=Path(__file__).parents[1],
        )
        assert result.returncode == 0, result.stderr[-5000:]
        results[queue_limit] = json.loads(result.stdout.splitlines()[-1])
    print("flood probe (resident MB before/after, stream messages received):", results)
    bounded, unbounded = results[4], results[1000]
    assert bounded["status"] == unbounded["status"] == "ok" and bounded["received"] == unbounded["received"] == 40
    assert bounded["after"] - bounded["before"] < 6 * 16, results
    assert unbounded["after"] - unbounded["before"] > 300, results
