"""The student bundle made ready to publish: ``python -m nst_grader.publish release/art_generation``
(the second half of ``make release``, after ``nbgrader generate_assignment``).

It writes the course's public address (``--course-url``, ``make release COURSE_URL=...``: the one place
it is set) into the released notebook, then two files:

* ``release/art_generation/MANIFEST.sha256``: the sha256 of every file of the bundle, one
  ``sha256  path`` line each, sorted (``sha256sum``'s format, so ``sha256sum -c MANIFEST.sha256`` checks
  a copy). The notebook's Colab setup cell fetches what it lists and checks each file, so a download
  cut short, or an error page served in a file's place, is caught.
* ``release/art_generation.zip``: the bundle, manifest included, in a folder ``art_generation/``, for
  a course that publishes one archive (the setup cell's ``COURSE_ARCHIVE_URL``). Member order and
  times are fixed, so the same files always give the same archive.

The address is a folder that serves the bundle's files (ending in ``/``) or the archive (``.zip`` or
``.tar.gz``). The setup cell's ``COURSE_URL`` takes it, and the first cell's "In Google Colab" paragraph
says how to open the notebook there: with an "Open in Colab" badge when the folder is GitHub's raw files
(Colab opens notebooks from GitHub only), else by uploading it. Without an address the setup cell asks
for ``art_generation.zip`` instead. A badge that points anywhere else (the placeholder of an old
release, say) is refused. Both cells are locked, so their nbgrader checksums are recomputed.
"""

import argparse
import hashlib
import re
import sys
import zipfile
from pathlib import Path

import nbformat
from nbgrader.utils import compute_checksum

from atomic_files import atomic_path

MANIFEST = "MANIFEST.sha256"
# What the setup cell accepts as a path (it refuses others, so that no path leaves the course folder):
# folders and a name of letters, digits, "_", "-" and ".", none starting with ".".
PUBLISHABLE_PATH = re.compile(r"(?:[\w-][\w.-]*/)*[\w-][\w.-]*", re.ASCII)
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip can record
# The course's address: http(s), no quotes, spaces or backslashes (it goes into a Python string), a
# folder ending in "/" or an archive.
COURSE_URL = re.compile(r"https?://[^\s\"'\\]+(?:/|\.zip|\.tar\.gz)", re.ASCII)
# GitHub's raw files of a folder: https://raw.githubusercontent.com/OWNER/REPO/REF/PATH/
GITHUB_RAW = re.compile(r"https://raw\.githubusercontent\.com/([\w.-]+)/([\w.-]+)/([\w.-]+)/((?:[\w.-]+/)*)", re.ASCII)
COLAB_LINK = re.compile(r"https://colab\.research\.google\.com/[^)\s\"]*")
SETUP_LINE = re.compile(r'^COURSE_URL = "[^"\n]*"', re.M)
COLAB_PARAGRAPH = re.compile(r"^\*\*In Google Colab\*\*.*?(?=\n\n|\Z)", re.M | re.S)
GPU_NOTE = "You may choose *Runtime → Change runtime type → GPU*; TensorFlow uses a GPU by itself when\nthere is one."
COLAB_TEXT = {
    "badge": "**In Google Colab** ([![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({link})),"
    " run the\nsetup cell below first: it fetches the course files and checks each. " + GPU_NOTE,
    "address": "**In Google Colab**, upload this notebook (*File → Upload notebook*) and run the setup cell below\n"
    "first: it fetches the course files and checks each. " + GPU_NOTE,
    "upload": "**In Google Colab**, upload this notebook (*File → Upload notebook*) and run the setup cell below\n"
    "first: it asks for `art_generation.zip`, the course archive from your course page, checks it and\n"
    "unpacks it. " + GPU_NOTE,
}


def bundle_files(folder: str | Path) -> list[str]:
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


def colab_link(course_url: str, notebook: str) -> str | None:
    """The address at which Colab opens ``notebook`` (its path in the bundle) published at ``course_url``,
    or None where Colab cannot open it (only GitHub's notebooks have one)."""
    match = GITHUB_RAW.fullmatch(course_url)
    if not match:
        return None
    owner, repo, ref, path = match.groups()
    return f"https://colab.research.google.com/github/{owner}/{repo}/blob/{ref}/{path}{notebook}"


def _set_source(cell, source):
    """Give ``cell`` ``source``, and a locked nbgrader cell its checksum for it (``nbgrader validate``)."""
    cell.source = source
    if cell.metadata.get("nbgrader", {}).get("checksum"):
        cell.metadata.nbgrader["checksum"] = compute_checksum(cell)


