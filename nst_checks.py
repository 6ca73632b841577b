"""Checks for the graded exercises of the Neural Style Transfer notebook.

Two kinds of cells call this module:

* a **check** cell (``check``) runs your function on small inputs, compares the results with the
  expected ones (stored at the end of this file) and names the likely mistake;
* a **graded** cell (``report``) runs your function on other inputs and only shows what it
  returned. The autograder compares that with its own reference values, outside the notebook.

Your cost functions are run the three ways the notebook's generation loop needs them:

1. on float32 tensors, as the network returns them: the result must be right;
2. under ``tf.GradientTape``: its gradient must be right, so that the pixels can be optimised;
3. inside ``tf.function``, on symbolic tensors: it must work there too, and give the same result.

Your ``train_step`` takes two steps from a small image, eagerly and inside ``tf.function``: the
image after each step, the optimizer's count of steps and the costs it returns must be right.

Each exercise is checked on its own. While ``compute_layer_style_cost`` is checked, a stand-in
takes the place of your ``gram_matrix``, and while ``compute_style_cost`` is checked, a stand-in
takes the place of your ``compute_layer_style_cost``, so that a mistake in one exercise costs only
that exercise. The stand-ins are simple functions of the same shapes, not the answers: a function
that computes what they stand for by itself passes as well. ``train_step`` is checked on a tiny
stand-in network with stand-in costs, never with your cost functions or VGG-19.

Inputs are built with numpy's ``RandomState``, so they are the same on every machine.
"""

import contextlib

import numpy as np

# exercise -> the function students write
FUNCTIONS = {
    "content_cost": "compute_content_cost",
    "gram_matrix": "gram_matrix",
    "layer_style_cost": "compute_layer_style_cost",
    "style_cost": "compute_style_cost",
    "total_cost": "total_cost",
    "train_step": "train_step",
}
# exercise -> (the function a stand-in replaces while the exercise is checked)
STAND_IN_FOR = {"layer_style_cost": "gram_matrix", "style_cost": "compute_layer_style_cost"}
# The order in which the network returns its layers (the activation dicts follow it).
NETWORK_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1")
RESULTS_MIME = "application/vnd.nst-checks.results+json"
RTOL = 1e-4  # float32 results against float64 references, relative to the result's magnitude
TRAIN_STEPS = 2  # calls of train_step per run: the second starts where the first left the image
STAND_IN_CHANNELS = 4  # channels of train_step's stand-in network

