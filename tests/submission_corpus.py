"""Submissions written the ways students write them: correct variants, typical mistakes, attempts
to earn points without implementing anything, and attacks on the grader. The typical mistakes that
the grading bench also grades are written once, in ``benchmarks.sample_submissions``.

Each entry is notebook source code (or a change to the notebook), so the tests can paste it into
a real submission and autograde it with the real nbgrader.
"""

import dataclasses

import nbformat
import numpy as np

from benchmarks.sample_submissions import TYPICAL_MISTAKES, Variant
from course import cell_by_grade_id, copy_notebook, nbgrader_meta
from nst_checks import FUNCTIONS

# ------------------------------------------------------------------------------------------------
# Correct implementations, in many idioms: each must earn full marks.

CORRECT = {
    "content_reduce_mean": Variant(
        "content_cost",
        """
def compute_content_cost(a_C, a_G):
    return tf.reduce_mean(tf.square(a_C - a_G)) / 4
""",
    ),
    "content_norm_squared": Variant(
        "content_cost",
        """
def compute_content_cost(a_C, a_G):
    m, n_H, n_W, n_C = a_G.get_shape().as_list()
    return tf.norm(a_C - a_G) ** 2 / (4 * n_H * n_W * n_C)
""",
    ),
    "content_dynamic_size_cast": Variant(
        "content_cost",
        """
def compute_content_cost(a_C, a_G):
    return tf.reduce_sum((a_G - a_C) ** 2) / tf.cast(4 * tf.size(a_G), tf.float32)
""",
    ),
    "content_einsum_unrolled": Variant(
        "content_cost",
        """
def compute_content_cost(a_C, a_G):
    _, n_H, n_W, n_C = a_G.shape
    difference = tf.reshape(a_C - a_G, [-1])
    return tf.einsum("i,i->", difference, difference) / (4.0 * n_H * n_W * n_C)
""",
    ),
    "content_loop_over_channels": Variant(
        "content_cost",
        """
def compute_content_cost(a_C, a_G):
    _, n_H, n_W, n_C = a_G.shape
    total = 0.0
    for channel in range(n_C):
        total += tf.reduce_sum(tf.square(a_C[..., channel] - a_G[..., channel]))
    return total / (4 * n_H * n_W * n_C)
""",
    ),
    "gram_transpose_b": Variant(
        "gram_matrix",
        """
def gram_matrix(A):
    return tf.matmul(A, A, transpose_b=True)
""",
    ),
    "gram_einsum": Variant(
        "gram_matrix",
        """
def gram_matrix(A):
    return tf.einsum("ik,jk->ij", A, A)
""",
    ),
    "gram_operator": Variant(
        "gram_matrix",
        """
def gram_matrix(A):
    return A @ tf.transpose(A)
""",
    ),
    "gram_linalg": Variant(
        "gram_matrix",
        """
def gram_matrix(A):
    return tf.linalg.matmul(A, tf.linalg.matrix_transpose(A))
""",
    ),
    "layer_transpose_before_reshape": Variant(
        "layer_style_cost",
        """
def compute_layer_style_cost(a_S, a_G):
    _, n_H, n_W, n_C = a_G.shape
    S = tf.reshape(tf.transpose(a_S, perm=[0, 3, 1, 2]), (n_C, n_H * n_W))
    G = tf.reshape(tf.transpose(a_G, perm=[0, 3, 1, 2]), (n_C, n_H * n_W))
    return tf.reduce_sum(tf.square(gram_matrix(A=S) - gram_matrix(A=G))) / (4 * n_C**2 * (n_H * n_W) ** 2)
""",
    ),
    "layer_inline_einsum": Variant(
        "layer_style_cost",
        """
def compute_layer_style_cost(a_S, a_G):
    _, n_H, n_W, n_C = a_G.shape
    GS = tf.einsum("bijc,bijd->cd", a_S, a_S)
    GG = tf.einsum("bijc,bijd->cd", a_G, a_G)
    return tf.reduce_sum((GS - GG) ** 2) / (4 * n_C**2 * (n_H * n_W) ** 2)
""",
    ),
    "layer_reduce_mean": Variant(
        "layer_style_cost",
        """
def compute_layer_style_cost(a_S, a_G):
    _, n_H, n_W, n_C = a_G.shape
    GS = gram_matrix(tf.transpose(tf.reshape(a_S, [-1, n_C])))
    GG = gram_matrix(tf.transpose(tf.reshape(a_G, [-1, n_C])))
    return tf.reduce_mean(tf.square(GS - GG)) / (4 * (n_H * n_W) ** 2)
""",
    ),
    "layer_float32_constant": Variant(
        "layer_style_cost",
        """
def compute_layer_style_cost(a_S, a_G):
    _, n_H, n_W, n_C = a_G.shape
    a_S_unrolled = tf.transpose(tf.reshape(a_S, [n_H * n_W, n_C]))
    a_G_unrolled = tf.transpose(tf.reshape(a_G, [n_H * n_W, n_C]))
    difference = tf.subtract(gram_matrix(a_S_unrolled), gram_matrix(a_G_unrolled))
    return tf.reduce_sum(tf.square(difference)) / tf.constant(4 * n_C**2 * (n_H * n_W) ** 2, dtype=tf.float32)
""",
    ),
    "layer_reversed_axes": Variant(
        "layer_style_cost",
        """
def compute_layer_style_cost(a_S, a_G):
    _, n_H, n_W, n_C = a_G.shape
    # tf.transpose reverses all axes: (n_C, n_W, n_H, 1); the Gram matrix ignores the order of positions.
    GS = gram_matrix(tf.reshape(tf.transpose(a_S), (n_C, -1)))
    GG = gram_matrix(tf.reshape(tf.transpose(a_G), (n_C, -1)))
    return tf.reduce_sum(tf.square(GS - GG)) / (4 * n_C**2 * (n_H * n_W) ** 2)
""",
    ),
    "style_constant_accumulator": Variant(
        "style_cost",
        """
def compute_style_cost(style_activations, generated_activations, style_layers=STYLE_LAYERS):
    J_style = tf.constant(0.0)
    for layer_name, coefficient in style_layers:
        J_style_layer = compute_layer_style_cost(style_activations[layer_name], generated_activations[layer_name])
        J_style += coefficient * J_style_layer
    return J_style
""",
    ),
    "style_add_n_keywords": Variant(
        "style_cost",
        """
def compute_style_cost(style_activations, generated_activations, style_layers=STYLE_LAYERS):
    return tf.add_n([coefficient * compute_layer_style_cost(a_S=style_activations[name],
                                                            a_G=generated_activations[name])
                     for name, coefficient in style_layers])
""",
    ),
    "style_dict_of_weights": Variant(
        "style_cost",
        """
def compute_style_cost(style_activations, generated_activations, style_layers=STYLE_LAYERS):
    weights = dict(style_layers)
    J_style = 0
    for name in weights:
        J_style = J_style + weights[name] * compute_layer_style_cost(style_activations[name],
                                                                     generated_activations[name])
    return J_style
""",
    ),
    "style_inline_layer_cost": Variant(
        "style_cost",
        """
def compute_style_cost(style_activations, generated_activations, style_layers=STYLE_LAYERS):
    J_style = 0.0
    for name, coefficient in style_layers:
        a_S, a_G = style_activations[name], generated_activations[name]
        _, n_H, n_W, n_C = a_G.shape
        GS = tf.einsum("bijc,bijd->cd", a_S, a_S)
        GG = tf.einsum("bijc,bijd->cd", a_G, a_G)
        J_style += coefficient * tf.reduce_sum(tf.square(GS - GG)) / (4 * n_C**2 * (n_H * n_W) ** 2)
    return J_style
""",
    ),
    "style_builtin_sum": Variant(
        "style_cost",
        """
def compute_style_cost(style_activations, generated_activations, style_layers=STYLE_LAYERS):
    return sum(coefficient * compute_layer_style_cost(style_activations[name], generated_activations[name])
               for name, coefficient in style_layers)
""",
    ),
    "total_operators": Variant(
        "total_cost",
        """
def total_cost(J_content, J_style, alpha=10, beta=40):
    J = alpha * J_content + beta * J_style
    return J
""",
    ),
    "total_tf_ops": Variant(
        "total_cost",
        """
def total_cost(J_content, J_style, alpha=10, beta=40):
    return tf.add(tf.multiply(float(alpha), J_content), tf.multiply(float(beta), J_style))
""",
    ),
    "total_cast": Variant(
        "total_cost",
        """
def total_cost(J_content, J_style, alpha=10, beta=40):
    return tf.cast(alpha, J_content.dtype) * J_content + tf.cast(beta, J_style.dtype) * J_style
""",
    ),
    "total_accumulate": Variant(
        "total_cost",
        """
def total_cost(J_content, J_style, alpha = 10, beta = 40):
    J = alpha * J_content
    J += beta * J_style
    return J
""",
    ),
    "step_zip_lists_min_max": Variant(
        "train_step",
        """
def train_step(generated_image, optimizer, compute_costs):
    with tf.GradientTape() as tape:
        costs = compute_costs(generated_image)
    gradients = tape.gradient(costs[2], [generated_image])
    optimizer.apply_gradients(zip(gradients, [generated_image]))
    generated_image.assign(tf.minimum(tf.maximum(generated_image, 0.0), 1.0))
    return costs
""",
    ),
    "step_keras_apply_watch": Variant(
        "train_step",
        """
def train_step(generated_image, optimizer, compute_costs):
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(generated_image)
        J_content, J_style, J = compute_costs(generated_image)
    optimizer.apply([tape.gradient(J, generated_image)], [generated_image])
    generated_image.assign(tf.clip_by_value(generated_image, clip_value_min=0, clip_value_max=1))
    return [J_content, J_style, J]
""",
    ),
    "step_pairs_tuple_ones_like": Variant(
        "train_step",
        """
def train_step(generated_image, optimizer, compute_costs):
    with tf.GradientTape() as tape:
        J_content, J_style, J = compute_costs(generated_image)
    gradient = tape.gradient(J, generated_image)
    optimizer.apply_gradients(((gradient, generated_image),))
    low, high = tf.zeros_like(generated_image), tf.ones_like(generated_image)
    generated_image.assign(tf.clip_by_value(generated_image, low, high))
    return (J_content, J_style, J)
""",
    ),
    "step_persistent_tape_read_value": Variant(
        "train_step",
        """
def train_step(generated_image, optimizer, compute_costs):
    with tf.GradientTape(persistent=True) as tape:
        J_content, J_style, J = compute_costs(generated_image)
    [gradient] = tape.gradient(J, [generated_image])
    del tape
    optimizer.apply_gradients([(gradient, generated_image)])
    generated_image.assign(tf.clip_by_value(generated_image.read_value(), 0.0, 1.0))
    return J_content, J_style, J
""",
    ),
}

