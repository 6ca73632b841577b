"""Command line: ``python -m neural_style --content C --style S [options]``."""

import argparse
import dataclasses
import functools
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported

import numpy as np  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from atomic_files import atomic_path, temporary_file_beside  # noqa: E402
from nst_utils import (
    CONFIG,
    ImageError,
    VGG19Weights,
    WeightsError,
    generate_noise_image,
    image_suffix,  # noqa: E402
    load_image,
    read_vgg19,
    save_image,
)

from . import memory, speed  # noqa: E402
from .colors import COLOR_MODES  # noqa: E402
from .precision import PRECISIONS, resolve_precision  # noqa: E402
from .steps import Interrupted  # noqa: E402
from .transfer import (  # noqa: E402
    DEFAULTS,
    FIRST_LEVEL_PX,
    MIN_SIZE,
    OPTIMIZERS,
    Checkpoint,
    Settings,
    defaults_for,
    layer_weights,
    level_seconds,
    level_steps,
    pyramid,
    stylize_levels,
)

MAX_STYLE_SCALE = 4.0  # style images of up to 4 x 4 times the output's pixels
ESTIMATE_AFTER_STEPS = 11
"""A coarse-to-fine run prints its time once it has timed this many steps of its first level (the
time from the first to the last of them): the first few steps take longer than the average."""


def _size(text):
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 400x300, got {text!r}") from None
    if width < MIN_SIZE or height < MIN_SIZE:
        raise argparse.ArgumentTypeError(f"size must be at least {MIN_SIZE}x{MIN_SIZE}, got {text!r}")
    return width, height


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {text}")
    return value


def _style_scale(text):
    value = float(text)
    if not 0 < value <= MAX_STYLE_SCALE:  # also refuses NaN
        raise argparse.ArgumentTypeError(f"must be a number above 0 and at most {MAX_STYLE_SCALE:g}, got {text}")
    return value


def _positive_float(text):
    value = float(text)
    if not 0 < value < float("inf"):  # also refuses NaN
        raise argparse.ArgumentTypeError(f"must be a number above 0, got {text}")
    return value


def _non_negative_float(text):
    value = float(text)
    if not 0 <= value <= np.finfo(np.float32).max:  # also refuses NaN and inf
        raise argparse.ArgumentTypeError(f"must be a number from 0 to 3.4e38, got {text}")
    return value


