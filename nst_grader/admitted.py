"""Plain ``nbgrader autograde`` and ``nbgrader generate_feedback`` reading a student's folder only
through ``nst_grader.intake``.

nbgrader's converters read the folder they convert (``submitted/<student>/<assignment>/`` for
autograde, ``autograded/...`` for feedback) with plain ``open`` and ``shutil.copy``, following every
link, as whoever runs them (root, often): a link in a submission copied ``/etc/shadow`` or the
gradebook into ``autograded/`` and then ``feedback/``, a link to a character device hung the run.
Their apps build the converter by name, with no setting to choose another class, so ``install()``
(called by the course's ``nbgrader_config.py``) puts these subclasses in place of ``Autograde`` and
``GenerateFeedback`` where nbgrader's apps and its API look them up.

Before anything else is done for a student (``init_destination``), the subclasses copy that
student's folder with ``intake.admit`` into a staging folder of their own (the notebooks that the
gradebook knows must be regular files; any other entry that is not is dropped), and from then on every
read of that folder is a read of the staged copy: the files copied beside the notebook, the
``timestamp.txt`` and the notebook itself. So nothing but the regular files that ``intake`` admits
is ever opened. A notebook that is not a regular file (a link to the source notebook or a peer's,
a FIFO, a device...) raises ``intake.Refused``: nbgrader logs that student's submission as failed,
with the reason, removes whatever it had written for it, and goes on with the others (its exit
status then says that one failed). Dropped entries are logged as a warning.
"""

import os
import shutil
import tempfile
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.converters import Autograde, GenerateFeedback
from nbgrader.converters.base import BaseConverter

from nst_grader.intake import admit
from nst_grader.sandbox import temp_prefix


class AdmittedFolders(BaseConverter):
    """A converter that reads each student's input folder only as ``intake.admit`` copied it."""

    _staging = None  # (the student's input folder, absolute; its staged copy; the staging folder)

    def _clear_staging(self):
        if self._staging is not None:
            shutil.rmtree(self._staging[2], ignore_errors=True)
            self._staging = None

    def init_destination(self, assignment_id, student_id):
        self._clear_staging()
        source = os.path.abspath(super()._format_source(assignment_id, student_id))
        staging = tempfile.mkdtemp(prefix=temp_prefix("grade"))
        staged = os.path.join(staging, "input")
        try:
            intake = admit(source, staged, self._graded_notebooks(assignment_id))
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        self._staging = (source, staged, staging)
        if intake.dropped:
            self.log.warning("%s: %s", source, intake.dropped_text())
        return super().init_destination(assignment_id, student_id)

    def _graded_notebooks(self, assignment_id):
        """The file names of the notebooks found for the student that the gradebook knows: each must
        be a regular file (another ``.ipynb``, which nbgrader skips, is dropped if it is not)."""
        found = sorted({os.path.basename(path) for path in self.notebooks})
        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gradebook:
            try:
                known = {f"{notebook.name}.ipynb" for notebook in gradebook.find_assignment(assignment_id).notebooks}
            except MissingEntry:  # nbgrader says so itself, later
                return found
        return [name for name in found if name in known]

    def _format_source(self, assignment_id, student_id, escape=False):
        real = super()._format_source(assignment_id, student_id, escape=escape)
        if self._staging is not None and not escape and os.path.abspath(real) == self._staging[0]:
            return self._staging[1]
        return real

    def convert_single_notebook(self, notebook_filename):
        """Read a notebook of the student's folder from its staged copy (nbgrader still names it by
        its own path, from which it learns the student and the notebook)."""
        folder = os.path.dirname(os.path.abspath(notebook_filename))
        if self._staging is None or folder != self._staging[0]:
            return super().convert_single_notebook(notebook_filename)
        self.log.info("Converting notebook %s (as admitted)", notebook_filename)
        resources = self.init_single_notebook_resources(notebook_filename)
        staged = Path(self._staging[1]) / os.path.basename(notebook_filename)
        output, resources = self.exporter.from_filename(str(staged), resources=resources)
        self.write_single_notebook(output, resources)
        return None

    def start(self):
        try:
            super().start()
        finally:
            self._clear_staging()


class AdmittedAutograde(Autograde, AdmittedFolders):
    """nbgrader's ``Autograde``, reading ``submitted/`` through ``intake``."""


class AdmittedFeedback(GenerateFeedback, AdmittedFolders):
    """nbgrader's ``GenerateFeedback``, reading ``autograded/`` through ``intake``."""


def install() -> None:
    """Make nbgrader's apps and API use these converters (see the module docstring)."""
    from nbgrader.apps import api, autogradeapp, generatefeedbackapp

    for module in (api, autogradeapp):
        module.Autograde = AdmittedAutograde
    for module in (api, generatefeedbackapp):
        module.GenerateFeedback = AdmittedFeedback
