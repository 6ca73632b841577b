"""The costs of Gatys et al. (2015), on VGG-19 activations of shape (1, n_H, n_W, n_C).

These are the instructor's reference implementations: they must never ship to students.
"""

import tensorflow as tf


def content_loss(content_features: tf.Tensor, generated_features: tf.Tensor) -> tf.Tensor:
    """J_content = sum((a_C - a_G)^2) / (4 n_H n_W n_C)."""
    _, n_h, n_w, n_c = generated_features.shape
    return tf.reduce_sum(tf.square(content_features - generated_features)) / (4.0 * n_h * n_w * n_c)


@tf.custom_gradient
def gram_matrix(features: tf.Tensor) -> tf.Tensor:
    """Channel Gram matrix of activations (1, n_H, n_W, n_C): (n_C, n_C), summed over positions.

    The sum is taken in float32 (or float64, for float64 features): the style cost compares two Gram
    matrices, and bfloat16's 8 significant bits would drown their difference. The gradient is written
    out, F (U + U^T) for the upstream gradient U: one product, where differentiating F^T F makes two,
    and in the features' own dtype, so that bfloat16 features get a bfloat16 gradient as the rest of
    the network's backward pass does.
    """
    features = tf.convert_to_tensor(features)
    unrolled = tf.reshape(features, (-1, features.shape[-1]))  # (n_H n_W, n_C)
    wide = unrolled if features.dtype.size >= 4 else tf.cast(unrolled, tf.float32)
    gram = tf.matmul(wide, wide, transpose_a=True)

    def gradient(upstream):
        symmetric = tf.cast(upstream + tf.transpose(upstream), features.dtype)
        return tf.reshape(tf.matmul(unrolled, symmetric), tf.shape(features))

    return gram, gradient


def style_layer_loss(style_gram: tf.Tensor, generated_features: tf.Tensor) -> tf.Tensor:
    """J_style^[l] = sum((G_S - G_G)^2) / (4 n_C^2 (n_H n_W)^2), with G_S precomputed."""
    _, n_h, n_w, _ = generated_features.shape
    return gram_loss(style_gram, gram_matrix(generated_features), n_h * n_w)


def gram_loss(style_gram: tf.Tensor, generated_gram: tf.Tensor, positions: int) -> tf.Tensor:
    """``style_layer_loss`` from the generated image's Gram matrix (n_C, n_C) over ``positions`` = n_H n_W."""
    n_c = generated_gram.shape[-1]
    return tf.reduce_sum(tf.square(style_gram - generated_gram)) / (4.0 * n_c**2 * positions**2)


@tf.custom_gradient
def total_variation_loss(image: tf.Tensor) -> tf.Tensor:
    """Mean squared difference between neighbouring pixels of an image (1, height, width, 3).

    The gradient is written out, as differences of the differences padded back to the image's
    shape: differentiating the slices goes through TensorFlow's slice gradient, which costs as much
    as a convolution layer here.
    """
    image = tf.convert_to_tensor(image)
    down = image[:, 1:, :, :] - image[:, :-1, :, :]
    right = image[:, :, 1:, :] - image[:, :, :-1, :]
    cost = tf.reduce_mean(tf.square(down)) + tf.reduce_mean(tf.square(right))

    def gradient(upstream):
        # d/dx_i of mean((x_{i+1} - x_i)^2) = 2 (d_{i-1} - d_i) / count, with d = 0 beyond the edges.
        scale_down = 2.0 * upstream / tf.cast(tf.size(down), image.dtype)
        scale_right = 2.0 * upstream / tf.cast(tf.size(right), image.dtype)
        vertical = tf.pad(down, [[0, 0], [1, 0], [0, 0], [0, 0]]) - tf.pad(down, [[0, 0], [0, 1], [0, 0], [0, 0]])
        horizontal = tf.pad(right, [[0, 0], [0, 0], [1, 0], [0, 0]]) - tf.pad(right, [[0, 0], [0, 0], [0, 1], [0, 0]])
        return scale_down * vertical + scale_right * horizontal

    return cost, gradient
