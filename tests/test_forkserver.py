"""Kernels forked by the fork server (``nst_grader.forkserver``), started for real by the sandbox's
kernel manager as grading starts them: each comes with the course's modules imported, sees only its
own folders, holds no capability, and leaves nothing behind for the next one. (The grading tests run
the hostile submissions through it too.)"""

import json
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path

import pytest

from helpers import run_kernels
from nst_grader.sandbox import server_user, share_with_kernels

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap")

PRELOADED = ("tensorflow", "numpy", "matplotlib.pyplot")
# Prints, as JSON, which of PRELOADED the kernel had imported before it ran any code.
IMPORTED = f"import json, sys\nprint(json.dumps([name for name in {PRELOADED!r} if name in sys.modules]))"


@pytest.fixture
def grading_folder():
    """A folder of the temporary folder, as the grading command makes one for each submission, with
    a gradebook beside the notebook's folder."""
    with tempfile.TemporaryDirectory(prefix="nst-grade-") as work:
        share_with_kernels(work)
        (Path(work) / "gradebook.db").write_text("hidden tests")
        notebook_folder = Path(work) / "autograded" / "student" / "art_generation"
        notebook_folder.mkdir(parents=True)
        yield notebook_folder


def test_kernels_start_with_the_course_s_modules_imported_where_the_server_can_reach(grading_folder, tmp_path):
    forked, fresh = run_kernels(grading_folder, IMPORTED)[0], run_kernels(tmp_path, IMPORTED)[0]
    assert json.loads(forked) == list(PRELOADED)
    # pytest's folders are private to root: that kernel starts afresh, in a sandbox of its own.
    assert json.loads(fresh) == []


@pytest.mark.parametrize("where", ["forked", "fresh"])
def test_a_kernel_s_tmp_holds_no_more_than_its_size(where, grading_folder, tmp_path):
    code = """
written = 0
for path in ("/tmp/filler", "/dev/shm/filler"):
    try:
        with open(path, "wb") as file:
            for _ in range(16):
                file.write(bytes(2**20))
                file.flush()
                written += 1
    except OSError as error:
        print(path, error.strerror, written)
"""
    folder = grading_folder if where == "forked" else tmp_path
    [output] = run_kernels(folder, code, tmp_size_mb=8)
    assert output.splitlines()[0] == "/tmp/filler No space left on device 7"


def test_a_kernel_sees_only_its_own_folders_and_holds_no_capability(grading_folder):
    with tempfile.NamedTemporaryFile(prefix="nst-secret-") as secret, socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        code = f"""
import json, os, socket
seen = {{"cwd": os.getcwd(), "tmp": sorted(os.listdir("/tmp")), "run": os.listdir("/run")}}
for name, path in (("secret", {secret.name!r}), ("gradebook", "../../../gradebook.db")):
    seen[name] = os.path.exists(path)
try:
    open("written", "w")
    seen["write"] = "written"
except OSError as error:
    seen["write"] = error.strerror
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
seen["capabilities"] = [int(status[name], 16) for name in ("CapPrm", "CapEff", "CapBnd", "CapAmb")]
seen["no_new_privs"] = int(status["NoNewPrivs"])
try:
    socket.create_connection(("127.0.0.1", {listener.getsockname()[1]}), timeout=2)
    seen["network"] = "connected"
except OSError as error:
    seen["network"] = error.strerror
server = [pid for pid in os.listdir("/proc") if pid.isdigit()
          and b"forkserver.py\\0serve" in open(f"/proc/{{pid}}/cmdline", "rb").read()]
try:
    open(f"/proc/{{server[0]}}/environ", "rb").read()
    seen["server_memory"] = "read"
except OSError as error:
    seen["server_memory"] = error.strerror
print(json.dumps(seen))
"""
        [output] = run_kernels(grading_folder, code)
    seen = json.loads(output)
    assert seen["cwd"] == str(grading_folder.resolve())
    # Its temporary folder holds the folders around its own, nothing else (no secret, no kernel's private
    # folder: its own is at /run/nst-kernel, out of /tmp, where Landlock confines it).
    work = grading_folder.parents[2].name
    assert work in seen["tmp"] and not [name for name in seen["tmp"] if name.startswith("nst-kernel-")]
    assert seen["run"] == ["nst-kernel"]
    assert not [name for name in seen["tmp"] if name.startswith(("nst-secret-", "pytest-"))]
    assert seen["secret"] is False and seen["gradebook"] is False
    assert seen["write"] == "Read-only file system"
    assert seen["capabilities"] == [0, 0, 0, 0] and seen["no_new_privs"] == 1
    assert seen["network"] == "Network is unreachable"
    assert seen["server_memory"] == "Permission denied"


