"""Student output made inert wherever the instructor's browser renders it.

Formgrader (nbgrader's, in JupyterLab) renders each graded notebook with nbconvert, in the origin
that can change any student's grade; the feedback page and the report are opened there too. A
student's output or markdown cell could carry a ``<script>``, an ``onerror=`` handler, an iframe, a
form, a ``javascript:`` link, an SVG with a script, or a JavaScript or widget output.

``InertOutputs`` is nbconvert's ``SanitizeHTML`` (bleach), enabled wherever it is listed: every code
cell output keeps only plain text, JSON, PNG and JPEG as they are; HTML and markdown outputs keep only
bleach's small set of harmless tags (the rest is escaped: shown as text), with no event handler
and only http, https and mailto links; every other type (JavaScript, widgets, SVG, the results
bundle of ``nst_checks``) is removed. Markdown and raw cells are bleached the same way (the
assignment's own markdown holds no HTML: it renders as before).

It runs on the graded notebook before it is saved (``Autograde.autograde_preprocessors``: what
formgrader shows is already inert, whatever formgrader's own settings), and on the feedback
notebook after the student's outputs are put back (``GenerateFeedback.preprocessors``). The
feedback page's exporter also sanitises at render time (``HTMLExporter.sanitize_html``), and the
report escapes everything it shows (``nst_grader.report``).
"""

from nbconvert.preprocessors.sanitize import SanitizeHTML
from traitlets import Bool


class InertOutputs(SanitizeHTML):
    """nbconvert's ``SanitizeHTML``, enabled: nbgrader registers preprocessors without enabling them."""

    enabled = Bool(True)

    def preprocess(self, nb, resources):
        nb, resources = super().preprocess(nb, resources)
        # Widget state is rendered into a script tag of the page: it has no place in a graded notebook.
        nb.metadata.pop("widgets", None)
        return nb, resources
