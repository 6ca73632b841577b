"""Run a command as a normal user whom file permissions bind, with this very Python: what the tests of
a normal user's grader and of permission errors need when the suite runs as root (CI).

As root, ``as_unprivileged(command)`` runs ``command`` as ``UNPRIVILEGED_USER`` (created with
``useradd`` the first time) in a private mount namespace (``unshare --mount --propagation private``),
so that nothing changes on the host: each folder that user cannot pass on the way to what the run
needs (this Python's installation, the virtual environment and the repository: ``/root`` when
pyenv put Python there) is covered there with an empty tmpfs (mode 0755), into which only those
folders are bound back, read-only. Without it a normal user's process would fall back to another
Python's standard library, and a normal user's bubblewrap could not bind this one at all. As
anyone else, the command runs as it is (that user is bound by permissions already).
"""

import os
import pwd
import stat
import subprocess
import sys
from pathlib import Path

UNPRIVILEGED_USER = "nst-unprivileged"
ROOT = Path(__file__).resolve().parents[1]

# Run as root in the new mount namespace: cover, bind back read-only, then become the user.
# argv: uid, gid, the folders to cover (":"-joined), the folders to bind back (":"-joined), command...
_ENTER = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC = 1, 2, 4, 32, 4096, 16384

def mount(source, target, fstype, flags, data=None):
    encode = lambda text: None if text is None else os.fsencode(text)
    if libc.mount(encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags), encode(data)) != 0:
        error = ctypes.get_errno()
        sys.exit(f"mount {source} on {target}: {os.strerror(error)}")

uid, gid, covered, kept, *command = sys.argv[1:]
handles = {path: os.open(path, os.O_PATH | os.O_DIRECTORY) for path in kept.split(":") if path}
for folder in filter(None, covered.split(":")):
    mount("tmpfs", folder, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
for path, handle in handles.items():
    os.makedirs(path, mode=0o755, exist_ok=True)
    mount(f"/proc/self/fd/{handle}", path, None, MS_BIND | MS_REC)
    mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    os.close(handle)
os.execvp("setpriv", ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--", *command])
"""


def unprivileged_user() -> pwd.struct_passwd:
    """``UNPRIVILEGED_USER``'s entry, the user created first if need be (as root only)."""
    try:
        return pwd.getpwnam(UNPRIVILEGED_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", UNPRIVILEGED_USER], check=True
        )
        return pwd.getpwnam(UNPRIVILEGED_USER)


def _passable(folder, user):
    """Whether ``user`` may pass through ``folder`` (its execute bit for that user)."""
    info = os.stat(folder)
    if info.st_uid == user.pw_uid:
        return bool(info.st_mode & stat.S_IXUSR)
    if info.st_gid == user.pw_gid:
        return bool(info.st_mode & stat.S_IXGRP)
    return bool(info.st_mode & stat.S_IXOTH)


def _needed():
    """The folders a run of this Python in this repository reads: the installation, the virtual
    environment, the repository (resolved)."""
    folders = {Path(sys.base_prefix), Path(sys.prefix), Path(sys.executable).resolve().parents[1], ROOT}
    return sorted({folder.resolve() for folder in folders})


def _blocked(folders, user):
    """The highest folder above each of ``folders`` that ``user`` cannot pass (sorted, each once)."""
    blocked = set()
    for folder in folders:
        for parent in [*reversed(folder.parents), folder][1:]:
            if not _passable(parent.parent, user):
                blocked.add(parent.parent)
                break
    return sorted(blocked)


def as_unprivileged(command: list[str]) -> list[str]:
    """``command`` run as ``UNPRIVILEGED_USER`` (as root), with this Python and this repository
    readable by that user and nothing else changed; as anyone else, ``command`` itself."""
    if os.geteuid() != 0:
        return command
    user = unprivileged_user()
    needed = _needed()
    covered = _blocked(needed, user)
    kept = [folder for folder in needed if any(cover in folder.parents for cover in covered)]
    join = lambda folders: ":".join(map(str, folders))
    enter = [sys.executable, "-I", "-S", "-c", _ENTER, str(user.pw_uid), str(user.pw_gid), join(covered), join(kept)]
    return ["unshare", "--mount", "--propagation", "private", "--", *enter, *command]