HINTS = {
    "not_implemented": "replace `raise NotImplementedError()` with your code",
    "no_return": "it returned None: did you forget `return`?",
    "not_scalar": "the cost must be a single number (a scalar tensor)",
    "outer_gram": "the result has shape (n_H*n_W, n_H*n_W): the product is taken the wrong way round",
    "elementwise": "the result has the shape of A: the Gram matrix needs a matrix product, not an element-wise one",
    "numpy_value": "your function returns a numpy value (or a Python number), so TensorFlow cannot "
    "differentiate it: compute it with TensorFlow operations",
    "no_gradient": "TensorFlow cannot differentiate the result: part of the computation leaves "
    "TensorFlow (numpy, .numpy(), float() or tf.constant of a computed value)",
    "wrong_gradient": "the value is right but its gradient is not: is part of the computation "
    "hidden from the gradient (tf.stop_gradient, a tf.constant)?",
    "graph": "it fails inside tf.function, where the generation loop runs it: use TensorFlow "
    "operations and static shapes (a_G.shape), not .numpy(), float() or numpy functions",
    "graph_differs": "it gives another result inside tf.function than outside it",
    "factor_4": "it is off by exactly a factor of 4: check the 4 in the normalisation constant "
    "(tf.reduce_mean already divides by the number of entries)",
    "factor_2": "it is off by exactly a factor of 2: check the constant in the normalisation",
    "no_normalisation": "it is missing the normalisation constant altogether",
    "normalisation_power": "check the powers in the normalisation constant: both n_C and n_H × n_W are squared",
    "no_square": "the differences must be squared before they are summed",
    "abs": "the differences must be squared, not taken in absolute value",
    "norm_not_squared": "tf.norm is the square root of the sum of squares: the cost needs the sum of squares itself",
    "no_transpose": "it looks like the activations were reshaped straight to (n_C, n_H*n_W); "
    "a reshape alone does not keep each channel in its own row",
    "gram_normalised": "the Gram matrix is the plain product of A with its transpose, with no "
    "division (the style cost normalises later)",
    "coefficients": "each layer's cost must be multiplied by that layer's coefficient",
    "last_layer": "the result matches the last layer's cost only: add up the costs of all layers",
    "first_layer": "the result matches the first layer's cost only: is `return` inside the loop?",
    "divided_by_coefficients": "do not divide by the sum of the coefficients: the cost is the weighted sum itself",
    "mean_of_layers": "add the weighted layer costs up; do not average them",
    "pair_by_order": "pair the activations by layer name (style_activations[layer_name]), not by "
    "the order of the dicts: they hold other layers too, in the network's order",
    "global_layers": "use the style_layers argument, not the global STYLE_LAYERS",
    "swapped_weights": "alpha weights the content cost and beta the style cost",
    "fixed_weights": "use the alpha and beta arguments, not fixed numbers",
    "no_clip": "some pixels left [0, 1]: after the optimizer's step, clip the image back into [0, 1], in "
    "the variable itself (a clipped copy leaves the variable as it was)",
    "wrong_cost": "the pixels moved along the gradient of another cost (J_content, J_style or their sum): "
    "take the gradient of the total cost J",
    "optimizer_not_used": "the optimizer took no step: move the pixels with it (optimizer.apply_gradients), "
    "not by assigning them yourself",
    "return_costs": "return the three costs (J_content, J_style, J) that compute_costs gave",
    "costs_after_step": "they are the costs of the image after the step: return those computed under the "
    "tape, before the step",
}

# ------------------------------------------------------------------------------------------------
# Inputs


def make_inputs(exercise, case):
    """The float32 inputs of ``case = (seed, spec)`` as numpy arrays: ``(args, targets)``.

    ``args`` are the function's positional arguments (dicts of arrays for ``style_cost``);
    ``targets`` lists the positions of the arguments whose gradient is checked. The spec is

    * ``(1, n_H, n_W, n_C)`` for ``content_cost`` and ``layer_style_cost``: two activations;
    * ``(n_C, n_H*n_W)`` for ``gram_matrix``: one unrolled activation A;
    * ``((layer, shape, coefficient), ...)`` for ``style_cost``: style and generated activation
      dicts in the network's order, and ``style_layers`` of the layers whose coefficient is not
      None, in the spec's order;
    * ``(alpha, beta)``, or None for the defaults, for ``total_cost``: two costs, then alpha, beta;
    * ``((1, n_H, n_W, 3), learning_rate)`` for ``train_step``: the image (values in [0, 1]), the
      stand-in network's weights (3, STAND_IN_CHANNELS) and bias (STAND_IN_CHANNELS,), the stand-in
      costs' targets a_C and a_S (1, n_H, n_W, STAND_IN_CHANNELS), then the SGD learning rate. No
      gradient is checked (``targets`` is empty): the image after each step is.
    """
    seed, spec = case
    rng = np.random.RandomState(seed)

    def activations(shape):
        return rng.randn(*shape).astype(np.float32)

    if exercise in ("content_cost", "layer_style_cost"):
        return (activations(spec), activations(spec)), (1,)
    if exercise == "gram_matrix":
        return (activations(spec),), (0,)
    if exercise == "style_cost":
        layers = sorted(spec, key=lambda layer: NETWORK_LAYERS.index(layer[0]))
        style = {name: activations(shape) for name, shape, _ in layers}
        generated = {name: activations(shape) for name, shape, _ in layers}
        style_layers = [(name, coefficient) for name, _, coefficient in spec if coefficient is not None]
        return (style, generated, style_layers), (1,)
    if exercise == "total_cost":
        costs = tuple(np.float32(rng.uniform(0.5, 5.0)) for _ in range(2))
        return (costs if spec is None else costs + tuple(spec)), (0, 1)
    if exercise == "train_step":
        shape, learning_rate = spec
        features = (*shape[:3], STAND_IN_CHANNELS)
        image = rng.uniform(0.0, 1.0, shape).astype(np.float32)
        weights, bias = activations((shape[3], STAND_IN_CHANNELS)), activations((STAND_IN_CHANNELS,))
        a_C = rng.uniform(-1.0, 1.0, features).astype(np.float32)
        return (image, weights, bias, a_C, activations(features), learning_rate), ()
    raise ValueError(f"unknown exercise {exercise!r}")


