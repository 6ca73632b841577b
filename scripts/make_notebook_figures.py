#!/usr/bin/env python
"""The notebook's figures, written to ``images/figures/`` (``make figures``; commit what it writes).

* ``unrolling.png``: a small activation volume (n_H, n_W, n_C) = (3, 4, 3), one coloured slice per
  channel, and the matrix (n_C, n_H * n_W) it unrolls into, with the same numbers: each channel
  becomes one row, its pixels read row by row. The matrix is what ``tf.reshape`` to
  (n_H * n_W, n_C) and a transpose make of the volume, computed here with TensorFlow.
* ``gram.png``: the Gram matrix of real activations, VGG-19 ``relu3_1`` of ``images/swirls.jpg`` at the
  notebook's size, for a few channels, beside the activation maps of a channel i, the channel j
  that fires most with it (a large G[i, j]) and an active channel k that seldom fires where i does
  (a small G[i, k]).
* ``reference_result.png`` and ``reference_result.json``: the default pair (chelsea, swirls) painted
  with the settings of the notebook's ``generate`` (Adam, its learning rate and step count, the
  noisy start and its seed, CONFIG's layers and size, alpha 10, beta 40, float32), timed. The JSON
  holds the settings, ``steps``, ``seconds`` (wall time), ``seconds_per_step``, ``cpu_seconds`` (the
  process's time on all cores), the CPU, the load average at the run's start and end (a busy machine
  runs slower) and the final costs.

Usage (after ``make weights``; the reference result takes a few minutes on a 2-core CPU)::

    .venv/bin/python scripts/make_notebook_figures.py [unrolling] [gram] [reference] [--out DIR]

The PNGs are kept small (a 256-colour palette), because they ship with the student bundle.
"""

import argparse
import dataclasses
import io
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from matplotlib.patches import FancyArrowPatch, Rectangle  # noqa: E402
from PIL import Image  # noqa: E402

from atomic_files import atomic_path  # noqa: E402
from neural_style.machine import cpu_model  # noqa: E402
from nst_utils import CONFIG, generate_noise_image, load_image, load_vgg_model, read_vgg19  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "images" / "figures"
CONTENT_IMAGE = ROOT / "images" / "chelsea.jpg"
STYLE_IMAGE = ROOT / "images" / "swirls.jpg"

# The notebook's generate() settings: NUM_STEPS and LEARNING_RATE (its parameters cell), alpha and
# beta (the defaults of generate and total_cost), the seed of its noisy start. tests/test_figures.py
# checks that the notebook still uses these values.
NUM_STEPS = 100
LEARNING_RATE = 0.02
ALPHA, BETA = 10.0, 40.0
SEED = 0

GRAM_LAYER = "relu3_1"
GRAM_CHANNELS = 8  # shown in the heat map
CHANNEL_COLOURS = ("Reds", "Greens", "Blues")  # one colour map per channel of the unrolling figure


