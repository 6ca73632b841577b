"""The checks and the grader's judgement, in process: fast, with real TensorFlow.

The same code judges the notebook's visible checks (in the student's kernel) and its graded cells
(in the autograder, ``nst_grader``); ``test_grading.py`` runs the graded path through the real
nbgrader. Here every correct variant and every typical mistake of ``submission_corpus`` goes
through both on their own inputs. ``test_grading_reference.py`` checks the grader's numpy
references against TensorFlow.
"""

import ast
import json
from pathlib import Path

import nbformat
import numpy as np
import pytest
import tensorflow as tf

import nst_checks
from neural_style import losses
from nst_grader import expected, reference
from nst_grader.scoring import reported_call, verdict
from submission_corpus import CORRECT, MISTAKES, Variant

ROOT = Path(__file__).resolve().parents[1]
SOURCE_NOTEBOOK = ROOT / "notebooks" / "art_generation" / "Art_Generation_with_Neural_Style_Transfer.ipynb"


def graded_cases():
    """exercise -> the cases of its graded cell in the source notebook."""
    notebook = nbformat.read(SOURCE_NOTEBOOK, as_version=4)
    calls = [reported_call(cell.source) for cell in notebook.cells if cell.cell_type == "code"]
    return dict(filter(None, calls))


GRADED = graded_cases()

# Mistakes whose hints no submission of the corpus earns; kept here, out of the slow nbgrader runs of
# the corpus, since only the checks' judgement needs them.
OTHER_MISTAKES = {
    "content_stub_left": Variant(
        "content_cost",
        """
def compute_content_cost(a_C, a_G):
    # YOUR CODE HERE
    raise NotImplementedError()
""",
        "not_implemented",
    ),
    "content_per_channel": Variant(
        "content_cost",
        """
def compute_content_cost(a_C, a_G):
    return tf.reduce_mean(tf.square(a_C - a_G), axis=[0, 1, 2]) / 4
""",
        "not_scalar",
    ),
    "content_half_gradient": Variant(
        "content_cost",
        """
def compute_content_cost(a_C, a_G):
    difference = a_C - a_G
    return tf.reduce_mean(tf.stop_gradient(difference) * difference) / 4
""",
        "wrong_gradient",
    ),
    "content_eager_only": Variant(
        "content_cost",
        """
def compute_content_cost(a_C, a_G):
    cost = tf.reduce_mean(tf.square(a_C - a_G)) / 4
    return cost if tf.executing_eagerly() else 2 * cost
""",
        "graph_differs",
    ),
    "step_float_costs": Variant(
        "train_step",
        """
def train_step(generated_image, optimizer, compute_costs):
    with tf.GradientTape() as tape:
        J_content, J_style, J = compute_costs(generated_image)
    optimizer.apply_gradients([(tape.gradient(J, generated_image), generated_image)])
    generated_image.assign(tf.clip_by_value(generated_image, 0.0, 1.0))
    return float(J_content), float(J_style), float(J)
""",
        "graph",
    ),
    "step_clips_when_eager_only": Variant(
        "train_step",
        """
def train_step(generated_image, optimizer, compute_costs):
    with tf.GradientTape() as tape:
        J_content, J_style, J = compute_costs(generated_image)
    optimizer.apply_gradients([(tape.gradient(J, generated_image), generated_image)])
    if tf.executing_eagerly():
        generated_image.assign(tf.clip_by_value(generated_image, 0.0, 1.0))
    return J_content, J_style, J
""",
        "graph_differs",
    ),
    # Known only by the error it raises: the grader keeps the error's type and, from nst_checks.RAISED_MISTAKES,
    # the mistake's key that the kernel reports beside it.
    "step_costs_outside_tape": Variant(
        "train_step",
        """
def train_step(generated_image, optimizer, compute_costs):
    J_content, J_style, J = compute_costs(generated_image)
    with tf.GradientTape() as tape:
        tape.watch(generated_image)
    optimizer.apply_gradients([(tape.gradient(J, generated_image), generated_image)])
    generated_image.assign(tf.clip_by_value(generated_image, 0.0, 1.0))
    return J_content, J_style, J
""",
        "tape_outside",
    ),
}
ALL_MISTAKES = {**MISTAKES, **OTHER_MISTAKES}


