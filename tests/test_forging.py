"""Results that cannot be forged cheaply, judged in process with real TensorFlow (issue 29, part 4).

The graded cells report whole value and gradient tensors, ``gram_matrix``'s gradient is taken along
a direction drawn from the case's (secret) seed, and the grader checks what it is sent. Here:

* a cost computed in numpy, with a hand-made gradient that is right only along the old public
  fingerprint direction (what earned 7 points before), loses its exercises;
* a kernel that replaces ``nst_checks.measure`` and reports numpy results with numerical gradients
  is judged by those values and gradients alone, on the secret inputs: right ones pass (the student
  knew the answer; docs/threat-model.md), and wrong or projected ones fail;
* reports that are not the shape ``nst_checks`` sends, or that carry text in their errors, are
  malformed or reduced to the error's type.
"""

import json

import numpy as np
import pytest
import tensorflow as tf

import nst_checks
from nst_grader import expected, reference
from nst_grader.scoring import verdict
from nst_grader.secret import secret_cases
from test_checks import GRADED

KEY = bytes(range(32))


def old_public_weights(size):
    """The fingerprint weights ``nst_checks`` used to take every projection along (public)."""
    return np.random.RandomState(0).uniform(-1.0, 1.0, size)


def along_old_direction(true_gradient):
    """A gradient that agrees with ``true_gradient`` along the old public direction only."""
    weights = old_public_weights(true_gradient.size).reshape(true_gradient.shape)
    return weights * np.sum(true_gradient * weights) / np.sum(weights**2)


def numpy_cost(value_and_gradient):
    """A TensorFlow function whose value comes from numpy and whose gradient is hand-made:
    ``value_and_gradient(a_G) -> (value, gradient)``, both float64 numpy (the gradient may come
    as a list of one, as ``nst_grader.reference`` gives it)."""

    def forward(a_G):
        value, gradient = value_and_gradient(a_G)
        gradient = np.asarray(gradient).reshape(a_G.shape)
        return np.float32(value), along_old_direction(gradient).astype(np.float32)

    @tf.custom_gradient
    def cost(a_G):
        value, gradient = tf.numpy_function(forward, [a_G], [tf.float32, tf.float32])
        value.set_shape(())
        gradient.set_shape(a_G.shape)
        return value, lambda upstream: upstream * gradient

    return cost


def forged_content_cost(a_C, a_G):
    return numpy_cost(lambda a_G: reference.content_cost(np.float64(a_C), a_G.astype(np.float64)))(a_G)


def forged_layer_style_cost(a_S, a_G):
    return numpy_cost(lambda a_G: reference.layer_style_cost(np.float64(a_S), a_G.astype(np.float64)))(a_G)


def forged_gram_matrix(A):
    """The Gram matrix from numpy, with the vector-Jacobian product of the old public upstream
    direction, whatever upstream gradient TensorFlow asks for."""
    n_C = A.shape[0]
    weights = old_public_weights(n_C**2).reshape(n_C, n_C)

    @tf.custom_gradient
    def gram(A):
        G = tf.numpy_function(lambda A: (A @ A.T).astype(np.float32), [A], tf.float32)
        G.set_shape((n_C, n_C))
        return G, lambda upstream: tf.constant(weights + weights.T, tf.float32) @ A

    return gram(A)


FORGED = {
    "content_cost": forged_content_cost,
    "gram_matrix": forged_gram_matrix,
    "layer_style_cost": forged_layer_style_cost,
}


@pytest.mark.parametrize("exercise", sorted(FORGED))
def test_a_gradient_right_only_along_the_old_public_direction_earns_nothing(exercise):
    cases = secret_cases(KEY, exercise, GRADED[exercise])
    for case in cases:
        measured = nst_checks.measure(exercise, FORGED[exercise], case, namespace={})
        run = measured["eager"]
        assert "error" not in run and run["kind"] == "tensor", run
        variants = expected.expectation(exercise, case)["variants"]
        # The forgery is faithful: its value is right, and so was its old fingerprint of the gradient.
        assert any(nst_checks.close(run["value"], variant["value"]) for variant in variants)
        if exercise != "gram_matrix":
            true = np.array(variants[-1]["gradient"])
            weights = old_public_weights(true.size)
            assert np.isclose(np.dot(run["gradient"], weights), np.dot(true, weights), rtol=1e-4)
            cosine = np.dot(run["gradient"], true) / np.linalg.norm(run["gradient"]) / np.linalg.norm(true)
            assert abs(cosine) < 0.5, cosine
        message = nst_checks.judge(exercise, case, measured, expected.expectation(exercise, case))
        assert message is not None and nst_checks.HINTS["wrong_gradient"] in message, message


