"""Run a command as a course user who can see the course's Python, whatever folder it sits in.

The single-user servers of JupyterHub and the instructor's nbgrader commands run as real local users
(students, the instructor), with this venv's Python. The clone, or the Python the venv was made from,
may lie under a folder other users cannot enter (``/root``, pytest's ``/tmp/pytest-of-root``). Rather
than open those folders, the command runs in bubblewrap (``bwrap``, started as root) with the whole
system as it is, except that each folder others cannot traverse above a path the user needs is
replaced by an empty folder (tmpfs, mode 0755) holding just that path, bound in; ``setpriv`` then
drops to the user, so every file keeps its owner and permissions. Nothing else of the hidden folders
(root's home, the course secret beside a hidden clone, other pytest folders) is visible.

The command shares the system's process tree and /proc (a process's tools, psutil in Dask's
scheduler among them, read its own entry there; and the grading sandbox, a bwrap of the instructor's
own, mounts a /proc of its own, which the kernel refuses inside a second /proc). bwrap stays its
parent, in the same process group: signal the group to stop it all (``course_spawner``).
"""

import os
import pwd
import shutil
import stat
import sys
from pathlib import Path

VENV = Path(sys.prefix)
PROJECT = Path(__file__).resolve().parents[1]


def python_paths():
    """What the venv's Python needs: the venv, and the installation its interpreter links to."""
    return sorted({VENV, Path(sys.base_prefix), Path(sys.executable).resolve().parents[1]})


def project_paths():
    """The project's own modules, as ``pyproject.toml`` lists them (the venv installs them editable:
    they are imported from the clone): nothing else of the clone."""
    import tomllib

    setuptools = tomllib.loads((PROJECT / "pyproject.toml").read_text())["tool"]["setuptools"]
    return [PROJECT / f"{module}.py" for module in setuptools["py-modules"]] + [
        PROJECT / package for package in setuptools["packages"]
    ]


def _traversable(folder):
    """Whether any user may enter ``folder`` (its "others" execute bit)."""
    return bool(os.stat(folder).st_mode & stat.S_IXOTH)


def _hidden_top(path):
    """The highest folder above ``path`` that other users cannot enter, or None."""
    for parent in reversed(Path(path).parents):
        if not _traversable(parent):
            return parent
    return None


def view_args(read_only, writable=()):
    """bwrap arguments (after ``bwrap``) that show the system as it is, with ``read_only`` and
    ``writable`` paths (files or folders, which must exist) reachable by any user."""
    paths = [(Path(path), "--ro-bind") for path in read_only] + [(Path(path), "--bind") for path in writable]
    hidden = {top for path, _ in paths if (top := _hidden_top(path)) is not None}
    # A hidden folder inside another one is covered by the outer one's tmpfs.
    hidden = sorted(top for top in hidden if not any(other in top.parents for other in hidden))
    args = ["--dev-bind", "/", "/"]
    for top in hidden:
        args += ["--perms", "0755", "--tmpfs", str(top)]
    made = set(hidden)
    for path, bind in sorted(paths, key=lambda item: len(item[0].parts)):
        top = next((folder for folder in hidden if folder in path.parents), None)
        if top is None:
            continue  # reachable as it is
        for parent in reversed(path.parents):
            if top in parent.parents and parent not in made:
                args += ["--perms", "0755", "--dir", str(parent)]
                made.add(parent)
        args += [bind, str(path), str(path)]
    return args


def as_user(user, command, read_only=(), writable=()):
    """The command line that runs ``command`` as the local user ``user`` (with the user's groups, no
    capabilities) in a view where the venv's Python, the project's modules, ``read_only`` and
    ``writable`` are reachable. Must be started as root."""
    entry = pwd.getpwnam(user)
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise RuntimeError("the hub runs users' commands in bubblewrap: apt-get install bubblewrap")
    setpriv = [
        "/usr/bin/setpriv",
        f"--reuid={entry.pw_uid}",
        f"--regid={entry.pw_gid}",
        "--init-groups",
        "--inh-caps=-all",
    ]
    view = view_args([*python_paths(), *project_paths(), *read_only], writable)
    return [bwrap, *view, "--", *setpriv, *map(str, command)]
