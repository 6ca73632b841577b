"""``nbgrader zip_collect`` plugins that let in only what ``nst_grader.intake`` lets in.

nbgrader's extractor unpacks the archives of the archive folder with setuptools, which skips absolute
and ``..`` member names and turns a link into a copy of its target inside the archive, but reads each
member whole into memory, whatever its size (an archive of a few KB can hold GBs of zeros), and copies
the other files of the folder following links. Its collector takes the student's id and the file's
id from the file name, so a name whose id holds ``/`` or ``..`` would write outside ``submitted/``.
``nbgrader_config.py`` configures these two in their place:

* ``AdmittedExtractor`` opens every file of the archive folder with ``O_NOFOLLOW`` (a link or
  anything but a regular file is skipped) and unpacks ``.zip`` and ``.tar[.gz]`` archives (and the
  archives inside them, ``MAX_NESTING`` deep) member by member: only regular files and folders,
  never a link of either kind, a device or a FIFO, never an absolute name or one with ``..``; each
  file within ``intake.MAX_FILE_MB`` (counted as it is read, not as the archive claims) and an
  archive within ``MAX_ARCHIVE_FILES`` files and ``MAX_ARCHIVE_MB``. Every member left out is logged
  with its reason; a damaged archive is logged and skipped.
* ``AdmittedCollector`` skips a file whose student id or file id, as its ``named_regexp`` reads
  them, is empty, absolute, or holds ``..``, a backslash or a control character.

``nst_grader.intake`` then checks the submissions again when they are graded.
"""

import os
import stat
import tarfile
import zipfile
from pathlib import Path

from nbgrader.plugins import ExtractorPlugin, FileNameCollectorPlugin

from nst_grader.intake import FILE_FLAGS, MAX_FILE_MB, printable

# A class's archive: room for a few hundred submissions of a few MB each, not for a zip bomb.
MAX_ARCHIVE_MB = 4096
MAX_ARCHIVE_FILES = 20_000
# Archives inside archives (an LMS download of per-student archives) are unpacked this deep.
MAX_NESTING = 2
CHUNK = 2**20


class Skipped(Exception):
    """A member or file that is not unpacked; the message says why."""


def safe_parts(name: str) -> list[str]:
    """The components of an archive member's ``/``-separated ``name``, or ``Skipped``."""
    if not name or name.startswith("/") or "\\" in name or not name.isprintable():
        raise Skipped("is absolute, empty or holds a backslash or a control character")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if not parts or ".." in parts:
        raise Skipped("climbs out of its folder (..)")
    return parts


class _Budget:
    """What one archive (with those inside it) may still unpack."""

    def __init__(self):
        self.files, self.bytes = MAX_ARCHIVE_FILES, MAX_ARCHIVE_MB * 2**20

    def write(self, source, target):
        """Copy the readable ``source`` into the new file ``target`` within the limits."""
        if self.files <= 0:
            raise Skipped(f"is past the archive's {MAX_ARCHIVE_FILES} files")
        limit = min(MAX_FILE_MB * 2**20, self.bytes)
        written = 0
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "xb") as out:
            while chunk := source.read(min(CHUNK, limit + 1 - written)):
                written += len(chunk)
                if written > limit:
                    break
                out.write(chunk)
        if written > limit:
            target.unlink()
            raise Skipped(f"is over {MAX_FILE_MB} MB, or past the archive's {MAX_ARCHIVE_MB} MB")
        self.files -= 1
        self.bytes -= written


