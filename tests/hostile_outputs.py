"""A submission whose outputs attack the instructor's browser and the next year's inputs, and a
reader that finds what of it would run in a page (issue 29, part 2).

``leaky_submission`` is a solved notebook with two cells added at its end:

* a code cell that, while graded, prints IPython's history (``In``, ``_ih``: the restored hidden
  tests, with this year's secret seeds), then shows HTML with a ``<script>``, an ``onerror=``
  handler, an iframe, a form and a ``javascript:`` link, and a JavaScript output; each would set
  ``window.nstPwned``, change the page's title and ask ``BEACON_URL`` (a loopback listener) for a
  path. In the submitted notebook its outputs are what the student saw: ``STUDENT_OUTPUT``, and
  the same HTML;
* a markdown cell with a ``<script>`` of its own.
"""

import html.parser

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_output

STUDENT_OUTPUT = "what-the-student-saw-in-their-notebook"
MARKER = "nstPwned"


def payload_html(beacon):
    """HTML in which each live part sets ``window.nstPwned``, retitles the page and calls ``beacon``."""
    act = f"window.{MARKER}=1;document.title='pwned';fetch('{beacon}/%s')"
    return (
        f"<script>{act % 'script'}</script>"
        f'<img src="data:," onerror="{act % "onerror"}">'
        f"<svg><script>{act % 'svg'}</script></svg>"
        f'<iframe srcdoc="<script>parent.{MARKER}=1</script>"></iframe>'
        f'<form action="{beacon}/form"><input name="x" autofocus onfocus="{act % "onfocus"}"></form>'
        f'<a href="javascript:{act % "link"}">link</a>'
    )


def hostile_cell_source(beacon):
    return f"""from IPython.display import HTML, Javascript, display
print("\\n".join(In))
print(_ih)
display(HTML({payload_html(beacon)!r}))
display(Javascript({f"window.{MARKER}=1;fetch('{beacon}/javascript')"!r}))
"""


def leaky_submission(solved, beacon):
    """A copy of the ``solved`` notebook with the hostile code and markdown cells at its end."""
    notebook = nbformat.from_dict(solved)
    code = new_code_cell(hostile_cell_source(beacon))
    code.outputs = [
        new_output("stream", name="stdout", text=STUDENT_OUTPUT + "\n"),
        new_output("display_data", data={"text/html": payload_html(beacon), "text/plain": "<HTML>"}),
    ]
    notebook.cells.append(code)
    notebook.cells.append(new_markdown_cell(f"My notes <script>window.{MARKER}=1;fetch('{beacon}/markdown')</script>"))
    return notebook


class _LiveParts(html.parser.HTMLParser):
    """Collects where ``MARKER`` would run: inside a script, an event handler, a ``javascript:``
    URL, an iframe's source; and every iframe, object, embed and form."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.live, self._in_script = [], False

    def handle_starttag(self, tag, attrs):
        if tag in ("iframe", "object", "embed", "form"):
            self.live.append(f"<{tag}>")
        if tag == "script":
            self._in_script = True
        for name, value in attrs:
            value = value or ""
            if MARKER in value and (
                name.startswith("on") or name == "srcdoc" or value.strip().lower().startswith("javascript:")
            ):
                self.live.append(f"<{tag} {name}=...>")
            elif value.strip().lower().startswith("javascript:"):
                self.live.append(f"<{tag} {name}=javascript:...>")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and MARKER in data:
            self.live.append("<script>")


def live_parts(page):
    """What of the hostile payload would run in ``page`` (an HTML text): empty when it is inert."""
    parser = _LiveParts()
    parser.feed(page)
    parser.close()
    return parser.live