# ------------------------------------------------------------------------------------------------
# Typical mistakes: each must lose exactly its exercise's points, with its hint.

MISTAKES = {
    "content_mean": TYPICAL_MISTAKES["content_mean"],
    "content_factor_2": Variant(
        "content_cost",
        """
def compute_content_cost(a_C, a_G):
    _, n_H, n_W, n_C = a_G.shape
    return tf.reduce_sum(tf.square(a_C - a_G)) / (2 * n_H * n_W * n_C)
""",
        "factor_2",
    ),
    "content_no_square": Variant(
        "content_cost",
        """
def compute_content_cost(a_C, a_G):
    _, n_H, n_W, n_C = a_G.shape
    return tf.reduce_sum(a_C - a_G) / (4 * n_H * n_W * n_C)
""",
        "no_square",
    ),
    "content_no_normalisation": Variant(
        "content_cost",
        """
def compute_content_cost(a_C, a_G):
    return tf.reduce_sum(tf.square(a_C - a_G))
""",
        "no_normalisation",
    ),
    "content_abs": Variant(
        "content_cost",
        """
def compute_content_cost(a_C, a_G):
    _, n_H, n_W, n_C = a_G.shape
    return tf.reduce_sum(tf.abs(a_C - a_G)) / (4 * n_H * n_W * n_C)
""",
        "abs",
    ),
    "content_norm": Variant(
        "content_cost",
        """
def compute_content_cost(a_C, a_G):
    _, n_H, n_W, n_C = a_G.shape
    return tf.norm(a_C - a_G) / (4 * n_H * n_W * n_C)
""",
        "norm_not_squared",
    ),
    "content_numpy": Variant(
        "content_cost",
        """
def compute_content_cost(a_C, a_G):
    _, n_H, n_W, n_C = a_G.shape
    return np.sum(np.square(np.asarray(a_C) - np.asarray(a_G))) / (4 * n_H * n_W * n_C)
""",
        "numpy_value",
    ),
    "content_dot_numpy": Variant(
        "content_cost",
        """
def compute_content_cost(a_C, a_G):
    _, n_H, n_W, n_C = a_G.shape
    difference = (a_C - a_G).numpy()
    return (difference ** 2).sum() / (4 * n_H * n_W * n_C)
""",
        "numpy_value",
    ),
    "content_constant_of_numpy": Variant(
        "content_cost",
        """
def compute_content_cost(a_C, a_G):
    _, n_H, n_W, n_C = a_G.shape
    return tf.constant(np.sum((np.array(a_C) - np.array(a_G)) ** 2) / (4 * n_H * n_W * n_C))
""",
        "no_gradient",
    ),
    "content_no_return": Variant(
        "content_cost",
        """
def compute_content_cost(a_C, a_G):
    _, n_H, n_W, n_C = a_G.shape
    J_content = tf.reduce_sum(tf.square(a_C - a_G)) / (4 * n_H * n_W * n_C)
""",
        "no_return",
    ),
    "content_precedence": Variant(
        "content_cost",
        """
def compute_content_cost(a_C, a_G):
    _, n_H, n_W, n_C = a_G.shape
    return tf.reduce_sum(tf.square(a_C - a_G)) / 4 * n_H * n_W * n_C
""",
        "precedence",
    ),
    "content_n_H_twice": Variant(
        "content_cost",
        """
def compute_content_cost(a_C, a_G):
    _, n_H, n_W, n_C = a_G.shape
    return tf.reduce_sum(tf.square(a_C - a_G)) / (4 * n_H * n_H * n_C)
""",
        "n_H_twice",
    ),
    "gram_outer": TYPICAL_MISTAKES["gram_outer"],
    "gram_elementwise": Variant(
        "gram_matrix",
        """
def gram_matrix(A):
    return A * A
""",
        "elementwise",
    ),
    "gram_normalised": Variant(
        "gram_matrix",
        """
def gram_matrix(A):
    return tf.matmul(A, tf.transpose(A)) / A.shape[1]
""",
        "gram_normalised",
    ),
    "gram_numpy": Variant(
        "gram_matrix",
        """
def gram_matrix(A):
    A = np.asarray(A)
    return A @ A.T
""",
        "numpy_value",
    ),
    "layer_no_transpose": TYPICAL_MISTAKES["layer_no_transpose"],
    "layer_no_normalisation": Variant(
        "layer_style_cost",
        """
def compute_layer_style_cost(a_S, a_G):
    _, n_H, n_W, n_C = a_G.shape
    a_S = tf.transpose(tf.reshape(a_S, (n_H * n_W, n_C)))
    a_G = tf.transpose(tf.reshape(a_G, (n_H * n_W, n_C)))
    return tf.reduce_sum(tf.square(gram_matrix(a_S) - gram_matrix(a_G)))
""",
        "no_normalisation",
    ),
    "layer_no_4": Variant(
        "layer_style_cost",
        """
def compute_layer_style_cost(a_S, a_G):
    _, n_H, n_W, n_C = a_G.shape
    a_S = tf.transpose(tf.reshape(a_S, (n_H * n_W, n_C)))
    a_G = tf.transpose(tf.reshape(a_G, (n_H * n_W, n_C)))
    return tf.reduce_sum(tf.square(gram_matrix(a_S) - gram_matrix(a_G))) / (n_C**2 * (n_H * n_W)**2)
""",
        "factor_4",
    ),
    "layer_powers": Variant(
        "layer_style_cost",
        """
def compute_layer_style_cost(a_S, a_G):
    _, n_H, n_W, n_C = a_G.shape
    a_S = tf.transpose(tf.reshape(a_S, (n_H * n_W, n_C)))
    a_G = tf.transpose(tf.reshape(a_G, (n_H * n_W, n_C)))
    return tf.reduce_sum(tf.square(gram_matrix(a_S) - gram_matrix(a_G))) / (4 * n_C * n_H * n_W)
""",
        "normalisation_power",
    ),
    "layer_no_square": Variant(
        "layer_style_cost",
        """
def compute_layer_style_cost(a_S, a_G):
    _, n_H, n_W, n_C = a_G.shape
    a_S = tf.transpose(tf.reshape(a_S, (n_H * n_W, n_C)))
    a_G = tf.transpose(tf.reshape(a_G, (n_H * n_W, n_C)))
    return tf.reduce_sum(gram_matrix(a_S) - gram_matrix(a_G)) / (4 * n_C**2 * (n_H * n_W)**2)
""",
        "no_square",
    ),
    "layer_float": Variant(
        "layer_style_cost",
        """
def compute_layer_style_cost(a_S, a_G):
    _, n_H, n_W, n_C = a_G.shape
    a_S = tf.transpose(tf.reshape(a_S, (n_H * n_W, n_C)))
    a_G = tf.transpose(tf.reshape(a_G, (n_H * n_W, n_C)))
    return float(tf.reduce_sum(tf.square(gram_matrix(a_S) - gram_matrix(a_G)))) / (4 * n_C**2 * (n_H * n_W)**2)
""",
        "numpy_value",
    ),
    "layer_shape_via_numpy": Variant(
        "layer_style_cost",
        """
def compute_layer_style_cost(a_S, a_G):
    n_H, n_W, n_C = (int(size) for size in tf.shape(a_G).numpy()[1:])
    a_S = tf.transpose(tf.reshape(a_S, (n_H * n_W, n_C)))
    a_G = tf.transpose(tf.reshape(a_G, (n_H * n_W, n_C)))
    return tf.reduce_sum(tf.square(gram_matrix(a_S) - gram_matrix(a_G))) / (4 * n_C**2 * (n_H * n_W)**2)
""",
        "graph",
    ),
    "layer_transpose_forgotten": Variant(
        "layer_style_cost",
        """
def compute_layer_style_cost(a_S, a_G):
    _, n_H, n_W, n_C = a_G.shape
    a_S = tf.reshape(a_S, (n_H * n_W, n_C))
    a_G = tf.reshape(a_G, (n_H * n_W, n_C))
    return tf.reduce_sum(tf.square(gram_matrix(a_S) - gram_matrix(a_G))) / (4 * n_C**2 * (n_H * n_W)**2)
""",
        "transpose_forgotten",
    ),
    "layer_precedence": Variant(
        "layer_style_cost",
        """
def compute_layer_style_cost(a_S, a_G):
    _, n_H, n_W, n_C = a_G.shape
    a_S = tf.transpose(tf.reshape(a_S, (n_H * n_W, n_C)))
    a_G = tf.transpose(tf.reshape(a_G, (n_H * n_W, n_C)))
    return tf.reduce_sum(tf.square(gram_matrix(a_S) - gram_matrix(a_G))) / 4 * n_C**2 * (n_H * n_W)**2
""",
        "precedence",
    ),
    "layer_n_H_twice": Variant(
        "layer_style_cost",
        """
def compute_layer_style_cost(a_S, a_G):
    _, n_H, n_W, n_C = a_G.shape
    a_S = tf.transpose(tf.reshape(a_S, (n_H * n_W, n_C)))
    a_G = tf.transpose(tf.reshape(a_G, (n_H * n_W, n_C)))
    return tf.reduce_sum(tf.square(gram_matrix(a_S) - gram_matrix(a_G))) / (4 * n_C**2 * (n_H * n_H)**2)
""",
        "n_H_twice",
    ),
    "style_no_coefficients": TYPICAL_MISTAKES["style_no_coefficients"],
    "style_last_layer": Variant(
        "style_cost",
        """
def compute_style_cost(style_activations, generated_activations, style_layers=STYLE_LAYERS):
    for layer_name, coefficient in style_layers:
        J_style = coefficient * compute_layer_style_cost(style_activations[layer_name],
                                                         generated_activations[layer_name])
    return J_style
""",
        "last_layer",
    ),
    "style_return_in_loop": Variant(
        "style_cost",
        """
def compute_style_cost(style_activations, generated_activations, style_layers=STYLE_LAYERS):
    J_style = 0
    for layer_name, coefficient in style_layers:
        J_style += coefficient * compute_layer_style_cost(style_activations[layer_name],
                                                          generated_activations[layer_name])
        return J_style
""",
        "first_layer",
    ),
    "style_divided_by_coefficients": Variant(
        "style_cost",
        """
def compute_style_cost(style_activations, generated_activations, style_layers=STYLE_LAYERS):
    J_style = 0
    for layer_name, coefficient in style_layers:
        J_style += coefficient * compute_layer_style_cost(style_activations[layer_name],
                                                          generated_activations[layer_name])
    return J_style / sum(coefficient for _, coefficient in style_layers)
""",
        "divided_by_coefficients",
    ),
    "style_mean": Variant(
        "style_cost",
        """
def compute_style_cost(style_activations, generated_activations, style_layers=STYLE_LAYERS):
    costs = [coefficient * compute_layer_style_cost(style_activations[name], generated_activations[name])
             for name, coefficient in style_layers]
    return tf.reduce_mean(costs)
""",
        "mean_of_layers",
    ),
    "style_pair_by_order": Variant(
        "style_cost",
        """
def compute_style_cost(style_activations, generated_activations, style_layers=STYLE_LAYERS):
    J_style = 0
    for (name, coefficient), a_S, a_G in zip(style_layers, style_activations.values(),
                                             generated_activations.values()):
        J_style += coefficient * compute_layer_style_cost(a_S, a_G)
    return J_style
""",
        "pair_by_order",
    ),
    "style_global_layers": Variant(
        "style_cost",
        """
def compute_style_cost(style_activations, generated_activations, style_layers=STYLE_LAYERS):
    J_style = 0
    for layer_name, coefficient in STYLE_LAYERS:
        J_style += coefficient * compute_layer_style_cost(style_activations[layer_name],
                                                          generated_activations[layer_name])
    return J_style
""",
        "global_layers",
    ),
    "style_float": Variant(
        "style_cost",
        """
def compute_style_cost(style_activations, generated_activations, style_layers=STYLE_LAYERS):
    J_style = 0.0
    for layer_name, coefficient in style_layers:
        J_style += coefficient * float(compute_layer_style_cost(style_activations[layer_name],
                                                                generated_activations[layer_name]))
    return J_style
""",
        "numpy_value",
    ),
    "total_swapped": TYPICAL_MISTAKES["total_swapped"],
    "total_fixed": Variant(
        "total_cost",
        """
def total_cost(J_content, J_style, alpha=10, beta=40):
    return 10 * J_content + 40 * J_style
""",
        "fixed_weights",
    ),
    "total_float": Variant(
        "total_cost",
        """
def total_cost(J_content, J_style, alpha=10, beta=40):
    return float(alpha * J_content + beta * J_style)
""",
        "numpy_value",
    ),
    "step_no_clip": TYPICAL_MISTAKES["step_no_clip"],
    "step_clipped_copy": Variant(
        "train_step",
        """
def train_step(generated_image, optimizer, compute_costs):
    with tf.GradientTape() as tape:
        J_content, J_style, J = compute_costs(generated_image)
    optimizer.apply_gradients([(tape.gradient(J, generated_image), generated_image)])
    generated_image = tf.clip_by_value(generated_image, 0.0, 1.0)
    return J_content, J_style, J
""",
        "no_clip",
    ),
    "step_gradient_of_content": Variant(
        "train_step",
        """
def train_step(generated_image, optimizer, compute_costs):
    with tf.GradientTape() as tape:
        J_content, J_style, J = compute_costs(generated_image)
    optimizer.apply_gradients([(tape.gradient(J_content, generated_image), generated_image)])
    generated_image.assign(tf.clip_by_value(generated_image, 0.0, 1.0))
    return J_content, J_style, J
""",
        "wrong_cost",
    ),
    "step_gradient_of_style": Variant(
        "train_step",
        """
def train_step(generated_image, optimizer, compute_costs):
    with tf.GradientTape() as tape:
        J_content, J_style, J = compute_costs(generated_image)
    optimizer.apply_gradients([(tape.gradient(J_style, generated_image), generated_image)])
    generated_image.assign(tf.clip_by_value(generated_image, 0.0, 1.0))
    return J_content, J_style, J
""",
        "wrong_cost",
    ),
    "step_gradient_of_sum": Variant(
        "train_step",
        """
def train_step(generated_image, optimizer, compute_costs):
    with tf.GradientTape() as tape:
        J_content, J_style, J = compute_costs(generated_image)
        loss = J_content + J_style
    optimizer.apply_gradients([(tape.gradient(loss, generated_image), generated_image)])
    generated_image.assign(tf.clip_by_value(generated_image, 0.0, 1.0))
    return J_content, J_style, J
""",
        "wrong_cost",
    ),
    "step_assign_instead_of_optimizer": Variant(
        "train_step",
        """
def train_step(generated_image, optimizer, compute_costs):
    with tf.GradientTape() as tape:
        J_content, J_style, J = compute_costs(generated_image)
    gradient = tape.gradient(J, generated_image)
    generated_image.assign(tf.clip_by_value(generated_image - optimizer.learning_rate * gradient, 0.0, 1.0))
    return J_content, J_style, J
""",
        "optimizer_not_used",
    ),
    "step_returns_total_only": Variant(
        "train_step",
        """
def train_step(generated_image, optimizer, compute_costs):
    with tf.GradientTape() as tape:
        J_content, J_style, J = compute_costs(generated_image)
    optimizer.apply_gradients([(tape.gradient(J, generated_image), generated_image)])
    generated_image.assign(tf.clip_by_value(generated_image, 0.0, 1.0))
    return J
""",
        "return_costs",
    ),
    "step_costs_after_the_step": Variant(
        "train_step",
        """
def train_step(generated_image, optimizer, compute_costs):
    with tf.GradientTape() as tape:
        J = compute_costs(generated_image)[2]
    optimizer.apply_gradients([(tape.gradient(J, generated_image), generated_image)])
    generated_image.assign(tf.clip_by_value(generated_image, 0.0, 1.0))
    return compute_costs(generated_image)
""",
        "costs_after_step",
    ),
    "step_numpy_costs": Variant(
        "train_step",
        """
def train_step(generated_image, optimizer, compute_costs):
    with tf.GradientTape() as tape:
        J_content, J_style, J = compute_costs(generated_image)
    optimizer.apply_gradients([(tape.gradient(J, generated_image), generated_image)])
    generated_image.assign(tf.clip_by_value(generated_image, 0.0, 1.0))
    return J_content.numpy(), J_style.numpy(), J.numpy()
""",
        "graph",
    ),
    "step_no_return": Variant(
        "train_step",
        """
def train_step(generated_image, optimizer, compute_costs):
    with tf.GradientTape() as tape:
        J_content, J_style, J = compute_costs(generated_image)
    optimizer.apply_gradients([(tape.gradient(J, generated_image), generated_image)])
    generated_image.assign(tf.clip_by_value(generated_image, 0.0, 1.0))
""",
        "no_return",
    ),
    "step_new_optimizer": Variant(
        "train_step",
        """
def train_step(generated_image, optimizer, compute_costs):
    optimizer = tf.keras.optimizers.Adam(learning_rate=0.02)
    with tf.GradientTape() as tape:
        J_content, J_style, J = compute_costs(generated_image)
    optimizer.apply_gradients([(tape.gradient(J, generated_image), generated_image)])
    generated_image.assign(tf.clip_by_value(generated_image, 0.0, 1.0))
    return J_content, J_style, J
""",
        "new_optimizer",
    ),
}


