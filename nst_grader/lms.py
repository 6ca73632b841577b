"""An LMS's download of a class's submissions, put where grading looks: ``python -m nst_grader.lms
ARCHIVE`` (``make collect-zip ARCHIVE=...``).

Canvas ("Download Submissions") and Moodle ("Download all submissions") give one archive of the
students' files, each renamed by the LMS:

* Canvas: ``<login>_[LATE_]<user id>_<submission id>_<file name>[-<n>].ipynb`` (``-<n>`` when a student
  uploaded a file of the same name again);
* Moodle: ``<Full Name>_<participant id>_assignsubmission_file_<file name>.ipynb``, or the same name as a
  folder holding the file.

The command copies the archive into nbgrader's ``downloaded/art_generation/archive/`` and runs nbgrader's
own ``zip_collect`` (strict) with the course's extractor (``nst_grader.collect``: only regular files, no
link, no name that climbs out) and ``LMSCollector``: a student's id is their Canvas login or Moodle name,
only each student's latest notebook is placed (the highest submission id, then the highest ``-<n>``),
and a file is placed only if it is the released notebook. It ends with the students it placed and every
file or archive member it left out, with why (also in ``collect_log.csv``). Grading checks each
submission again (``nst_grader.intake``).
"""

import argparse
import csv
import functools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from traitlets import Enum, default

from nst_grader.collect import AdmittedCollector
from nst_grader.intake import FILE_FLAGS, printable

ASSIGNMENT = "art_generation"
NOTEBOOK = "Art_Generation_with_Neural_Style_Transfer.ipynb"
LOG = "collect_log.csv"
# Each LMS's file names, as nbgrader's collector matches them (the whole extracted path): the student,
# the order of one student's submissions, and the file's name without its extension.
NAMES = {
    "canvas": (
        r".*/(?P<student_id>[A-Za-z0-9.\-]+)_(?:LATE_)?\d+_(?P<order>\d+)_"
        r"(?P<file_id>[^/]+?)(?:-(?P<again>\d+))?\.ipynb$"
    ),
    "moodle": r".*/(?P<student_id>[^/_]+)_(?P<order>\d+)_assignsubmission_file_?[/_](?P<file_id>[^/]+?)\.ipynb$",
}


class LMSCollector(AdmittedCollector):
    """nbgrader's collector for an LMS's file names (``NAMES``) that places each student's latest
    notebook only."""

    lms = Enum(list(NAMES), default_value="canvas", help="Whose file names: canvas or moodle.").tag(config=True)

    @default("named_regexp")
    def _lms_names(self):
        return NAMES[self.lms]

    @staticmethod
    def rank(match: re.Match) -> tuple[int, int]:
        """Orders one student's submissions: the latest is the highest."""
        return int(match["order"]), int(match.groupdict().get("again") or 0)

    @functools.cached_property
    def extracted(self) -> str:
        return self.parent._format_collect_path(self.parent.extracted_directory)

    @functools.cached_property
    def latest(self) -> dict[str, tuple[int, int]]:
        """{student id: the rank of their latest notebook} over the whole extracted folder."""
        latest = {}
        for root, _, files in os.walk(self.extracted):
            for name in files:
                match = re.match(self.named_regexp, os.path.join(root, name))
                if match and match["file_id"] + ".ipynb" == NOTEBOOK:
                    latest[match["student_id"]] = max(latest.get(match["student_id"], (0, 0)), self.rank(match))
        return latest

    def shown(self, path: str) -> str:
        return printable(os.path.relpath(path, self.extracted))

    def collect(self, submitted_file):
        if not submitted_file.endswith(".ipynb"):
            self.log.warning("Skipped %s: not a notebook", self.shown(submitted_file))
            return None
        info = super().collect(submitted_file)  # nbgrader's matching, and ids that stay in their folder
        if not info:
            return info
        match = re.match(self.named_regexp, submitted_file)
        if match["file_id"] + ".ipynb" != NOTEBOOK:
            why = f"not the assignment's notebook {NOTEBOOK}"
        elif self.rank(match) < self.latest[match["student_id"]]:
            why = f"an older submission of {match['student_id']}"
        else:
            return info
        self.log.warning("Skipped %s: %s", self.shown(submitted_file), why)
        return None


def _copy_in(archive, folder):
    """Copy ``archive`` (opened without following a link) alone into ``folder``, made afresh."""
    fd = os.open(archive, FILE_FLAGS)
    with os.fdopen(fd, "rb") as source:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        with open(folder / Path(archive).name, "wb") as target:
            shutil.copyfileobj(source, target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("archive", type=Path, help="the LMS's download (.zip, .tar or .tar.gz)")
    parser.add_argument("--lms", choices=list(NAMES), default="canvas", help="whose file names (canvas)")
    parser.add_argument("--course", type=Path, default=Path.cwd(), help="course directory (default: here)")
    args = parser.parse_args(argv)
    course = args.course.resolve()
    try:
        _copy_in(args.archive, course / "downloaded" / ASSIGNMENT / "archive")
    except OSError as error:
        parser.error(f"cannot read {args.archive}: {error.strerror} (a link is not followed)")
    command = [sys.executable, "-m", "nbgrader", "zip_collect", ASSIGNMENT, "--force", "--strict"]
    command += ["--ZipCollectApp.collector_plugin=nst_grader.lms.LMSCollector", f"--LMSCollector.lms={args.lms}"]
    result = subprocess.run(command, cwd=course, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-3000:] + result.stderr[-5000:])
        return result.returncode
    submitted = course / "submitted"
    placed = sorted(path.name for path in submitted.iterdir() if (path / ASSIGNMENT / NOTEBOOK).is_file())
    # nbgrader's log names each file or archive member left out, and why (and once more, without why).
    extracted = f"{course / 'downloaded' / ASSIGNMENT / 'extracted'}/"
    left_out = [
        line.split("Skipped", 1)[1].strip().replace(extracted, "")
        for line in (result.stdout + result.stderr).splitlines()
        if "WARNING" in line and "Skipped" in line and "no match information" not in line
    ]
    with (course / LOG).open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["student", "placed", "why"])
        writer.writerows([[student, "yes", ""] for student in placed] + [["", "no", line] for line in left_out])
    print(f"placed {len(placed)} submissions in submitted/: {', '.join(placed) or 'none'}")
    for line in left_out:
        print(f"left out: {line}")
    print(f"the list: {course / LOG}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