def set_course_url(folder: str | Path, course_url: str) -> str | None:
    """Write ``course_url`` (``""``: none) into the released notebook in ``folder``: the setup cell's
    ``COURSE_URL`` and the first cell's "In Google Colab" paragraph. Returns the Colab link, or None.
    Raises ``ValueError`` for an address the setup cell cannot use, a notebook without those cells, or
    a Colab link left that is not the one derived from ``course_url``."""
    if course_url and not COURSE_URL.fullmatch(course_url):
        raise ValueError(
            f"COURSE_URL {course_url!r} is not the address of a published folder (http(s)://..., ending in '/') "
            "or archive (.zip or .tar.gz)"
        )
    bundle_files(folder)  # a bundle the setup cell takes, before anything is written
    notebooks = sorted(Path(folder).glob("*.ipynb"))
    if len(notebooks) != 1:
        raise ValueError(f"expected one notebook in {folder}, found {len(notebooks)}")
    path = notebooks[0]
    notebook = nbformat.read(path, as_version=4)
    link = colab_link(course_url, path.name)
    setup = [cell for cell in notebook.cells if cell.cell_type == "code" and len(SETUP_LINE.findall(cell.source)) == 1]
    intro = [cell for cell in notebook.cells if cell.cell_type == "markdown" and COLAB_PARAGRAPH.search(cell.source)]
    if len(setup) != 1 or len(intro) != 1:
        raise ValueError(f"{path.name} needs one setup cell with a COURSE_URL line and one 'In Google Colab' paragraph")
    _set_source(setup[0], SETUP_LINE.sub(lambda _: f'COURSE_URL = "{course_url}"', setup[0].source))
    paragraph = COLAB_TEXT["badge" if link else "address" if course_url else "upload"].format(link=link)
    _set_source(intro[0], COLAB_PARAGRAPH.sub(lambda _: paragraph, intro[0].source, count=1))
    stray = {found for cell in notebook.cells for found in COLAB_LINK.findall(cell.source)} - {
        link,
        "https://colab.research.google.com/assets/colab-badge.svg",
    }
    if stray:
        raise ValueError(
            f"refusing to publish a Colab link that is not the course's: {', '.join(sorted(stray))} "
            f"(set COURSE_URL to where the course is published: make release COURSE_URL=...)"
        )
    with atomic_path(path) as tmp:
        nbformat.write(notebook, tmp)
    return link


def write_manifest(folder: str | Path) -> Path:
    """Write ``folder/MANIFEST.sha256`` for the bundle in ``folder``; return its path."""
    folder = Path(folder)
    lines = [f"{hashlib.sha256((folder / name).read_bytes()).hexdigest()}  {name}\n" for name in bundle_files(folder)]
    path = folder / MANIFEST
    with atomic_path(path) as tmp:
        tmp.write_text("".join(lines), encoding="utf-8")
    return path


def write_zip(folder: str | Path) -> Path:
    """Write ``folder`` (bundle and manifest) as ``FOLDER.zip`` beside it, under ``FOLDER/``; return its path."""
    folder = Path(folder)
    path = folder.with_name(folder.name + ".zip")
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in [*bundle_files(folder), MANIFEST]:
            member = zipfile.ZipInfo(f"{folder.name}/{name}", ZIP_TIME)
            member.external_attr = 0o644 << 16  # -rw-r--r--
            archive.writestr(member, (folder / name).read_bytes(), zipfile.ZIP_DEFLATED)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write MANIFEST.sha256 into a released assignment, and its .zip.")
    parser.add_argument("folder", type=Path, help="the released assignment, e.g. release/art_generation")
    parser.add_argument(
        "--course-url",
        default="",
        help="where the folder (ending in '/') or the archive will be published; empty: students upload the archive",
    )
    args = parser.parse_args(argv)
    try:
        link = set_course_url(args.folder, args.course_url)
        manifest = write_manifest(args.folder)
        archive = write_zip(args.folder)
    except (ValueError, OSError) as error:
        sys.exit(f"error: {error}")
    print(f"wrote {manifest} and {archive}")
    if not args.course_url:
        print(f"no COURSE_URL: in Colab, students upload the notebook, then {archive.name} when its setup cell asks")
    else:
        print(f"publish {'the folder' if args.course_url.endswith('/') else 'the archive'} at {args.course_url}")
        print(f"Open in Colab: {link}" if link else "no Colab badge: Colab opens only GitHub's notebooks")


if __name__ == "__main__":
    main()