def _kernel_user_processes():
    """PIDs of the processes whose real user is the fork server's, as the grader sees them."""
    uid = server_user()[0]
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:
            continue  # ended meanwhile
        if int(status.split("\nUid:")[1].split()[0]) == uid:
            pids.append(pid)
    return pids


def test_nothing_a_kernel_leaves_reaches_the_next(grading_folder):
    leave = """
import os, subprocess
from multiprocessing import shared_memory
for path in ("/tmp/trace", "/dev/shm/trace", os.path.expanduser("~/trace")):
    open(path, "w").write("left by the kernel before")
memory = shared_memory.SharedMemory(name="trace-memory", create=True, size=4096)
subprocess.Popen(["sleep", "600"], start_new_session=True)
print("left")
"""
    look = """
import json, os
from multiprocessing import shared_memory
paths = ("/tmp/trace", "/dev/shm/trace", os.path.expanduser("~/trace"))
commands = [open(f"/proc/{pid}/cmdline", "rb").read() for pid in os.listdir("/proc") if pid.isdigit()]
try:
    shared_memory.SharedMemory(name="trace-memory")
    memory = True
except FileNotFoundError:
    memory = False
print(json.dumps({"files": [path for path in paths if os.path.exists(path)], "memory": memory,
                  "sleepers": sum(command.startswith(b"sleep") for command in commands)}))
"""
    [left] = run_kernels(grading_folder, leave)
    assert left.strip() == "left"
    # Killed with its kernel (the kill is sent as the kernel's manager lets go of it, and the process
    # tree ends soon after): the server is the only process of its user left.
    give_up = time.monotonic() + 60  # only so that a failure cannot hang the suite
    while len(_kernel_user_processes()) > 1 and time.monotonic() < give_up:
        time.sleep(0.05)
    assert len(_kernel_user_processes()) == 1
    [after] = run_kernels(grading_folder, look)
    assert json.loads(after) == {"files": [], "memory": False, "sleepers": 0}


def test_kernels_running_at_once_each_get_their_own_folders_and_cannot_read_each_other(grading_folder):
    """Both kernels meet at a barrier: a Unix socket of this test's in their (read-only) notebook folder,
    which answers "go" only once both have connected. Run one after the other, the first would wait
    alone and give up after 60 s."""
    import threading

    code = """
import json, os, socket, sys
open("/tmp/mine", "x").write("{name}")
barrier = socket.socket(socket.AF_UNIX)
barrier.settimeout(60)
barrier.connect("barrier.sock")
try:
    met = barrier.recv(2).decode()
except TimeoutError:
    met = "alone"
readable = []  # the other processes of the server's tree (the other kernel among them) whose memory it reads
for pid in os.listdir("/proc"):
    if pid.isdigit() and pid != os.readlink("/proc/self"):
        try:
            open(f"/proc/{{pid}}/environ", "rb").read()
            readable.append(pid)
        except OSError:
            pass
print(json.dumps([open("/tmp/mine").read(), "tensorflow" in sys.modules, met, readable]))
"""
    with socket.socket(socket.AF_UNIX) as barrier:
        barrier.bind(str(grading_folder / "barrier.sock"))
        os.chmod(grading_folder / "barrier.sock", 0o777)  # the kernels' user connects to it
        barrier.listen(2)
        barrier.settimeout(180)

        def release_both():
            arrived = [barrier.accept()[0] for _ in range(2)]
            for connection in arrived:
                with connection:
                    connection.sendall(b"go")

        releaser = threading.Thread(target=release_both, daemon=True)
        releaser.start()
        outputs = run_kernels(grading_folder, code.format(name="first"), code.format(name="second"), at_once=True)
        releaser.join(timeout=10)
    assert [json.loads(output) for output in outputs] == [["first", True, "go", []], ["second", True, "go", []]]
