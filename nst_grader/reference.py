"""Reference results of the graded exercises, and the values of typical mistakes, in numpy.

The autograder computes what each graded cell should have reported from these, in float64 on the
same float32 inputs the notebook builds (``nst_checks.make_inputs``). Nothing here imports
TensorFlow, so grading a submission costs no second TensorFlow start. Gradients are written out
by hand; ``tests/test_grading_reference.py`` checks them against TensorFlow's.

An exercise that builds on another is graded in two "worlds": with the stand-in that the notebook
puts in place of the function it builds on (``nst_checks.STAND_INS``), and with the true function,
for students who compute it themselves. A result that matches either is right.

``train_step`` is graded on the checks' stand-in network and costs (``nst_checks.stand_in_costs``),
never on the student's costs: its reference takes the SGD steps here, the right way and each
typical mistake's way.
"""

import numpy as np

import nst_checks

# The notebook's STYLE_LAYERS (a locked cell), for the "used the global" mistake.
DEFAULT_STYLE_LAYERS = (("relu1_1", 0.2), ("relu2_1", 0.2), ("relu3_1", 0.2), ("relu4_1", 0.2), ("relu5_1", 0.2))
DEFAULT_ALPHA, DEFAULT_BETA = 10.0, 40.0


# Mistake forms -> the hint they earn (a form not listed here is named after its hint).
HINT_OF_FORM = {
    "gram_normalised_c": "gram_normalised",
    "normalisation_power_c": "normalisation_power",
    "gradient_content": "wrong_cost",
    "gradient_style": "wrong_cost",
    "gradient_sum": "wrong_cost",
}
MISTAKE_FORMS = {
    "content_cost": (
        "factor_4",
        "factor_2",
        "no_normalisation",
        "no_square",
        "abs",
        "norm_not_squared",
        "precedence",
        "n_H_twice",
    ),
    "gram_matrix": ("gram_normalised", "gram_normalised_c"),
    "layer_style_cost": (
        "no_transpose",
        "transpose_forgotten",
        "no_normalisation",
        "factor_4",
        "no_square",
        "normalisation_power",
        "normalisation_power_c",
        "precedence",
        "n_H_twice",
    ),
    "style_cost": (
        "coefficients",
        "last_layer",
        "first_layer",
        "divided_by_coefficients",
        "mean_of_layers",
        "pair_by_order",
        "global_layers",
    ),
    "total_cost": ("swapped_weights", "fixed_weights"),
    "train_step": ("no_clip", "gradient_content", "gradient_style", "gradient_sum"),
}
# How train_step steps, the right way (None) and each mistake's way: (the gradient it follows, clipped?).
STEP_FORMS = {
    None: ("total", True),
    "no_clip": ("total", False),
    "gradient_content": ("content", True),
    "gradient_style": ("style", True),
    "gradient_sum": ("sum", True),
}


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# ------------------------------------------------------------------------------------------------
# The functions the exercises build on, true and stand-in


def unroll(a: np.ndarray) -> np.ndarray:
    """(1, n_H, n_W, n_C) -> (n_C, n_H*n_W), one channel per row."""
    return a.reshape(-1, a.shape[-1]).T


def gram(A: np.ndarray, stand_in: bool = False) -> np.ndarray:
    """The Gram matrix f(A) A^T, f the identity (true) or the sigmoid (the notebook's stand-in)."""
    return (_sigmoid(A) if stand_in else A) @ A.T


def _gram_gradient(A, upstream, stand_in=False):
    """d sum(upstream * gram(A)) / dA."""
    f, df = (_sigmoid(A), _sigmoid(A) * (1 - _sigmoid(A))) if stand_in else (A, np.ones_like(A))
    return df * (upstream @ A) + upstream.T @ f


