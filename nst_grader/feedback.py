"""Feedback built from what the student submitted, plus the grader's verdicts.

``make feedback`` (``nbgrader generate_feedback``) renders the graded notebook
(``autograded/<student>/...``), whose outputs the grading kernel produced. A student's cell can make
that kernel print anything it can reach: IPython's history (``In``, ``_ih``) holds the restored
hidden-test cells, their seeds and shapes. So ``OutputsFromSubmission`` throws every output of the
graded notebook away, except the verdicts that ``nst_grader.scoring`` wrote into the graded cells,
and puts back, in each other code cell, the outputs that the same cell (same position, type and
source) has in the notebook the student submitted (``submitted/<student>/...``): what the student
saw, nothing the grader ran. The submitted notebook is read under ``nst_grader.intake``'s rules (no
link followed; a notebook that is not a private regular file gives no outputs).

Then ``ClearHiddenTests`` removes the hidden tests' source, and ``nst_grader.sanitize.InertOutputs``
makes what the student wrote inert in the page.
"""

import copy
import os
import stat
from pathlib import Path

import nbformat
from nbgrader import utils
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import NbGraderPreprocessor

from nst_grader import intake
from nst_grader.scoring import reported_call


def read_submitted(folder: str | Path, name: str) -> nbformat.NotebookNode | None:
    """The notebook ``name`` in the submission ``folder``, opened without following a link, or
    None if it is not a regular file of one name within ``intake.MAX_FILE_MB`` or does not parse."""
    try:
        root = intake.open_submission(folder)
    except OSError:
        return None
    try:
        fd = os.open(name, intake.FILE_FLAGS, dir_fd=root)
    except OSError:
        return None
    finally:
        os.close(root)
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1 or info.st_size > intake.MAX_FILE_MB * 2**20:
            return None
        data = file.read(intake.MAX_FILE_MB * 2**20 + 1)
    try:
        return nbformat.reads(data.decode("utf-8"), as_version=4)
    except Exception:  # any unreadable notebook: it gives no outputs
        return None


def _is_verdict_cell(cell):
    """A graded cell that ``nst_grader.scoring`` judged: its outputs are the grader's verdict."""
    return utils.is_grade(cell) and not utils.is_solution(cell) and reported_call(cell.source) is not None


class OutputsFromSubmission(NbGraderPreprocessor):
    """Replace the graded notebook's outputs by the submitted ones, keeping the graded cells' verdicts."""

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        coursedir = CourseDirectory(config=self.config)
        folder = Path(coursedir.format_path(coursedir.submitted_directory, info["student"], info["assignment"]))
        submitted = read_submitted(folder, f"{info['notebook']}.ipynb")
        submitted_cells = submitted.cells if submitted is not None else []
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code" or _is_verdict_cell(cell):
                continue
            same = submitted_cells[index] if index < len(submitted_cells) else None
            if same is not None and same.cell_type == "code" and same.source == cell.source:
                cell.outputs = copy.deepcopy(same.get("outputs", []))
                cell.execution_count = same.get("execution_count")
            else:
                cell.outputs, cell.execution_count = [], None
        return nb, resources
