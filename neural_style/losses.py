"""The costs of Gatys et al. (2015), on VGG-19 activations of shape (1, n_H, n_W, n_C).

These are the instructor's reference implementations: they must never ship to students.
"""

import tensorflow as tf


def content_loss(content_features, generated_features):
    """J_content = sum((a_C - a_G)^2) / (4 n_H n_W n_C)."""
    _, n_h, n_w, n_c = generated_features.shape
    return tf.reduce_sum(tf.square(content_features - generated_features)) / (4.0 * n_h * n_w * n_c)


def gram_matrix(features):
    """Channel Gram matrix of activations (1, n_H, n_W, n_C): (n_C, n_C), summed over positions."""
    unrolled = tf.reshape(features, (-1, features.shape[-1]))  # (n_H n_W, n_C)
    return tf.matmul(unrolled, unrolled, transpose_a=True)


def style_layer_loss(style_gram, generated_features):
    """J_style^[l] = sum((G_S - G_G)^2) / (4 n_C^2 (n_H n_W)^2), with G_S precomputed."""
    _, n_h, n_w, n_c = generated_features.shape
    difference = style_gram - gram_matrix(generated_features)
    return tf.reduce_sum(tf.square(difference)) / (4.0 * n_c**2 * (n_h * n_w) ** 2)


def total_variation_loss(image):
    """Mean squared difference between neighbouring pixels of an image (1, height, width, 3)."""
    return tf.reduce_mean(tf.square(image[:, 1:, :, :] - image[:, :-1, :, :])) + tf.reduce_mean(
        tf.square(image[:, :, 1:, :] - image[:, :, :-1, :])
    )