class AdmittedExtractor(ExtractorPlugin):
    """nbgrader's extractor, letting in only regular files within limits (see the module docstring)."""

    def extract(self, archive_path, extracted_path):
        archive_path, extracted_path = Path(archive_path), Path(extracted_path)
        if not any(archive_path.iterdir()):
            self.log.warning("No files found in directory: %s", archive_path)
            return
        for root, folders, names in os.walk(archive_path):  # links to folders are not walked into
            for name in sorted(names + [folder for folder in folders if os.path.islink(os.path.join(root, folder))]):
                source = Path(root) / name
                target = extracted_path / source.relative_to(archive_path)
                try:
                    self._extract_file(source, target)
                except Skipped as skipped:
                    self.log.warning("Skipped %s: it %s", printable(str(source)), skipped)

    def _extract_file(self, source, target):
        try:
            fd = os.open(source, FILE_FLAGS)
        except OSError as error:
            raise Skipped(f"cannot be read ({error.strerror}; a link is not followed)") from None
        with os.fdopen(fd, "rb") as file:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_nlink > 1:
                raise Skipped("is not a regular file of one name")
            if self._is_archive(source.name):
                self.log.info("Extracting from: %s", source)
                self._unpack(file, source.name, target.parent / self._stem(source.name), _Budget(), 1)
            else:
                _Budget().write(file, target)

    def _is_archive(self, name):
        return os.path.splitext(name)[1] in self.zip_ext

    @staticmethod
    def _stem(name):
        stem = os.path.splitext(name)[0]
        return stem[:-4] if stem.endswith(".tar") else stem

    def _unpack(self, file, name, folder, budget, depth):
        """Unpack the archive open as ``file`` (named ``name``) into ``folder``."""
        try:
            if zipfile.is_zipfile(file):
                file.seek(0)
                with zipfile.ZipFile(file) as archive:
                    members = [(info.filename, self._zip_kind(info), info) for info in archive.infolist()]
                    self._unpack_members(members, lambda info: archive.open(info), name, folder, budget, depth)
            else:
                file.seek(0)
                with tarfile.open(fileobj=file) as archive:
                    members = [(info.name, self._tar_kind(info), info) for info in archive]
                    self._unpack_members(members, archive.extractfile, name, folder, budget, depth)
        except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as error:
            self.log.warning("Skipped the archive %s: %s", printable(name), printable(str(error)))

    @staticmethod
    def _zip_kind(info):
        kind = stat.S_IFMT(info.external_attr >> 16)  # 0: no type recorded (a plain file)
        if info.is_dir():
            return "folder"
        if kind not in (0, stat.S_IFREG):
            return "not a regular file (a link, a device or a FIFO)"
        return "file"

    @staticmethod
    def _tar_kind(info):
        if info.isdir():
            return "folder"
        if info.isfile() and not info.islnk():
            return "file"
        return "not a regular file (a link, a device or a FIFO)"

    def _unpack_members(self, members, opener, name, folder, budget, depth):
        for member_name, kind, info in members:
            shown = f"{printable(name)}: {printable(member_name)}"
            try:
                target = folder.joinpath(*safe_parts(member_name))
                if kind == "folder":
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                if kind != "file":
                    raise Skipped(f"is {kind}")
                with opener(info) as source:
                    if self._is_archive(target.name) and depth < MAX_NESTING:
                        staged = target.with_name(f".{target.name}.part")
                        budget.write(source, staged)
                        try:
                            with staged.open("rb") as nested:
                                self._unpack(
                                    nested, member_name, target.with_name(self._stem(target.name)), budget, depth + 1
                                )
                        finally:
                            staged.unlink()
                    else:
                        budget.write(source, target)
            except Skipped as skipped:
                self.log.warning("Skipped %s: it %s", shown, skipped)
            except FileExistsError:
                self.log.warning("Skipped %s: it is there twice", shown)


class AdmittedCollector(FileNameCollectorPlugin):
    """nbgrader's collector, skipping a file whose ids would lead out of its student's folder."""

    def collect(self, submitted_file):
        info = super().collect(submitted_file)
        if not info:
            return info
        for key in ("student_id", "file_id"):
            value = info.get(key)
            if isinstance(value, str):
                try:
                    parts = safe_parts(value)
                except Skipped as skipped:
                    self.log.warning("Skipped %s: its %s %s", printable(submitted_file), key, skipped)
                    return None
                if key == "student_id" and len(parts) != 1:
                    self.log.warning("Skipped %s: its student id holds a /", printable(submitted_file))
                    return None
        return info