def _floats(text):
    try:
        return [_non_negative_float(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _layer_weights(text):
    try:
        return layer_weights(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def check_writable(path: Path) -> None:
    """Raise ``ImageError`` unless ``save_image`` can write ``path``: an image suffix, and a folder
    that exists and accepts new files (probed by creating one). The command line checks its output
    before a run of many minutes, rather than fail after it."""
    image_suffix(path)
    try:
        temporary_file_beside(path).unlink()
    except OSError as error:
        raise ImageError(f"cannot save {path}: {error}") from None


def _remove_temporary_files(output, checkpoint_path):
    """Delete what a killed run (SIGKILL, power cut) left half-written: the temporary files of
    ``output``, its snapshots and its checkpoint."""
    for target in (output.name, f"{output.stem}_step*{output.suffix}", checkpoint_path.name):
        for leftover in atomic_path.leftovers(output.parent, target):
            leftover.unlink(missing_ok=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m neural_style",
        description="Neural style transfer (Gatys et al. 2015): paint a content image in the style "
        "of one or more style images.",
    )
    io = parser.add_argument_group("images")
    io.add_argument("--content", required=True, type=Path, help="content image (JPEG, PNG, ...)")
    io.add_argument("--style", required=True, action="append", type=Path, help="style image; repeat to blend several")
    io.add_argument("--style-blend", type=_floats, help="one weight per --style, e.g. 0.7,0.3")
    io.add_argument(
        "--size",
        type=_size,
        default=(CONFIG.image_width, CONFIG.image_height),
        help="output WIDTHxHEIGHT (default %(default)s)",
    )
    io.add_argument(
        "--style-scale",
        type=_style_scale,
        default=1.0,
        help="size of the style images relative to the output: above 1, larger strokes (default %(default)s)",
    )
    io.add_argument(
        "--levels",
        type=_positive_int,
        help="optimise at N sizes, each twice the one before, ending at --size (coarse to fine); default: "
        f"enough that the first is at most {FIRST_LEVEL_PX} px wide and high; 1: --size only",
    )
    io.add_argument("--output", type=Path, help="output image (default outputs/CONTENT_STYLE.png)")
    io.add_argument(
        "--snapshot-every",
        type=_positive_int,
        metavar="K",
        help="every K steps save the image as OUTPUT_stepNNNN.png and the run's state as OUTPUT.checkpoint.npz",
    )
    io.add_argument(
        "--resume", action="store_true", help="continue an interrupted run from OUTPUT.checkpoint.npz (same options)"
    )
    io.add_argument(
        "--preserve-colors",
        nargs="?",
        const="luminance",
        choices=COLOR_MODES,
        help="keep the content's colours: 'luminance' (the default mode) transfers luminance only and keeps "
        "every pixel's colour; 'histogram' gives the style the content's palette first",
    )
    io.add_argument(
        "--max-memory",
        type=_positive_float,
        metavar="GB",
        help="refuse a run whose estimated peak memory is above GB (default: the memory the system has available)",
    )

    opt = parser.add_argument_group("optimisation (defaults depend on the weights file)")
    opt.add_argument("--optimizer", choices=OPTIMIZERS, help="lbfgs (default) or adam")
    opt.add_argument("--steps", type=_positive_int, help="L-BFGS iterations or Adam steps")
    opt.add_argument("--learning-rate", type=_non_negative_float, help="Adam step size")
    opt.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="run the network in float32 or bfloat16; auto (default): bfloat16 on x86 "
        "CPUs with bfloat16 instructions, where it is faster",
    )
    opt.add_argument("--content-weight", type=_non_negative_float, help="alpha")
    opt.add_argument("--style-weight", type=_non_negative_float, help="beta")
    opt.add_argument("--tv-weight", type=_non_negative_float, help="total-variation weight")
    opt.add_argument("--content-layer", help=f"VGG-19 layer for content (default {CONFIG.content_layer})")
    opt.add_argument(
        "--style-layers",
        type=_layer_weights,
        help=f"e.g. relu1_1,relu2_1 or relu1_1:0.5,relu2_1:0.5 (default "
        f"{','.join(f'{name}:{weight:g}' for name, weight in DEFAULTS['normalised'].style_layers)}; "
        "equal weights with the official weights file)",
    )
    opt.add_argument(
        "--init",
        default="content",
        metavar="content|noise|PATH",
        help="start from the content image (default), noise, or an image file",
    )
    opt.add_argument(
        "--noise-ratio",
        type=float,
        default=CONFIG.noise_ratio,
        help="share of noise for --init noise (default %(default)s)",
    )
    opt.add_argument("--seed", type=int, default=0, help="seed for --init noise")

    parser.add_argument(
        "--weights", type=Path, default=CONFIG.weights_path, help="MatConvNet VGG-19 .mat file (default %(default)s)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _sizes(parser, args):
    """The run's sizes per level and its style images' sizes per level, from ``args``; what cannot
    run ends the program with a usage error."""
    if args.style_blend is not None and len(args.style_blend) != len(args.style):
        parser.error(f"--style-blend has {len(args.style_blend)} weights for {len(args.style)} --style images")
    if not 0.0 <= args.noise_ratio <= 1.0:
        parser.error(f"--noise-ratio must be in [0, 1], got {args.noise_ratio}")
    try:
        sizes = pyramid(*args.size, args.levels)
    except ValueError as error:
        parser.error(f"--levels: {error}")
    style_sizes = [(round(args.style_scale * width), round(args.style_scale * height)) for width, height in sizes]
    if min(style_sizes[0]) < MIN_SIZE:
        parser.error(
            f"--style-scale {args.style_scale:g} makes the style images {style_sizes[0][0]}x{style_sizes[0][1]}"
            f"{' at the first level' if len(sizes) > 1 else ''}: at least {MIN_SIZE}x{MIN_SIZE} is needed"
        )
    return sizes, style_sizes


def settings_from(args: argparse.Namespace, vgg_weights: VGG19Weights) -> Settings:
    """The weights file's defaults (``defaults_for``), with every ``Settings`` field given on the command
    line instead (each option's destination is the field's name)."""
    overrides = {
        field.name: getattr(args, field.name)
        for field in dataclasses.fields(Settings)
        if getattr(args, field.name, None) is not None
    }
    return dataclasses.replace(defaults_for(vgg_weights), **overrides)


class _Run:
    """One command-line run: its options, sizes, output and settings, and what it reports on the way."""

    def __init__(self, args, sizes, style_sizes, vgg_weights):
        self.args, self.sizes, self.style_sizes, self.vgg_weights = args, sizes, style_sizes, vgg_weights
        self.output = args.output or Path("outputs") / (
            f"{args.content.stem}_{'+'.join(style.stem for style in args.style)}.png"
        )
        self.checkpoint_path = self.output.with_name(f"{self.output.stem}.checkpoint.npz")
        self.settings = settings_from(args, vgg_weights)
        self.precision = resolve_precision(self.settings.precision)
        self.steps_per_level = level_steps(self.settings.steps, len(sizes))
        self.memory_note = ""  # the estimated peak memory, and what it was checked against
        self.images_at = functools.cache(self._images_at)  # level 0's are read before the run, for its start

    def check_memory(self):
        """Raise ``ValueError`` if the run's estimated peak memory is above what --max-memory allows, or
        else above the memory available; otherwise note the estimate for the reports."""
        args = self.args

        def needed_at(width, height):
            """Estimated peak memory (bytes) of this run at ``--size WIDTHxHEIGHT``."""
            try:
                sizes_there = pyramid(width, height, args.levels)
            except ValueError:
                return float("inf")
            steps = level_steps(self.settings.steps, len(sizes_there))
            return memory.peak_bytes(sizes_there, steps, self.precision, self.settings.optimizer)

        limit, what = (
            (args.max_memory * 1e9, "allowed (--max-memory)")
            if args.max_memory
            else (memory.available_bytes(), "available")
        )
        needed = None if limit is None else memory.check_fits(*args.size, limit, needed_at, what)
        if needed is not None:
            self.estimate = f"estimated peak memory {memory.gigabytes(needed)}"
            self.memory_note = f"{self.estimate} of {memory.gigabytes(limit)} {what}"

    def _images_at(self, level):
        """The content image and the style images at ``level`` of the pyramid."""
        content = load_image(self.args.content, *self.sizes[level])
        return content, [load_image(path, *self.style_sizes[level]) for path in self.args.style]

    def init_image(self):
        """Where the first level starts: the content, noise over it, or an image file (--init)."""
        args, content = self.args, self.images_at(0)[0]
        if args.init == "content":
            return content
        if args.init == "noise":
            return generate_noise_image(content, args.noise_ratio, args.seed)
        return load_image(Path(args.init), *self.sizes[0])

    def print_estimate(self):
        """Print the run's time, estimated from a probe convolution before the first step."""
        if self.args.quiet or self.args.resume:
            return
        probe = speed.conv_gflops(self.precision)
        seconds = speed.estimated_seconds(self.sizes, self.steps_per_level, self.settings, probe)
        print(
            f"estimated time: about {seconds:.0f} s for {sum(self.steps_per_level)} steps "
            f"(a probe convolution ran at {probe:.0f} GFLOP/s in {self.precision} just now)"
        )

    def on_level(self, level, steps, level_resume, results):
        """``stylize_levels``' report before a level: its size and steps, and the time left."""
        sizes = self.sizes
        if len(sizes) == 1 or self.args.quiet:
            return
        width, height = sizes[level]
        header = f"level {level + 1} of {len(sizes)}: {width}x{height}, {steps} steps"
        if level_resume:
            header += f", resumed after step {level_resume.step}"
        if results:
            last = results[-1]
            per_step = last.seconds / max(last.steps, 1)
            left = level_seconds(per_step, sizes[level - 1], sizes[level:], self.steps_per_level[level:])
            header += f" (about {sum(left):.0f} s left, from level {level}'s {per_step:.3f} s per step)"
        print(f"{header} ({self.memory_note})" if self.memory_note and not level else header)

    def callback_at(self, level):
        """The step callback of ``level``: saves a snapshot every --snapshot-every steps (named after the
        level too, when there are several); in the first level of several, it also prints the whole
        run's time, estimated again from the first steps (the very first, which traces the graph,
        left out)."""
        args, sizes, output = self.args, self.sizes, self.output
        name = f"{output.stem}_level{level + 1}" if len(sizes) > 1 else output.stem
        estimating = level == 0 and len(sizes) > 1 and not args.quiet and not args.resume
        timed = []  # (step, time) of the first steps timed

        def on_step(step, image, terms):
            if args.snapshot_every and step % args.snapshot_every == 0:
                save_image(output.with_name(f"{name}_step{step:04d}{output.suffix}"), image)
            if estimating and len(timed) < ESTIMATE_AFTER_STEPS:
                timed.append((step, time.perf_counter()))
                if len(timed) > 1 and (len(timed) == ESTIMATE_AFTER_STEPS or step == self.steps_per_level[0]):
                    per_step = (timed[-1][1] - timed[0][1]) / max(timed[-1][0] - timed[0][0], 1)
                    total = sum(level_seconds(per_step, sizes[0], sizes, self.steps_per_level))
                    tqdm.write(
                        f"estimated again: about {total:.0f} s for the {len(sizes)} levels "
                        f"(level 1's first steps took {per_step:.3f} s each)"
                    )

        return on_step

    def checkpoints(self):
        """``(checkpoint, resume)`` for ``stylize_levels``: what saves this run (with --snapshot-every)
        and what --resume continues; both keyed by every input and setting of the run."""
        args = self.args
        key = json.dumps(
            {
                "content": args.content.resolve(),
                "styles": [p.resolve() for p in args.style],
                "blend": args.style_blend,
                "style_scale": args.style_scale,
                "size": args.size,
                "levels": len(self.sizes),
                "init": args.init,
                "noise_ratio": args.noise_ratio,
                "seed": args.seed,
                "preserve_colors": args.preserve_colors,
                "weights": args.weights.resolve(),
                "settings": dataclasses.asdict(self.settings),
            },
            sort_keys=True,
            default=str,
        )
        checkpoint = Checkpoint(self.checkpoint_path, args.snapshot_every, key) if args.snapshot_every else None
        resume = Checkpoint(self.checkpoint_path, 0, key).load() if args.resume else None
        if args.resume:
            _remove_temporary_files(self.output, self.checkpoint_path)
        return checkpoint, resume

    def run(self):
        """Paint the picture and save it at the output; returns each level's ``RunResult``."""
        args = self.args
        init_image = self.init_image()
        if args.output is None:
            self.output.parent.mkdir(exist_ok=True)
        check_writable(self.output)  # fail now, not after the optimisation
        self.print_estimate()
        checkpoint, resume = self.checkpoints()
        results = stylize_levels(
            self.vgg_weights,
            self.images_at,
            init_image,
            self.sizes,
            args.style_blend,
            self.settings,
            preserve_colors=args.preserve_colors,
            callback_at=self.callback_at,
            on_level=self.on_level,
            progress=not args.quiet,
            checkpoint=checkpoint,
            resume=resume,
        )
        save_image(self.output, results[-1].image)
        self.checkpoint_path.unlink(missing_ok=True)
        return results

    def summary(self, results):
        """The line printed at the end: the output, the steps, their time, the final cost, the memory."""
        result = results[-1]
        final = f", final cost {result.history[-1]['total']:.4g}" if result.history else ""  # L-BFGS may stop at once
        if len(results) == 1:
            timing = f"{result.seconds / max(result.steps, 1):.2f} s/step"
        else:
            levels = " + ".join(f"{r.steps} at {r.image.shape[2]}x{r.image.shape[1]}" for r in results)
            timing = f"{levels}; {sum(r.seconds for r in results):.0f} s"
        estimate = f"; {self.estimate}" if self.memory_note else ""
        return (
            f"saved {self.output}  ({sum(r.steps for r in results)} {self.settings.optimizer} steps in "
            f"{result.precision}, {timing}{final}{estimate})"
        )


def main(argv: Sequence[str] | None = None) -> Path:
    """The command line: parse -> memory check -> estimate -> run -> summary. Returns the output's path;
    exits with a message (status 1) on bad input or an interrupted run, 2 on a usage error."""
    parser = build_parser()
    args = parser.parse_args(argv)
    sizes, style_sizes = _sizes(parser, args)
    try:
        run = _Run(args, sizes, style_sizes, read_vgg19(args.weights))
        run.check_memory()
        results = run.run()  # the estimate is printed once the inputs are checked
    except (WeightsError, ImageError, ValueError, FloatingPointError) as error:
        sys.exit(f"error: {error}")
    except KeyboardInterrupt as interrupt:
        where = f" after step {interrupt.step}" if isinstance(interrupt, Interrupted) else ""
        sys.exit(
            f"interrupted{where}: nothing was written"
            if not args.snapshot_every
            else f"interrupted{where}: run the same command with --resume to continue"
        )
    print(run.summary(results))
    return run.output
