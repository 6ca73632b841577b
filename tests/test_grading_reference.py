"""The grader's numpy references against TensorFlow, which the student's kernel runs.

``nst_grader.reference`` writes every gradient out by hand and takes train_step's SGD steps in numpy,
so that grading needs no TensorFlow. Here each reference meets real TensorFlow on the graded cells'
inputs: the cost exercises' values and gradients in both worlds (with and without the stand-in), and
train_step's stand-in costs, their gradients and whole runs of SGD steps, the right way and each
typical mistake's way.
"""

import numpy as np
import pytest
import tensorflow as tf

import nst_checks
from neural_style import losses
from nst_grader import expected, reference
from submission_corpus import CORRECT
from test_checks import GRADED, namespace, student_function, true_layer_style_cost

COST_EXERCISES = sorted(set(nst_checks.FUNCTIONS) - {"train_step"})
STEP_CASES = [expected.VISIBLE_CASES["train_step"], *GRADED["train_step"]]


@pytest.mark.parametrize("exercise", COST_EXERCISES)
def test_numpy_references_match_tensorflow_gradients(exercise):
    """The grader's hand-written gradients equal TensorFlow's, in both worlds."""
    tf_references = {
        "content_cost": losses.content_loss,
        "gram_matrix": lambda A: tf.matmul(A, A, transpose_b=True),
        "layer_style_cost": true_layer_style_cost,
        "style_cost": None,  # a correct compute_style_cost, from the corpus
        "total_cost": lambda J_content, J_style, alpha=10, beta=40: alpha * J_content + beta * J_style,
    }
    function = tf_references[exercise] or student_function(CORRECT["style_constant_accumulator"])
    for case in GRADED[exercise]:
        measured = nst_checks.measure(exercise, function, case, namespace=namespace())
        variants = expected.expectation(exercise, case)["variants"]
        for run in measured.values():
            assert "error" not in run, run
            assert any(
                nst_checks.close(run["value"], variant["value"])
                and nst_checks.close(run["gradient"], variant["gradient"])
                for variant in variants
            ), (case, run, variants)
    if exercise in expected.WORLDS:  # with the stand-in in place: the stand-in world must match
        stand_in = nst_checks.STAND_IN_FOR[exercise]
        calling = {
            "layer_style_cost": CORRECT["layer_float32_constant"],
            "style_cost": CORRECT["style_constant_accumulator"],
        }[exercise]
        for case in GRADED[exercise]:
            run = nst_checks.measure(exercise, student_function(calling), case)["eager"]
            world = expected.expectation(exercise, case)["variants"][0]
            assert nst_checks.close(run["value"], world["value"]), stand_in
            assert nst_checks.close(run["gradient"], world["gradient"]), stand_in


def step_inputs(case):
    """``(float32 inputs, float64 copies)`` of a train_step case: image, network, targets, learning rate."""
    arrays, _ = nst_checks.make_inputs("train_step", case)
    return arrays, [np.asarray(value, np.float64) if isinstance(value, np.ndarray) else value for value in arrays]


def followed_cost(costs, followed):
    """The cost whose gradient a step follows (``reference.STEP_FORMS``), from ``(J_content, J_style, J)``."""
    J_content, J_style, J = costs
    return {"content": J_content, "style": J_style, "sum": J_content + J_style, "total": J}[followed]


@pytest.mark.parametrize("case", STEP_CASES)
def test_stand_in_costs_and_gradients_match_tensorflow(case):
    arrays, float64 = step_inputs(case)
    image, *network, _ = arrays
    costs, gradients = reference.stand_in_costs(*float64[:-1])
    variable = tf.Variable(image)
    compute_costs = nst_checks.stand_in_costs(*network)
    for followed, gradient in gradients.items():
        with tf.GradientTape() as tape:
            tf_costs = compute_costs(variable)
            cost = followed_cost(tf_costs, followed)
        np.testing.assert_allclose([float(value) for value in tf_costs], costs, rtol=1e-5)
        tf_gradient = tape.gradient(cost, variable).numpy()
        np.testing.assert_allclose(tf_gradient, gradient, rtol=1e-4, atol=1e-5 * np.abs(gradient).max())
    assert len({float(np.abs(gradient).sum()) for gradient in gradients.values()}) == len(gradients)


@pytest.mark.parametrize("form", [None, *reference.MISTAKE_FORMS["train_step"]])
@pytest.mark.parametrize("case", STEP_CASES)
def test_sgd_steps_match_tensorflow(case, form):
    """Each step of the reference, the right way and each mistake's way, is what Keras' SGD and
    TensorFlow's clipping do to the image (costs before, image after, costs after)."""
    arrays, float64 = step_inputs(case)
    image, *network, learning_rate = arrays
    followed, clipped = reference.STEP_FORMS[form]
    variable = tf.Variable(image)
    optimizer = tf.keras.optimizers.SGD(learning_rate=learning_rate)
    compute_costs = nst_checks.stand_in_costs(*network)
    for step in reference.train_step(*float64, mistake=form):
        with tf.GradientTape() as tape:
            costs = compute_costs(variable)
            cost = followed_cost(costs, followed)
        optimizer.apply_gradients([(tape.gradient(cost, variable), variable)])
        if clipped:
            variable.assign(tf.clip_by_value(variable, 0.0, 1.0))
        np.testing.assert_allclose([float(cost) for cost in costs], step["costs"], rtol=1e-5)
        np.testing.assert_allclose(variable.numpy(), step["image"], rtol=0, atol=1e-5)
        np.testing.assert_allclose([float(cost) for cost in compute_costs(variable)], step["costs_after"], rtol=1e-5)
    assert int(optimizer.iterations.numpy()) == nst_checks.TRAIN_STEPS
