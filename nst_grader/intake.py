"""Files in: the one module that reads a student's submission folder, following nothing.

A submission folder may hold anything a git clone or a tar archive can carry: symbolic links (to the
source notebook, the gradebook, another student's notebook, ``/etc/shadow``, a device), hard links,
FIFOs, sockets, devices, huge or numerous files. The grader reads it as root, before any sandbox, so
``admit`` copies it into the grader's private work folder under these rules:

* every folder is opened relative to its parent's descriptor with ``O_DIRECTORY | O_NOFOLLOW``, and
  every file with ``O_NOFOLLOW | O_NONBLOCK`` (a FIFO never blocks the open), then ``fstat`` confirms
  that what was opened is the regular file (or folder) that ``lstat`` saw: no path is resolved
  through a link, and nothing swapped in between is read;
* only regular files and folders are copied. Dropped, each with its reason: a symbolic link
  (absolute or relative, dangling, looping or not), a device, a FIFO, a socket, a regular file with
  more than one name (a hard link may be a name of a file outside the folder), a file over
  ``MAX_FILE_MB``, the files past ``MAX_FILES`` or ``MAX_TOTAL_MB``, folders deeper than
  ``MAX_DEPTH``, and anything that cannot be read;
* the notebook, ``NOTEBOOK`` right in the folder, is checked first, under the same rules: if it is
  not a regular file of one name within ``MAX_FILE_MB``, nothing is copied and ``Refused`` says why.

What gets recorded where (``nst_grader.grade``, one row of ``grading_log.csv`` per grading):

* a refused notebook: status ``failed``, reason ``"<NOTEBOOK> <why>: not graded"``, where ``<why>`` is
  one of ``is a symbolic link``, ``is a FIFO``, ``is a character device``, ``is a block device``,
  ``is a socket``, ``is a folder``, ``has N names (a hard link)``, ``is over 50 MB``, ``is missing``,
  ``cannot be read (<error>)``;
* dropped entries of a graded (or failed) submission: the ``dropped`` column holds them as JSON,
  ``[[relative path, why], ...]`` (``why`` as above, plus ``is over the limit of N files``, ``would
  take the submission over N MB``, ``is deeper than N folders``), and the ``reason`` column ends
  with ``"dropped K entries: path (why), ..."`` (``1 entry``; the first five, then ``and N more``),
  so that the report shows the submission under "needs a human look". Paths are shown with odd
  bytes and control characters escaped. Nothing dropped ever reaches ``autograded/`` or ``feedback/``.

A bad entry never raises: only ``Refused`` (the notebook) leaves ``admit``.
"""

import contextlib
import json
import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

# A submission is one notebook (with its outputs, pictures included, a few MB) and a few small files.
MAX_FILE_MB = 50
# More files than any submission of this assignment holds; bounds the work one folder can cause.
MAX_FILES = 500
# Twice the largest notebook: room for a few pictures beside it, not for a disk filler.
MAX_TOTAL_MB = 100
# Folders nested deeper than this are not walked (each level holds one open descriptor).
MAX_DEPTH = 8
READ_CHUNK = 2**20
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# How each kind of entry that is neither a regular file nor a folder is named in a reason.
KINDS = (
    (stat.S_ISLNK, "is a symbolic link"),
    (stat.S_ISFIFO, "is a FIFO"),
    (stat.S_ISCHR, "is a character device"),
    (stat.S_ISBLK, "is a block device"),
    (stat.S_ISSOCK, "is a socket"),
)


