"""The style-transfer pipeline: compute the targets once, then optimise the generated image.

    J(G) = content_weight * J_content(C, G) + style_weight * J_style(S, G) + tv_weight * J_tv(G)

Images follow ``nst_utils``' convention: float32 (1, height, width, 3), RGB in [0, 1].
"""

import dataclasses
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf

from atomic_files import atomic_path
from nst_utils import CONFIG, VGG19Weights, build_vgg_model

from .adam import Adam
from .colors import COLOR_MODES, luminance, match_color_histogram, match_luminance, with_colors_of
from .lbfgs import ProjectedLBFGS
from .losses import content_loss, gram_loss, gram_matrix, total_variation_loss
from .precision import DTYPE_POLICIES, resolve_precision
from .steps import RunResult, StepRecorder
from .strips import StripedNetwork, can_split, strip_rows

OPTIMIZERS = ("lbfgs", "adam")
FIRST_LEVEL_PX = 512
"""Above this long side (pixels) a run is coarse to fine by default (``pyramid``)."""
MIN_SIZE = 16
"""The fewest pixels, wide and high, that reach VGG-19's fifth block (four 2x2 poolings)."""


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything that shapes the result, with defaults tuned per weights file (see ``defaults_for``)."""

    content_weight: float
    style_weight: float
    tv_weight: float
    optimizer: str = "lbfgs"
    steps: int = 200  # L-BFGS iterations or Adam steps
    learning_rate: float = 0.02  # Adam only, in image units ([0, 1]) per step
    # "bfloat16": the network runs in bfloat16, the costs in float32; "auto": bfloat16 where the
    # CPU has bfloat16 instructions (neural_style.precision.native_bfloat16), else "float32".
    precision: str = "auto"
    content_layer: str = CONFIG.content_layer
    style_layers: tuple = CONFIG.style_layers  # ((layer name, weight), ...)


DEFAULTS = {
    # Normalised VGG-19 (the offline default). Style and TV weights: those chosen by eye for the
    # features before the ReLU (beta=5, tv=10 with conv1_1 ... conv5_1), rescaled so that the weighted
    # style cost of `make demo`'s content image at 400x300 stays the same with the features after it.
    # Content weight: 4 times the value rescaled the same way (11), as the quality grid (`make
    # quality`) chose it: with 11 the pictures were more styled than the Keras + Adam loop's but kept
    # less of the photo; with 44 they do better on both medians, and with 88 they lose the grey textures.
    # Style layers: Gatys et al.'s, weighted towards the deeper ones, which carry larger strokes and
    # less of the style's fine grain; on the grid (two runs) they kept more of the photo for a little
    # less style, and won both scores on 11 pairs of 16 against 9 with equal weights.
    "normalised": Settings(
        content_weight=44.0,
        style_weight=140.0,
        tv_weight=10.0,
        style_layers=(("relu1_1", 0.1), ("relu2_1", 0.15), ("relu3_1", 0.25), ("relu4_1", 0.25), ("relu5_1", 0.25)),
    ),
    # Original ImageNet VGG-19: the classic course values alpha=10, beta=40, which that course set for
    # the features after the ReLU (its "conv4_2" was the ReLU's output), and equal style-layer
    # weights. Not tuned here: the file cannot be downloaded offline.
    "imagenet": Settings(content_weight=10.0, style_weight=40.0, tv_weight=0.0),
}
"""Settings per network (``vgg_weights.NETWORKS``): the loss weights suit one network's feature
scale only."""


def defaults_for(vgg_weights: VGG19Weights) -> Settings:
    """Default settings for a ``nst_utils.VGG19Weights``: those of the network it holds."""
    return DEFAULTS[vgg_weights.network]


def layer_weights(text: str) -> tuple[tuple[str, float], ...]:
    """``Settings.style_layers`` from text: ``relu1_1,relu2_1`` (equal weights, summing to 1) or
    ``relu1_1:0.5,relu2_1:0.5``. Raises ``ValueError`` for a weight that is not a number. The layer
    names are checked when a network is built from them."""
    parts = [part.split(":") for part in text.split(",")]
    try:
        return tuple((part[0], float(part[1]) if len(part) > 1 else 1.0 / len(parts)) for part in parts)
    except ValueError:
        raise ValueError(f"expected layer[:weight],..., got {text!r}") from None


@dataclasses.dataclass(frozen=True)
class Resume:
    """Where an interrupted run stopped: the step, the image there, and the optimiser's state; for a
    coarse-to-fine run, also the level (0: the first)."""

    step: int
    image: np.ndarray
    optimizer_state: list
    level: int = 0


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """Saves a run every ``every`` steps to ``path`` (.npz), so that it can be resumed.

    ``key`` describes the run's inputs and settings; only a run with the same key may resume.
    ``level``: the level of a coarse-to-fine run being saved (0: the first, or the only one).
    """

    path: Path
    every: int
    key: str
    level: int = 0

    def save(self, step: int, image: np.ndarray, optimizer_state: Sequence[np.ndarray]) -> None:
        slots = {f"optimizer_{i}": np.asarray(value) for i, value in enumerate(optimizer_state)}
        with atomic_path(self.path) as tmp:
            np.savez(tmp, step=step, level=self.level, image=np.asarray(image, np.float32), key=self.key, **slots)

    def load(self) -> Resume:
        try:
            with np.load(self.path) as saved:
                key = str(saved["key"])
                slots = sorted(
                    (k for k in saved.files if k.startswith("optimizer_")), key=lambda k: int(k.split("_")[1])
                )
                level = int(saved["level"]) if "level" in saved.files else 0
                resume = Resume(int(saved["step"]), saved["image"], [saved[k] for k in slots], level)
        except FileNotFoundError:
            raise ValueError(
                f"nothing to resume: {self.path} does not exist (a run saves it when given --snapshot-every)"
            ) from None
        # np.load: EOFError for an empty file, ValueError for one that is not a .npz at all.
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as error:
            raise ValueError(f"cannot resume from {self.path}: the file is damaged ({error})") from None
        if key != self.key:
            raise ValueError(
                f"{self.path} was saved by a run with other images or settings; "
                "resume with the same options, or delete it to start afresh"
            )
        return resume


class StyleTransfer:
    """Holds the truncated VGG-19 and the content and style targets for one content image."""

    def __init__(
        self,
        vgg_weights: VGG19Weights,
        content: np.ndarray,
        styles: Sequence[np.ndarray],
        style_blend: Sequence[float] | None = None,
        settings: Settings | None = None,
    ):
        """Build the network up to the layers ``settings`` use, and compute the content's and the
        styles' targets once.

        Args:
            vgg_weights: the network's weights (``nst_utils.read_vgg19``).
            content: the content image, (1, H, W, 3) float32 in [0, 1]: the generated image's size.
            styles: the style images, each (1, h, w, 3), of any size.
            style_blend: one weight per style (default equal), normalised to sum to 1.
            settings: the loss weights, layers, optimiser and precision (default ``defaults_for``).

        Raises:
            ValueError: no style image, a blend that does not fit the styles, or an unknown layer.
        """
        self.settings = settings or defaults_for(vgg_weights)
        if not styles:
            raise ValueError("at least one style image is needed")
        blend = np.ones(len(styles)) if style_blend is None else np.asarray(style_blend, np.float64)
        if blend.shape != (len(styles),) or (blend < 0).any() or blend.sum() <= 0:
            raise ValueError(
                f"style blend {list(blend)} must hold {len(styles)} non-negative "
                "weights, one per style image, not all zero"
            )
        blend = blend / blend.sum()

        self.style_layers = [name for name, _ in self.settings.style_layers]
        self.style_layer_weights = [float(weight) for _, weight in self.settings.style_layers]
        self.precision = resolve_precision(self.settings.precision)  # "float32" or "bfloat16"
        layers = [self.settings.content_layer, *self.style_layers]
        self.model = build_vgg_model(vgg_weights, layers, dtype_policy=DTYPE_POLICIES[self.precision])
        # A picture larger than a strip runs the network's first block in strips (less memory).
        rows = strip_rows(*content.shape[1:3])
        split = len(rows) > 1 and can_split(self.settings.content_layer)
        self.striped = StripedNetwork(self.model, layers, rows) if split else None
        # As a graph, the forward pass frees each activation once used; Keras' eager call keeps all.
        activations_of = tf.function(self.model, reduce_retracing=True)
        content_activations = activations_of(tf.constant(content))
        self.content_target = tf.cast(content_activations[self.settings.content_layer], tf.float32)
        style_activations = [activations_of(tf.constant(style)) for style in styles]
        # A style image may have another size than the content (``--style-scale``): its Gram matrix,
        # a sum over positions, is rescaled to the generated image's number of positions at each layer,
        # so that the cost asks for the style's statistics per position.
        self.style_grams = [
            sum(
                float(w)
                * _positions(content_activations[name])
                / _positions(activations[name])
                * gram_matrix(activations[name])
                for w, activations in zip(blend, style_activations)
            )
            for name in self.style_layers
        ]

    def losses(self, image: tf.Tensor) -> dict[str, tf.Tensor]:
        """Weighted cost terms for ``image`` (1, H, W, 3): dict of scalar tensors, with ``total``."""
        settings = self.settings
        # Striped, the first block's style layers come as Gram matrices, over all the image's positions.
        activations, grams = self.striped(image) if self.striped else (self.model(image), {})
        positions = dict.fromkeys(grams, image.shape[1] * image.shape[2])
        for name in self.style_layers:
            if name not in grams:
                grams[name], positions[name] = gram_matrix(activations[name]), _positions(activations[name])
        content = content_loss(self.content_target, tf.cast(activations[settings.content_layer], tf.float32))
        style = tf.add_n(
            [
                weight * gram_loss(target, grams[name], positions[name])
                for name, weight, target in zip(self.style_layers, self.style_layer_weights, self.style_grams)
            ]
        )
        terms = {
            "content": settings.content_weight * content,
            "style": settings.style_weight * style,
            "tv": settings.tv_weight * total_variation_loss(image),
        }
        terms["total"] = tf.add_n(list(terms.values()))
        return terms

    @tf.function
    def losses_and_gradient(self, image):
        with tf.GradientTape() as tape:
            tape.watch(image)
            terms = self.losses(image)
        return terms, tape.gradient(terms["total"], image)

    def evaluate(self, image: np.ndarray) -> tuple[float, np.ndarray, dict[str, float]]:
        """The optimisers' ``evaluate``: ``(total cost, gradient, cost terms)`` at ``image`` (numpy
        (1, H, W, 3) float32); the gradient is numpy of the same shape, the cost and terms are floats."""
        terms, gradient = self.losses_and_gradient(tf.constant(image))
        return float(terms["total"]), gradient.numpy(), {name: float(value) for name, value in terms.items()}

    def run(
        self,
        init_image: np.ndarray,
        callback: Callable | None = None,
        progress: bool = True,
        checkpoint: Checkpoint | None = None,
        resume: Resume | None = None,
    ) -> RunResult:
        """Optimise from ``init_image`` (1, H, W, 3); return a ``neural_style.steps.RunResult``.

        ``callback(step, image, terms)`` is called after every step with the step number (from 1, or
        on from the resumed step), the step's image ((1, H, W, 3) numpy) and its cost terms (floats);
        if it returns a true value, the run ends there. The image is kept in [0, 1] throughout.
        ``checkpoint`` (a ``Checkpoint``) saves the image and the optimiser state every
        ``checkpoint.every`` steps; ``resume`` (what ``Checkpoint.load`` returns) continues a run
        from there instead of from ``init_image``. Ctrl-C (SIGINT) lets the current step finish, saves
        the checkpoint there and raises ``Interrupted`` (a ``KeyboardInterrupt``); a second Ctrl-C
        interrupts at once. L-BFGS ends early at a stationary point.
        """
        settings = self.settings
        if settings.steps < 1:
            raise ValueError(f"steps must be at least 1, got {settings.steps}")
        first_step = resume.step if resume else 0
        if first_step >= settings.steps:
            raise ValueError(f"the checkpoint is at step {first_step}: nothing left of {settings.steps} steps")
        start = np.asarray(resume.image if resume else init_image, np.float32)
        optimizer = make_optimizer(settings, start.shape, resume.optimizer_state if resume else None)
        with StepRecorder(
            start, settings.steps, optimizer.state, first_step, checkpoint, callback, progress, settings.optimizer
        ) as recorder:
            optimizer.minimise(start, recorder.evaluating(self.evaluate), settings.steps - first_step, recorder.record)
        return recorder.result(self.precision)


def pyramid(width: int, height: int, levels: int | None = None) -> list[tuple[int, int]]:
    """The sizes ``(width, height)`` of a coarse-to-fine run (Gatys et al. 2017, "Controlling
    Perceptual Factors in Neural Style Transfer"), smallest first: each level is optimised from the
    one before, upsampled, and the last is ``(width, height)``. Each size is half the next.

    ``levels`` None: as many as bring the first level's long side to ``FIRST_LEVEL_PX`` or below, so
    that the picture's composition and the style's large strokes are settled where steps are cheap,
    and the larger levels only refine. Raises ``ValueError`` for a first level under ``MIN_SIZE``.
    """
    if levels is None:
        levels = 1
        while max(width, height) > FIRST_LEVEL_PX * 2 ** (levels - 1):
            levels += 1
    sizes = [(round(width / 2**level), round(height / 2**level)) for level in reversed(range(levels))]
    if min(sizes[0]) < MIN_SIZE:
        raise ValueError(
            f"{levels} levels make the first {sizes[0][0]}x{sizes[0][1]}: at least {MIN_SIZE}x{MIN_SIZE} is needed"
        )
    return sizes


def level_steps(steps: int, levels: int) -> list[int]:
    """Steps at each level of a pyramid: all of ``steps`` at the first, then a quarter of the level
    before's (at least 1). A level has 4 times the pixels of the one before, so each costs about as
    much time as the first: the larger levels start close to their result and only refine it."""
    return [max(1, steps // 4**level) for level in range(levels)]


def level_seconds(
    seconds_per_step: float,
    measured_size: tuple[int, int],
    sizes: Sequence[tuple[int, int]],
    steps: Sequence[int],
) -> list[float]:
    """Estimated seconds of levels of ``sizes`` with ``steps`` each, from ``seconds_per_step`` measured
    at ``measured_size`` (width, height): a step costs in proportion to the pixels, as the network's
    convolutions do. Small sizes carry more fixed cost per step, so this errs long."""
    pixels = measured_size[0] * measured_size[1]
    return [count * seconds_per_step * width * height / pixels for (width, height), count in zip(sizes, steps)]


def upsample(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` (1, h, w, 3) resized to (1, ``height``, ``width``, 3): bicubic, clipped to [0, 1]."""
    resized = tf.image.resize(np.asarray(image, np.float32), (height, width), method="bicubic")
    return np.clip(resized.numpy(), 0.0, 1.0)


def _positions(activation):
    """n_H * n_W of an activation (1, n_H, n_W, n_C)."""
    return activation.shape[1] * activation.shape[2]


def make_optimizer(
    settings: Settings, shape: tuple[int, ...], state: Sequence[np.ndarray] | None = None
) -> Adam | ProjectedLBFGS:
    """The optimiser that ``settings.optimizer`` names, for images of ``shape`` (1, H, W, 3); ``state``
    is what its ``state()`` returned, for a resumed run (None: start afresh)."""
    if settings.optimizer == "adam":
        return Adam(shape, settings.learning_rate, state)
    if settings.optimizer == "lbfgs":
        return ProjectedLBFGS(shape, state)
    raise ValueError(f"unknown optimizer {settings.optimizer!r}; choose from {OPTIMIZERS}")


def stylize(
    vgg_weights: VGG19Weights,
    content: np.ndarray,
    styles: Sequence[np.ndarray],
    init_image: np.ndarray,
    style_blend: Sequence[float] | None = None,
    settings: Settings | None = None,
    preserve_colors: str | None = None,
    callback: Callable | None = None,
    progress: bool = True,
    checkpoint: Checkpoint | None = None,
    resume: Resume | None = None,
) -> RunResult:
    """Run style transfer at the content's size.

    Args:
        vgg_weights: the network's weights (``nst_utils.read_vgg19``).
        content: the content image, (1, H, W, 3) float32 in [0, 1].
        styles: the style images, each (1, h, w, 3), of any size.
        init_image: where the optimisation starts, (1, H, W, 3).
        style_blend, settings: as ``StyleTransfer`` takes them.
        preserve_colors: ``neural_style.colors``' mode. None: the style's colours; ``"luminance"``:
            the transfer runs on luminance only and the result, like each image the callback sees,
            takes the content's colours; ``"histogram"``: the styles' colours are first given the
            content's mean and covariance.
        callback, progress, checkpoint, resume: passed to ``StyleTransfer.run``.

    Returns:
        The run's ``RunResult`` (see ``StyleTransfer.run``), its image in the colours asked for.

    Raises:
        ValueError: an unknown colour mode, or as ``StyleTransfer`` and its ``run`` raise.
    """
    if preserve_colors not in (None, *COLOR_MODES):
        raise ValueError(f"unknown colour mode {preserve_colors!r}; choose from {COLOR_MODES}")
    recolor = lambda image: np.asarray(image, np.float32)  # noqa: E731
    if preserve_colors == "histogram":
        styles = [match_color_histogram(style, content) for style in styles]
    elif preserve_colors == "luminance":
        colors = np.asarray(content, np.float32)
        styles = [match_luminance(style, content) for style in styles]
        content, init_image = luminance(content), luminance(init_image)
        recolor = lambda image: with_colors_of(image, colors)  # noqa: E731
    transfer = StyleTransfer(vgg_weights, content, styles, style_blend, settings)
    on_step = None if callback is None else (lambda step, image, terms: callback(step, recolor(image), terms))
    result = transfer.run(init_image, on_step, progress, checkpoint, resume)
    return dataclasses.replace(result, image=recolor(result.image))


def stylize_levels(
    vgg_weights: VGG19Weights,
    images_at: Callable[[int], tuple[np.ndarray, list[np.ndarray]]],
    init_image: np.ndarray,
    sizes: Sequence[tuple[int, int]],
    style_blend: Sequence[float] | None = None,
    settings: Settings | None = None,
    preserve_colors: str | None = None,
    callback_at: Callable[[int], Callable | None] | None = None,
    on_level: Callable[[int, int, Resume | None, list[RunResult]], None] | None = None,
    progress: bool = True,
    checkpoint: Checkpoint | None = None,
    resume: Resume | None = None,
) -> list[RunResult]:
    """Paint a picture coarse to fine: ``stylize`` at each of ``sizes`` in turn, each level from the
    one before upsampled (``upsample``), with ``level_steps`` of ``settings.steps`` at each.

    Args:
        vgg_weights: the network's weights (``nst_utils.read_vgg19``).
        images_at: ``images_at(level)`` gives ``(content, styles)`` for a level: the content image at
            ``sizes[level]``, (1, height, width, 3), and the style images, a list of (1, h, w, 3).
            Called once for each level run.
        init_image: where the first level starts, (1, height, width, 3) at ``sizes[0]``.
        sizes: ``(width, height)`` per level, smallest first (``pyramid``); one size for a plain run.
        style_blend, settings, preserve_colors, progress: as ``stylize`` takes them; ``settings.steps``
            is the first level's steps.
        callback_at: ``callback_at(level)`` gives the level's step callback (see ``StyleTransfer.run``).
        on_level: called before each level runs, with the level (0: the first), its steps, the
            ``Resume`` it continues from (None: it starts afresh) and the results of the levels run
            before it in this call: to report progress.
        checkpoint: saves each level's run (its ``level`` set to the level's), for ``resume``.
        resume: what ``Checkpoint.load`` returned: the levels before ``resume.level`` are done, and
            that level continues from its step (or, finished there, hands its image to the next).

    Returns:
        The ``RunResult`` of each level run in this call, in order: the last one's ``image`` is the
        picture at ``sizes[-1]``.

    Raises:
        ValueError: ``resume`` holds a level that ``sizes`` does not have, or as ``stylize`` does.
    """
    steps_per_level = level_steps((settings or defaults_for(vgg_weights)).steps, len(sizes))
    first_level = resume.level if resume else 0
    if first_level >= len(sizes):
        raise ValueError(f"the checkpoint holds level {first_level + 1} of a run of {len(sizes)} levels")
    results = []
    previous = None  # the image the level before ended with
    for level in range(first_level, len(sizes)):
        (width, height), steps = sizes[level], steps_per_level[level]
        level_resume = resume if resume and level == resume.level else None
        if level_resume and level_resume.step >= steps and level < len(sizes) - 1:
            previous = level_resume.image  # interrupted right after this level's last step
            continue
        content, styles = images_at(level)
        start = init_image if level == 0 or level_resume else upsample(previous, width, height)
        if on_level:
            on_level(level, steps, level_resume, results)
        result = stylize(
            vgg_weights,
            content,
            styles,
            start,
            style_blend,
            dataclasses.replace(settings or defaults_for(vgg_weights), steps=steps),
            preserve_colors=preserve_colors,
            callback=callback_at(level) if callback_at else None,
            progress=progress,
            checkpoint=checkpoint and dataclasses.replace(checkpoint, level=level),
            resume=level_resume,
        )
        results.append(result)
        previous = result.image
    return results
