"""Confine a grading kernel's writes with Landlock: in its private folder it may only make sockets.

A kernel's private folder lies on the host's disk: it holds the kernel's connection file and the
ZeroMQ sockets the kernel makes there as it starts. As root the grader takes the folder back once
the kernel is ready (``SandboxedKernelManager.seal_private_dir``); a grader run by a normal user
cannot, since the kernel runs as that same user. Each file is bounded (``RLIMIT_FSIZE``) but not
their number, so a kernel could otherwise fill the host's disk through that folder.

Landlock (Linux 5.13 and later, where the kernel enables it) lets an unprivileged process give up
rights for itself and everything it starts, for good. ``confine(private)``, called by the kernel's
own process before ipykernel starts (a kernel the fork server forks calls it in
``forkserver._run_kernel``; one started afresh in bubblewrap is started through this file as a
script, ``python -I -S landlock.py PRIVATE COMMAND...``, which confines itself and then runs
``COMMAND``):

* restricts every right that writes to a file system (write, truncate, make, remove, rename or link
  into a folder);
* gives them all back beneath every entry of the sandbox's root, and of each folder down to
  ``private``, that is not on the path to ``private``: ``/tmp``, ``/dev``, ``/proc`` and the rest
  keep exactly the write rights they had (a read-only mount stays read-only: its ``EROFS`` comes
  first);
* grants in ``private`` only making sockets and removing files (ZeroMQ removes a stale socket before
  it binds, and its own as it closes).

So nothing the kernel writes lands in its private folder, whoever runs the grader: no regular file,
folder, link, FIFO or device, and no byte into the connection file. What it may still make there is
a socket: no data, but an inode and a directory entry each (see docs/threat-model.md).

A rule holds beneath a folder, and Landlock cannot take a right back below a folder that has it:
hence ``private`` is bound in the sandbox at a path of its own (``sandbox.KERNEL_FOLDER``), not under
the kernel's writable ``/tmp``. For the same reason an entry made later right in the root, or in a
folder on the way down to ``private``, is refused: nothing legitimate makes one, and as a normal user
it would land in bubblewrap's unsized root.

Where Landlock is missing, ``confine`` changes nothing and returns 0, and a grader run by a normal
user warns (``sandbox.UNCONFINED_WARNING``). A watchdog that sums the folder's size every fraction of
a second was not built as a fallback: a kernel writes to the page cache at hundreds of megabytes a
second, so its bound would be soft by whatever fits between two polls; as root the seal holds
before any student code runs. Only the standard
library is used (and not pathlib, which costs a fresh kernel's start more than the rest): the fork
server and the sandbox's own Python run this file alone.
"""

import ctypes
import os
import sys

# The system calls (the same numbers on every architecture that has them) and their constants.
CREATE_RULESET, ADD_RULE, RESTRICT_SELF = 444, 445, 446
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1
PR_SET_NO_NEW_PRIVS = 38
# The file-system rights (LANDLOCK_ACCESS_FS_*) that change a file system, with the ABI that has each.
WRITE_FILE, REMOVE_DIR, REMOVE_FILE = 1 << 1, 1 << 4, 1 << 5
MAKE_CHAR, MAKE_DIR, MAKE_REG, MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = (1 << bit for bit in range(6, 13))
REFER, TRUNCATE = 1 << 13, 1 << 14
MAKE_ANY = MAKE_CHAR | MAKE_DIR | MAKE_REG | MAKE_SOCK | MAKE_FIFO | MAKE_BLOCK | MAKE_SYM
WRITES = {1: WRITE_FILE | REMOVE_DIR | REMOVE_FILE | MAKE_ANY, 2: REFER, 3: TRUNCATE}
# The rights a rule on a file (not a folder) may hold.
FILE_RIGHTS = WRITE_FILE | TRUNCATE
# What the kernel may do in its private folder: bind its sockets (ZeroMQ removes a stale one first).
PRIVATE_RIGHTS = MAKE_SOCK | REMOVE_FILE

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class _PathBeneath(ctypes.Structure):
    """struct landlock_path_beneath_attr (packed: 12 bytes)."""

    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _syscall(number, *args):
    result = _libc.syscall(ctypes.c_long(number), *args)
    if result < 0:
        error = ctypes.get_errno()
        raise OSError(error, f"landlock system call {number}: {os.strerror(error)}")
    return result


def abi() -> int:
    """The Landlock ABI version this system offers (1 or more), or 0 where there is none (an older
    Linux, or Landlock not enabled at boot)."""
    result = _libc.syscall(ctypes.c_long(CREATE_RULESET), None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return max(result, 0)


def _handled(version):
    """The write rights that ABI ``version`` knows (a bit mask)."""
    return sum(rights for since, rights in WRITES.items() if since <= version)


def _granted(private):
    """The paths that keep every write right: each entry of the root and of each folder down to
    ``private`` (absolute, resolved) that is not on the path to ``private``."""
    granted, folder = [], "/"
    for name in private.strip("/").split("/"):
        granted += [os.path.join(folder, entry) for entry in sorted(os.listdir(folder)) if entry != name]
        folder = os.path.join(folder, name)
    return granted


def _add_rule(ruleset, path, rights):
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:  # a link to nothing, say: it holds nothing to write to
        return
    try:
        if not os.path.isdir(f"/proc/self/fd/{fd}"):
            rights &= FILE_RIGHTS
        rule = _PathBeneath(rights, fd)
        _syscall(ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(RULE_PATH_BENEATH), ctypes.byref(rule), 0)
    finally:
        os.close(fd)


def confine(private: str) -> int:
    """Restrict this process (it must have one thread only: Landlock binds the calling thread and what
    it starts later) and everything it starts: in the folder ``private`` (an absolute path), making
    sockets and removing files only; everywhere else, the write rights it had. Returns the Landlock
    ABI used, or 0 where there is none (nothing changes)."""
    version = abi()
    if version == 0:
        return 0
    handled = _handled(version)
    private = os.path.realpath(private)
    attributes = ctypes.c_uint64(handled)  # struct landlock_ruleset_attr's first field, all this needs
    ruleset = _syscall(CREATE_RULESET, ctypes.byref(attributes), ctypes.c_size_t(8), ctypes.c_uint32(0))
    try:
        for path in _granted(private):
            _add_rule(ruleset, path, handled)
        _add_rule(ruleset, private, PRIVATE_RIGHTS & handled)
        if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
        _syscall(RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0))
    finally:
        os.close(ruleset)
    return version


if __name__ == "__main__":
    # python -I -S landlock.py PRIVATE COMMAND...: confine this process, then become COMMAND.
    confine(sys.argv[1])
    os.execv(sys.argv[2], sys.argv[2:])