def layer_style_cost(
    a_S: np.ndarray, a_G: np.ndarray, stand_in_gram: bool = False, mistake: str | None = None
) -> tuple[float, np.ndarray | None]:
    """(value, gradient wrt a_G) of J_style^[l]; ``mistake`` names a typical wrong form (value only)."""
    _, n_H, n_W, n_C = a_G.shape
    positions = n_H * n_W
    if mistake == "no_transpose":  # reshaped straight to (n_C, n_H*n_W)
        A_S, A_G = a_S.reshape(n_C, positions), a_G.reshape(n_C, positions)
    elif mistake == "transpose_forgotten":  # reshaped to (n_H*n_W, n_C), Gram matrices (n_H*n_W, n_H*n_W)
        A_S, A_G = a_S.reshape(positions, n_C), a_G.reshape(positions, n_C)
    else:
        A_S, A_G = unroll(a_S), unroll(a_G)
    difference = gram(A_S, stand_in_gram) - gram(A_G, stand_in_gram)
    normalisation = 4 * n_C**2 * positions**2
    squared = np.sum(difference**2)
    forms = {
        None: squared / normalisation,
        "no_transpose": squared / normalisation,
        "transpose_forgotten": squared / normalisation,
        "no_normalisation": squared,
        "factor_4": squared / (n_C**2 * positions**2),
        "no_square": np.sum(difference) / normalisation,
        "normalisation_power": squared / (4 * n_C * positions),
        "normalisation_power_c": squared / (4 * n_C**2 * positions),
        "precedence": squared / 4 * n_C**2 * positions**2,
        "n_H_twice": squared / (4 * n_C**2 * (n_H * n_H) ** 2),
    }
    if mistake:
        return forms[mistake], None
    gradient_A = -2 / normalisation * _gram_gradient(A_G, difference, stand_in_gram)
    return forms[None], gradient_A.T.reshape(a_G.shape)


def stand_in_layer_style_cost(a_S: np.ndarray, a_G: np.ndarray) -> tuple[float, np.ndarray]:
    """(value, gradient wrt a_G) of the notebook's stand-in: mean(sigmoid(a_S) sigmoid(a_G))."""
    s_S, s_G = _sigmoid(a_S), _sigmoid(a_G)
    return np.mean(s_S * s_G), s_S * s_G * (1 - s_G) / a_G.size


# ------------------------------------------------------------------------------------------------
# The five cost exercises: (value, gradients) on float64 copies of the inputs


def content_cost(a_C: np.ndarray, a_G: np.ndarray, mistake: str | None = None) -> tuple[float, list[np.ndarray] | None]:
    _, n_H, n_W, n_C = a_G.shape
    difference = a_C - a_G
    forms = {
        None: np.sum(difference**2) / (4 * n_H * n_W * n_C),
        "factor_4": np.mean(difference**2),
        "factor_2": np.sum(difference**2) / (2 * n_H * n_W * n_C),
        "no_normalisation": np.sum(difference**2),
        "no_square": np.sum(difference) / (4 * n_H * n_W * n_C),
        "abs": np.sum(np.abs(difference)) / (4 * n_H * n_W * n_C),
        "norm_not_squared": np.sqrt(np.sum(difference**2)) / (4 * n_H * n_W * n_C),
        "precedence": np.sum(difference**2) / 4 * n_H * n_W * n_C,
        "n_H_twice": np.sum(difference**2) / (4 * n_H * n_H * n_C),
    }
    return forms[mistake], (None if mistake else [-2 * difference / (4 * n_H * n_W * n_C)])


def gram_matrix(
    A: np.ndarray, direction: np.ndarray, mistake: str | None = None
) -> tuple[np.ndarray, list[np.ndarray] | None]:
    """The Gram matrix, and the gradient of sum(G * direction) (``nst_checks.gradient_direction``)."""
    forms = {None: gram(A), "gram_normalised": gram(A) / A.shape[1], "gram_normalised_c": gram(A) / A.size}
    return forms[mistake], (None if mistake else [(direction + direction.T) @ A])


