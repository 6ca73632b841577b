"""Checks for the graded exercises of the Neural Style Transfer notebook.

Two kinds of cells call this module:

* a **check** cell (``check``) runs your function on small inputs, compares the results with the
  expected ones (stored at the end of this file) and names the likely mistake;
* a **graded** cell (``report``) runs your function on other inputs and only shows what it
  returned: every entry of the result and of its gradient. The autograder compares them with its own
  reference values, outside the notebook. Its inputs are drawn while grading from a key that only
  the course holds, so the seeds written in it are placeholders.

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
    "factor_4": "it is exactly 4 times too large: the normalisation constant has lost its 4",
    "precedence": "operator precedence: `x / 4 * n_H * ...` divides by 4 only and multiplies by the other "
    "factors of the normalisation constant",
    "n_H_twice": "the normalisation uses n_H where n_W belongs (it matches n_H × n_H in place of n_H × n_W): "
    "check how you unpacked a_G.shape",
    "factor_2": "it is off by exactly a factor of 2: check the constant in the normalisation",
    "no_normalisation": "it is missing the normalisation constant altogether",
    "normalisation_power": "check the powers in the normalisation constant: both n_C and n_H × n_W are squared",
    "no_square": "the differences must be squared before they are summed",
    "abs": "the differences must be squared, not taken in absolute value",
    "norm_not_squared": "tf.norm is the square root of the sum of squares: the cost needs the sum of squares itself",
    "no_transpose": "it looks like the activations were reshaped straight to (n_C, n_H*n_W); "
    "a reshape alone does not keep each channel in its own row",
    "transpose_forgotten": "it looks like the activations were reshaped to (n_H*n_W, n_C) and left so: the Gram "
    "matrix of that compares places with places, (n_H*n_W, n_H*n_W), not channels with channels",
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
    "new_optimizer": "the pixels moved, but not by the optimizer that train_step receives: is a new optimizer "
    "created inside train_step? (One made afresh each step also forgets Adam's history.)",
    "tape_outside": "the gradient is None: a GradientTape differentiates only what is computed inside its `with` "
    "block, so were the costs computed before it?",
    "return_costs": "return the three costs (J_content, J_style, J) that compute_costs gave",
    "costs_after_step": "they are the costs of the image after the step: return those computed under the "
    "tape, before the step",
}

# Mistakes known only by the error they raise: hint key -> (exercise, words of the error's message). The
# kernel reports the key beside the error (``measure``); the grader keeps only an error's type, and the key
# only if it is listed here for the exercise (``raised_mistake``), so a forged key can change only the hint
# shown with a wrong answer.
RAISED_MISTAKES = {"tape_outside": ("train_step", "No gradients provided")}

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


def describe(exercise, case, show_values=True):
    """The inputs of ``case`` in words, for messages: shapes and numbers, never a seed.

    ``show_values=False`` leaves out the values drawn from the seed (``total_cost``'s two costs): a
    graded cell's verdict reaches the student, and its inputs are the course's secret."""
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
    text = f"J_content = {J_content:.4g}, J_style = {J_style:.4g}" if show_values else "two hidden costs"
    return text + (" and the default alpha, beta" if spec is None else f", alpha = {spec[0]:g}, beta = {spec[1]:g}")


# ------------------------------------------------------------------------------------------------
# Results: every value and gradient is reported and compared whole, entry by entry


def gradient_direction(exercise, case):
    """The upstream gradient (n_C, n_C) along which ``gram_matrix``'s gradient is taken, or None.

    A matrix-valued result has no single gradient: the gradient of sum(G * D) is taken, D drawn
    from the case's own seed. The graded cells' seeds come from the course's secret (see
    ``nst_grader.secret``), so D is not known before grading, and only the true vector-Jacobian
    product of the Gram matrix gives the right gradient for it.
    """
    if exercise != "gram_matrix":
        return None
    seed, (n_C, _) = case
    return np.random.RandomState((seed, 1)).uniform(-1.0, 1.0, (n_C, n_C))


def entries(array):
    """The entries of an array as a flat list of floats (None for NaN and infinities, which JSON
    cannot carry)."""
    flat = np.ravel(np.asarray(array, np.float64))
    return [float(x) if np.isfinite(x) else None for x in flat]


def as_array(values):
    """A flat float64 array of reported entries (None becomes NaN, which matches nothing)."""
    return np.array([np.nan if x is None else x for x in values], np.float64)


def close(values, expected_values):
    """Whether float32 results ``values`` match float64 references ``expected_values`` (flat lists
    of the same length) entry by entry: each within RTOL of its own magnitude plus that of the
    array's root mean square, which bounds the rounding of entries that cancel to near zero."""
    got, want = as_array(values), as_array(expected_values)
    if got.shape != want.shape:
        return False
    scale = np.abs(want) + np.sqrt(np.mean(want**2)) if want.size else want
    return bool(np.all(np.abs(got - want) <= RTOL * scale + 1e-12))


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
    """``{"kind", "shape", "value"}`` of what a function returned, the value its entries (``entries``;
    only ``{"kind"}`` for what is not an array or a number)."""
    kind = _kind(value)
    if kind not in ("tensor", "numpy", "number"):
        return {"kind": kind}
    return {"kind": kind, "shape": list(np.shape(value)), "value": entries(value)}


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