def true_layer_style_cost(a_S, a_G):
    return losses.style_layer_loss(losses.gram_matrix(a_S), a_G)


def namespace():
    """The notebook's globals as far as the exercises use them, with correct functions."""
    return {
        "tf": tf,
        "np": np,
        "STYLE_LAYERS": [list(layer) for layer in reference.DEFAULT_STYLE_LAYERS],
        "gram_matrix": lambda A: tf.matmul(A, A, transpose_b=True),
        "compute_layer_style_cost": true_layer_style_cost,
    }


def student_function(variant):
    scope = namespace()
    exec(variant.source, scope)  # noqa: S102 - the test corpus
    return scope[nst_checks.FUNCTIONS[variant.exercise]]


def judged(variant, case):
    """What the grader says of ``variant`` on ``case`` (None: right)."""
    measured = nst_checks.measure(variant.exercise, student_function(variant), case)
    return nst_checks.judge(variant.exercise, case, measured, expected.expectation(variant.exercise, case))


def scored(exercise, case, measured):
    """The graded cell's verdict on one case, as the grader gives it: ``measured`` is shown as
    ``nst_checks.report`` shows it, and ``nst_grader.scoring`` reads it back."""
    bundle = json.loads(json.dumps({"exercise": exercise, "results": [measured]}))
    return verdict(exercise, [case], [{"output_type": "display_data", "data": {nst_checks.RESULTS_MIME: bundle}}])


def graded(variant, case):
    """What the graded cell's verdict says of ``variant`` on ``case`` (None: right)."""
    return scored(variant.exercise, case, nst_checks.measure(variant.exercise, student_function(variant), case))


def test_every_exercise_has_variants_and_every_hint_a_mistake_that_earns_it():
    """What the corpora leave out goes untested: an exercise without a correct variant or a mistake, or
    a hint of nst_checks that no mistake earns."""
    for corpus in (CORRECT, MISTAKES):
        assert {variant.exercise for variant in corpus.values()} == set(nst_checks.FUNCTIONS)
    assert not set(OTHER_MISTAKES) & set(MISTAKES)
    assert {variant.hint for variant in ALL_MISTAKES.values()} == set(nst_checks.HINTS)


def test_expected_table_of_the_checks_is_current():
    assert expected.main(["--check"]) == 0, "run: python -m nst_grader.expected"


def test_graded_inputs_catch_what_students_get_wrong():
    assert set(GRADED) == set(nst_checks.FUNCTIONS)
    for exercise, cases in GRADED.items():
        visible_seed = expected.VISIBLE_CASES[exercise][0]
        assert all(seed != visible_seed for seed, _ in cases)
    for _, shape in GRADED["content_cost"] + GRADED["layer_style_cost"]:
        assert len(set(shape[1:])) == 3, shape  # n_H, n_W, n_C all differ
    for _, spec in GRADED["style_cost"] + [expected.VISIBLE_CASES["style_cost"]]:
        used = [(name, coefficient) for name, _, coefficient in spec if coefficient is not None]
        assert not np.isclose(sum(coefficient for _, coefficient in used), 1.0)
        assert len(used) < len(spec)  # the dicts hold other layers too
        in_network_order = sorted(used, key=lambda layer: nst_checks.NETWORK_LAYERS.index(layer[0]))
        assert used != in_network_order
    weights = [spec for _, spec in GRADED["total_cost"] if spec is not None]
    assert weights and all(alpha != beta and (alpha, beta) != (10, 40) for alpha, beta in weights)
    for case in GRADED["train_step"] + [expected.VISIBLE_CASES["train_step"]]:
        shape = case[1][0]
        assert shape[1] != shape[2], shape
        arrays = [
            np.asarray(value, np.float64) if isinstance(value, np.ndarray) else value
            for value in nst_checks.make_inputs("train_step", case)[0]
        ]
        unclipped = reference.train_step(*arrays, mistake="no_clip")[0]["image"]
        clipped = reference.train_step(*arrays)[0]["image"]
        assert np.any((unclipped < 0) | (unclipped > 1)), case  # a step large enough for clipping to matter,
        assert np.mean((clipped > 0) & (clipped < 1)) > 0.8, case  # small enough for its direction to show
        expectation = expected.expectation("train_step", case)
        right = np.array(expectation["steps"][0]["image"])
        for hint, image in expectation["mistakes"]:  # each mistake is far outside the tolerance
            assert np.max(np.abs(np.array(image) - right)) > 100 * nst_checks.RTOL, (case, hint)


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_correct_variant_passes_the_check_and_the_graded_inputs(name):
    variant = CORRECT[name]
    assert judged(variant, expected.VISIBLE_CASES[variant.exercise]) is None
    for case in GRADED[variant.exercise]:
        assert graded(variant, case) is None


