"""The student bundle made ready to publish: ``python -m nst_grader.publish release/art_generation``
(the second half of ``make release``, after ``nbgrader generate_assignment``).

It writes two files:

* ``release/art_generation/MANIFEST.sha256``: the sha256 of every file of the bundle, one
  ``sha256  path`` line each, sorted (``sha256sum``'s format, so ``sha256sum -c MANIFEST.sha256`` checks
  a copy). The notebook's Colab setup cell fetches what it lists and checks each file, so a download
  cut short, or an error page served in a file's place, is caught.
* ``release/art_generation.zip``: the bundle, manifest included, in a folder ``art_generation/``, for
  a course that publishes one archive (the setup cell's ``COURSE_ARCHIVE_URL``). Member order and
  times are fixed, so the same files always give the same archive.
"""

import argparse
import hashlib
import re
import sys
import zipfile
from pathlib import Path

from atomic_files import atomic_path

MANIFEST = "MANIFEST.sha256"
# What the setup cell accepts as a path (it refuses others, so that no path leaves the course folder):
# folders and a name of letters, digits, "_", "-" and ".", none starting with ".".
PUBLISHABLE_PATH = re.compile(r"(?:[\w-][\w.-]*/)*[\w-][\w.-]*", re.ASCII)
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip can record


def bundle_files(folder):
    """The bundle's files: paths relative to ``folder`` (posix, sorted), the manifest left out.
    Raises ``ValueError`` for a path the setup cell would refuse, or a link."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder: run `nbgrader generate_assignment` first (make release)")
    names = []
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if path.is_symlink():
            raise ValueError(f"cannot publish {name}: it is a link (publish the file it points to)")
        if path.is_dir() or name == MANIFEST:
            continue
        if not PUBLISHABLE_PATH.fullmatch(name):
            raise ValueError(
                f"cannot publish {name}: use only letters, digits, '_', '-' and '.' in names, none starting with '.'"
            )
        names.append(name)
    if not names:
        raise ValueError(f"{folder} is empty: nothing to publish")
    return sorted(names)  # as strings: the manifest's order does not depend on how paths compare


def write_manifest(folder):
    """Write ``folder/MANIFEST.sha256`` for the bundle in ``folder``; return its path."""
    folder = Path(folder)
    lines = [f"{hashlib.sha256((folder / name).read_bytes()).hexdigest()}  {name}\n" for name in bundle_files(folder)]
    path = folder / MANIFEST
    with atomic_path(path) as tmp:
        tmp.write_text("".join(lines), encoding="utf-8")
    return path


def write_zip(folder):
    """Write ``folder`` (bundle and manifest) as ``FOLDER.zip`` beside it, under ``FOLDER/``; return its path."""
    folder = Path(folder)
    path = folder.with_name(folder.name + ".zip")
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in [*bundle_files(folder), MANIFEST]:
            member = zipfile.ZipInfo(f"{folder.name}/{name}", ZIP_TIME)
            member.external_attr = 0o644 << 16  # -rw-r--r--
            archive.writestr(member, (folder / name).read_bytes(), zipfile.ZIP_DEFLATED)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description="Write MANIFEST.sha256 into a released assignment, and its .zip.")
    parser.add_argument("folder", type=Path, help="the released assignment, e.g. release/art_generation")
    args = parser.parse_args(argv)
    try:
        manifest = write_manifest(args.folder)
        archive = write_zip(args.folder)
    except (ValueError, OSError) as error:
        sys.exit(f"error: {error}")
    print(f"wrote {manifest} and {archive}: publish the folder (COURSE_URL) or the archive (COURSE_ARCHIVE_URL)")


if __name__ == "__main__":
    main()
