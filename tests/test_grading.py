"""Grades students can trust, through ``nbgrader generate_assignment`` and the real
``nbgrader autograde`` (which runs each notebook in a real kernel of this environment):

* every correct variant of ``submission_corpus`` scores full marks;
* every typical mistake loses exactly its exercise's points, and the graded cell says why;
* every tampering attempt scores nothing it did not implement.

Correct variants and mistakes are bundled, one exercise of each per submission: exercises are
graded on their own, which the "broken" submissions show (a broken gram_matrix or layer style cost
costs nothing to the exercises built on it). The submissions are split between two courses, graded
by two ``nbgrader autograde`` processes at once.
"""

import shutil
import socket
import threading

import nbformat
import pytest

import nst_checks
from course import (ASSIGNMENT, NOTEBOOK, SOURCE_NOTEBOOK, cell_by_grade_id, error_text, fill_solutions,
                    make_course, nbgrader_in_parallel, read_notebook, scores)
from submission_corpus import CORRECT, MISTAKES, TAMPERING, bundles

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None,
                                reason="needs bubblewrap (apt-get install bubblewrap; .ci/run installs it)")

POINTS = {"compute_content_cost": 2, "gram_matrix": 2, "compute_layer_style_cost": 3, "compute_style_cost": 2,
          "total_cost": 1}
GRADE_IDS = {exercise: f"test_{function}" for exercise, function in nst_checks.FUNCTIONS.items()}
TOTAL = sum(POINTS.values())
# Autograding with the configured Execute.timeout (20 s) would spend 40 s on the hanging
# submission (its check cell and its graded cell each hang); 10 s is still far above any real cell.
TIMEOUT_S = 10

HANG = """
def compute_content_cost(a_C, a_G):
    while True:
        pass
"""
SYNTAX_ERROR = """
def gram_matrix(A):
    return tf.matmul(A, tf.transpose(A)
"""
CRASH = """
def compute_layer_style_cost(a_S, a_G):
    raise RuntimeError("not finished")
"""
# A cell that tries to reach what the sandbox hides, and prints what it got. COURSE and PORT are
# filled in by the test: the course directory and a port on which the test listens.
ESCAPE = """
import glob, os, socket
reached = []
for pattern in ("../../../notebooks/*/*.ipynb", "../../../gradebook.db", "../../../nbgrader_config.py",
                "../../../submitted/*/*/*.ipynb", "COURSE/*", "COURSE/notebooks/*/*.ipynb", "/root/*", "/work/*/*"):
    for path in glob.glob(pattern):
        try:
            with open(path, "rb") as file:
                file.read(16)
            reached.append(path)
        except OSError:
            pass
for path in ("../../../written-by-a-student", "COURSE/written-by-a-student", "/tmp/../written", "nst_checks.py"):
    try:
        with open(path, "a") as file:
            file.write("x")
        reached.append("wrote " + path)
    except OSError:
        pass
try:
    socket.create_connection(("127.0.0.1", PORT), timeout=3).sendall(b"hidden tests")
    reached.append("network")
except OSError:
    pass
for module in ("neural_style.losses", "nst_grader.reference"):  # the instructor's reference code
    try:
        __import__(module)
        reached.append(module)
    except ImportError:
        pass
print("REACHED:", reached)
"""
FORK_FLOOD = """
import os, time
children = 0
try:
    for _ in range(5000):
        if os.fork() == 0:
            time.sleep(1)
            os._exit(0)
        children += 1
except OSError as error:
    print(f"FORKS STOPPED after {children}: {error}")
for _ in range(children):
    os.wait()  # reaped, the kernel can start threads again
"""
MEMORY_BOMB = """
hoard = bytearray(16 * 2**30)
"""
CORRECT_BUNDLES = bundles(CORRECT)
MISTAKE_BUNDLES = bundles(MISTAKES)


def with_variants(notebook, variants):
    notebook = nbformat.from_dict(notebook)
    for variant in variants:
        cell_by_grade_id(notebook, nst_checks.FUNCTIONS[variant.exercise]).source = variant.source.strip("\n")
    return notebook


