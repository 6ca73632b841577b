"""nbgrader course configuration: the repository root is the course directory.

notebooks/art_generation/   source (solutions + hidden tests)   -> make release
release/art_generation/     the student bundle
submitted/<student>/art_generation/                             -> make autograde
autograded/, feedback/, gradebook.db, grades.csv                (generated, not committed)
course_secret.key                                               the course's secret (not committed)
"""

import os

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    ClearHiddenTests,
    ClearOutput,
    DeduplicateIds,
    GetGrades,
    IgnorePattern,
    LimitOutput,
    OverwriteKernelspec,
    SaveAutoGrades,
)

from nst_grader import admitted
from nst_grader.cells import RestoreGradedCells
from nst_grader.collect import AdmittedCollector, AdmittedExtractor
from nst_grader.execute import LimitedExecute
from nst_grader.feedback import OutputsFromSubmission
from nst_grader.sandbox import SandboxedKernelManager
from nst_grader.sanitize import InertOutputs
from nst_grader.scoring import ScoreReportedResults
from nst_grader.secret import KEY_FILE, SecretInputs

c = get_config()  # noqa: F821 - provided by nbgrader

# nbgrader autograde and generate_feedback read a student's folder only as nst_grader.intake copies
# it: no link followed, only regular files and folders; a notebook that is not a regular file is not
# graded (nst_grader/admitted.py).
admitted.install()
# nbgrader zip_collect unpacks only regular files, within limits, and never outside submitted/
# (nst_grader/collect.py).
c.ZipCollectApp.extractor_plugin = AdmittedExtractor
c.ZipCollectApp.collector_plugin = AdmittedCollector

c.CourseDirectory.source_directory = "notebooks"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
c.CourseDirectory.db_url = "sqlite:///gradebook.db"
c.CourseDirectory.course_id = "deep-learning-and-art"
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "outputs", "pretrained-model"]

# What students get in place of a solution.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# Autograding: a cell that hangs is interrupted after this many seconds and scores 0; the other
# cells still run. A submission normally grades in a few seconds (NBGRADER_EXECUTION skips the
# network and the optimisation; the visible checks are not run), even on a loaded grader.
c.Execute.timeout = 20
c.Execute.interrupt_on_timeout = True
# The whole notebook gets 120 s from its kernel's start. A cell may send 1 MB of output, the notebook
# 4 MB: past either, the rest is dropped. Past the notebook's limits, the cells after are not run
# (nst_grader/execute.py). Every limit a notebook meets is noted in nbgrader's log and in grading_log.csv.
c.LimitedExecute.notebook_timeout = 120
c.LimitedExecute.cell_output_limit_kb = 1024
c.LimitedExecute.notebook_output_limit_kb = 4096
# Every notebook runs in a bubblewrap sandbox (nst_grader/sandbox.py): no network, nothing of the
# course but the student's own copy, limits on memory, processes and file size; the grader accepts
# no message over 16 MB from a kernel.
c.Execute.kernel_manager_class = SandboxedKernelManager
c.Autograde.create_student = True
# Before the notebook runs, SecretInputs draws the graded cells' inputs from the course's secret, a
# key next to this file, created on first use; rotate it each year (nst_grader/secret.py,
# docs/threat-model.md). Grades are decided outside the student's kernel: right after nbgrader has
# run the notebook, ScoreReportedResults judges what each graded cell reported and rewrites its
# outputs, from which SaveAutoGrades scores it (see nst_grader/scoring.py). InertOutputs leaves no
# script, handler, frame, form or JavaScript output in what formgrader renders (nst_grader/sanitize.py).
c.SecretInputs.key_file = os.path.join(os.path.dirname(os.path.abspath(__file__)), KEY_FILE)
c.Autograde.autograde_preprocessors = [
    SecretInputs,
    LimitedExecute,
    ScoreReportedResults,
    IgnorePattern,
    ClearMetadataPreprocessor,
    LimitOutput,
    InertOutputs,
    SaveAutoGrades,
    AssignLatePenalties,
    CheckCellMetadata,
]
# A deleted graded cell is put back (and run), so deleting one changes nothing.
c.Autograde.sanitize_preprocessors = [
    ClearOutput,
    DeduplicateIds,
    OverwriteKernelspec,
    RestoreGradedCells,
    CheckCellMetadata,
]
# Feedback (make feedback) is the student's submitted notebook with its own outputs, plus each graded
# cell's verdict and hint: nothing the grading kernel printed, never the hidden code
# (nst_grader/feedback.py), and nothing live in the page.
c.GenerateFeedback.preprocessors = [
    GetGrades,
    OutputsFromSubmission,
    ClearHiddenTests,
    InertOutputs,
    CSSHTMLHeaderPreprocessor,
]
c.HTMLExporter.sanitize_html = True