@pytest.mark.parametrize("name", sorted(ALL_MISTAKES))
def test_mistake_fails_the_check_and_the_graded_inputs_with_its_hint(name):
    """The visible check catches each mistake as the graded cell's verdict does, on other inputs, with the
    same hint, though the grader reads only the type of an error that the kernel reports."""
    variant = ALL_MISTAKES[name]
    hint = nst_checks.HINTS[variant.hint]
    for case, verdict_of in [(expected.VISIBLE_CASES[variant.exercise], judged), (GRADED[variant.exercise][0], graded)]:
        message = verdict_of(variant, case)
        assert message is not None and hint in message, message
        # It names the inputs (never a seed, nor the graded cells' values drawn from it).
        assert nst_checks.describe(variant.exercise, case, show_values=False) in message
        assert "seed" not in message


def test_visible_check_raises_with_the_hint_and_prints_on_success(capsys):
    with pytest.raises(AssertionError, match="4 times too large"):
        nst_checks.check("content_cost", student_function(MISTAKES["content_mean"]))
    nst_checks.check("layer_style_cost", student_function(CORRECT["layer_reversed_axes"]))
    printed = capsys.readouterr().out
    assert "stand-in in place of your gram_matrix" in printed and "right" in printed


def _expected_output_text(exercise):
    """The text cell after the exercise's check in the source notebook (its "expected output")."""
    notebook = nbformat.read(SOURCE_NOTEBOOK, as_version=4)
    ids = [cell.metadata.get("nbgrader", {}).get("grade_id") for cell in notebook.cells]
    function = nst_checks.FUNCTIONS[exercise]
    after = notebook.cells[ids.index(f"check_{function}") + 1]
    assert after.metadata["nbgrader"]["grade_id"] == f"expected_{function}"
    return after.source


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_right_function_prints_the_notebooks_expected_output(name, capsys):
    """Each right variant's check ends with a line that the notebook's expected output shows, word for word."""
    variant = CORRECT[name]
    nst_checks.check(variant.exercise, student_function(variant))
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("It returned "), last
    shown = _expected_output_text(variant.exercise)
    assert last in shown or last.removeprefix("It returned ") in shown, (last, shown)


def test_visible_check_of_train_step_runs_on_a_stand_in_network(capsys):
    with pytest.raises(AssertionError, match="some pixels left"):
        nst_checks.check("train_step", student_function(MISTAKES["step_no_clip"]))
    nst_checks.check("train_step", student_function(CORRECT["step_keras_apply_watch"]))
    printed = capsys.readouterr().out
    assert "tiny stand-in network" in printed and "returned costs, eagerly and inside tf.function, are right" in printed


