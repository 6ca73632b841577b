"""Command line: ``python -m neural_style --content C --style S [options]``."""

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported

import numpy as np  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from atomic_files import atomic_path, temporary_file_beside  # noqa: E402
from nst_utils import (
    CONFIG,
    ImageError,
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
    defaults_for,
    level_seconds,
    level_steps,
    pyramid,
    stylize,
    upsample,
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


def layer_weights(text):
    """``relu1_1,relu2_1`` (equal weights) or ``relu1_1:0.5,relu2_1:0.5``."""
    parts = [part.split(":") for part in text.split(",")]
    try:
        return tuple((part[0], float(part[1]) if len(part) > 1 else 1.0 / len(parts)) for part in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected layer[:weight],..., got {text!r}") from None


def check_writable(path):
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


def build_parser():
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
        type=layer_weights,
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


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
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
    output = args.output or Path("outputs") / (
        f"{args.content.stem}_{'+'.join(style.stem for style in args.style)}.png"
    )

    try:
        vgg_weights = read_vgg19(args.weights)
        overrides = {
            field: value
            for field, value in (
                ("optimizer", args.optimizer),
                ("steps", args.steps),
                ("learning_rate", args.learning_rate),
                ("precision", args.precision),
                ("content_weight", args.content_weight),
                ("style_weight", args.style_weight),
                ("tv_weight", args.tv_weight),
                ("content_layer", args.content_layer),
                ("style_layers", args.style_layers),
            )
            if value is not None
        }
        settings = dataclasses.replace(defaults_for(vgg_weights), **overrides)

        precision = resolve_precision(settings.precision)

        def needed_at(width, height):
            """Estimated peak memory (bytes) of this run at ``--size WIDTHxHEIGHT``."""
            try:
                sizes_there = pyramid(width, height, args.levels)
            except ValueError:
                return float("inf")
            steps = level_steps(settings.steps, len(sizes_there))
            return memory.peak_bytes(sizes_there, steps, precision, settings.optimizer)

        limit, what = (
            (args.max_memory * 1e9, "allowed (--max-memory)")
            if args.max_memory
            else (memory.available_bytes(), "available")
        )
        needed = None if limit is None else memory.check_fits(*args.size, limit, needed_at, what)

        def images_at(level):
            """The content image and the style images at ``level`` of the pyramid."""
            content = load_image(args.content, *sizes[level])
            return content, [load_image(path, *style_sizes[level]) for path in args.style]

        content, styles = images_at(0)
        if args.init == "content":
            init_image = content
        elif args.init == "noise":
            init_image = generate_noise_image(content, args.noise_ratio, args.seed)
        else:
            init_image = load_image(Path(args.init), *sizes[0])
        if args.output is None:
            output.parent.mkdir(exist_ok=True)
        check_writable(output)  # fail now, not after the optimisation
        estimate = "" if needed is None else f"estimated peak memory {memory.gigabytes(needed)}"

        steps_per_level = level_steps(settings.steps, len(sizes))
        if not args.quiet and not args.resume:
            probe = speed.conv_gflops(precision)
            seconds = speed.estimated_seconds(sizes, steps_per_level, settings, probe)
            print(
                f"estimated time: about {seconds:.0f} s for {sum(steps_per_level)} steps "
                f"(a probe convolution ran at {probe:.0f} GFLOP/s in {precision} just now)"
            )

        def on_step_at(level):
            """The callback of ``level``: saves a snapshot every --snapshot-every steps (named after the
            level too, when there are several); in the first level of several, it also prints the whole
            run's time, estimated again from the first steps (the very first, which traces the graph,
            left out)."""
            name = f"{output.stem}_level{level + 1}" if len(sizes) > 1 else output.stem
            estimating = level == 0 and len(sizes) > 1 and not args.quiet and not args.resume
            timed = []  # (step, time) of the first steps timed

            def on_step(step, image, terms):
                if args.snapshot_every and step % args.snapshot_every == 0:
                    save_image(output.with_name(f"{name}_step{step:04d}{output.suffix}"), image)
                if estimating and len(timed) < ESTIMATE_AFTER_STEPS:
                    timed.append((step, time.perf_counter()))
                    if len(timed) > 1 and (len(timed) == ESTIMATE_AFTER_STEPS or step == steps_per_level[0]):
                        per_step = (timed[-1][1] - timed[0][1]) / max(timed[-1][0] - timed[0][0], 1)
                        total = sum(level_seconds(per_step, sizes[0], sizes, steps_per_level))
                        tqdm.write(
                            f"estimated again: about {total:.0f} s for the {len(sizes)} levels "
                            f"(level 1's first steps took {per_step:.3f} s each)"
                        )

            return on_step

        run_key = json.dumps(
            {
                "content": args.content.resolve(),
                "styles": [p.resolve() for p in args.style],
                "blend": args.style_blend,
                "style_scale": args.style_scale,
                "size": args.size,
                "levels": len(sizes),
                "init": args.init,
                "noise_ratio": args.noise_ratio,
                "seed": args.seed,
                "preserve_colors": args.preserve_colors,
                "weights": args.weights.resolve(),
                "settings": dataclasses.asdict(settings),
            },
            sort_keys=True,
            default=str,
        )
        checkpoint_path = output.with_name(f"{output.stem}.checkpoint.npz")
        checkpoint = Checkpoint(checkpoint_path, args.snapshot_every, run_key) if args.snapshot_every else None
        resume = Checkpoint(checkpoint_path, 0, run_key).load() if args.resume else None
        if args.resume:
            _remove_temporary_files(output, checkpoint_path)

        results = []  # those of the levels run now
        previous = None  # the image the level before ended with
        first_level = resume.level if resume else 0
        if first_level >= len(sizes):
            raise ValueError(f"{checkpoint_path} holds level {first_level + 1} of a run of {len(sizes)} levels")
        for level, ((width, height), steps) in enumerate(zip(sizes, steps_per_level)):
            if level < first_level:
                continue  # done before the run was interrupted
            level_resume = resume if resume and level == resume.level else None
            if level_resume and level_resume.step >= steps and level < len(sizes) - 1:
                previous = level_resume.image  # interrupted right after this level's last step
                continue
            if level:
                content, styles = images_at(level)
                if level_resume is None:  # start from the level before, upsampled
                    init_image = upsample(previous, width, height)
            if len(sizes) > 1 and not args.quiet:
                header = f"level {level + 1} of {len(sizes)}: {width}x{height}, {steps} steps"
                if level_resume:
                    header += f", resumed after step {level_resume.step}"
                if results:
                    last = results[-1]
                    per_step = last.seconds / max(last.steps, 1)
                    left = level_seconds(per_step, sizes[level - 1], sizes[level:], steps_per_level[level:])
                    header += f" (about {sum(left):.0f} s left, from level {level}'s {per_step:.3f} s per step)"
                print(
                    f"{header} ({estimate} of {memory.gigabytes(limit)} {what})" if estimate and not level else header
                )
            level_settings = dataclasses.replace(settings, steps=steps)
            results.append(
                stylize(
                    vgg_weights,
                    content,
                    styles,
                    init_image,
                    args.style_blend,
                    level_settings,
                    preserve_colors=args.preserve_colors,
                    callback=on_step_at(level),
                    progress=not args.quiet,
                    checkpoint=checkpoint and dataclasses.replace(checkpoint, level=level),
                    resume=level_resume,
                )
            )
            previous = results[-1].image
        result = results[-1]
        save_image(output, result.image)
        checkpoint_path.unlink(missing_ok=True)
    except (WeightsError, ImageError, ValueError, FloatingPointError) as error:
        sys.exit(f"error: {error}")
    except KeyboardInterrupt as interrupt:
        where = f" after step {interrupt.step}" if isinstance(interrupt, Interrupted) else ""
        sys.exit(
            f"interrupted{where}: nothing was written"
            if not args.snapshot_every
            else f"interrupted{where}: run the same command with --resume to continue"
        )
    final = f", final cost {result.history[-1]['total']:.4g}" if result.history else ""  # L-BFGS may stop at once
    if len(results) == 1:
        timing = f"{result.seconds / max(result.steps, 1):.2f} s/step"
    else:
        levels = " + ".join(f"{r.steps} at {r.image.shape[2]}x{r.image.shape[1]}" for r in results)
        timing = f"{levels}; {sum(r.seconds for r in results):.0f} s"
    print(
        f"saved {output}  ({sum(r.steps for r in results)} {settings.optimizer} steps in {result.precision}, "
        f"{timing}{final}{'; ' + estimate if estimate else ''})"
    )
    return output
