"""The style-transfer pipeline: compute the targets once, then optimise the generated image.

    J(G) = content_weight * J_content(C, G) + style_weight * J_style(S, G) + tv_weight * J_tv(G)

Images follow ``nst_utils``' convention: float32 (1, height, width, 3), RGB in [0, 1].
"""

import dataclasses
import signal
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from nst_utils import CONFIG, build_vgg_model, resolve_precision
from vgg_weights import atomic_path

from .lbfgs import ProjectedLBFGS
from .losses import content_loss, gram_matrix, style_layer_loss, total_variation_loss

OPTIMIZERS = ("lbfgs", "adam")


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
    # CPU has bfloat16 instructions (nst_utils.native_bfloat16), else "float32".
    precision: str = "auto"
    content_layer: str = CONFIG.content_layer
    style_layers: tuple = CONFIG.style_layers  # ((layer name, weight), ...)


DEFAULTS = {
    # Normalised VGG-19 (the offline default): tuned by eye on the bundled images at 400x300
    # (style weights 1 to 10 all keep the content recognisable; 5 is clearly styled).
    "normalised": Settings(content_weight=1.0, style_weight=5.0, tv_weight=10.0),
    # Official ImageNet VGG-19: the classic course values alpha=10, beta=40 (not tuned here: the
    # file cannot be downloaded offline).
    "imagenet": Settings(content_weight=10.0, style_weight=40.0, tv_weight=0.0),
}


def defaults_for(vgg_weights):
    """Default settings for a ``nst_utils.VGG19Weights`` (normalised or ImageNet VGG-19)."""
    return DEFAULTS["normalised" if "normalised" in vgg_weights.description.lower() else "imagenet"]


@dataclasses.dataclass(frozen=True)
class Resume:
    """Where an interrupted run stopped: the step, the image there, and the optimiser's state."""

    step: int
    image: np.ndarray
    optimizer_state: list


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """Saves a run every ``every`` steps to ``path`` (.npz), so that it can be resumed.

    ``key`` describes the run's inputs and settings; only a run with the same key may resume.
    """

    path: Path
    every: int
    key: str

    def save(self, step, image, optimizer_state):
        slots = {f"optimizer_{i}": np.asarray(value) for i, value in enumerate(optimizer_state)}
        with atomic_path(self.path) as tmp:
            np.savez(tmp, step=step, image=np.asarray(image, np.float32), key=self.key, **slots)

    def load(self):
        try:
            with np.load(self.path) as saved:
                key = str(saved["key"])
                slots = sorted((k for k in saved.files if k.startswith("optimizer_")),
                               key=lambda k: int(k.split("_")[1]))
                resume = Resume(int(saved["step"]), saved["image"], [saved[k] for k in slots])
        except FileNotFoundError:
            raise ValueError(f"nothing to resume: {self.path} does not exist "
                             "(a run saves it when given --snapshot-every)") from None
        # np.load: EOFError for an empty file, ValueError for one that is not a .npz at all.
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as error:
            raise ValueError(f"cannot resume from {self.path}: the file is damaged ({error})") from None
        if key != self.key:
            raise ValueError(f"{self.path} was saved by a run with other images or settings; "
                             "resume with the same options, or delete it to start afresh")
        return resume


