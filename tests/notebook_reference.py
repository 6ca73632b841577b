"""Reference solutions and typical student mistakes for the graded exercises (instructor side).

Used to recompute every value the notebook's tests hard-code, and to write wrong submissions for
the autograding tests. Each mistake is notebook source code, so it can be executed here and pasted
into a submission unchanged.
"""

import ast
import dataclasses
import json
from pathlib import Path

import numpy as np
import tensorflow as tf

import nst_checks
from neural_style import losses

ASSIGNMENT_DIR = Path(__file__).resolve().parents[1] / "notebooks" / "art_generation"
SOURCE_NOTEBOOK = ASSIGNMENT_DIR / "Art_Generation_with_Neural_Style_Transfer.ipynb"

# exercise key in nst_checks -> function name in the notebook
FUNCTIONS = {"content_cost": "compute_content_cost", "gram_matrix": "gram_matrix",
             "layer_style_cost": "compute_layer_style_cost", "style_cost": "compute_style_cost",
             "total_cost": "total_cost"}


def reference_layer_style_cost(a_S, a_G):
    return losses.style_layer_loss(losses.gram_matrix(a_S), a_G)


REFERENCE = {
    "content_cost": losses.content_loss,
    "gram_matrix": lambda A: tf.matmul(A, A, transpose_b=True),
    "layer_style_cost": reference_layer_style_cost,
    "style_cost": lambda S, G, style_layers: sum(coefficient * reference_layer_style_cost(S[name], G[name])
                                                 for name, coefficient in style_layers),
    "total_cost": lambda J_content, J_style, alpha=10, beta=40: alpha * J_content + beta * J_style,
}


@dataclasses.dataclass(frozen=True)
class Mistake:
    exercise: str  # nst_checks exercise key
    hint: str  # nst_checks.HINTS key the check should report
    source: str  # notebook code defining the mistaken function


MISTAKES = {
    "content_mean": Mistake("content_cost", "factor_4", """
def compute_content_cost(a_C, a_G):
    return tf.reduce_mean(tf.square(a_C - a_G))
"""),
    "content_no_square": Mistake("content_cost", "no_square", """
def compute_content_cost(a_C, a_G):
    _, n_H, n_W, n_C = a_G.shape
    return tf.reduce_sum(a_C - a_G) / (4 * n_H * n_W * n_C)
"""),
    "gram_outer": Mistake("gram_matrix", "outer_gram", """
def gram_matrix(A):
    return tf.matmul(tf.transpose(A), A)
"""),
    "gram_elementwise": Mistake("gram_matrix", "elementwise", """
def gram_matrix(A):
    return A * A
"""),
    "layer_no_transpose": Mistake("layer_style_cost", "no_transpose", """
def compute_layer_style_cost(a_S, a_G):
    _, n_H, n_W, n_C = a_G.shape
    a_S = tf.reshape(a_S, (n_C, n_H * n_W))
    a_G = tf.reshape(a_G, (n_C, n_H * n_W))
    return tf.reduce_sum(tf.square(gram_matrix(a_S) - gram_matrix(a_G))) / (4 * n_C**2 * (n_H * n_W)**2)
"""),
    "layer_no_normalisation": Mistake("layer_style_cost", "no_normalisation", """
def compute_layer_style_cost(a_S, a_G):
    _, n_H, n_W, n_C = a_G.shape
    a_S = tf.transpose(tf.reshape(a_S, (n_H * n_W, n_C)))
    a_G = tf.transpose(tf.reshape(a_G, (n_H * n_W, n_C)))
    return tf.reduce_sum(tf.square(gram_matrix(a_S) - gram_matrix(a_G)))
"""),
    "style_no_coefficients": Mistake("style_cost", "coefficients", """
def compute_style_cost(style_activations, generated_activations, style_layers=STYLE_LAYERS):
    J_style = 0
    for layer_name, coefficient in style_layers:
        J_style += compute_layer_style_cost(style_activations[layer_name], generated_activations[layer_name])
    return J_style
"""),
    "style_last_layer": Mistake("style_cost", "last_layer", """
def compute_style_cost(style_activations, generated_activations, style_layers=STYLE_LAYERS):
    for layer_name, coefficient in style_layers:
        J_style = coefficient * compute_layer_style_cost(style_activations[layer_name],
                                                         generated_activations[layer_name])
    return J_style
"""),
    "total_swapped": Mistake("total_cost", "swapped_weights", """
def total_cost(J_content, J_style, alpha=10, beta=40):
    return alpha * J_style + beta * J_content
"""),
}


def mistaken_function(mistake):
    """Execute a mistake's source with the reference for the exercises it builds on, as the
    notebook's hidden tests do; return the mistaken function."""
    namespace = {"tf": tf, "np": np, "STYLE_LAYERS": [],
                 "gram_matrix": REFERENCE["gram_matrix"],
                 "compute_layer_style_cost": REFERENCE["layer_style_cost"]}
    exec(mistake.source, namespace)  # noqa: S102 - our own test code
    return namespace[FUNCTIONS[mistake.exercise]]


def _value(exercise, function, seed, spec):
    args, kwargs = nst_checks.make_inputs(exercise, seed, spec, "float64")
    result = function(*args, **kwargs)
    if exercise == "gram_matrix":
        return nst_checks.fingerprint(result)
    return float(np.asarray(result))


def expected_value(exercise, seed, spec):
    return _value(exercise, REFERENCE[exercise], seed, spec)


def known_mistake_values(exercise, seed, spec):
    """Values of the mistakes whose hint cannot be derived from the expected value alone."""
    stored = {"no_transpose", "coefficients", "last_layer"}
    return {m.hint: _value(exercise, mistaken_function(m), seed, spec)
            for m in MISTAKES.values() if m.exercise == exercise and m.hint in stored}


def check_calls(notebook_path=SOURCE_NOTEBOOK):
    """Every ``nst_checks.check("exercise", function, [cases])`` call in the notebook's code cells,
    as ``(cell index, exercise, cases)`` with the cases evaluated as Python literals."""
    notebook = json.loads(Path(notebook_path).read_text())
    calls = []
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        for node in ast.walk(ast.parse(source)):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "check" and getattr(node.func.value, "id", "") == "nst_checks"):
                calls.append((index, ast.literal_eval(node.args[0]), ast.literal_eval(node.args[2])))
    return calls