def test_a_mistake_key_beside_an_error_is_taken_only_from_the_allow_list():
    """The kernel names the costs-outside-the-tape mistake beside its ValueError, and the verdict gives its
    hint. A key that the allow-list does not hold for the exercise is ignored, as is any key beside a
    result: a forged key changes only the hint shown with a wrong answer."""
    case = GRADED["train_step"][0]
    measured = nst_checks.measure("train_step", student_function(OTHER_MISTAKES["step_costs_outside_tape"]), case)
    assert measured["eager"]["mistake"] == "tape_outside", measured

    def forged(key, measured=measured, exercise="train_step", case=case):
        runs = {name: {**run, "mistake": key} for name, run in measured.items()}
        return scored(exercise, case, runs)

    tape_hint = nst_checks.HINTS["tape_outside"]
    assert forged("tape_outside").endswith(f"raised ValueError; {tape_hint}.")
    for key in ("no_clip", "not_implemented", "Tape_outside", ["tape_outside"], {"a": 1}, None, 3):
        message = forged(key)
        assert message.endswith("raised ValueError."), (key, message)
    # The key of another exercise's mistake is not this exercise's.
    content_case = GRADED["content_cost"][0]
    content_error = {"error": "ValueError: no"}
    message = forged("tape_outside", {"eager": content_error, "graph": content_error}, "content_cost", content_case)
    assert message.endswith("raised ValueError."), message
    # Beside a right result or a wrong one, the key changes nothing.
    right = nst_checks.measure("train_step", student_function(CORRECT["step_keras_apply_watch"]), case)
    assert forged("tape_outside", right) is None
    no_clip = nst_checks.measure("train_step", student_function(MISTAKES["step_no_clip"]), case)
    assert nst_checks.HINTS["no_clip"] in forged("tape_outside", no_clip)
    assert tape_hint not in forged("tape_outside", no_clip)


def test_forged_train_step_results_earn_nothing():
    """The grader judges what a graded cell of train_step reports as a whole: results with steps left
    out, without the run inside tf.function, or with another image lose the exercise."""
    case = GRADED["train_step"][0]
    measured = nst_checks.measure("train_step", student_function(CORRECT["step_zip_lists_min_max"]), case)

    def graded(change):
        results = json.loads(json.dumps(measured))
        change(results)
        bundle = {"exercise": "train_step", "results": [results]}
        return verdict(
            "train_step", [case], [{"output_type": "display_data", "data": {nst_checks.RESULTS_MIME: bundle}}]
        )

    assert graded(lambda results: None) is None
    assert "malformed" in graded(lambda results: [run.update(steps=[]) for run in results.values()])
    assert "malformed" in graded(lambda results: results.pop("graph"))
    message = graded(
        lambda results: results["eager"]["steps"][1].update(
            image=[x * 1.01 for x in results["eager"]["steps"][1]["image"]]
        )
    )
    assert "image after step 2 is wrong" in message


def test_nst_checks_holds_no_train_step_solution():
    """nst_checks ships to students: it runs their train_step, but never takes a step itself."""
    source = ast.parse(Path(nst_checks.__file__).read_text())
    called = {
        node.func.attr
        for node in ast.walk(source)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }
    assert not called & {"apply_gradients", "apply", "minimize", "assign", "assign_sub", "clip_by_value"}


def test_graded_messages_never_show_the_expected_value():
    variant = MISTAKES["content_mean"]
    case = GRADED["content_cost"][0]
    [reference_value] = expected.expectation("content_cost", case)["variants"][0]["value"]
    message = judged(variant, case)
    assert f"{reference_value:.6g}" not in message
    shown = nst_checks.judge(
        "content_cost",
        case,
        nst_checks.measure("content_cost", student_function(variant), case),
        expected.expectation("content_cost", case),
        show_expected=True,
    )
    assert f"{reference_value:.6g}" in shown


def test_stand_ins_are_not_the_answers():
    """Borrowing a stand-in earns nothing: it is not the function it stands in for."""
    borrowed = {
        "gram_matrix": nst_checks.stand_in_gram_matrix,
        "layer_style_cost": nst_checks.stand_in_layer_style_cost,
    }
    for exercise, function in borrowed.items():
        case = GRADED[exercise][0]
        measured = nst_checks.measure(exercise, function, case, namespace={})
        assert nst_checks.judge(exercise, case, measured, expected.expectation(exercise, case)) is not None


def test_report_shows_only_results():
    """The graded cell's kernel-side code holds no expected value: only the judge does."""
    source = ast.parse(Path(nst_checks.__file__).read_text())
    report = next(node for node in source.body if isinstance(node, ast.FunctionDef) and node.name == "report")
    called = {
        node.func.id if isinstance(node.func, ast.Name) else node.func.attr
        for node in ast.walk(report)
        if isinstance(node, ast.Call)
    }
    assert "measure" in called and not called & {"judge", "close", "expectation"}