def describe(exercise, case):
    """The inputs of ``case`` in words, for messages: shapes and numbers, never a seed."""
    _, spec = case
    if exercise in ("content_cost", "layer_style_cost"):
        return f"activations of shape {tuple(spec)}"
    if exercise == "gram_matrix":
        return f"A of shape {tuple(spec)}"
    if exercise == "style_cost":
        used = ", ".join(
            f"{name} {tuple(shape)} × {coefficient}" for name, shape, coefficient in spec if coefficient is not None
        )
        extra = [name for name, _, coefficient in spec if coefficient is None]
        return f"style_layers {used}" + (f", and dicts that also hold {', '.join(extra)}" if extra else "")
    if exercise == "train_step":
        return f"an image of shape {tuple(spec[0])}, SGD with learning rate {spec[1]:g}, {TRAIN_STEPS} steps"
    J_content, J_style = make_inputs(exercise, case)[0][:2]
    text = f"J_content = {J_content:.4g}, J_style = {J_style:.4g}"
    return text + (" and the default alpha, beta" if spec is None else f", alpha = {spec[0]:g}, beta = {spec[1]:g}")


# ------------------------------------------------------------------------------------------------
# Summaries: every result is compared as (shape, value, scale), the value being a fingerprint


def fingerprint_weights(size):
    """The fixed random weighting W of a fingerprint (a flat array of ``size``)."""
    return np.random.RandomState(0).uniform(-1.0, 1.0, size)


def summarise(array):
    """``(shape, value, scale)`` of an array: a scalar as itself; a larger array as the
    fingerprint sum(x * W) with a fixed random W, which changes with every entry. ``scale`` bounds
    the rounding error: the sum of |x * W|."""
    array = np.asarray(array, np.float64)
    weights = fingerprint_weights(array.size).reshape(array.shape) if array.ndim else np.float64(1.0)
    return list(array.shape), float(np.sum(array * weights)), float(np.sum(np.abs(array * weights)))


def close(value, expected_value, scale):
    return abs(value - expected_value) <= RTOL * scale + 1e-12


# ------------------------------------------------------------------------------------------------
# Stand-ins: simple functions of the right shapes that are not the answers


def stand_in_gram_matrix(A):
    """(n_C, n_C) from A (n_C, n_H*n_W): sigmoid(A) A^T, a stand-in for the Gram matrix."""
    import tensorflow as tf

    return tf.matmul(tf.sigmoid(A), A, transpose_b=True)


def stand_in_layer_style_cost(a_S, a_G):
    """A scalar from two activations: mean(sigmoid(a_S) sigmoid(a_G)), a stand-in."""
    import tensorflow as tf

    return tf.reduce_mean(tf.sigmoid(a_S) * tf.sigmoid(a_G))


STAND_INS = {"gram_matrix": stand_in_gram_matrix, "compute_layer_style_cost": stand_in_layer_style_cost}


def stand_in_costs(weights, bias, a_C, a_S):
    """``compute_costs`` for checking ``train_step`` on its own: an image (1, n_H, n_W, 3) ->
    ``(J_content, J_style, J)``, three scalar tensors.

    The network is a 1x1 convolution from 3 to STAND_IN_CHANNELS channels (``weights``, ``bias``)
    and tanh: a = tanh(image W + b). The costs are stand-ins, not the answers:
    J_content = mean(log(cosh(a - a_C))), J_style = ``stand_in_layer_style_cost(a_S, a)``, and
    J = J_content + J_style + J_content * J_style. J's gradient differs from that of either cost
    and of their sum, so a step along the wrong one shows.
    """
    import tensorflow as tf

    weights, bias, a_C, a_S = (tf.constant(array) for array in (weights, bias, a_C, a_S))

    def compute_costs(image):
        a = tf.tanh(tf.einsum("bhwc,cd->bhwd", image, weights) + bias)
        J_content = tf.reduce_mean(tf.math.log(tf.math.cosh(a - a_C)))
        J_style = stand_in_layer_style_cost(a_S, a)
        return J_content, J_style, J_content + J_style + J_content * J_style

    return compute_costs