def style_cost(
    style: dict[str, np.ndarray],
    generated: dict[str, np.ndarray],
    style_layers: list[tuple[str, float]],
    stand_in_layer: bool = False,
    mistake: str | None = None,
) -> tuple[float, list[np.ndarray] | None]:
    """Weighted sum of layer costs; the gradient is wrt every generated activation, dict order."""

    def layer(a_S, a_G):
        if stand_in_layer:
            return stand_in_layer_style_cost(a_S, a_G)
        return layer_style_cost(a_S, a_G)

    if mistake == "pair_by_order":
        pairs = [
            (coefficient, a_S, a_G)
            for (_, coefficient), a_S, a_G in zip(style_layers, style.values(), generated.values())
        ]
        return sum(c * layer(a_S, a_G)[0] for c, a_S, a_G in pairs), None
    if mistake == "global_layers":
        return sum(c * layer(style[name], generated[name])[0] for name, c in DEFAULT_STYLE_LAYERS), None
    costs = [(coefficient, *layer(style[name], generated[name])) for name, coefficient in style_layers]
    weighted = sum(coefficient * value for coefficient, value, _ in costs)
    coefficients = [coefficient for coefficient, _, _ in costs]
    forms = {
        None: weighted,
        "coefficients": sum(value for _, value, _ in costs),
        "last_layer": coefficients[-1] * costs[-1][1],
        "first_layer": coefficients[0] * costs[0][1],
        "divided_by_coefficients": weighted / sum(coefficients),
        "mean_of_layers": weighted / len(costs),
    }
    if mistake:
        return forms[mistake], None
    gradients = {name: np.zeros_like(a_G) for name, a_G in generated.items()}
    for (name, _), (coefficient, _, gradient) in zip(style_layers, costs):
        gradients[name] = gradients[name] + coefficient * gradient
    return weighted, list(gradients.values())


def total_cost(
    J_content: float,
    J_style: float,
    alpha: float = DEFAULT_ALPHA,
    beta: float = DEFAULT_BETA,
    mistake: str | None = None,
) -> tuple[float, list[np.float64] | None]:
    forms = {
        None: alpha * J_content + beta * J_style,
        "swapped_weights": alpha * J_style + beta * J_content,
        "fixed_weights": DEFAULT_ALPHA * J_content + DEFAULT_BETA * J_style,
    }
    return forms[mistake], (None if mistake else [np.float64(alpha), np.float64(beta)])


# ------------------------------------------------------------------------------------------------
# train_step: SGD on the checks' stand-in network and costs (nst_checks.stand_in_costs)


def stand_in_costs(
    image: np.ndarray, weights: np.ndarray, bias: np.ndarray, a_C: np.ndarray, a_S: np.ndarray
) -> tuple[tuple[float, float, float], dict[str, np.ndarray]]:
    """``(J_content, J_style, J)`` of ``image`` (1, n_H, n_W, 3), and the gradients wrt the image of
    J_content, J_style, their sum and J: ``{"content", "style", "sum", "total"}``."""
    a = np.tanh(image @ weights + bias)
    difference = a - a_C
    J_content = np.mean(np.log(np.cosh(difference)))
    J_style, style_gradient = stand_in_layer_style_cost(a_S, a)
    content_gradient = np.tanh(difference) / a.size
    J = J_content + J_style + J_content * J_style
    by_features = {
        "content": content_gradient,
        "style": style_gradient,
        "sum": content_gradient + style_gradient,
        "total": (1 + J_style) * content_gradient + (1 + J_content) * style_gradient,
    }
    # Back through tanh, then the 1x1 convolution.
    return (J_content, J_style, J), {
        name: (gradient * (1 - a**2)) @ weights.T for name, gradient in by_features.items()
    }


def train_step(
    image: np.ndarray,
    weights: np.ndarray,
    bias: np.ndarray,
    a_C: np.ndarray,
    a_S: np.ndarray,
    learning_rate: float,
    mistake: str | None = None,
) -> list[dict[str, object]]:
    """``nst_checks.TRAIN_STEPS`` steps of SGD (image - learning_rate * gradient, clipped to [0, 1]),
    taken the right way or the ``mistake`` way (``STEP_FORMS``). Per step ``{"costs", "image",
    "costs_after"}``: the three costs before the step, the image after it, and its three costs."""
    followed, clipped = STEP_FORMS[mistake]
    costs, gradients = stand_in_costs(image, weights, bias, a_C, a_S)
    steps = []
    for _ in range(nst_checks.TRAIN_STEPS):
        image = image - learning_rate * gradients[followed]
        if clipped:
            image = np.clip(image, 0.0, 1.0)
        costs_after, gradients = stand_in_costs(image, weights, bias, a_C, a_S)
        steps.append({"costs": costs, "image": image, "costs_after": costs_after})
        costs = costs_after
    return steps