def _run(function, arrays, targets, direction, in_graph):
    """One run of a cost function: ``{"kind", "shape", "value", "gradient"}``, or ``{"error"}``.

    ``gradient`` holds the entries of the gradient wrt every target (``make_inputs``), one after the
    other, of the result itself, or of sum(result * direction) for a matrix (``gradient_direction``).
    """
    import tensorflow as tf

    def to_tensor(value):
        if isinstance(value, dict):
            return {name: tf.constant(array) for name, array in value.items()}
        return tf.constant(value) if isinstance(value, np.ndarray | np.generic) else value

    tensor_args = [to_tensor(value) for value in arrays]
    weighting = None if direction is None else tf.constant(direction, tf.float32)

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
            run["gradient"] = entries(np.concatenate(flat))
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
    costs: ``{"steps": [{"returned", "image"}], "iterations"}``, ``image`` being the entries of the
    variable after the call and ``iterations`` the optimizer's count of steps at the end; or
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
                steps.append({"returned": returned, "image": entries(generated_image.numpy())})
        return {"steps": steps, "iterations": int(optimizer.iterations.numpy())}
    except Exception as error:  # the student's function may raise anything; it is reported
        return {"error": _error(error)}


def raised_mistake(exercise, key):
    """``key`` if it names a mistake of ``exercise`` known by the error it raises (``RAISED_MISTAKES``),
    else None: the grader accepts no other key from a kernel's report."""
    if isinstance(key, str) and RAISED_MISTAKES.get(key, (None,))[0] == exercise:
        return key
    return None


def _with_raised_mistake(exercise, run):
    """``run``, with ``"mistake"``: the key of ``RAISED_MISTAKES`` whose words its error's message holds."""
    for key, (of_exercise, words) in RAISED_MISTAKES.items():
        if of_exercise == exercise and words in run.get("error", ""):
            return {**run, "mistake": key}
    return run


def measure(exercise, function, case, namespace=None):
    """Run ``function`` on ``case`` eagerly and inside ``tf.function``: ``{"eager", "graph"}``, each a run
    of ``_run`` or ``_run_steps``; a run that raised a mistake of ``RAISED_MISTAKES`` also holds its key
    (``"mistake"``), since the grader reads only the error's type.

    While it runs, the function it builds on (see ``STAND_IN_FOR``) is replaced by its stand-in in
    ``namespace`` (by default the globals of ``function``: the notebook's).
    """
    arrays, targets = make_inputs(exercise, case)
    direction = gradient_direction(exercise, case)
    if exercise == "train_step":
        return {
            "eager": _with_raised_mistake(exercise, _run_steps(function, arrays, in_graph=False)),
            "graph": _with_raised_mistake(exercise, _run_steps(function, arrays, in_graph=True)),
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
            "eager": _with_raised_mistake(exercise, _run(function, arrays, targets, direction, in_graph=False)),
            "graph": _with_raised_mistake(exercise, _run(function, arrays, targets, direction, in_graph=True)),
        }
    finally:
        if replaced:
            if saved is missing:
                namespace.pop(replaced, None)
            else:
                namespace[replaced] = saved