# ------------------------------------------------------------------------------------------------
# Running a student's function


def _error(error):
    """``Type: first line`` of an error (TensorFlow's graph errors: their last line)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    line = (lines[-1] if lines[0] == "in user code:" else lines[0]) if lines else ""
    return f"{type(error).__name__}: {line}"[:300]


def _kind(result):
    import tensorflow as tf

    if result is None:
        return "none"
    if tf.is_tensor(result) or isinstance(result, tf.Variable):
        return "tensor"
    if isinstance(result, (np.ndarray, np.generic)):
        return "numpy"
    if isinstance(result, (int, float)):
        return "number"
    return type(result).__name__


def _summary(value):
    """``{"kind", "shape", "value"}`` of what a function returned, the value a fingerprint (only
    ``{"kind"}`` for what is not an array or a number)."""
    kind = _kind(value)
    if kind not in ("tensor", "numpy", "number"):
        return {"kind": kind}
    shape, fingerprint, _ = summarise(value)
    return {"kind": kind, "shape": shape, "value": fingerprint}


@contextlib.contextmanager
def _quiet_tensorflow():
    """Every run builds a fresh tf.function, so TensorFlow's retracing warning is noise here."""
    import tensorflow as tf

    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")
    try:
        yield
    finally:
        logger.setLevel(level)


def _flat_targets(args, targets):
    flat = []
    for position in targets:
        value = args[position]
        flat += list(value.values()) if isinstance(value, dict) else [value]
    return flat


def _run(exercise, function, arrays, targets, in_graph):
    """One run of a cost function: ``{"kind", "shape", "value", "gradient"}``, or ``{"error"}``."""
    import tensorflow as tf

    def to_tensor(value):
        if isinstance(value, dict):
            return {name: tf.constant(array) for name, array in value.items()}
        return tf.constant(value) if isinstance(value, np.ndarray | np.generic) else value

    tensor_args = [to_tensor(value) for value in arrays]
    size = None if exercise != "gram_matrix" else arrays[0].shape[0] ** 2
    weighting = (
        None if size is None else tf.constant(fingerprint_weights(size).reshape((-1, arrays[0].shape[0])), tf.float32)
    )

    def evaluate(*args):
        sources = _flat_targets(args, targets)
        with tf.GradientTape() as tape:
            tape.watch(sources)
            result = function(*args)
            differentiable = tf.is_tensor(result) or isinstance(result, tf.Variable)
            if differentiable and weighting is not None and tuple(result.shape) == tuple(weighting.shape):
                objective = tf.reduce_sum(tf.cast(result, tf.float32) * weighting)
            else:
                objective = result
        if not differentiable or tuple(np.shape(objective)) != ():
            return result, None
        return result, tape.gradient(objective, sources)

    try:
        with _quiet_tensorflow():
            result, gradients = (tf.function(evaluate) if in_graph else evaluate)(*tensor_args)
        run = _summary(result)
        if run["kind"] == "none":
            return run
        if "value" not in run:
            return {**run, "error": f"TypeError: it returned a {run['kind']}, not a tensor"}
        run["gradient"] = None
        if gradients is not None and any(gradient is not None for gradient in gradients):
            # A layer the cost does not use has no gradient: zeros.
            flat = [
                np.zeros(np.size(source)) if gradient is None else np.ravel(np.asarray(gradient, np.float64))
                for gradient, source in zip(gradients, _flat_targets(arrays, targets))
            ]
            run["gradient"] = summarise(np.concatenate(flat))[1]
        return run
    except Exception as error:  # the student's function may raise anything; it is reported
        return {"error": _error(error)}