class Refused(Exception):
    """The submission's notebook is not a regular file that may be read; ``reason`` says why."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


@dataclass
class Intake:
    """What ``admit`` did: the files copied (relative paths) and the entries dropped, with why."""

    copied: list = field(default_factory=list)
    dropped: list = field(default_factory=list)  # [(relative path, why)]
    total_bytes: int = 0

    def dropped_json(self) -> str:
        return json.dumps([[path, why] for path, why in self.dropped]) if self.dropped else ""

    def dropped_text(self, shown: int = 5) -> str:
        """One line for the reason column, or "" when nothing was dropped."""
        if not self.dropped:
            return ""
        listed = ", ".join(f"{path} ({why})" for path, why in self.dropped[:shown])
        more = f", and {len(self.dropped) - shown} more" if len(self.dropped) > shown else ""
        entries = "entry" if len(self.dropped) == 1 else "entries"
        return f"dropped {len(self.dropped)} {entries}: {listed}{more}"


def printable(name: str) -> str:
    """``name`` (a str from the file system, odd bytes as surrogates) with odd bytes and control
    characters escaped, at most 200 characters: safe for a log line, a CSV cell and a terminal."""
    text = os.fsencode(name).decode("utf-8", "backslashreplace")
    text = "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)
    return text if len(text) <= 200 else text[:197] + "..."


def _kind(mode):
    """Why an entry of this mode is not copied, or None for a regular file or a folder."""
    for test, why in KINDS:
        if test(mode):
            return why
    return None


def _open_folder(name, dir_fd):
    """``name`` in ``dir_fd`` opened as a folder, following no link (it raises on one)."""
    return os.open(name, FOLDER_FLAGS, dir_fd=dir_fd)


def open_submission(folder: str | Path) -> int:
    """A descriptor of ``folder`` (``.../submitted/<student>/<assignment>``), whose last two
    components, the student's, are opened without following a link (those above are the course's)."""
    folder = Path(folder)
    fd = os.open(folder.parents[1], FOLDER_FLAGS)
    try:
        for name in (folder.parent.name, folder.name):
            parent, fd = fd, _open_folder(name, fd)
            os.close(parent)
        return fd
    except OSError:
        os.close(fd)
        raise


class _Copier:
    """Copies regular files from open folder descriptors into ``target``, counting against the limits."""

    def __init__(self, target):
        self.target = Path(target)
        self.intake = Intake()

    def drop(self, path, why):
        self.intake.dropped.append((printable(path), why))

    def file_problem(self, info):
        """Why a regular file with this ``lstat``/``fstat`` result is not copied, or None."""
        if info.st_nlink > 1:
            return f"has {info.st_nlink} names (a hard link)"
        if info.st_size > MAX_FILE_MB * 2**20:
            return f"is over {MAX_FILE_MB} MB"
        return None

    def copy_file(self, name, dir_fd, path):
        """Copy regular file ``name`` of ``dir_fd`` to ``target/path``. Returns why it was not
        copied, or None."""
        try:
            fd = os.open(name, FILE_FLAGS, dir_fd=dir_fd)
        except OSError as error:
            return f"cannot be read ({error.strerror})"
        try:
            info = os.fstat(fd)
            why = _kind(info.st_mode) or ("is a folder" if stat.S_ISDIR(info.st_mode) else self.file_problem(info))
            if why:
                return why
            if len(self.intake.copied) >= MAX_FILES:
                return f"is over the limit of {MAX_FILES} files"
            left = MAX_TOTAL_MB * 2**20 - self.intake.total_bytes
            if info.st_size > left:
                return f"would take the submission over {MAX_TOTAL_MB} MB"
            limit = min(left, MAX_FILE_MB * 2**20)
            destination = self.target / path
            written = 0
            try:
                with open(destination, "xb") as out:
                    while chunk := os.read(fd, min(READ_CHUNK, limit + 1 - written)):
                        written += len(chunk)
                        if written > limit:  # it grew while being read
                            break
                        out.write(chunk)
            except OSError:
                destination.unlink(missing_ok=True)
                raise
            if written > limit:
                destination.unlink()
                return f"is over {MAX_FILE_MB} MB"
            self.intake.total_bytes += written
            self.intake.copied.append(str(path))
            return None
        except OSError as error:
            return f"cannot be read ({error.strerror})"
        finally:
            os.close(fd)

    def copy_folder(self, dir_fd, relative, depth, skip=()):
        """Copy the entries of the open folder ``dir_fd`` (at ``relative`` in the submission), but
        those named in ``skip``."""
        try:
            names = sorted(entry.name for entry in os.scandir(dir_fd))
        except OSError as error:
            self.drop(str(relative), f"cannot be read ({error.strerror})")
            return
        for name in names:
            if name in skip:
                continue
            path = relative / name
            try:
                info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except OSError as error:
                self.drop(str(path), f"cannot be read ({error.strerror})")
                continue
            if stat.S_ISDIR(info.st_mode):
                self._copy_subfolder(name, dir_fd, path, depth, info)
            elif stat.S_ISREG(info.st_mode):
                why = self.file_problem(info) or self.copy_file(name, dir_fd, path)
                if why:
                    self.drop(str(path), why)
            else:
                self.drop(str(path), _kind(info.st_mode) or "is not a regular file")

    def _copy_subfolder(self, name, dir_fd, path, depth, info):
        if depth >= MAX_DEPTH:
            self.drop(str(path), f"is deeper than {MAX_DEPTH} folders")
            return
        try:
            sub = _open_folder(name, dir_fd)
        except OSError as error:
            self.drop(str(path), f"cannot be read ({error.strerror})")
            return
        try:
            opened = os.fstat(sub)
            if (opened.st_dev, opened.st_ino) != (info.st_dev, info.st_ino):
                self.drop(str(path), "changed while it was read")
                return
            (self.target / path).mkdir()
            self.copy_folder(sub, path, depth + 1)
        finally:
            os.close(sub)


def admit(folder: str | Path, target: str | Path, notebooks: str | list[str]) -> Intake:
    """Copy the submission ``folder`` into ``target`` (a new folder, made here) under the rules of
    the module docstring. ``notebooks``: the notebook's name (or a list of names), each of which must
    be a regular file right in ``folder``. Returns the ``Intake``; raises ``Refused`` (with nothing
    copied) if a notebook, or the folder itself, cannot be admitted."""
    notebooks = [notebooks] if isinstance(notebooks, str) else list(notebooks)
    try:
        root = open_submission(folder)
    except OSError as error:
        kinds = []
        for path in (Path(folder).parent, Path(folder)):
            with contextlib.suppress(OSError):
                kinds.append(_kind(os.lstat(path).st_mode))
        why = next(filter(None, kinds), None) or f"cannot be read ({error.strerror})"
        raise Refused(f"the submission folder {why}: not graded") from None
    try:
        copier = _Copier(target)
        for notebook in notebooks:
            why = _notebook_problem(notebook, root, copier)
            if why:
                raise Refused(f"{notebook} {why}: not graded")
        Path(target).mkdir(parents=True)
        for notebook in notebooks:
            why = copier.copy_file(notebook, root, Path(notebook))
            if why:
                shutil.rmtree(target)
                raise Refused(f"{notebook} {why}: not graded")
        copier.copy_folder(root, Path(), 1, skip=set(notebooks))
        return copier.intake
    finally:
        os.close(root)


def _notebook_problem(notebook, root, copier):
    """Why the entry ``notebook`` of the open folder ``root`` is not a notebook that may be read, or None."""
    try:
        info = os.stat(notebook, dir_fd=root, follow_symlinks=False)
    except FileNotFoundError:
        return "is missing"
    except OSError as error:
        return f"cannot be read ({error.strerror})"
    if stat.S_ISDIR(info.st_mode):
        return "is a folder"
    if not stat.S_ISREG(info.st_mode):
        return _kind(info.st_mode) or "is not a regular file"
    return copier.file_problem(info)