# ------------------------------------------------------------------------------------------------
# Judging a measurement (here for the checks, and by the autograder for the graded cells)


def _number(value):
    return "nan" if value is None else f"{value:.6g}"


def _got(values, expected, shape, show_expected):
    """What a wrong result is, in words: a scalar as itself (and every expected value, if shown),
    an array by its entry farthest from the first expected array."""
    if not shape:
        text = f"got {_number(values[0])}"
        return text + (" instead of " + " or ".join(_number(want[0]) for want in expected) if show_expected else "")
    gap = np.abs(as_array(values) - as_array(expected[0]))
    gap[np.isnan(gap)] = np.inf
    flat = int(np.argmax(gap))
    index = tuple(int(i) for i in np.unravel_index(flat, shape))
    text = f"its entry {index} is {_number(values[flat])}"
    return text + (f" instead of {_number(expected[0][flat])}" if show_expected else "")


def _wrong_result(case, run, expectation, show_expected):
    """What is wrong with a run of a cost function (``_run``), or None.

    ``expectation`` is ``{"variants": [...], "mistakes": [[hint, value], ...]}``. A variant is
    ``{"shape", "value", "gradient"}`` (``value`` and ``gradient`` as entries, see ``entries``): the
    reference with the stand-in and, for exercises that build on another, the reference computed
    without it. A mistake's value is what that typical mistake returns.
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
    what = "matrix" if expected_shape else "cost"
    matches = [variant for variant in variants if close(run["value"], variant["value"])]
    if not matches:
        got = _got(run["value"], [variant["value"] for variant in variants], expected_shape, show_expected)
        hint = next(
            (HINTS[name] for name, value in expectation["mistakes"] if close(run["value"], value)),
            "it differs from the expected value",
        )
        return f"the {what} is wrong ({got}); {hint}."
    if run["kind"] != "tensor":
        return f"the {what} is right, but {HINTS['numpy_value']}."
    if run["gradient"] is None:
        return f"the {what} is right, but {HINTS['no_gradient']}."
    if not any(close(run["gradient"], variant["gradient"]) for variant in matches):
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

    ``expectation`` is ``{"steps": [...], "mistakes": [[hint, image], ...]}``. Each step is
    ``{"image", "costs", "costs_after"}``: the entries of the image after the step, and the three
    costs of the image before it and after it. A mistake is the image after the first step taken
    that wrong way.
    """
    expected_steps, steps = expectation["steps"], run["steps"]
    if len(steps) != len(expected_steps):
        raise ValueError(f"{len(steps)} steps reported instead of {len(expected_steps)}")
    if any(step["returned"]["kind"] == "none" for step in steps):
        return HINTS["no_return"]
    if run["iterations"] != len(steps):
        hint = "apply the gradient once per call"
        if run["iterations"] == 0:
            start = entries(make_inputs("train_step", case)[0][0])
            moved_elsewhere = not close(steps[0]["image"], start) and not close(
                steps[0]["image"], expected_steps[0]["image"]
            )
            hint = HINTS["new_optimizer" if moved_elsewhere else "optimizer_not_used"]
        return f"optimizer.iterations is {run['iterations']} after {len(steps)} calls; {hint}."
    shape = list(case[1][0])
    for number, (step, expected) in enumerate(zip(steps, expected_steps), 1):
        if not close(step["image"], expected["image"]):
            got = _got(step["image"], [expected["image"]], shape, show_expected)
            hint = next(
                (HINTS[name] for name, image in expectation["mistakes"] if number == 1 and close(step["image"], image)),
                "it differs from the expected image",
            )
            return f"the image after step {number} is wrong ({got}); {hint}."
    for number, (step, expected) in enumerate(zip(steps, expected_steps), 1):
        items = step["returned"].get("items", [])
        if step["returned"]["kind"] != "sequence" or len(items) != 3 or any(item.get("shape") != [] for item in items):
            return f"step {number} returned {_shown(step['returned'])}; {HINTS['return_costs']}."
        costs = [item["value"][0] for item in items]

        def right(expected_costs, costs=costs):
            return all(close([cost], [want]) for cost, want in zip(costs, expected_costs))

        if not right(expected["costs"]):
            got = "got " + ", ".join(_number(cost) for cost in costs)
            if show_expected:
                got += " instead of " + ", ".join(_number(value) for value in expected["costs"])
            hint = (
                HINTS["costs_after_step"]
                if right(expected["costs_after"])
                else "they are not the costs that compute_costs gave"
            )
            return f"the costs that step {number} returned are wrong ({got}); {hint}."
    return None


