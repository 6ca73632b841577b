"""Checks for the graded exercises of the Neural Style Transfer notebook.

``check(exercise, function, cases)`` calls ``function`` on inputs built from each case with numpy's
``RandomState`` (so expected values do not depend on TensorFlow's random generator), in float32 and
float64, and compares the result with the expected value. A failed check says which mistake it most
likely is, without giving the answer away.

A case is ``(seed, spec, expected, known_mistakes)``:

* ``spec`` describes the inputs: an activation shape ``(1, n_H, n_W, n_C)`` for ``content_cost`` and
  ``layer_style_cost``; a matrix shape ``(n_C, n_H * n_W)`` for ``gram_matrix``; a tuple of
  ``(layer name, shape, coefficient)`` for ``style_cost``; ``(alpha, beta)`` or ``None`` (defaults)
  for ``total_cost``.
* ``expected`` is the cost, or for ``gram_matrix`` the fingerprint ``sum(G * W)`` of the matrix with
  a fixed random weighting ``W``.
* ``known_mistakes`` maps a hint name (see ``HINTS``) to the value that mistake produces.
"""

import contextlib

import numpy as np
import tensorflow as tf

HINTS = {
    "factor_4": "it is off by exactly a factor of 4: check the 4 in the normalisation constant "
                "(tf.reduce_mean already divides by the number of entries)",
    "no_normalisation": "it is missing the normalisation constant altogether",
    "no_square": "the differences must be squared before they are summed",
    "no_transpose": "it looks like the activations were reshaped straight to (n_C, n_H*n_W); "
                    "a reshape alone does not keep each channel in its own row",
    "outer_gram": "the result has shape (n_H*n_W, n_H*n_W): the product is taken the wrong way round",
    "elementwise": "the result has the shape of A: the Gram matrix needs a matrix product, not "
                   "an element-wise one",
    "swapped_weights": "alpha weights the content cost and beta the style cost",
    "not_scalar": "the cost must be a single number (a scalar tensor or a float)",
    "coefficients": "each layer's cost must be multiplied by that layer's coefficient",
    "last_layer": "the result matches the last layer's cost only: add up the costs of all layers",
}

DTYPES = ("float32", "float64")


def _activations(rng, shape, dtype):
    return tf.constant(rng.randn(*shape), dtype=dtype)


def make_inputs(exercise, seed, spec, dtype="float32"):
    """``(args, kwargs)`` for ``exercise`` built from ``seed`` and ``spec`` (see module docstring)."""
    rng = np.random.RandomState(seed)
    if exercise in ("content_cost", "layer_style_cost"):
        return (_activations(rng, spec, dtype), _activations(rng, spec, dtype)), {}
    if exercise == "gram_matrix":
        return (_activations(rng, spec, dtype),), {}
    if exercise == "style_cost":
        style = {name: _activations(rng, shape, dtype) for name, shape, _ in spec}
        generated = {name: _activations(rng, shape, dtype) for name, shape, _ in spec}
        return (style, generated, [(name, coefficient) for name, _, coefficient in spec]), {}
    if exercise == "total_cost":
        costs = (tf.constant(rng.uniform(0.5, 5.0), dtype), tf.constant(rng.uniform(0.5, 5.0), dtype))
        return costs, ({} if spec is None else {"alpha": spec[0], "beta": spec[1]})
    raise ValueError(f"unknown exercise {exercise!r}")


def fingerprint(matrix):
    """A number that changes with every entry of ``matrix``: ``sum(matrix * W)``, W fixed."""
    matrix = np.asarray(matrix, np.float64)
    weighting = np.random.RandomState(0).uniform(-1.0, 1.0, size=matrix.shape)
    return float(np.sum(matrix * weighting))


def _as_number(value):
    value = np.asarray(value)
    if value.size != 1:
        raise AssertionError(f"got an array of shape {value.shape}: " + HINTS["not_scalar"])
    return float(value.reshape(()))


def _diagnose(exercise, value, expected, known_mistakes, spec, args, kwargs):
    """The hint for a wrong ``value``, or a generic message."""
    for name, mistaken_value in known_mistakes.items():
        if np.isclose(value, mistaken_value, rtol=1e-4):
            return HINTS[name]
    ratio = value / expected if expected else np.inf
    if exercise in ("content_cost", "layer_style_cost"):
        _, n_h, n_w, n_c = spec
        normalisation = 4 * n_h * n_w * n_c if exercise == "content_cost" else 4 * n_c**2 * (n_h * n_w) ** 2
        for factor in (4.0, 0.25):
            if np.isclose(ratio, factor, rtol=1e-4):
                return HINTS["factor_4"]
        if np.isclose(ratio, normalisation, rtol=1e-4):
            return HINTS["no_normalisation"]
        if exercise == "content_cost" and np.isclose(
                value, float(tf.reduce_sum(args[0] - args[1])) / normalisation, rtol=1e-4):
            return HINTS["no_square"]
    if exercise == "total_cost":
        alpha, beta = kwargs.get("alpha", 10), kwargs.get("beta", 40)
        if np.isclose(value, float(alpha * args[1] + beta * args[0]), rtol=1e-4):
            return HINTS["swapped_weights"]
    return "it differs from the expected value"


def check(exercise, function, cases, dtypes=DTYPES, quiet=False):
    """Run ``function`` on every case and dtype; raise AssertionError with a hint on a mismatch."""
    for seed, spec, expected, known_mistakes in cases:
        for dtype in dtypes:
            args, kwargs = make_inputs(exercise, seed, spec, dtype)
            result = function(*args, **kwargs)
            where = f"{function.__name__} on the {dtype} inputs with seed {seed}"
            if result is None:
                raise AssertionError(f"{where} returned None: did you forget `return`?")
            if exercise == "gram_matrix":
                n_c, n_positions = spec
                shape = tuple(np.shape(result))
                if shape != (n_c, n_c):
                    hint = {(n_positions, n_positions): HINTS["outer_gram"],
                            (n_c, n_positions): HINTS["elementwise"]}.get(shape, "")
                    raise AssertionError(f"{where}: expected shape {(n_c, n_c)}, got {shape}. {hint}")
                value = fingerprint(result)
            else:
                value = _as_number(result)
            if not np.isclose(value, expected, rtol=1e-4, atol=1e-6):
                hint = _diagnose(exercise, value, expected, known_mistakes, spec, args, kwargs)
                raise AssertionError(f"{where}: got {value:.6g}, expected {expected:.6g}; {hint}.")
            if not quiet:
                label = "fingerprint of G" if exercise == "gram_matrix" else "cost"
                print(f"{function.__name__} ({dtype}, seed {seed}): {label} = {value:.6g}  "
                      f"(expected {expected:.6g})")
    if not quiet:
        print("All tests passed.")


@contextlib.contextmanager
def replaced(namespace, **functions):
    """Temporarily bind ``functions`` in ``namespace`` (the notebook's globals), so that one
    exercise is graded on its own even if an exercise it builds on is wrong."""
    missing = object()
    saved = {name: namespace.get(name, missing) for name in functions}
    namespace.update(functions)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is missing:
                namespace.pop(name, None)
            else:
                namespace[name] = value