def save_png(fig, path):
    """Save ``fig`` as a 256-colour PNG at ``path`` (atomically) and close it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=fig.dpi)
    plt.close(fig)
    with Image.open(buffer) as image, atomic_path(path) as tmp:
        image.convert("RGB").quantize(256).save(tmp, format="png", optimize=True)
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KB)")


# --------------------------------------------------------------------------------------------
# Unrolling
# --------------------------------------------------------------------------------------------


def unroll(volume):
    """(n_H, n_W, n_C) -> (n_C, n_H * n_W): ``tf.reshape`` to (n_H * n_W, n_C), then a transpose."""
    n_h, n_w, n_c = volume.shape
    return tf.transpose(tf.reshape(volume, (n_h * n_w, n_c))).numpy()


def unrolling_volume(n_h=3, n_w=4, n_c=3):
    """(n_H, n_W, n_C) ints: channel c holds c * n_H * n_W + 1, ... in reading order (so each
    channel's numbers say where its pixels are)."""
    return np.arange(1, n_h * n_w * n_c + 1).reshape(n_c, n_h, n_w).transpose(1, 2, 0)


def _cell(ax, x, y, value, count, colour_map):
    shade = plt.get_cmap(colour_map)(0.2 + 0.45 * ((value - 1) % count) / count)
    ax.add_patch(Rectangle((x, y), 1, 1, facecolor=shade, edgecolor="black", linewidth=0.8))
    ax.text(x + 0.5, y + 0.5, str(value), ha="center", va="center", fontsize=10)


def unrolling_figure(path):
    volume = unrolling_volume()
    n_h, n_w, n_c = volume.shape
    matrix = unroll(volume)
    fig, ax = plt.subplots(figsize=(8.2, 4.6), dpi=100)
    gap = 1.5
    for c in range(n_c):
        left = c * (n_w + gap)
        for h in range(n_h):
            for w in range(n_w):
                _cell(ax, left + w, h, volume[h, w, c], n_h * n_w, CHANNEL_COLOURS[c])
        ax.text(left + n_w / 2, -0.35, f"channel {c + 1}", ha="center", va="bottom", fontsize=10)
    width = n_c * n_w + (n_c - 1) * gap
    ax.text(width / 2, -1.3, f"activation volume $(n_H, n_W, n_C) = ({n_h}, {n_w}, {n_c})$", ha="center", fontsize=12)
    top = n_h + 2.2
    ax.add_patch(FancyArrowPatch((width / 2, n_h + 0.3), (width / 2, top - 0.3), arrowstyle="-|>", mutation_scale=18))
    ax.text(width / 2 + 0.4, n_h + 1.1, "unroll: each channel becomes a row", va="center", fontsize=10)
    left = (width - matrix.shape[1]) / 2
    for c in range(n_c):
        for p in range(matrix.shape[1]):
            _cell(ax, left + p, top + c, matrix[c, p], n_h * n_w, CHANNEL_COLOURS[c])
        ax.text(left - 0.2, top + c + 0.5, f"channel {c + 1}", ha="right", va="center", fontsize=9)
    for p in range(matrix.shape[1]):
        ax.text(left + p + 0.5, top + n_c + 0.15, f"{p // n_w},{p % n_w}", ha="center", va="top", fontsize=7)
    ax.text(left + matrix.shape[1] + 0.2, top + n_c + 0.15, "(h, w)", va="top", fontsize=7)
    ax.text(
        width / 2,
        top + n_c + 1.3,
        f"unrolled $(n_C, n_H \\cdot n_W) = ({n_c}, {n_h * n_w})$",
        ha="center",
        va="top",
        fontsize=12,
    )
    ax.set_xlim(-2.2, width + 1.2)
    ax.set_ylim(top + n_c + 2.1, -2.0)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.subplots_adjust(left=0.01, right=0.99, top=0.99, bottom=0.01)
    save_png(fig, path)


# --------------------------------------------------------------------------------------------
# Gram matrix
# --------------------------------------------------------------------------------------------


def gram_channels(activation):
    """For activations (n_H, n_W, n_C): the channels to show (i, j, k, then the most active others,
    GRAM_CHANNELS in all) and the Gram matrix (n_C, n_C) of all channels. i is the most active
    channel, j the other channel with the largest G[i, j], k the channel among the most active
    quarter with the smallest G[i, k]."""
    unrolled = activation.reshape(-1, activation.shape[-1]).astype(np.float64)  # (n_H * n_W, n_C)
    gram = unrolled.T @ unrolled
    mean = unrolled.mean(axis=0)
    i = int(np.argmax(mean))
    others = np.arange(len(mean)) != i
    j = int(np.flatnonzero(others)[np.argmax(gram[i, others])])
    active = others & (mean >= np.quantile(mean, 0.75))
    k = int(np.flatnonzero(active)[np.argmin(gram[i, active])])
    rest = [int(c) for c in np.argsort(-mean) if c not in (i, j, k)][: GRAM_CHANNELS - 3]
    return [i, j, k, *rest], gram


def gram_figure(path):
    style = load_image(STYLE_IMAGE, CONFIG.image_width, CONFIG.image_height)
    activation = load_vgg_model(layers=[GRAM_LAYER])(style)[GRAM_LAYER].numpy()[0]
    channels, gram = gram_channels(activation)
    i, j, k = channels[:3]
    shown = gram[np.ix_(channels, channels)]

    fig = plt.figure(figsize=(11.5, 3.2), dpi=90)
    grid = fig.add_gridspec(1, 5, width_ratios=[1.33, 1.33, 1.33, 1.33, 1.2], wspace=0.1)
    panels = [(style[0], "style image S")] + [
        (activation[..., c], f"channel {name} = {c}{note}")
        for name, c, note in (("i", i, ""), ("j", j, ": large G[i, j]"), ("k", k, ": small G[i, k]"))
    ]
    for column, (image, title) in enumerate(panels):
        ax = fig.add_subplot(grid[0, column])
        if image.ndim == 3:
            ax.imshow(image)
        else:
            ax.imshow(image, cmap="magma", vmin=0)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    ax = fig.add_subplot(grid[0, 4])
    ax.imshow(shown, cmap="viridis", norm=LogNorm())  # a log scale: the most active channel does not hide the rest
    ax.set_xticks(range(len(channels)), channels, fontsize=7, rotation=90)
    ax.set_yticks(range(len(channels)), channels, fontsize=7)
    ax.yaxis.tick_right()
    for column, linestyle in ((1, "-"), (2, "--")):  # G[i, j] and G[i, k]: row 0, columns 1 and 2
        ax.add_patch(Rectangle((column - 0.5, -0.5), 1, 1, fill=False, edgecolor="white", linestyle=linestyle, lw=2))
    ax.set_title(f"G, {len(channels)} of {gram.shape[0]} channels (log scale)", fontsize=9)
    fig.text(
        0.5,
        0.02,
        f"VGG-19 {GRAM_LAYER} activations of the style image (bright: the channel fires).\n"
        f"Channels {i} and {j} fire in the same places: G[{i}, {j}] is large (solid box). "
        f"Channel {k} fires elsewhere: G[{i}, {k}] is small (dashed box).",
        ha="center",
        fontsize=9,
    )
    fig.subplots_adjust(left=0.01, right=0.965, top=0.97, bottom=0.15)
    save_png(fig, path)


# --------------------------------------------------------------------------------------------
# Reference result
# --------------------------------------------------------------------------------------------


def reference_settings(weights):
    """The engine's settings for the notebook's ``generate``: Adam, no total variation, float32."""
    from neural_style.transfer import defaults_for

    return dataclasses.replace(
        defaults_for(weights),
        content_weight=ALPHA,
        style_weight=BETA,
        tv_weight=0.0,
        optimizer="adam",
        steps=NUM_STEPS,
        learning_rate=LEARNING_RATE,
        precision="float32",
        content_layer=CONFIG.content_layer,
        style_layers=tuple(CONFIG.style_layers),
    )


def reference_figure(path, record_path):
    from neural_style.transfer import stylize

    weights = read_vgg19()
    size = (CONFIG.image_width, CONFIG.image_height)
    content, style = load_image(CONTENT_IMAGE, *size), load_image(STYLE_IMAGE, *size)
    settings = reference_settings(weights)
    load, cpu_start = os.getloadavg()[0], time.process_time()
    result = stylize(weights, content, [style], generate_noise_image(content, seed=SEED), settings=settings)
    cpu_seconds = time.process_time() - cpu_start
    final = result.history[-1]
    record = {
        "content": CONTENT_IMAGE.relative_to(ROOT).as_posix(),
        "style": STYLE_IMAGE.relative_to(ROOT).as_posix(),
        "size": list(size),
        "optimizer": settings.optimizer,
        "learning_rate": settings.learning_rate,
        "alpha": settings.content_weight,
        "beta": settings.style_weight,
        "content_layer": settings.content_layer,
        "style_layers": dict(settings.style_layers),  # layer name: weight
        "noise_ratio": CONFIG.noise_ratio,
        "seed": SEED,
        "weights": f"{weights.network} ({CONFIG.weights_path.name})",
        "precision": result.precision,
        "steps": result.steps,
        "seconds": round(result.seconds, 1),
        "seconds_per_step": round(result.seconds / result.steps, 3),
        "cpu_seconds": round(cpu_seconds, 1),  # this process on all cores: other jobs change it less than seconds
        "cpu": cpu_model(),
        "cpu_cores": len(os.sched_getaffinity(0)),
        "load_average": [round(load, 2), round(os.getloadavg()[0], 2)],  # 1 minute, at the start and the end
        "tensorflow": tf.__version__,
        "final_costs": {  # after the last step: J = alpha * J_content + beta * J_style
            "J_content": final["content"] / ALPHA,
            "J_style": final["style"] / BETA,
            "J": final["total"],
        },
    }
    with atomic_path(record_path) as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {record_path}")

    fig, axes = plt.subplots(1, 3, figsize=(11.5, 3.4), dpi=75)
    titles = ("content C", "style S", f"generated G: {result.steps} Adam steps, {result.seconds:.0f} s")
    for ax, image, title in zip(axes, (content, style, result.image), titles):
        ax.imshow(np.clip(image[0], 0, 1))
        ax.set_title(title, fontsize=11)
        ax.axis("off")
    fig.text(
        0.5,
        0.02,
        f"{size[0]} x {size[1]}, alpha {ALPHA:g}, beta {BETA:g}, learning rate {LEARNING_RATE:g}, "
        f"on {record['cpu']} ({record['cpu_cores']} cores)",
        ha="center",
        fontsize=9,
    )
    fig.subplots_adjust(left=0.01, right=0.99, top=0.9, bottom=0.09, wspace=0.04)
    save_png(fig, path)


FIGURES_BY_NAME = {
    "unrolling": lambda out: unrolling_figure(out / "unrolling.png"),
    "gram": lambda out: gram_figure(out / "gram.png"),
    "reference": lambda out: reference_figure(out / "reference_result.png", out / "reference_result.json"),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description="Draw the notebook's figures.")
    parser.add_argument("figures", nargs="*", help=f"any of {', '.join(FIGURES_BY_NAME)} (default: all)")
    parser.add_argument("--out", type=Path, default=FIGURES, help="folder to write to (default %(default)s)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.figures) - set(FIGURES_BY_NAME))
    if unknown:
        parser.error(f"unknown figure(s) {', '.join(unknown)}; choose from {', '.join(FIGURES_BY_NAME)}")
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.figures or FIGURES_BY_NAME:
        FIGURES_BY_NAME[name](args.out)


if __name__ == "__main__":
    main()