def submissions(release, course, port):
    """student -> (notebook, exercises expected to score 0 (all others: full marks))."""
    solved = fill_solutions(release, read_notebook(SOURCE_NOTEBOOK))
    subs = {"release": (release, set(nst_checks.FUNCTIONS)), "solved": (solved, set())}
    for index, bundle in enumerate(CORRECT_BUNDLES):
        subs[f"correct-{index}"] = (with_variants(solved, bundle.values()), set())
    for index, bundle in enumerate(MISTAKE_BUNDLES):
        subs[f"mistakes-{index}"] = (with_variants(solved, bundle.values()),
                                     {variant.exercise for variant in bundle.values()})
    for name, attempt in TAMPERING.items():
        implemented = {nst_checks.FUNCTIONS[exercise] for exercise in attempt.implemented}
        notebook = attempt.change(fill_solutions(release, read_notebook(SOURCE_NOTEBOOK), implemented))
        subs[f"tamper-{name}"] = (notebook, set(nst_checks.FUNCTIONS) - attempt.implemented)
    for name, exercise, source in (("hang", "content_cost", HANG), ("syntax-error", "gram_matrix", SYNTAX_ERROR),
                                   ("crash", "layer_style_cost", CRASH)):
        notebook = nbformat.from_dict(solved)
        cell_by_grade_id(notebook, nst_checks.FUNCTIONS[exercise]).source = source.strip("\n")
        subs[name] = (notebook, {exercise})
    # Hostile cells in the first exercise: the stub stays, so content_cost scores 0.
    escape = ESCAPE.replace("COURSE", str(course)).replace("PORT", str(port))
    for name, code in (("escape", escape), ("fork-flood", FORK_FLOOD), ("memory-bomb", MEMORY_BOMB)):
        notebook = fill_solutions(release, read_notebook(SOURCE_NOTEBOOK),
                                  set(nst_checks.FUNCTIONS.values()) - {"compute_content_cost"})
        cell = cell_by_grade_id(notebook, "compute_content_cost")
        cell.source = code.strip("\n") + "\n\n" + cell.source
        subs[name] = (notebook, {"content_cost"})
    return subs