def _returned(value):
    """What one call of ``train_step`` returned: ``{"kind": "sequence", "items": [summaries]}`` for a
    tuple or a list, else the value's summary."""
    if isinstance(value, tuple | list):
        return {"kind": "sequence", "items": [_summary(item) for item in value]}
    return _summary(value)


def _run_steps(function, arrays, in_graph):
    """TRAIN_STEPS calls of ``train_step`` on a fresh variable and SGD optimizer, with the stand-in
    costs: ``{"steps": [{"returned", "image"}], "iterations"}``, ``image`` being the fingerprint of
    the variable after the call and ``iterations`` the optimizer's count of steps at the end; or
    ``{"error"}``."""
    import tensorflow as tf

    image, *network, learning_rate = arrays
    try:
        generated_image = tf.Variable(image)
        optimizer = tf.keras.optimizers.SGD(learning_rate=learning_rate)
        compute_costs = stand_in_costs(*network)
        step = lambda: function(generated_image, optimizer, compute_costs)
        with _quiet_tensorflow():
            step = tf.function(step) if in_graph else step
            steps = []
            for _ in range(TRAIN_STEPS):
                returned = _returned(step())
                steps.append({"returned": returned, "image": summarise(generated_image.numpy())[1]})
        return {"steps": steps, "iterations": int(optimizer.iterations.numpy())}
    except Exception as error:  # the student's function may raise anything; it is reported
        return {"error": _error(error)}


def measure(exercise, function, case, namespace=None):
    """Run ``function`` on ``case`` eagerly and inside ``tf.function``: ``{"eager", "graph"}``.

    While it runs, the function it builds on (see ``STAND_IN_FOR``) is replaced by its stand-in in
    ``namespace`` (by default the globals of ``function``: the notebook's).
    """
    arrays, targets = make_inputs(exercise, case)
    if exercise == "train_step":
        return {
            "eager": _run_steps(function, arrays, in_graph=False),
            "graph": _run_steps(function, arrays, in_graph=True),
        }
    if namespace is None:
        namespace = getattr(function, "__globals__", {})
    replaced = STAND_IN_FOR.get(exercise)
    missing = object()
    saved = namespace.get(replaced, missing) if replaced else missing
    if replaced:
        namespace[replaced] = STAND_INS[replaced]
    try:
        return {
            "eager": _run(exercise, function, arrays, targets, in_graph=False),
            "graph": _run(exercise, function, arrays, targets, in_graph=True),
        }
    finally:
        if replaced:
            if saved is missing:
                namespace.pop(replaced, None)
            else:
                namespace[replaced] = saved


# ------------------------------------------------------------------------------------------------
# Judging a measurement (here for the checks, and by the autograder for the graded cells)


def _matching(run, expected, key):
    """The expected variants whose ``key`` (value or gradient) matches ``run``'s."""
    return [
        variant
        for variant in expected
        if run.get(key) is not None and close(run[key], variant[key], variant[key + "_scale"])
    ]


def _wrong_result(case, run, expectation, show_expected):
    """What is wrong with a run of a cost function (``_run``), or None.

    ``expectation`` is ``{"variants": [...], "mistakes": [[hint, value, scale], ...]}``. A variant is
    ``{"shape", "value", "value_scale", "gradient", "gradient_scale"}``: the reference with the
    stand-in and, for exercises that build on another, the reference computed without it.
    """
    variants = expectation["variants"]
    if run.get("kind") == "none":
        return HINTS["no_return"]
    expected_shape = variants[0]["shape"]
    if run.get("shape") != expected_shape:
        n_c = expected_shape[0] if expected_shape else None
        hint = (
            HINTS["not_scalar"]
            if not expected_shape
            else {
                (case[1][1], case[1][1]): HINTS["outer_gram"],
                tuple(case[1]): HINTS["elementwise"],
            }.get(tuple(run.get("shape", [])), f"the Gram matrix of A has shape ({n_c}, {n_c})")
        )
        return f"the result has shape {tuple(run.get('shape', []))}; {hint}."
    what = "fingerprint of the matrix" if expected_shape else "cost"
    matches = _matching(run, variants, "value")
    if not matches:
        got = f"got {run['value']:.6g}"
        if show_expected:
            got += " instead of " + " or ".join(f"{variant['value']:.6g}" for variant in variants)
        hint = next(
            (HINTS[name] for name, value, scale in expectation["mistakes"] if close(run["value"], value, scale)),
            "it differs from the expected value",
        )
        return f"the {what} is wrong ({got}); {hint}."
    if run["kind"] != "tensor":
        return f"the {what} is right, but {HINTS['numpy_value']}."
    if run["gradient"] is None:
        return f"the {what} is right, but {HINTS['no_gradient']}."
    if not _matching(run, matches, "gradient"):
        return f"{HINTS['wrong_gradient']}."
    return None