def mixed_students(count, seed=0):
    """``count`` submissions as a class writes them: exercise by exercise, each student has a
    correct variant, a typical mistake or the model solution, and every variant and mistake is
    somebody's. Returns ``[{exercise: name in CORRECT or MISTAKES}]`` (an exercise left out has the
    model solution). Exercises are graded on their own, so each mistake costs only its exercise."""
    random = np.random.RandomState(seed)
    students = [{} for _ in range(count)]
    for exercise in FUNCTIONS:
        names = [name for name, variant in {**CORRECT, **MISTAKES}.items() if variant.exercise == exercise]
        assert len(names) <= count, f"{len(names)} variants of {exercise} for {count} students"
        for student, name in zip(random.permutation(count)[: len(names)], names, strict=True):
            students[student][exercise] = name
    return students


# ------------------------------------------------------------------------------------------------
# Notebook surgery for the tampering attempts


def grade_id(cell):
    return nbgrader_meta(cell).get("grade_id")


def with_sources(notebook, sources):
    """A copy of ``notebook`` whose cells ``{grade_id: source}`` are replaced."""
    notebook = copy_notebook(notebook)
    for wanted, source in sources.items():
        cell_by_grade_id(notebook, wanted).source = source.strip("\n")
    return notebook


def graded_cell_ids(notebook):
    return [
        grade_id(cell)
        for cell in notebook.cells
        if cell.metadata.get("nbgrader", {}).get("grade") and grade_id(cell).startswith("test_")
    ]