@pytest.fixture(scope="module")
def listener():
    """A TCP server on 127.0.0.1 that records every connection (none may come from a notebook)."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    connections, stop = [], threading.Event()

    def accept():
        while not stop.is_set():
            try:
                connections.append(server.accept()[0].recv(100))
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], connections
    stop.set()
    thread.join()
    server.close()


@pytest.fixture(scope="module")
def graded(tmp_path_factory, listener):
    """Submit everything, autograde it: {"students": {student: (scores, total, notebook, lost)},
    "courses": the two course directories}."""
    first = make_course(tmp_path_factory.mktemp("grading") / "course")
    second = first.parent / "course-2"
    shutil.copytree(first, second)
    release_dir = first / "release" / ASSIGNMENT
    subs = submissions(read_notebook(release_dir / NOTEBOOK), first.parent, listener[0])
    course_of = {student: (first, second)[index % 2] for index, student in enumerate(subs)}
    for student, (notebook, _) in subs.items():
        folder = course_of[student] / "submitted" / student / ASSIGNMENT
        shutil.copytree(release_dir, folder)
        nbformat.write(notebook, folder / NOTEBOOK)
    nbgrader_in_parallel([first, second], "autograde", ASSIGNMENT, "--force", f"--Execute.timeout={TIMEOUT_S}")
    result = {}
    for course in (first, second):
        students = [student for student in subs if course_of[student] == course]
        for student, (cell_scores, total) in scores(course, students).items():
            notebook = read_notebook(course / "autograded" / student / ASSIGNMENT / NOTEBOOK)
            result[student] = (cell_scores, total, notebook, subs[student][1])
    return {"students": result, "courses": (first, second)}


def assert_scores(graded, student):
    """Exactly the exercises expected to be lost score 0; all others full marks."""
    cell_scores, total, notebook, lost = graded["students"][student]
    assert set(cell_scores) == set(GRADE_IDS.values())
    for exercise, grade_id in GRADE_IDS.items():
        score, max_score = cell_scores[grade_id]
        assert max_score == POINTS[nst_checks.FUNCTIONS[exercise]]
        expected = 0 if exercise in lost else max_score
        assert score == expected, (f"{student}: {grade_id} scored {score}/{max_score}\n"
                                   + error_text(cell_by_grade_id(notebook, grade_id)))
    assert total == TOTAL - sum(POINTS[nst_checks.FUNCTIONS[exercise]] for exercise in lost)
    return notebook


def test_the_solved_release_gets_full_marks(graded):
    assert_scores(graded, "solved")


def test_the_untouched_release_scores_zero_and_says_what_to_do(graded):
    notebook = assert_scores(graded, "release")
    for grade_id in GRADE_IDS.values():
        assert nst_checks.HINTS["not_implemented"] in error_text(cell_by_grade_id(notebook, grade_id))


@pytest.mark.parametrize("index", range(len(CORRECT_BUNDLES)))
def test_correct_variants_get_full_marks(graded, index):
    assert_scores(graded, f"correct-{index}")


@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_mistake_loses_only_its_exercise_with_its_hint(graded, name):
    index = next(index for index, bundle in enumerate(MISTAKE_BUNDLES) if name in bundle)
    notebook = assert_scores(graded, f"mistakes-{index}")
    mistake = MISTAKES[name]
    message = error_text(cell_by_grade_id(notebook, GRADE_IDS[mistake.exercise]))
    assert nst_checks.HINTS[mistake.hint] in message, message
    assert " on " in message and "seed" not in message  # names the inputs' shapes, not a seed


@pytest.mark.parametrize("name", sorted(TAMPERING))
def test_tampering_scores_nothing_it_did_not_implement(graded, name):
    assert_scores(graded, f"tamper-{name}")


def test_a_hanging_function_loses_only_its_exercise(graded):
    notebook = assert_scores(graded, "hang")
    message = error_text(cell_by_grade_id(notebook, GRADE_IDS["content_cost"]))
    assert "stopped before it reported any result" in message and "Interrupt" in message, message


def test_a_syntax_error_loses_only_its_exercise(graded):
    """gram_matrix does not exist: the layer style cost, built on it, still gets full marks."""
    notebook = assert_scores(graded, "syntax-error")
    assert "SyntaxError" in error_text(cell_by_grade_id(notebook, "gram_matrix"))


def test_a_crash_loses_only_its_exercise(graded):
    """compute_layer_style_cost raises: the style cost, built on it, still gets full marks."""
    notebook = assert_scores(graded, "crash")
    message = error_text(cell_by_grade_id(notebook, GRADE_IDS["layer_style_cost"]))
    assert "raised RuntimeError: not finished" in message, message


def printed(notebook, grade_id):
    return "".join(output.get("text", "") for output in cell_by_grade_id(notebook, grade_id).get("outputs", []))


def test_the_sandbox_hides_the_course_and_the_network(graded, listener):
    notebook = assert_scores(graded, "escape")
    text = printed(notebook, "compute_content_cost")
    assert "REACHED: []" in text, text
    assert listener[1] == []
    for course in graded["courses"]:
        assert not (course / "written-by-a-student").exists()
        assert not (course.parent / "written-by-a-student").exists()


def test_a_fork_flood_is_stopped_and_costs_only_its_exercise(graded):
    notebook = assert_scores(graded, "fork-flood")
    text = printed(notebook, "compute_content_cost")
    assert "FORKS STOPPED after" in text, text
    assert int(text.split("FORKS STOPPED after ")[1].split(":")[0]) < 256  # the process limit


def test_a_memory_bomb_is_stopped_and_costs_only_its_exercise(graded):
    notebook = assert_scores(graded, "memory-bomb")
    assert "MemoryError" in error_text(cell_by_grade_id(notebook, "compute_content_cost"))


def test_graded_cells_show_no_reported_results(graded):
    """The grader replaces each graded cell's outputs: nothing the kernel showed is kept."""
    for _, _, notebook, _ in graded["students"].values():
        for grade_id in GRADE_IDS.values():
            for output in cell_by_grade_id(notebook, grade_id).get("outputs", []):
                assert nst_checks.RESULTS_MIME not in output.get("data", {})