def _shown(returned):
    """What a call returned, in words (``_returned``)."""
    if returned["kind"] == "sequence":
        return f"{len(returned['items'])} values"
    if "shape" in returned:
        return f"a {returned['kind']} of shape {tuple(returned['shape'])}"
    return f"a {returned['kind']}"


def _wrong_steps(case, run, expectation, show_expected):
    """What is wrong with a run of ``train_step`` (``_run_steps``), or None.

    ``expectation`` is ``{"steps": [...], "mistakes": [[hint, value, scale], ...]}``. Each step is
    ``{"image", "costs", "costs_after"}``: the fingerprint of the image after the step, and the
    three costs of the image before it and after it, each as ``[value, scale]``. A mistake is the
    fingerprint of the image after the first step taken that wrong way.
    """
    expected_steps, steps = expectation["steps"], run["steps"]
    if len(steps) != len(expected_steps):
        raise ValueError(f"{len(steps)} steps reported instead of {len(expected_steps)}")
    if any(step["returned"]["kind"] == "none" for step in steps):
        return HINTS["no_return"]
    if run["iterations"] != len(steps):
        hint = HINTS["optimizer_not_used"] if run["iterations"] == 0 else "apply the gradient once per call"
        return f"optimizer.iterations is {run['iterations']} after {len(steps)} calls; {hint}."
    for number, (step, expected) in enumerate(zip(steps, expected_steps), 1):
        if not close(step["image"], *expected["image"]):
            got = f"got {step['image']:.6g}" + (f" instead of {expected['image'][0]:.6g}" if show_expected else "")
            hint = next(
                (
                    HINTS[name]
                    for name, value, scale in expectation["mistakes"]
                    if number == 1 and close(step["image"], value, scale)
                ),
                "it differs from the expected image",
            )
            return f"the fingerprint of the image after step {number} is wrong ({got}); {hint}."
    for number, (step, expected) in enumerate(zip(steps, expected_steps), 1):
        items = step["returned"].get("items", [])
        if step["returned"]["kind"] != "sequence" or len(items) != 3 or any(item.get("shape") != [] for item in items):
            return f"step {number} returned {_shown(step['returned'])}; {HINTS['return_costs']}."
        costs = [item["value"] for item in items]
        if not all(close(cost, *expected_cost) for cost, expected_cost in zip(costs, expected["costs"])):
            got = "got " + ", ".join(f"{cost:.6g}" for cost in costs)
            if show_expected:
                got += " instead of " + ", ".join(f"{value:.6g}" for value, _ in expected["costs"])
            after = all(close(cost, *expected_cost) for cost, expected_cost in zip(costs, expected["costs_after"]))
            hint = HINTS["costs_after_step"] if after else "they are not the costs that compute_costs gave"
            return f"the costs that step {number} returned are wrong ({got}); {hint}."
    return None