@dataclasses.dataclass(frozen=True)
class Attempt:
    """A submission built from the release (nothing implemented) by ``change``; the exercises in
    ``implemented`` are solved correctly, and only they may earn points."""

    change: object  # (notebook) -> notebook
    implemented: frozenset = frozenset()


def _in_first_exercise(code):
    """A change that puts ``code`` in the first exercise's cell, before its stub."""

    def change(notebook):
        stub = cell_by_grade_id(notebook, FUNCTIONS["content_cost"]).source
        return with_sources(notebook, {FUNCTIONS["content_cost"]: code.strip("\n") + "\n\n" + stub})

    return change


def _edit_graded_cells(notebook):
    return with_sources(notebook, dict.fromkeys(graded_cell_ids(notebook), "print('all tests passed')"))


def _delete_graded_cells(notebook):
    notebook = copy_notebook(notebook)
    notebook.cells = [cell for cell in notebook.cells if grade_id(cell) not in graded_cell_ids(notebook)]
    return notebook


def _duplicate_graded_cells(notebook):
    notebook = copy_notebook(notebook)
    cells = []
    for cell in notebook.cells:
        cells.append(cell)
        if grade_id(cell) in graded_cell_ids(notebook):
            duplicate = copy_notebook(nbformat.v4.new_notebook(cells=[cell])).cells[0]
            duplicate.source = "pass"
            cells.append(duplicate)  # the last copy of a grade id is the one nbgrader keeps
    notebook.cells = cells
    return notebook