class StyleTransfer:
    """Holds the truncated VGG-19 and the content and style targets for one content image."""

    def __init__(self, vgg_weights, content, styles, style_blend=None, settings=None):
        """``content``: (1, H, W, 3); ``styles``: list of images (1, h, w, 3); ``style_blend``: one
        weight per style (default equal), normalised to sum to 1."""
        self.settings = settings or defaults_for(vgg_weights)
        if not styles:
            raise ValueError("at least one style image is needed")
        blend = np.ones(len(styles)) if style_blend is None else np.asarray(style_blend, np.float64)
        if blend.shape != (len(styles),) or (blend < 0).any() or blend.sum() <= 0:
            raise ValueError(f"style blend {list(blend)} must hold {len(styles)} non-negative "
                             "weights, one per style image, not all zero")
        blend = blend / blend.sum()

        self.style_layers = [name for name, _ in self.settings.style_layers]
        self.style_layer_weights = [float(weight) for _, weight in self.settings.style_layers]
        self.precision = resolve_precision(self.settings.precision)  # "float32" or "bfloat16"
        self.model = build_vgg_model(vgg_weights, [self.settings.content_layer, *self.style_layers],
                                     precision=self.precision)
        self.evaluations = 0  # cost-and-gradient evaluations so far (an L-BFGS step may need several)
        self.content_target = self.model(content)[self.settings.content_layer]
        self.style_grams = [sum(float(w) * gram_matrix(self.model(style)[name])
                                for w, style in zip(blend, styles))
                            for name in self.style_layers]

    def losses(self, image):
        """Weighted cost terms for ``image`` (1, H, W, 3): dict of scalar tensors, with ``total``."""
        settings = self.settings
        activations = self.model(image)
        content = content_loss(self.content_target, activations[settings.content_layer])
        style = tf.add_n([weight * style_layer_loss(gram, activations[name])
                          for name, weight, gram in zip(self.style_layers, self.style_layer_weights,
                                                        self.style_grams)])
        terms = {"content": settings.content_weight * content,
                 "style": settings.style_weight * style,
                 "tv": settings.tv_weight * total_variation_loss(image)}
        terms["total"] = tf.add_n(list(terms.values()))
        return terms

    @tf.function
    def losses_and_gradient(self, image):
        with tf.GradientTape() as tape:
            tape.watch(image)
            terms = self.losses(image)
        return terms, tape.gradient(terms["total"], image)

    def run(self, init_image, callback=None, progress=True, checkpoint=None, resume=None):
        """Optimise from ``init_image``; return ``(image, history)``.

        ``callback(step, image, terms)`` is called after every step with the 1-based step number,
        the current image ((1, H, W, 3), numpy or tensor) and the cost terms (floats). ``history``
        is the list of those cost terms. The image is kept in [0, 1] throughout.
        ``checkpoint`` (a ``Checkpoint``) saves the image and the optimiser state every
        ``checkpoint.every`` steps; ``resume`` (what ``Checkpoint.load`` returns) continues a run
        from there instead of from ``init_image``.
        Ctrl-C (SIGINT) lets the current step finish, saves the checkpoint there and raises
        ``Interrupted`` (a ``KeyboardInterrupt``); a second Ctrl-C interrupts at once.
        """
        settings = self.settings
        if settings.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {settings.optimizer!r}; choose from {OPTIMIZERS}")
        if settings.steps < 1:
            raise ValueError(f"steps must be at least 1, got {settings.steps}")
        first_step = resume.step if resume else 0
        if first_step >= settings.steps:
            raise ValueError(f"the checkpoint is at step {first_step}: nothing left of {settings.steps} steps")
        history = []
        bar = tqdm(total=settings.steps, initial=first_step, desc=settings.optimizer,
                   disable=not progress, unit="step")

        def record(image, terms, optimizer_state):
            step = first_step + len(history) + 1
            values = {name: float(value) for name, value in terms.items()}
            if not np.isfinite(values["total"]):
                raise FloatingPointError(f"the cost became {values['total']} at step {step}; "
                                         "try a smaller learning rate or style weight")
            history.append(values)
            bar.update(1)
            bar.set_postfix(loss=f"{values['total']:.4g}")
            saved = checkpoint is not None and step % checkpoint.every == 0
            if saved:
                checkpoint.save(step, image, optimizer_state())
            if callback is not None:
                callback(step, image, values)
            if ctrl_c.pressed:
                if checkpoint is not None and not saved:
                    checkpoint.save(step, image, optimizer_state())
                raise Interrupted(step)

        start = time.perf_counter()
        try:
            with _FinishStepOnCtrlC() as ctrl_c:
                optimise = _adam if settings.optimizer == "adam" else _lbfgs
                image = optimise(self, np.asarray(resume.image if resume else init_image, np.float32),
                                 settings.steps - first_step, record, resume.optimizer_state if resume else None)
        finally:
            bar.close()
        self.seconds_per_step = (time.perf_counter() - start) / max(len(history), 1)
        return image, history


class Interrupted(KeyboardInterrupt):
    """Ctrl-C stopped the run after ``step``; its checkpoint, if it keeps one, is saved there."""

    def __init__(self, step):
        super().__init__(f"stopped after step {step}")
        self.step = step


class _FinishStepOnCtrlC:
    """Context manager: the first SIGINT only sets ``pressed``, so that the step in progress ends
    cleanly (``record`` then stops the run); it also restores the default handler, so a second
    Ctrl-C raises ``KeyboardInterrupt`` at once.

    Why: a ``KeyboardInterrupt`` raised wherever Python happens to be (possibly inside library
    code) made about one Ctrl-C in ten end the CLI by SIGINT (exit status -2) although the CLI had
    caught it. Acts only in the main thread and when SIGINT has Python's default handler, so it
    never replaces a handler installed by someone else.
    """

    def __enter__(self):
        self.pressed = False
        self.installed = (threading.current_thread() is threading.main_thread()
                          and signal.getsignal(signal.SIGINT) is signal.default_int_handler)
        if self.installed:
            signal.signal(signal.SIGINT, self._press)
        return self

    def _press(self, signum, frame):
        self.pressed = True
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def __exit__(self, *exception):
        if self.installed:
            signal.signal(signal.SIGINT, signal.default_int_handler)