def judge(exercise, case, measured, expectation, show_expected=False):
    """None if ``measured`` is right, else a message naming the inputs and the likely mistake.

    ``expectation`` comes from ``nst_grader.expected`` (see ``_wrong_result`` and, for
    ``train_step``, ``_wrong_steps``). The run inside tf.function must be right as well.
    ``show_expected`` adds the expected values (the checks; never the graded cells).
    """
    where = f"{FUNCTIONS[exercise]} on {describe(exercise, case)}"
    eager, graph = measured.get("eager", {}), measured.get("graph", {})
    if "error" in eager:
        hint = HINTS["not_implemented"] if eager["error"].startswith("NotImplementedError") else None
        return f"{where}: raised {eager['error']}" + (f"; {hint}." if hint else ".")
    wrong = _wrong_steps if exercise == "train_step" else _wrong_result
    message = wrong(case, eager, expectation, show_expected)
    if message:
        return f"{where}: {message}"
    if "error" in graph:
        return f"{where}: {HINTS['graph']} ({graph['error']})."
    if wrong(case, graph, expectation, False):
        return f"{where}: {HINTS['graph_differs']}."
    return None


# ------------------------------------------------------------------------------------------------
# What the notebook calls


def check(exercise, function):
    """The visible check: run ``function`` on this exercise's check inputs and judge it here.

    Prints what was compared; raises AssertionError with a hint if something is wrong.
    """
    expectation = EXPECTED[exercise]
    case = tuple(expectation["case"])
    stand_in = STAND_IN_FOR.get(exercise)
    if stand_in:
        print(f"(Checked with a stand-in in place of your {stand_in}, so that this exercise is checked on its own.)")
    if exercise == "train_step":
        print(
            "(Checked on a tiny stand-in network with stand-in costs, not on VGG-19 with your costs, so that "
            "this exercise is checked on its own.)"
        )
    message = judge(exercise, case, measure(exercise, function, case), expectation, show_expected=True)
    if message:
        raise AssertionError(message)
    checked = (
        "the image after each step, the optimizer's count of steps and the returned costs, eagerly and inside "
        "tf.function,"
        if exercise == "train_step"
        else "the result, its gradient and the result inside tf.function"
    )
    print(f"{FUNCTIONS[exercise]} on {describe(exercise, case)}: {checked} are right.")


def report(exercise, function, cases):
    """A graded cell: run ``function`` on ``cases`` and show the results, for the autograder to
    compare with its reference values (this cell cannot tell whether they are right)."""
    from IPython.display import display

    measured = [measure(exercise, function, tuple(case)) for case in cases]
    display(
        {
            RESULTS_MIME: {"exercise": exercise, "results": measured},
            "text/plain": f"{FUNCTIONS[exercise]}: results on {len(cases)} hidden inputs recorded for the autograder.",
        },
        raw=True,
    )