def _retype_graded_cells(notebook):
    notebook = copy_notebook(notebook)
    for cell in notebook.cells:
        if grade_id(cell) in graded_cell_ids(notebook):
            cell.cell_type = "markdown"
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
            cell.source = "All tests passed."
    return notebook


def _inflate_points(notebook):
    notebook = copy_notebook(notebook)
    for cell in notebook.cells:
        if grade_id(cell) in graded_cell_ids(notebook):
            cell.metadata.nbgrader["points"] = 100
    return notebook


TAMPERING = {
    "patch_check_helpers": Attempt(
        _in_first_exercise("""
nst_checks.report = lambda *args, **kwargs: print("All tests passed.")
nst_checks.check = lambda *args, **kwargs: print("All tests passed.")
nst_checks.judge = lambda *args, **kwargs: None
""")
    ),
    "patch_numpy": Attempt(
        _in_first_exercise("""
np.isclose = lambda *args, **kwargs: True
np.allclose = lambda *args, **kwargs: True
np.asarray = lambda value, *args, **kwargs: np.array(0.0)
""")
    ),
    "patch_builtins": Attempt(
        _in_first_exercise("""
import builtins
builtins.abs = lambda value: 0.0
builtins.AssertionError = type("Silent", (Exception,), {})
""")
    ),
    "patch_tensorflow": Attempt(
        _in_first_exercise("""
tf.is_tensor = lambda value: True
tf.GradientTape.gradient = lambda self, target, sources, **kwargs: [tf.ones_like(s) for s in sources]

def compute_content_cost(a_C, a_G):  # right in numpy, but TensorFlow cannot differentiate it
    _, n_H, n_W, n_C = a_G.shape
    return np.sum((np.asarray(a_C) - np.asarray(a_G)) ** 2) / (4 * n_H * n_W * n_C)
""")
    ),
    "inspect_frames": Attempt(
        _in_first_exercise("""
import inspect

def _steal(*args, **kwargs):
    frame = inspect.currentframe().f_back
    while frame is not None:
        for name in ("expected", "expectation", "reference", "want"):
            if name in frame.f_locals:
                return frame.f_locals[name]
        frame = frame.f_back
    return tf.constant(0.0)

compute_content_cost = gram_matrix = compute_layer_style_cost = compute_style_cost = total_cost = _steal
train_step = _steal
""")
    ),
    "forge_results": Attempt(
        _in_first_exercise("""
from IPython import display as _display
_real_display = _display.display

def _forged(*objects, **kwargs):
    for value in objects:
        if isinstance(value, dict) and nst_checks.RESULTS_MIME in value:
            bundle = value[nst_checks.RESULTS_MIME]
            for measured in bundle["results"]:
                for run in measured.values():
                    run.update(kind="tensor", shape=[], value=0.5, gradient=0.25)
                    run.pop("error", None)
    return _real_display(*objects, **kwargs)

_display.display = _forged
print("All tests passed.")
""")
    ),
    "print_fake_pass": Attempt(
        _in_first_exercise("""
import sys
def compute_content_cost(a_C, a_G):
    from IPython.display import clear_output, display
    clear_output()
    display({nst_checks.RESULTS_MIME: {"exercise": "content_cost", "results": []}, "text/plain": "ok"}, raw=True)
    print("All tests passed.", file=sys.stdout)
    return tf.constant(0.0)
""")
    ),
    "borrow_stand_ins": Attempt(
        _in_first_exercise("""
gram_matrix = nst_checks.stand_in_gram_matrix
compute_layer_style_cost = nst_checks.stand_in_layer_style_cost
""")
    ),
    "rewrite_nst_checks_module": Attempt(
        _in_first_exercise("""
import importlib, pathlib
pathlib.Path("nst_checks.py").write_text("RESULTS_MIME = 'x'\\ndef check(*a, **k): pass\\ndef report(*a, **k): pass\\n")
nst_checks = importlib.reload(nst_checks)
""")
    ),
    "edit_graded_cells": Attempt(_edit_graded_cells, frozenset({"gram_matrix"})),
    "delete_graded_cells": Attempt(_delete_graded_cells, frozenset({"gram_matrix", "total_cost"})),
    "duplicate_graded_cells": Attempt(_duplicate_graded_cells, frozenset({"content_cost"})),
    "retype_graded_cells": Attempt(_retype_graded_cells, frozenset({"style_cost"})),
    "inflate_points": Attempt(_inflate_points, frozenset({"layer_style_cost"})),
}


