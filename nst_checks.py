"""Checks for the graded exercises of the Neural Style Transfer notebook.

Two kinds of cells call this module:

* a **check** cell (``check``) runs your function on small inputs, compares the results with the
  expected ones (stored at the end of this file) and names the likely mistake;
* a **graded** cell (``report``) runs your function on other inputs and only shows what it
  returned. The autograder compares that with its own reference values, outside the notebook.

Your function is run the three ways the notebook's generation loop needs it:

1. on float32 tensors, as the network returns them: the result must be right;
2. under ``tf.GradientTape``: its gradient must be right, so that the pixels can be optimised;
3. inside ``tf.function``, on symbolic tensors: it must work there too, and give the same result.

Each exercise is checked on its own. While ``compute_layer_style_cost`` is checked, a stand-in
takes the place of your ``gram_matrix``, and while ``compute_style_cost`` is checked, a stand-in
takes the place of your ``compute_layer_style_cost``, so that a mistake in one exercise costs only
that exercise. The stand-ins are simple functions of the same shapes, not the answers: a function
that computes what they stand for by itself passes as well.

Inputs are built with numpy's ``RandomState``, so they are the same on every machine.
"""

import numpy as np

# exercise -> the function students write
FUNCTIONS = {
    "content_cost": "compute_content_cost",
    "gram_matrix": "gram_matrix",
    "layer_style_cost": "compute_layer_style_cost",
    "style_cost": "compute_style_cost",
    "total_cost": "total_cost",
}
# exercise -> (the function a stand-in replaces while the exercise is checked)
STAND_IN_FOR = {"layer_style_cost": "gram_matrix", "style_cost": "compute_layer_style_cost"}
# The order in which the network returns its layers (the activation dicts follow it).
NETWORK_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv4_2", "conv5_1")
RESULTS_MIME = "application/vnd.nst-checks.results+json"
RTOL = 1e-4  # float32 results against float64 references, relative to the result's magnitude

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
    "operations and the static shape (a_G.shape), not .numpy() or numpy functions",
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
    * ``(alpha, beta)``, or None for the defaults, for ``total_cost``: two costs, then alpha, beta.
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


def _flat_targets(args, targets):
    flat = []
    for position in targets:
        value = args[position]
        flat += list(value.values()) if isinstance(value, dict) else [value]
    return flat


def _run(exercise, function, arrays, targets, in_graph):
    """One run of ``function``: ``{"kind", "shape", "value", "gradient"}``, or ``{"error"}``."""
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

    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")  # a fresh tf.function per run: TensorFlow's retracing warning is noise here
    try:
        result, gradients = (tf.function(evaluate) if in_graph else evaluate)(*tensor_args)
        kind = _kind(result)
        if kind == "none":
            return {"kind": kind}
        if kind not in ("tensor", "numpy", "number"):
            return {"kind": kind, "error": f"TypeError: it returned a {kind}, not a tensor"}
        shape, value, _ = summarise(result)
        run = {"kind": kind, "shape": shape, "value": value, "gradient": None}
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
    finally:
        logger.setLevel(level)


def measure(exercise, function, case, namespace=None):
    """Run ``function`` on ``case`` eagerly and inside ``tf.function``: ``{"eager", "graph"}``.

    While it runs, the function it builds on (see ``STAND_IN_FOR``) is replaced by its stand-in in
    ``namespace`` (by default the globals of ``function``: the notebook's).
    """
    arrays, targets = make_inputs(exercise, case)
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


def judge(exercise, case, measured, expectation, show_expected=False):
    """None if ``measured`` is right, else a message naming the inputs and the likely mistake.

    ``expectation`` is ``{"variants": [...], "mistakes": [[hint, value, scale], ...]}``. A variant is
    ``{"shape", "value", "value_scale", "gradient", "gradient_scale"}``: the reference with the
    stand-in and, for exercises that build on another, the reference computed without it.
    ``show_expected`` adds the expected value (the checks; never the graded cells).
    """
    function = FUNCTIONS[exercise]
    where = f"{function} on {describe(exercise, case)}"
    variants = expectation["variants"]
    eager, graph = measured.get("eager", {}), measured.get("graph", {})

    if "error" in eager:
        hint = HINTS["not_implemented"] if eager["error"].startswith("NotImplementedError") else None
        return f"{where}: raised {eager['error']}" + (f"; {hint}." if hint else ".")
    if eager.get("kind") == "none":
        return f"{where}: {HINTS['no_return']}"
    expected_shape = variants[0]["shape"]
    if eager.get("shape") != expected_shape:
        n_c = expected_shape[0] if expected_shape else None
        hint = (
            HINTS["not_scalar"]
            if not expected_shape
            else {
                (case[1][1], case[1][1]): HINTS["outer_gram"],
                tuple(case[1]): HINTS["elementwise"],
            }.get(tuple(eager.get("shape", [])), f"the Gram matrix of A has shape ({n_c}, {n_c})")
        )
        return f"{where}: the result has shape {tuple(eager.get('shape', []))}; {hint}."
    what = "fingerprint of the matrix" if expected_shape else "cost"
    matches = _matching(eager, variants, "value")
    if not matches:
        got = f"got {eager['value']:.6g}"
        if show_expected:
            got += " instead of " + " or ".join(f"{variant['value']:.6g}" for variant in variants)
        hint = next(
            (HINTS[name] for name, value, scale in expectation["mistakes"] if close(eager["value"], value, scale)),
            "it differs from the expected value",
        )
        return f"{where}: the {what} is wrong ({got}); {hint}."
    if eager["kind"] != "tensor":
        return f"{where}: the {what} is right, but {HINTS['numpy_value']}."
    if eager["gradient"] is None:
        return f"{where}: the {what} is right, but {HINTS['no_gradient']}."
    if not _matching(eager, matches, "gradient"):
        return f"{where}: {HINTS['wrong_gradient']}."
    if "error" in graph:
        return f"{where}: {HINTS['graph']} ({graph['error']})."
    if (
        graph.get("shape") != expected_shape
        or not _matching(graph, matches, "value")
        or not _matching(graph, matches, "gradient")
    ):
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
    message = judge(exercise, case, measure(exercise, function, case), expectation, show_expected=True)
    if message:
        raise AssertionError(message)
    print(
        f"{FUNCTIONS[exercise]} on {describe(exercise, case)}: the result, its gradient and "
        f"the result inside tf.function are right."
    )


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
        'case': (4, (('conv3_1', (1, 2, 3, 4), 0.5), ('conv1_1', (1, 4, 3, 2), 0.3), ('conv2_1', (1, 3, 2, 4), None), ('conv4_1', (1, 2, 4, 3), None), ('conv4_2', (1, 2, 4, 3), None), ('conv5_1', (1, 1, 2, 3), None))),
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
}
# END EXPECTED
# fmt: on