def numerical_gradient(function, array, step=1e-6):
    """Central differences of the scalar ``function`` at ``array`` (float64), entry by entry."""
    gradient = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        shifted = array.copy()
        shifted[index] += step
        up = function(shifted)
        shifted[index] -= 2 * step
        gradient[index] = (up - function(shifted)) / (2 * step)
    return gradient


def numpy_report(exercise, case, form):
    """What a kernel whose ``measure`` is replaced reports for a content or layer style cost:
    ``form`` "right" (the true cost and its numerical gradient), "factor_2"-like mistakes with
    their numerical gradient, or "projected" (the true value, the gradient along the old direction)."""
    (a_X, a_G), _ = nst_checks.make_inputs(exercise, case)
    a_X, a_G = np.float64(a_X), np.float64(a_G)
    cost = {"content_cost": reference.content_cost, "layer_style_cost": reference.layer_style_cost}[exercise]
    mistake = None if form in ("right", "projected") else form
    value = cost(a_X, a_G, mistake=mistake)[0]
    gradient = numerical_gradient(lambda a: cost(a_X, a, mistake=mistake)[0], a_G)
    if form == "projected":
        gradient = along_old_direction(gradient)
    run = {"kind": "tensor", "shape": [], "value": [float(value)], "gradient": nst_checks.entries(gradient)}
    return {"eager": run, "graph": dict(run)}


def graded(exercise, cases, results):
    bundle = {"exercise": exercise, "results": json.loads(json.dumps(results))}
    return verdict(exercise, cases, [{"output_type": "display_data", "data": {nst_checks.RESULTS_MIME: bundle}}])


@pytest.mark.parametrize("exercise", ["content_cost", "layer_style_cost"])
def test_a_replaced_measure_is_judged_by_full_values_and_gradients_on_the_secret_inputs(exercise):
    cases = secret_cases(KEY, exercise, GRADED[exercise])
    # Right values and full gradients, from numpy: the student knew the answer (the residual).
    assert graded(exercise, cases, [numpy_report(exercise, case, "right") for case in cases]) is None
    wrong = "factor_2" if exercise == "content_cost" else "factor_4"
    message = graded(exercise, cases, [numpy_report(exercise, case, wrong) for case in cases])
    assert message is not None and "is wrong" in message, message
    message = graded(exercise, cases, [numpy_report(exercise, case, "projected") for case in cases])
    assert message is not None and nst_checks.HINTS["wrong_gradient"] in message, message
    # Results computed for the source notebook's public seeds are not those of the secret inputs.
    public = [numpy_report(exercise, case, "right") for case in GRADED[exercise]]
    assert graded(exercise, cases, public) is not None


def test_gram_gradient_direction_follows_the_seed_and_differs_from_the_old_public_one():
    case = GRADED["gram_matrix"][0]
    directions = [
        nst_checks.gradient_direction("gram_matrix", secret)
        for secret in secret_cases(KEY, "gram_matrix", [case, case])
    ]
    n_C = case[1][0]
    assert directions[0].shape == (n_C, n_C)
    assert not np.allclose(directions[0], directions[1])
    assert not np.allclose(directions[0], old_public_weights(n_C**2).reshape(n_C, n_C))


def test_reports_that_are_not_what_nst_checks_sends_are_malformed():
    exercise = "content_cost"
    cases = secret_cases(KEY, exercise, GRADED[exercise])
    right = [numpy_report(exercise, case, "right") for case in cases]

    def changed(change):
        results = json.loads(json.dumps(right))
        change(results[0]["eager"])
        return graded(exercise, cases, results)

    assert graded(exercise, cases, right) is None
    for change in (
        lambda run: run.update(value=0.5),  # a number where the entries go (the old format)
        lambda run: run.update(value=["0.5"]),
        lambda run: run.update(value=[1.0, 2.0]),  # more entries than the shape holds
        lambda run: run.update(shape=[-1]),
        lambda run: run.update(kind="<script>alert(1)</script>"),
        lambda run: run.update(gradient="all right"),
        lambda run: run.pop("kind"),
    ):
        assert "malformed" in changed(change)


def test_a_kernel_error_reaches_the_verdict_by_its_type_alone():
    exercise = "content_cost"
    cases = secret_cases(KEY, exercise, GRADED[exercise])
    error = {"error": "ValueError: the hidden input was [0.25, -1.5] <img src=x onerror=alert(1)>"}
    message = graded(exercise, cases, [{"eager": error, "graph": error}] * len(cases))
    assert "raised ValueError." in message and "hidden input" not in message and "<img" not in message
    stopped = verdict(
        exercise,
        cases,
        [{"output_type": "error", "ename": "KeyboardInterrupt", "evalue": "In[12]: nst_checks.report(...)"}],
    )
    assert "KeyboardInterrupt" in stopped and "In[12]" not in stopped