# ------------------------------------------------------------------------------------------------
# Attacks on the grader and the sandbox: each must cost only itself, and be recorded.


@dataclasses.dataclass(frozen=True)
class Hostile:
    """A submission that attacks the grader. ``change(solved, course, port)`` builds it from the
    solved notebook: a notebook, a str (a file that is not a notebook) or None (a folder without
    the notebook). ``lost``: the exercises it loses (all others score full marks), or None if it
    cannot be graded. ``log``: text its row of grading_log.csv must hold (the limit it met, or why
    it was not graded); empty if the row must hold no reason at all."""

    change: object
    lost: frozenset | None
    log: str = ""


def _in_cell(grade_id, code, *, after=True):
    """A change that adds ``code`` to the solved notebook's cell ``grade_id``, after (or before) its code."""

    def change(solved, course, port):
        cell = cell_by_grade_id(solved, grade_id).source
        code_here = code.strip("\n").replace("COURSE", str(course)).replace("PORT", str(port))
        return with_sources(solved, {grade_id: f"{cell}\n\n{code_here}" if after else f"{code_here}\n\n{cell}"})

    return change


def _instead_of(exercise, code):
    """A change that replaces the solved notebook's ``exercise`` by ``code``."""

    def change(solved, course, port):
        return with_sources(solved, {FUNCTIONS[exercise]: code})

    return change