def judge(exercise, case, measured, expectation, show_expected=False):
    """None if ``measured`` is right, else a message naming the inputs and the likely mistake.

    ``expectation`` comes from ``nst_grader.expected`` (see ``_wrong_result`` and, for
    ``train_step``, ``_wrong_steps``). The run inside tf.function must be right as well.
    ``show_expected`` adds the expected values (the checks; never the graded cells).
    """
    where = f"{FUNCTIONS[exercise]} on {describe(exercise, case, show_values=show_expected)}"
    eager, graph = measured.get("eager", {}), measured.get("graph", {})
    if "error" in eager:
        key = (
            "not_implemented"
            if eager["error"].startswith("NotImplementedError")
            else raised_mistake(exercise, eager.get("mistake"))
        )
        hint = HINTS[key] if key else None
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
# Mistakes learned from past classes (python -m nst_grader.clusters export)

LEARNED_MISTAKES = "nst_learned_mistakes.json"  # next to this file; ship it with the release


def case_dimensions(exercise, case):
    """The named dimensions of a case's inputs, which a mistake's factor may depend on."""
    spec = case[1]
    if exercise in ("content_cost", "layer_style_cost"):
        return dict(zip(("n_H", "n_W", "n_C"), spec[1:]))
    if exercise == "gram_matrix":
        return {"n_C": spec[0], "n_H·n_W": spec[1]}
    return {}


def factor_value(factor, dimensions):
    """``c · Π dimension^power`` of a factor ``{"constant": [numerator, denominator], "powers"}``."""
    numerator, denominator = factor["constant"]
    value = numerator / denominator
    for name, power in factor["powers"].items():
        value *= dimensions[name] ** power
    return value


def with_learned_mistakes(exercise, expectation):
    """``expectation`` and the mistakes of ``LEARNED_MISTAKES`` for ``exercise``: each the reference
    value times a factor in the case's dimensions, with its own hint (added to ``HINTS``)."""
    import json
    import os

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), LEARNED_MISTAKES)
    if not os.path.exists(path) or "variants" not in expectation:
        return expectation
    with open(path, encoding="utf-8") as file:
        learned = [entry for entry in json.load(file) if entry["exercise"] == exercise]
    dimensions = case_dimensions(exercise, tuple(expectation["case"]))
    mistakes = list(expectation["mistakes"])
    for entry in learned:
        HINTS[entry["key"]] = entry["hint"]
        factor = factor_value(entry["factor"], dimensions)
        mistakes += [[entry["key"], [factor * x for x in variant["value"]]] for variant in expectation["variants"]]
    return {**expectation, "mistakes": mistakes}


# ------------------------------------------------------------------------------------------------
# What the notebook calls


def check(exercise, function):
    """The visible check: run ``function`` on this exercise's check inputs and judge it here.

    Prints what was compared; raises AssertionError with a hint if something is wrong.
    """
    expectation = with_learned_mistakes(exercise, EXPECTED[exercise])
    case = tuple(expectation["case"])
    stand_in = STAND_IN_FOR.get(exercise)
    if stand_in:
        print(f"(Checked with a stand-in in place of your {stand_in}, so that this exercise is checked on its own.)")
    if exercise == "train_step":
        print(
            "(Checked on a tiny stand-in network with stand-in costs, not on VGG-19 with your costs, so that "
            "this exercise is checked on its own.)"
        )
    measured = measure(exercise, function, case)
    message = judge(exercise, case, measured, expectation, show_expected=True)
    if message:
        raise AssertionError(message)
    checked = (
        "the image after each step, the optimizer's count of steps and the returned costs, eagerly and inside "
        "tf.function,"
        if exercise == "train_step"
        else "the result, its gradient and the result inside tf.function"
    )
    print(f"{FUNCTIONS[exercise]} on {describe(exercise, case)}: {checked} are right.")
    print(f"It returned {returned_text(exercise, measured['eager'])}")


