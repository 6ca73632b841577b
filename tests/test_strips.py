"""The first block in strips (``neural_style.strips``): the same activations, Gram matrices and
gradient as the whole network, for any strip layout, in float32 and within rounding in bfloat16."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from neural_style import strips, transfer
from neural_style.losses import gram_matrix
from nst_utils import build_vgg_model

HEIGHT, WIDTH = 37, 29  # odd: pool1 drops the last row and column
LAYERS = ["relu4_2", "conv1_1", "relu1_1", "relu1_2", "pool1", "relu2_1", "relu3_1"]


@pytest.mark.parametrize(
    "height, width, strip_pixels",
    [
        (37, 29, 300),
        (1080, 1920, strips.STRIP_PIXELS),
        (540, 960, strips.STRIP_PIXELS),
        (300, 400, 10**9),
        (5, 3, 1),
        (1, 8, 1),
    ],
)
def test_strips_cover_every_row_once_from_even_starts(height, width, strip_pixels):
    rows = strips.strip_rows(height, width, strip_pixels)
    assert rows[0][0] == 0 and rows[-1][1] == height
    assert all(end == next_start for (_, end), (next_start, _) in zip(rows, rows[1:]))
    assert all(start % 2 == 0 and end > start for start, end in rows)
    assert len(rows) == max(1, min(-(-height * width // strip_pixels), height // 2))


def _costs_and_gradient(network, image, targets):
    """A cost mixing pool1 and later activations with the Gram matrices, and its gradient (numpy)."""
    image = tf.constant(image)
    with tf.GradientTape() as tape:
        tape.watch(image)
        activations, grams = network(image)
        cost = sum(tf.reduce_sum(tf.cast(activations[name], tf.float32) * targets[name]) for name in activations)
        cost += sum(tf.reduce_sum(grams[name] * targets[name]) for name in grams)
    return float(cost), tape.gradient(cost, image).numpy(), activations, grams


def _whole_network(model, block_grams):
    def network(image):
        activations = dict(model(image))
        return activations, {name: gram_matrix(activations.pop(name)) for name in block_grams}

    return network


@pytest.mark.parametrize("precision, rtol", [("float32", 1e-5), ("bfloat16", 2e-2)])
def test_striped_first_block_matches_the_whole_network(vgg_weights, precision, rtol):
    model = build_vgg_model(vgg_weights, LAYERS, dtype_policy=precision)
    rows = strips.strip_rows(HEIGHT, WIDTH, 300)
    assert len(rows) == 4
    striped = strips.StripedNetwork(model, LAYERS, rows)
    rng = np.random.RandomState(21)
    image = rng.uniform(0, 1, (1, HEIGHT, WIDTH, 3)).astype(np.float32)
    shapes = {name: value.shape for name, value in model(image).items()}
    targets = {
        name: tf.constant(rng.normal(size=shapes[name] if name not in striped.block_grams else (64, 64)), tf.float32)
        for name in LAYERS
    }
    whole = _costs_and_gradient(_whole_network(model, striped.block_grams), image, targets)
    ours = _costs_and_gradient(striped, image, targets)
    assert sorted(ours[2]) == ["pool1", "relu2_1", "relu3_1", "relu4_2"]
    assert sorted(ours[3]) == ["conv1_1", "relu1_1", "relu1_2"]
    for name in ours[2]:
        np.testing.assert_allclose(np.float32(ours[2][name]), np.float32(whole[2][name]), rtol=rtol, atol=rtol)
    for name in ours[3]:
        scale = np.abs(whole[3][name]).max()
        np.testing.assert_allclose(ours[3][name], whole[3][name], atol=rtol * scale)
    assert ours[0] == pytest.approx(whole[0], rel=rtol)
    error = np.linalg.norm(ours[1] - whole[1]) / np.linalg.norm(whole[1])
    assert error < rtol, error


def test_a_big_picture_runs_in_strips_with_the_same_costs(vgg_weights):
    """Above ``STRIP_PIXELS`` the engine cuts the first block into strips; the cost terms and the
    gradient stay those of the whole network (which a small picture's run uses)."""
    height, width = 420, 1200  # 504,000 pixels: 2 strips
    settings = dataclasses.replace(
        transfer.defaults_for(vgg_weights),
        precision="float32",
        content_layer="relu2_2",
        style_layers=(("relu1_1", 0.5), ("relu2_1", 0.5)),
    )
    rng = np.random.RandomState(22)
    content = rng.uniform(0, 1, (1, height, width, 3)).astype(np.float32)
    style = rng.uniform(0, 1, (1, 64, 64, 3)).astype(np.float32)
    image = np.clip(content + rng.normal(0, 0.1, content.shape), 0, 1).astype(np.float32)
    engine, whole = (transfer.StyleTransfer(vgg_weights, content, [style], settings=settings) for _ in range(2))
    assert engine.striped is not None and len(engine.striped.rows) == 2
    whole.striped = None  # before its first evaluation traces the step
    _, gradient, terms = engine.evaluate(image)
    _, whole_gradient, whole_terms = whole.evaluate(image)
    for name in terms:
        assert terms[name] == pytest.approx(whole_terms[name], rel=1e-5)
    assert np.linalg.norm(gradient - whole_gradient) < 1e-5 * np.linalg.norm(whole_gradient)


def test_a_content_layer_in_the_first_block_keeps_the_whole_network(vgg_weights):
    settings = dataclasses.replace(
        transfer.defaults_for(vgg_weights),
        content_layer="relu1_2",
        style_layers=(("relu1_1", 1.0),),
        precision="float32",
    )
    content = np.full((1, 420, 1200, 3), 0.5, np.float32)
    engine = transfer.StyleTransfer(vgg_weights, content, [content[:, :64, :64]], settings=settings)
    assert engine.striped is None