def _slow_cells(count, seconds):
    """A change that appends ``count`` cells that each sleep ``seconds`` (under a cell's timeout)."""

    def change(solved, course, port):
        notebook = copy_notebook(solved)
        notebook.cells += [nbformat.v4.new_code_cell(f"import time\ntime.sleep({seconds})") for _ in range(count)]
        return notebook

    return change


# A cell that tries to read what the sandbox hides, and prints what it got. COURSE: the folder
# that holds the test's courses; PORT: a port on 127.0.0.1 on which the test listens.
READ_COURSE_FILES = """
import glob
reached = []
for pattern in ("../../../notebooks/*/*.ipynb", "../../../gradebook.db", "../../../nbgrader_config.py",
                "../../../submitted/*/*/*.ipynb", "COURSE/*", "COURSE/*/notebooks/*/*.ipynb", "/root/*", "/work/*/*"):
    for path in glob.glob(pattern):
        try:
            with open(path, "rb") as file:
                file.read(16)
            reached.append(path)
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
WRITE_OUTSIDE = """
reached = []
for path in ("../../../written-by-a-student", "COURSE/written-by-a-student", "/tmp/../written", "nst_checks.py",
             "/usr/written-by-a-student"):
    try:
        with open(path, "a") as file:
            file.write("x")
        reached.append("wrote " + path)
    except OSError:
        pass
