"""Sample submissions that the grading bench (``benchmarks.grading``) grades and the tests' corpus
(``tests/submission_corpus.py``) includes: one typical mistake per exercise, each as a student writes it.

They live here, not in the corpus, because the bench ships with the project and the tests do not:
the corpus imports them from here, so each is written once.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Variant:
    """A way of writing one exercise: ``source`` is notebook code that defines the exercise's function."""

    exercise: str  # nst_checks exercise key (nst_checks.FUNCTIONS names its function and graded cell)
    source: str
    hint: str | None = None  # for a mistake: the nst_checks.HINTS key its check must report


# Each must lose exactly its exercise's points, with its hint.
TYPICAL_MISTAKES = {
    "content_mean": Variant(
        "content_cost",
        """
def compute_content_cost(a_C, a_G):
    return tf.reduce_mean(tf.square(a_C - a_G))
""",
        "factor_4",
    ),
    "gram_outer": Variant(
        "gram_matrix",
        """
def gram_matrix(A):
    return tf.matmul(tf.transpose(A), A)
""",
        "outer_gram",
    ),
    "layer_no_transpose": Variant(
        "layer_style_cost",
        """
def compute_layer_style_cost(a_S, a_G):
    _, n_H, n_W, n_C = a_G.shape
    a_S = tf.reshape(a_S, (n_C, n_H * n_W))
    a_G = tf.reshape(a_G, (n_C, n_H * n_W))
    return tf.reduce_sum(tf.square(gram_matrix(a_S) - gram_matrix(a_G))) / (4 * n_C**2 * (n_H * n_W)**2)
""",
        "no_transpose",
    ),
    "style_no_coefficients": Variant(
        "style_cost",
        """
def compute_style_cost(style_activations, generated_activations, style_layers=STYLE_LAYERS):
    J_style = 0
    for layer_name, coefficient in style_layers:
        J_style += compute_layer_style_cost(style_activations[layer_name], generated_activations[layer_name])
    return J_style
""",
        "coefficients",
    ),
    "total_swapped": Variant(
        "total_cost",
        """
def total_cost(J_content, J_style, alpha=10, beta=40):
    return alpha * J_style + beta * J_content
""",
        "swapped_weights",
    ),
    "step_no_clip": Variant(
        "train_step",
        """
def train_step(generated_image, optimizer, compute_costs):
    with tf.GradientTape() as tape:
        J_content, J_style, J = compute_costs(generated_image)
    optimizer.apply_gradients([(tape.gradient(J, generated_image), generated_image)])
    return J_content, J_style, J
""",
        "no_clip",
    ),
}