def _entries_text(values, shape):
    """Entries as numpy prints them, each to 4 significant digits: ``0.417``, ``[[1.2, -3], [...]]``."""
    if not shape:
        return f"{values[0]:.4g}"
    rows = np.reshape(np.array(values, dtype=object), shape).tolist()
    return "[" + ", ".join("[" + ", ".join(f"{x:.4g}" for x in row) + "]" for row in rows) + "]"


def returned_text(exercise, run):
    """What a right function returned on the check's inputs, in words: the notebook's "expected
    output" after each exercise shows the same text."""
    if exercise == "train_step":
        costs = [
            ", ".join(_entries_text(item["value"], []) for item in step["returned"]["items"]) for step in run["steps"]
        ]
        return f"the costs (J_content, J_style, J) {costs[0]} at step 1 and {costs[1]} at step 2."
    return f"{_entries_text(run['value'], run['shape'])}."


def check_when_validating(exercise, function):
    """A graded cell, as students see it: under nbgrader's Validate (``NBGRADER_VALIDATING``) run the
    visible check, so that a mistake fails validation with its hint; otherwise nothing (the hidden
    part of the cell reports to the autograder, which has the reference values)."""
    import os

    if os.environ.get("NBGRADER_VALIDATING"):
        check(exercise, function)


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
            {'shape': [], 'value': [0.41695245], 'gradient': [-0.019822861, 0.015538538, 0.0086758465, 0.006457298, -0.0031407458, 0.018549725, -0.0051098535, 0.019008532, 0.01555447, -0.0095593826, -0.024218515, 0.012963956, 0.0040204523, 0.010501861, -0.0068177871, -0.0076859166, -0.0011147985, 0.014215275, 0.0015656749, 0.0014932995, 0.0073190921, -0.011212348, -0.0059585776, -0.00077035576, -0.0058546353, 0.0066894709, -0.0045647671, 0.010944443, 0.0032475778, 0.0049927374, 0.015754822, 0.0048492495, 0.0025990648, 0.0017206271, 0.0091228373, 0.00075003888, 0.0064454727, -0.001590157, -0.018998359, -0.00036676774, -0.0021274418, 0.017601139, 0.0095887495, -0.0091573005, -0.0095476631, 0.0067198176, 0.0045803417, -0.025449632, -0.0032198122, -0.0048715714, -0.013944064, 0.0055617437, 0.016572323, -0.0042514436, 0.0046620018, -0.015824222, -0.0073139911, -0.021223954, 0.0069652538, -0.0039686722]},
        ],
        'mistakes': [
            ['factor_4', [1.6678098]],
            ['factor_2', [0.83390489]],
            ['no_normalisation', [100.06859]],
            ['no_square', [-0.013773069]],
            ['abs', [0.26145866]],
            ['norm_not_squared', [0.041680953]],
            ['precedence', [1501.0288]],
            ['n_H_twice', [0.31271433]],
        ],
    },
    'gram_matrix': {
        'case': (2, (3, 5)),
        'variants': [
            {'shape': [3, 3], 'value': [10.647087, 2.8776075, -3.2480012, 2.8776075, 4.4577285, 1.3294987, -3.2480012, 1.3294987, 7.1003855], 'gradient': [-1.1171589, -1.3245887, -4.0008953, 3.534883, -3.6260207, -1.1082313, 0.8733871, -1.8072118, -1.4111105, -1.2896211, 0.38758884, 1.0465474, 1.0771846, -1.4650198, 1.1300462]},
        ],
        'mistakes': [
            ['gram_normalised', [2.1294173, 0.5755215, -0.64960024, 0.5755215, 0.89154569, 0.26589975, -0.64960024, 0.26589975, 1.4200771]],
            ['gram_normalised', [0.70980577, 0.1918405, -0.21653341, 0.1918405, 0.2971819, 0.088633249, -0.21653341, 0.088633249, 0.47335903]],
        ],
    },
    'layer_style_cost': {
        'case': (3, (1, 4, 3, 5)),
        'variants': [
            {'shape': [], 'value': [0.01427877], 'gradient': [0.001158894, -0.00029894835, -0.00049353855, 0.00053398494, 0.0022608656, 0.0014042864, 0.00025727978, -0.00026412258, 0.00074155779, 0.0024459996, 0.0012033188, -0.00015445594, -0.00051584896, 0.000423241, 0.0022545495, 0.0011338502, -1.0632023e-05, -0.00035296404, 0.00051418319, 0.0024501543, 0.00076804654, -0.00033974691, -0.00058355437, 0.00010628622, 0.0015586465, 0.0004689878, -0.00049820076, -0.00032441548, 0.00025555269, 0.0013021741, 0.00070958644, -0.0002913429, -0.00039974844, 0.0001798676, 0.0013290533, 0.0013390986, 0.00016350196, -0.00023403279, 0.00070523016, 0.0024106312, 0.0012572679, 0.00010672772, -0.00032834207, 0.00064618506, 0.0023289764, 0.0010433697, -5.2368221e-05, -0.0003693922, 0.00044608572, 0.0019716346, 0.0007822672, -0.00033525477, -0.00049658046, 0.00021006637, 0.0014557192, 0.0012073985, -3.8880756e-05, -0.00041825305, 0.00056930373, 0.0025341212]},
            {'shape': [], 'value': [0.041595554], 'gradient': [-0.0033498737, -0.0014507442, -0.00037793536, 0.0018671879, -0.003244867, -0.002002991, 0.0013426398, -0.0026868746, -0.0013148702, 0.0054637374, 0.0018005863, 0.0014942274, -0.00080687025, 0.00041433578, 0.0012646653, -0.0046170578, -0.00030946079, -0.003003203, -0.0019345595, 0.0034413597, 0.0032725683, 0.00079799485, 0.00092185509, -0.00054750792, 0.0020196132, -0.00073043248, -0.0038394359, 0.0057037953, 0.0015708293, 0.0023823259, 0.0041729894, 6.8626506e-06, 0.0036563724, 0.0015246475, 0.0010457104, -0.0020279741, 0.0010492861, -0.0023689634, -0.0015531717, 0.0071789658, -0.0034827193, 0.0017261375, -0.005002161, -0.0022956437, -0.00068794231, 0.0003072679, 0.0005748046, -0.00015403074, 7.4657326e-05, 0.00076511057, 0.0031238193, 7.0401549e-05, 0.0024135213, 0.0013525274, -0.00068514487, -0.0044947167, 7.0041377e-05, -0.0036467812, -0.0018932122, 0.0025387684]},
        ],
        'mistakes': [
            ['no_transpose', [0.013243424]],
            ['transpose_forgotten', [0.043500228]],
            ['no_normalisation', [205.61429]],
            ['factor_4', [0.057115082]],
            ['no_square', [-0.0024067851]],
            ['normalisation_power', [0.85672623]],
            ['normalisation_power', [0.17134525]],
            ['precedence', [185052.87]],
            ['n_H_twice', [0.0080318084]],
            ['no_transpose', [0.055508916]],
            ['transpose_forgotten', [0.087511378]],
            ['no_normalisation', [598.97598]],
            ['factor_4', [0.16638222]],
            ['no_square', [0.0041120098]],
            ['normalisation_power', [2.4957333]],
            ['normalisation_power', [0.49914665]],
            ['precedence', [539078.38]],
            ['n_H_twice', [0.023397499]],
        ],
    },
    'style_cost': {
        'case': (4, (('relu3_1', (1, 2, 3, 4), 0.5), ('relu1_1', (1, 4, 3, 2), 0.3), ('relu2_1', (1, 3, 2, 4), None), ('relu4_1', (1, 2, 4, 3), None), ('relu4_2', (1, 2, 4, 3), None), ('relu5_1', (1, 1, 2, 3), None))),
        'variants': [
            {'shape': [], 'value': [0.20310918], 'gradient': [0.0014330866, 0.0015109636, 0.00075227471, 0.00089791362, 0.00095691808, 0.00051011833, 0.00076081149, 0.0014593928, 0.0013444009, 0.00074684737, 0.0019851049, 0.0012532438, 0.001688734, 0.001346641, 0.00062659867, 0.0013713482, 0.0010793773, 0.0021259217, 0.0021034101, 0.0015095828, 0.00084957372, 0.0014468412, 0.001070075, 0.00041343523, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0012981134, 0.003629835, 0.00137426, 0.00070299024, 0.0026113082, 0.0018028728, 0.0016184292, 0.002175462, 0.00089247707, 0.0031991469, 0.0030852087, 0.0029117488, 0.0044091118, 0.001999905, 0.001728378, 0.00072561669, 0.0024280722, 0.0013985023, 0.0031821296, 0.0017698461, 0.0027544596, 0.0045792382, 0.0039022382, 0.0024224701, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]},
            {'shape': [], 'value': [0.049520281], 'gradient': [0.006141852, 0.0058655528, -0.010944274, -0.0081260347, -0.00068473475, 0.004342624, -0.0075828704, -0.0089229381, 0.0024397439, 0.0061835025, 0.0047450027, 0.0035570765, -0.0066492667, -0.0061147921, -0.0067812333, -0.0069641986, -0.0049361638, -0.0035928883, -0.00240078, -0.00094062114, 0.0032069253, 0.001129447, 0.009820907, 0.010829048, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -0.0021629707, -0.0053286391, 0.0091296996, 0.0012827686, 0.0024333552, 0.0033502922, 0.0029312642, -0.0016291222, 0.00018136402, 0.00094650605, -0.0010180208, -0.002009612, -0.0013518045, -0.0054285716, 0.0091065932, -0.007615968, 0.0050300701, -0.0050968772, 0.00030043799, -0.0029727734, 0.0026046389, 0.0018584775, -0.0023894232, 0.00080949643, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]},
        ],
        'mistakes': [
            ['coefficients', [0.49668907]],
            ['last_layer', [0.067853035]],
            ['first_layer', [0.13525614]],
            ['divided_by_coefficients', [0.25388648]],
            ['mean_of_layers', [0.10155459]],
            ['pair_by_order', [0.19164295]],
            ['global_layers', [0.26005747]],
            ['coefficients', [0.1370843]],
            ['last_layer', [0.028532807]],
            ['first_layer', [0.020987474]],
            ['divided_by_coefficients', [0.061900351]],
            ['mean_of_layers', [0.02476014]],
            ['pair_by_order', [0.079880479]],
            ['global_layers', [0.091339662]],
        ],
    },
    'total_cost': {
        'case': (5, (3.0, 0.5)),
        'variants': [
            {'shape': [], 'value': [6.7060556], 'gradient': [3.0, 0.5]},
        ],
        'mistakes': [
            ['swapped_weights', [14.004371]],
            ['fixed_weights', [191.72151]],
        ],
    },
    'train_step': {
        'case': (6, ((1, 3, 5, 3), 16.0)),
        'steps': [
            {'image': [0.87799012, 0.50125142, 0.87291335, 0.0, 0.1169737, 0.53140572, 0.69606545, 0.47535316, 0.25574611, 0.37497189, 0.52275718, 1.0, 0.55917716, 0.48714676, 0.60152193, 0.79522793, 1.0, 0.61593987, 0.6252139, 0.71064774, 0.0, 0.71316672, 0.62855102, 0.72488898, 0.67967943, 0.53683725, 0.44731873, 0.77851572, 0.4980377, 0.45624068, 0.76810842, 0.81645497, 0.26793222, 0.5390657, 0.34801161, 0.72015464, 0.71843188, 0.29337925, 0.39655253, 0.43237946, 0.94128993, 0.48241887, 0.5232362, 0.66003131, 0.56738137], 'costs': [0.2634069, 0.2269281, 0.55010943], 'costs_after': [0.21163695, 0.22638048, 0.48592791]},
            {'image': [0.82877557, 0.62045217, 0.88062911, 0.0, 0.11406226, 0.53080746, 0.82676161, 0.50971546, 0.16541754, 0.18354675, 0.63271459, 1.0, 0.59125223, 0.42645776, 0.56744933, 0.49110691, 1.0, 0.80866169, 0.35323595, 0.62481322, 0.0, 0.69973978, 0.4827531, 0.70203717, 0.55567395, 0.46044966, 0.80170052, 0.51405743, 0.51249651, 0.72063781, 0.78415063, 0.70497807, 0.28611908, 0.51904504, 0.2018899, 0.60967915, 0.39568955, 0.18282791, 0.65771407, 0.38192816, 1.0, 0.3200011, 0.5606916, 0.47322315, 0.6462145], 'costs': [0.21163695, 0.22638048, 0.48592791], 'costs_after': [0.15333586, 0.22738702, 0.41558946]},
        ],
        'mistakes': [
            ['no_clip', [0.87799012, 0.50125142, 0.87291335, -0.013957244, 0.1169737, 0.53140572, 0.69606545, 0.47535316, 0.25574611, 0.37497189, 0.52275718, 1.0189605, 0.55917716, 0.48714676, 0.60152193, 0.79522793, 1.0264345, 0.61593987, 0.6252139, 0.71064774, -0.055946223, 0.71316672, 0.62855102, 0.72488898, 0.67967943, 0.53683725, 0.44731873, 0.77851572, 0.4980377, 0.45624068, 0.76810842, 0.81645497, 0.26793222, 0.5390657, 0.34801161, 0.72015464, 0.71843188, 0.29337925, 0.39655253, 0.43237946, 0.94128993, 0.48241887, 0.5232362, 0.66003131, 0.56738137]],
            ['wrong_cost', [0.8544787, 0.45073537, 0.83918832, 0.0, 0.12061553, 0.49963419, 0.60635583, 0.42398703, 0.2628973, 0.42349936, 0.50915309, 0.91232717, 0.52220323, 0.49726787, 0.57997375, 0.80839101, 0.95440609, 0.54885827, 0.65160666, 0.71799402, 0.0, 0.67890754, 0.65647696, 0.70355985, 0.63080526, 0.50331237, 0.37548386, 0.77927342, 0.44812731, 0.39581965, 0.72902816, 0.82957115, 0.24550245, 0.53346369, 0.38468058, 0.67790126, 0.70738336, 0.2542227, 0.34898219, 0.40825126, 0.91371358, 0.46709221, 0.42670441, 0.7048703, 0.52209235]],
            ['wrong_cost', [0.91836364, 0.35063341, 0.84469705, 0.043610214, 0.10244651, 0.63733815, 0.58707592, 0.45853391, 0.34277167, 0.61985661, 0.43615439, 0.78859117, 0.54655326, 0.58550264, 0.67415426, 1.0, 0.85270246, 0.44193051, 0.89573024, 0.83694194, 0.072815685, 0.75288983, 0.8062358, 0.75918866, 0.7618849, 0.57423009, 0.13665974, 0.9890864, 0.43470136, 0.23264741, 0.7460974, 1.0, 0.27518364, 0.70050277, 0.60847832, 0.75785853, 0.98740019, 0.4003308, 0.27416047, 0.42053226, 0.73830541, 0.78235918, 0.47881423, 1.0, 0.47348674]],
            ['wrong_cost', [0.87998217, 0.46938896, 0.86265627, 0.0, 0.11540537, 0.54192027, 0.66361441, 0.46371352, 0.27026111, 0.42083654, 0.50716604, 0.96503624, 0.55072006, 0.5039119, 0.6087729, 0.83063245, 0.98725036, 0.57758784, 0.67106923, 0.73117652, 0.0, 0.71316014, 0.66054219, 0.72634189, 0.68355838, 0.53660563, 0.38731943, 0.8107125, 0.47957236, 0.41151589, 0.7578497, 0.84876087, 0.26507205, 0.56265704, 0.39415297, 0.71842767, 0.75743399, 0.30274373, 0.36950857, 0.42631103, 0.90550825, 0.52538085, 0.49941086, 0.72048223, 0.54507983]],
        ],
    },
}
# END EXPECTED
# fmt: on
