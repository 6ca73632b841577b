"""What a run costs in arithmetic, and what this machine does per second: the bench's ratios and the
command line's time estimate before a run both come from here.

``step_flops`` counts one step's FLOPs from VGG-19's layer shapes; ``conv_gflops`` times one 3x3
convolution; ``estimated_seconds`` divides a run's FLOPs by a short such probe, scaled by the share
of it that whole runs reach (``RUN_SHARE``).
"""

import statistics
import time
from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from nst_utils import check_layer_names
from vgg_weights import VGG19_LAYERS

from .transfer import Settings

PROBE_SHAPE = (150, 200, 128, 128)
"""(height, width, input channels, output channels) of the convolution a time estimate times: conv2_2
at 400x300, mid-network, where ``make bench`` has found the fp32 conv peak."""
PROBE_REPEATS = 30
"""Timings whose median a throughput is: about 0.4 s of work in bfloat16."""
WARMUP_SECONDS = 0.75
"""Untimed work before the timings: the host runs its first tenths of a second of load after a pause
up to twice as fast as it keeps up, and a probe without this caught that rate whole."""
RUN_SHARE = 0.65
"""The share of the probe's throughput that the steps of a whole default run (L-BFGS, coarse to fine
above 512 px) reach, in FLOPs counted by ``step_flops``: below 1 for the optimiser's own work, line
searches that try twice, the layers and sizes less efficient than the probe's, and the first
block's recomputation at the largest levels (``neural_style.strips``). Calibrated with the command
line's runs at 400x300 and 1920x1080 in bfloat16 and at 400x300 in float32, which reached
0.66-0.78 (README, Big pictures)."""


def step_flops(width: int, height: int, settings: Settings) -> int:
    """FLOPs of one step: VGG-19's forward pass up to the deepest layer used, the gradient with
    respect to the input (as many FLOPs again: one transposed convolution per convolution), and
    the Gram matrices (2 n_H n_W n_C^2 each, twice with the gradient) at the style layers, whatever
    their kind (conv, relu or pool). A multiply-add is 2 FLOPs; ReLUs and poolings count as free."""
    style_layers = dict(settings.style_layers)
    check_layer_names([settings.content_layer, *style_layers])
    order = [name for name, _, _ in VGG19_LAYERS]
    deepest = max(order.index(name) for name in (settings.content_layer, *style_layers))
    conv, gram, h, w, n_c = 0, 0, height, width, 3
    for name, kind, channels in VGG19_LAYERS[: deepest + 1]:
        if kind == "conv":
            n_c = channels[1]
            conv += 2 * h * w * 9 * channels[0] * n_c
        elif kind == "pool":
            h, w = h // 2, w // 2
        if name in style_layers:
            gram += 2 * h * w * n_c**2
    return 2 * conv + 2 * gram


def median_seconds(
    run: Callable[[], object],
    repeats: int = PROBE_REPEATS,
    warmup_seconds: float = WARMUP_SECONDS,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """The median wall time (seconds, read from ``clock()``) of ``repeats`` calls of ``run()``, after
    untimed calls for ``warmup_seconds`` (at least one, which traces and builds the kernels)."""
    start = clock()
    run()
    while clock() - start < warmup_seconds:
        run()
    times = []
    for _ in range(repeats):
        start = clock()
        run()
        times.append(clock() - start)
    return statistics.median(times)


def conv_gflops(
    precision: str,
    shape: tuple[int, int, int, int] = PROBE_SHAPE,
    repeats: int = PROBE_REPEATS,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Measured throughput (GFLOP/s) of one 3x3 "same" convolution of ``shape`` (height, width,
    channels in, channels out) in ``precision`` ("float32" or "bfloat16"), from ``median_seconds``
    timed by ``clock``."""
    height, width, channels_in, channels_out = shape
    random = np.random.RandomState(0)
    images = tf.constant(random.rand(1, height, width, channels_in), precision)
    kernel = tf.constant(random.rand(3, 3, channels_in, channels_out) / (9 * channels_in), precision)
    convolve = tf.function(lambda: tf.nn.conv2d(images, kernel, 1, "SAME"))
    seconds = median_seconds(lambda: convolve().numpy(), repeats, clock=clock)
    return 2 * height * width * 9 * channels_in * channels_out / seconds / 1e9


def estimated_seconds(
    sizes: Sequence[tuple[int, int]], steps_per_level: Sequence[int], settings: Settings, probe_gflops: float
) -> float:
    """Estimated seconds of the steps of a run over ``sizes`` ((width, height) per level) with
    ``steps_per_level`` steps, on a machine whose probe convolution (``conv_gflops`` in the run's
    precision) ran at ``probe_gflops``. Start-up and the targets are not counted."""
    flops = sum(steps * step_flops(width, height, settings) for (width, height), steps in zip(sizes, steps_per_level))
    return flops / (probe_gflops * 1e9 * RUN_SHARE)