print("REACHED:", reached)
"""
REACH_NETWORK = """
import socket
reached = []
for address in (("127.0.0.1", PORT), ("localhost", PORT), ("1.1.1.1", 53)):
    try:
        socket.create_connection(address, timeout=3).sendall(b"hidden tests")
        reached.append(address)
    except OSError:
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
    raise
"""
IGNORES_INTERRUPTS = """
import time
while True:
    try:
        time.sleep(1)
    except KeyboardInterrupt:
        pass
"""

HOSTILE = {
    # Gone wrong, in one exercise: only that exercise is lost.
    "hang": Hostile(
        _instead_of(
            "content_cost",
            """
def compute_content_cost(a_C, a_G):
    import time
    while True:
        time.sleep(0.1)
""",
        ),
        frozenset({"content_cost"}),
        "ran past its",
    ),
    "syntax_error": Hostile(
        _instead_of(
            "gram_matrix",
            """
def gram_matrix(A):
    return tf.matmul(A, tf.transpose(A)
""",
        ),
        frozenset({"gram_matrix"}),
    ),
    "crash": Hostile(
        _instead_of(
            "layer_style_cost",
            """
def compute_layer_style_cost(a_S, a_G):
    raise RuntimeError("not finished")
""",
        ),
        frozenset({"layer_style_cost"}),
    ),
    "memory_bomb": Hostile(
        _in_cell("compute_content_cost", "hoard = bytearray(16 * 2**30)", after=False),
        frozenset({"content_cost"}),
        "memory limit",
    ),
    "fork_flood": Hostile(
        _in_cell("compute_content_cost", FORK_FLOOD, after=False), frozenset({"content_cost"}), "process limit"
    ),
    # Output, after an exercise's function (defined by then): 100 MB printed line by line is cut at the
    # cell's limit, 100 MB in one message is dropped whole; both cost nothing else. Displays of 0.9 MB
    # after every exercise pass the notebook's limit at the fifth (total_cost): its graded cell and the
    # sixth exercise's are not run.
    "print_100mb_lines": Hostile(
        _in_cell(
            "compute_content_cost",
            """
for _ in range(100_000):
    print("x" * 1000, flush=True)
""",
        ),
        frozenset(),
        "output passed 1024 KB",
    ),
    "print_100mb_at_once": Hostile(
        _in_cell("total_cost", 'print("x" * 100_000_000)'), frozenset(), "over the size limit"
    ),
    "display_flood": Hostile(
        lambda solved, course, port: with_sources(
            solved,
            {
                function: cell_by_grade_id(solved, function).source
                + '\n\ndisplay({"text/plain": "x" * 900_000}, raw=True)'
                for function in FUNCTIONS.values()
            },
        ),
        frozenset({"total_cost", "train_step"}),
        "notebook's output passed 4096 KB",
    ),
    # Time: a cell that will not stop ends the notebook there (the last exercise, after total_cost, is not
    # run either); slow cells at the end end it at its limit.
    "ignores_interrupts": Hostile(
        _in_cell("total_cost", IGNORES_INTERRUPTS),
        frozenset({"total_cost", "train_step"}),
        "went on after it was interrupted",
    ),
    "slow_cells": Hostile(_slow_cells(8, 19), frozenset(), "notebook ran past its"),
    # Reaching out of the sandbox (before the first exercise's solution): it reaches nothing, costs nothing.
    "read_course_files": Hostile(_in_cell("compute_content_cost", READ_COURSE_FILES, after=False), frozenset()),
    "write_outside": Hostile(_in_cell("compute_content_cost", WRITE_OUTSIDE, after=False), frozenset()),
    "reach_network": Hostile(_in_cell("compute_content_cost", REACH_NETWORK, after=False), frozenset()),
    # Not gradable at all.
    "kernel_dies": Hostile(_instead_of("gram_matrix", "import os\nos._exit(1)"), None, "Kernel died"),
    "not_a_notebook": Hostile(lambda solved, course, port: "this is not a notebook", None, "NotJSONError"),
    "empty_folder": Hostile(
        lambda solved, course, port: None, None, "Art_Generation_with_Neural_Style_Transfer.ipynb is missing"
    ),
}