def _adam(transfer, image, steps, record, optimizer_state):
    settings = transfer.settings
    variable = tf.Variable(image)
    optimizer = tf.keras.optimizers.Adam(learning_rate=settings.learning_rate)
    optimizer.build([variable])
    for slot, value in zip(optimizer.variables, optimizer_state or ()):
        slot.assign(value)

    @tf.function
    def step():
        terms, gradient = transfer.losses_and_gradient(tf.convert_to_tensor(variable))
        optimizer.apply_gradients([(gradient, variable)])
        variable.assign(tf.clip_by_value(variable, 0.0, 1.0))
        return terms

    for _ in range(steps):
        terms = step()
        transfer.evaluations += 1
        record(variable, terms, lambda: [slot.numpy() for slot in optimizer.variables])
    return variable.numpy()


def _lbfgs(transfer, image, steps, record, optimizer_state):
    """Projected, preconditioned L-BFGS (``neural_style.lbfgs``); ``optimizer_state`` is its
    curvature memory and running mean of squared gradients, so a resumed run continues exactly.
    Stops early at a stationary point."""
    optimizer = ProjectedLBFGS(image.shape, optimizer_state)

    def evaluate(x):
        transfer.evaluations += 1
        terms, gradient = transfer.losses_and_gradient(tf.constant(x))
        if not np.isfinite(float(terms["total"])):
            record(x, terms, list)  # raises FloatingPointError, naming the step in progress
        return float(terms["total"]), gradient.numpy(), terms

    return optimizer.minimise(image, evaluate, steps,
                              on_step=lambda x, cost, terms: record(x, terms, optimizer.state))


# --------------------------------------------------------------------------------------------
# Colour preservation (Gatys et al. 2016, luminance-only transfer)
# --------------------------------------------------------------------------------------------

_RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114],
                        [0.596, -0.274, -0.322],
                        [0.211, -0.523, 0.312]], np.float32)


def luminance(image):
    """Luma Y of an RGB image (..., 3), repeated into 3 channels."""
    y = np.asarray(image, np.float32) @ _RGB_TO_YIQ[0]
    return np.repeat(y[..., None], 3, axis=-1)


def match_luminance(style, content):
    """Luminance of ``style`` shifted and scaled to the mean and spread of ``content``'s."""
    y_style, y_content = luminance(style), luminance(content)
    scale = y_content.std() / max(y_style.std(), 1e-6)
    return np.clip((y_style - y_style.mean()) * scale + y_content.mean(), 0.0, 1.0)


def with_colors_of(generated, content):
    """``generated``'s luminance combined with ``content``'s chrominance (I, Q), as RGB."""
    yiq = np.asarray(content, np.float32) @ _RGB_TO_YIQ.T
    yiq[..., 0] = luminance(generated)[..., 0]
    return np.clip(yiq @ np.linalg.inv(_RGB_TO_YIQ).T, 0.0, 1.0).astype(np.float32)


def stylize(vgg_weights, content, styles, init_image, style_blend=None, settings=None,
            preserve_colors=False, callback=None, progress=True, checkpoint=None, resume=None):
    """Run style transfer; return ``(image, history, transfer)``.

    With ``preserve_colors`` the transfer runs on luminance only and the result takes the
    content's colours. ``init_image`` (1, H, W, 3) is where the optimisation starts;
    ``checkpoint`` and ``resume`` are passed to ``StyleTransfer.run``.
    """
    colors = np.asarray(content, np.float32)
    if preserve_colors:
        styles = [match_luminance(style, content) for style in styles]
        content, init_image = luminance(content), luminance(init_image)
        recolor = lambda image: with_colors_of(image, colors)  # noqa: E731
    else:
        recolor = lambda image: np.asarray(image, np.float32)  # noqa: E731
    transfer = StyleTransfer(vgg_weights, content, styles, style_blend, settings)
    on_step = None if callback is None else (
        lambda step, image, terms: callback(step, recolor(image), terms))
    image, history = transfer.run(init_image, on_step, progress, checkpoint, resume)
    return recolor(image), history, transfer