# ------------------------------------------------------------------------------------------------
# The expected results of the checks, written by `python -m nst_grader.expected` (do not edit).
# fmt: off
# BEGIN EXPECTED
EXPECTED = {
    'content_cost': {
        'case': (1, (1, 4, 3, 5)),
        'variants': [
            {'shape': [], 'value': 0.416952446, 'value_scale': 0.416952446, 'gradient': 0.118475416, 'gradient_scale': 0.2664145791},
        ],
        'mistakes': [
            ['factor_4', 1.667809784, 1.667809784],
            ['factor_2', 0.8339048921, 0.8339048921],
            ['no_normalisation', 100.068587, 100.068587],
            ['no_square', -0.01377306861, 0.01377306861],
            ['abs', 0.2614586627, 0.2614586627],
            ['norm_not_squared', 0.04168095319, 0.04168095319],
        ],
    },
    'gram_matrix': {
        'case': (2, (3, 5)),
        'variants': [
            {'shape': [3, 3], 'value': 9.607470968, 'value_scale': 12.30387793, 'gradient': -3.015904766, 'gradient_scale': 4.895094211},
        ],
        'mistakes': [
            ['gram_normalised', 1.921494194, 2.460775586],
            ['gram_normalised', 0.6404980645, 0.8202585286],
        ],
    },
    'layer_style_cost': {
        'case': (3, (1, 4, 3, 5)),
        'variants': [
            {'shape': [], 'value': 0.01427877048, 'value_scale': 0.01427877048, 'gradient': -0.004254580238, 'gradient_scale': 0.02320738903},
            {'shape': [], 'value': 0.04159555434, 'value_scale': 0.04159555434, 'gradient': 0.01050486877, 'gradient_scale': 0.0590187427},
        ],
        'mistakes': [
            ['no_transpose', 0.01324342408, 0.01324342408],
            ['no_normalisation', 205.614295, 205.614295],
            ['factor_4', 0.05711508194, 0.05711508194],
            ['no_square', -0.002406785107, 0.002406785107],
            ['normalisation_power', 0.856726229, 0.856726229],
            ['normalisation_power', 0.1713452458, 0.1713452458],
            ['no_transpose', 0.05550891567, 0.05550891567],
            ['no_normalisation', 598.9759825, 598.9759825],
            ['factor_4', 0.1663822174, 0.1663822174],
            ['no_square', 0.004112009846, 0.004112009846],
            ['normalisation_power', 2.49573326, 2.49573326],
            ['normalisation_power', 0.4991466521, 0.4991466521],
        ],
    },
    'style_cost': {
        'case': (4, (('relu3_1', (1, 2, 3, 4), 0.5), ('relu1_1', (1, 4, 3, 2), 0.3), ('relu2_1', (1, 3, 2, 4), None), ('relu4_1', (1, 2, 4, 3), None), ('relu4_2', (1, 2, 4, 3), None), ('relu5_1', (1, 1, 2, 3), None))),
        'variants': [
            {'shape': [], 'value': 0.2031091803, 'value_scale': 0.2031091803, 'gradient': -0.001128493702, 'gradient_scale': 0.04705626861},
            {'shape': [], 'value': 0.04952028093, 'value_scale': 0.04952028093, 'gradient': 0.02958777168, 'gradient_scale': 0.09874608559},
        ],
        'mistakes': [
            ['coefficients', 0.4966890744, 0.4966890744],
            ['last_layer', 0.06785303539, 0.06785303539],
            ['first_layer', 0.1352561449, 0.1352561449],
            ['divided_by_coefficients', 0.2538864754, 0.2538864754],
            ['mean_of_layers', 0.1015545901, 0.1015545901],
            ['pair_by_order', 0.1916429523, 0.1916429523],
            ['global_layers', 0.2600574696, 0.2600574696],
            ['coefficients', 0.1370843041, 0.1370843041],
            ['last_layer', 0.02853280665, 0.02853280665],
            ['first_layer', 0.02098747429, 0.02098747429],
            ['divided_by_coefficients', 0.06190035117, 0.06190035117],
            ['mean_of_layers', 0.02476014047, 0.02476014047],
            ['pair_by_order', 0.07988047855, 0.07988047855],
            ['global_layers', 0.09133966161, 0.09133966161],
        ],
    },
    'total_cost': {
        'case': (5, (3.0, 0.5)),
        'variants': [
            {'shape': [], 'value': 6.706055641, 'value_scale': 6.706055641, 'gradient': 0.5080703899, 'gradient_scale': 0.5080703899},
        ],
        'mistakes': [
            ['swapped_weights', 14.00437081, 14.00437081],
            ['fixed_weights', 191.7215085, 191.7215085],
        ],
    },
    'train_step': {
        'case': (6, ((1, 3, 5, 3), 16.0)),
        'steps': [
            {'image': [1.991611564, 11.8208105], 'costs': [[0.2634069038, 0.2634069038], [0.2269280977, 0.2269280977], [0.5501094291, 0.5501094291]], 'costs_after': [[0.2116369506, 0.2116369506], [0.2263804827, 0.2263804827], [0.4859279084, 0.4859279084]]},
            {'image': [2.119437286, 11.11492008], 'costs': [[0.2116369506, 0.2116369506], [0.2263804827, 0.2263804827], [0.4859279084, 0.4859279084]], 'costs_after': [[0.1533358625, 0.1533358625], [0.2273870161, 0.2273870161], [0.4155894629, 0.4155894629]]},
        ],
        'mistakes': [
            ['no_clip', 1.912535083, 11.90207843],
            ['wrong_cost', 1.823804619, 11.44754421],
            ['wrong_cost', 2.06882134, 12.83547484],
            ['wrong_cost', 1.945098081, 11.91923815],
        ],
    },
}
# END EXPECTED
# fmt: on
