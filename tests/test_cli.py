"""The command line, run for real with the real weights at tiny sizes: ``python -m neural_style ...``
in a subprocess (exit statuses and output as a user sees them), and ``neural_style.cli.main`` in this
process for the options' effects (the same code, without a TensorFlow start-up per run)."""

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import read_rgb
from neural_style import cli, transfer
from neural_style.colors import RGB_TO_YIQ
from nst_utils import generate_noise_image, load_image

ROOT = Path(__file__).resolve().parent.parent
SWIRLS = ROOT / "images" / "swirls.jpg"
MOSAIC = ROOT / "images" / "mosaic.jpg"
SIZE = (48, 32)


def run_cli(*args, timeout=180):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run(
        [sys.executable, "-m", "neural_style", *map(str, args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_main(capsys, *args):
    """``cli.main`` in this process: ``(exit status, stdout, stderr)``, an error message counted as
    stderr (as Python prints it on exit)."""
    try:
        cli.main([str(arg) for arg in args])
        status, message = 0, ""
    except SystemExit as exit_info:
        code = exit_info.code
        status, message = (code, "") if isinstance(code, int) else (1, f"{code}\n")
    out, err = capsys.readouterr()
    return status, out, err + message


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    """A small content photo (skimage's Chelsea the cat) outside the output folders."""
    from skimage import data

    path = tmp_path_factory.mktemp("photo") / "chelsea.jpg"
    Image.fromarray(data.chelsea()).resize((150, 100)).save(path, quality=95)
    return path


def _size_of(path):
    with Image.open(path) as im:
        return im.size


# --------------------------------------------------------------------------------------------
# python -m neural_style, in a subprocess
# --------------------------------------------------------------------------------------------


def test_tiny_adam_run_writes_output_and_snapshots(tmp_path, photo):
    output = tmp_path / "cat.png"
    result = run_cli(
        "--content",
        photo,
        "--style",
        SWIRLS,
        "--size",
        "48x32",
        "--steps",
        2,
        "--optimizer",
        "adam",
        "--snapshot-every",
        1,
        "--output",
        output,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert _size_of(output) == (48, 32)
    assert re.search(
        rf"saved {re.escape(str(output))}  \(2 adam steps in (float32|bfloat16), [0-9.]+ s/step, "
        r"final cost [0-9.e+-]+; estimated peak memory [0-9.]+ GB\)",
        result.stdout,
    ), result.stdout
    assert "adam:" in result.stderr  # the progress bar
    # Before the first step: the time, from the run's FLOPs and a probe convolution timed just then.
    estimate = re.search(
        r"^estimated time: about \d+ s for 2 steps \(a probe convolution ran at \d+ GFLOP/s in "
        r"(float32|bfloat16) just now\)$",
        result.stdout,
        re.MULTILINE,
    )
    assert estimate and estimate.start() < result.stdout.index("saved"), result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cat.png", "cat_step0001.png", "cat_step0002.png"]
    for name in ("cat_step0001.png", "cat_step0002.png"):
        assert _size_of(tmp_path / name) == (48, 32)


# --------------------------------------------------------------------------------------------
# What the options do (cli.main in this process; bad values: see test_bad_input)
# --------------------------------------------------------------------------------------------


def test_tiny_lbfgs_run_with_two_blended_styles(tmp_path, photo, capsys):
    output = tmp_path / "blend.jpg"
    status, out, err = run_main(
        capsys,
        "--content",
        photo,
        "--style",
        SWIRLS,
        "--style",
        MOSAIC,
        "--style-blend",
        "0.7,0.3",
        "--size",
        "48x32",
        "--steps",
        2,
        "--optimizer",
        "lbfgs",
        "--snapshot-every",
        2,
        "--quiet",
        "--output",
        output,
    )
    assert status == 0, err
    with Image.open(output) as im:
        assert im.format == "JPEG" and im.size == (48, 32)
    assert f"saved {output}  (2 lbfgs steps" in out
    assert "lbfgs:" not in err and "estimated time" not in out  # --quiet: no progress bar, no estimate
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blend.jpg", "blend_step0002.jpg"]


def test_missing_content_exits_1(tmp_path, capsys):
    output = tmp_path / "out.png"
    status, out, err = run_main(
        capsys,
        "--content",
        tmp_path / "no_such_photo.jpg",
        "--style",
        SWIRLS,
        "--size",
        "48x32",
        "--steps",
        1,
        "--output",
        output,
    )
    assert status == 1 and out == ""
    assert err == f"error: no such image file: {tmp_path / 'no_such_photo.jpg'}\n"
    assert list(tmp_path.iterdir()) == []


def test_output_in_missing_folder_fails_before_optimising(tmp_path, photo, capsys):
    output = tmp_path / "missing" / "out.png"
    status, out, err = run_main(
        capsys,
        "--content",
        photo,
        "--style",
        SWIRLS,
        "--size",
        "48x32",
        "--steps",
        2,
        "--snapshot-every",
        1,
        "--output",
        output,
    )
    assert status == 1 and out == ""
    assert f"error: cannot save {output}: folder {tmp_path / 'missing'} does not exist" in err
    assert "lbfgs:" not in err  # no progress bar: the optimisation never started
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("init", ["content", "noise", "path"])
def test_init_is_where_the_run_starts(tmp_path, photo, capsys, init):
    """Adam with a learning rate of 0 never moves, so the output is the start image: the content,
    noise mixed in at the given ratio and seed, or another image file."""
    content = load_image(photo, *SIZE)
    options, expected = {
        "content": ([], content),
        "noise": (["--init", "noise", "--noise-ratio", 0.3, "--seed", 3], generate_noise_image(content, 0.3, 3)),
        "path": (["--init", MOSAIC], load_image(MOSAIC, *SIZE)),
    }[init]
    output = tmp_path / "start.png"
    status, out, err = run_main(
        capsys,
        "--content",
        photo,
        "--style",
        SWIRLS,
        "--size",
        "48x32",
        "--steps",
        1,
        "--optimizer",
        "adam",
        "--learning-rate",
        0,
        "--quiet",
        "--output",
        output,
        *options,
    )
    assert status == 0, err
    assert np.abs(read_rgb(output) - expected[0]).max() <= 0.5 / 255 + 1e-6
    if init != "content":
        assert np.abs(expected - content).mean() > 0.05  # a start that differs from the default


def _yiq(image):
    return np.asarray(image, np.float32) @ RGB_TO_YIQ.T


def test_preserve_colors_keeps_the_content_colours_whatever_the_style_brightness(tmp_path, photo, capsys):
    """``--preserve-colors``: the result has the content's chrominance (I, Q) and a restyled luma. The
    style's luma is matched to the content's brightness and contrast first, so a dark, flat copy of the
    style gives the same picture as the style itself."""
    dark = tmp_path / "dark_swirls.png"
    Image.fromarray(np.round(255 * (0.05 + 0.25 * load_image(SWIRLS, *SIZE)[0])).astype(np.uint8)).save(dark)
    content = load_image(photo, *SIZE)[0]
    results = {}
    for name, style in (("dark", dark), ("bright", SWIRLS)):
        output = tmp_path / f"{name}.png"
        status, out, err = run_main(
            capsys,
            "--content",
            photo,
            "--style",
            style,
            "--size",
            "48x32",
            "--steps",
            24,
            "--optimizer",
            "lbfgs",
            "--preserve-colors",
            "--content-weight",  # a light one, so that 24 steps restyle the luma well beyond rounding
            11,
            "--quiet",
            "--output",
            output,
        )
        assert status == 0, err
        results[name] = read_rgb(output)
        np.testing.assert_allclose(_yiq(results[name])[..., 1:], _yiq(content)[..., 1:], atol=0.01)  # I, Q kept
        assert np.abs(_yiq(results[name])[..., 0] - _yiq(content)[..., 0]).mean() > 0.02  # luma restyled
    assert np.abs(results["dark"] - results["bright"]).mean() < 0.01


def test_preserve_colors_histogram_gives_the_picture_the_content_palette(tmp_path, photo, capsys):
    """``--preserve-colors histogram``: the blue-and-orange swirls take the cat photo's palette, so the
    picture's mean colour is near the photo's, far nearer than without the option; ``--preserve-colors``
    alone still means luminance."""
    content = load_image(photo, *SIZE)[0].reshape(-1, 3)
    mean_color_error = {}
    for mode in ((), ("--preserve-colors", "histogram")):
        output = tmp_path / f"{len(mode)}.png"
        status, _, err = run_main(
            capsys,
            *("--content", photo, "--style", SWIRLS, "--size", "48x32", "--steps", 24, "--quiet"),
            *mode,
            *("--output", output),
        )
        assert status == 0, err
        mean_color_error[mode] = np.abs(read_rgb(output).reshape(-1, 3).mean(0) - content.mean(0)).max()
    assert mean_color_error[("--preserve-colors", "histogram")] < 0.03 < mean_color_error[()], mean_color_error
    parse = cli.build_parser().parse_args
    assert parse(["--content", "c.jpg", "--style", "s.jpg", "--preserve-colors"]).preserve_colors == "luminance"


def test_style_layers_option_parses_weights():
    parse = cli.build_parser().parse_args
    base = ["--content", "c.jpg", "--style", "s.jpg"]
    assert parse([*base, "--style-layers", "relu1_1,relu3_1"]).style_layers == (("relu1_1", 0.5), ("relu3_1", 0.5))
    assert parse([*base, "--style-layers", "relu1_1:0.7,conv3_1:0.3"]).style_layers == (
        ("relu1_1", 0.7),
        ("conv3_1", 0.3),
    )


def test_help_names_the_default_layers():
    """The help shows the layers a run uses when none are given: Gatys et al.'s, after the ReLU, with the
    default weights file's style-layer weights."""
    text = "".join(cli.build_parser().format_help().split())  # argparse wraps lines, even inside words
    assert "VGG-19layerforcontent(defaultrelu4_2)" in text
    assert "(defaultrelu1_1:0.1,relu2_1:0.15,relu3_1:0.25,relu4_1:0.25,relu5_1:0.25;equalweightswiththeofficial" in text


def _command_final_cost(capsys, photo, output, *options):
    """Run the command (L-BFGS, swirls) on ``photo`` with ``options``; returns (the final cost it
    prints, its output)."""
    status, out, err = run_main(
        capsys, "--content", photo, "--style", SWIRLS, "--optimizer", "lbfgs", "--output", output, *options
    )
    assert status == 0, err
    return float(re.search(r"final cost ([0-9.e+-]+);", out).group(1)), out


def _engine_final_cost(vgg_weights, content, style, start, **settings):
    """The final cost of an L-BFGS engine run from ``start`` with the default settings changed by ``settings``."""
    settings = dataclasses.replace(transfer.defaults_for(vgg_weights), optimizer="lbfgs", **settings)
    run = transfer.stylize(vgg_weights, content, [style], start, settings=settings, progress=False)
    return run.history[-1]["total"], run.image


def test_custom_layers_reach_the_engine(tmp_path, photo, capsys, vgg_weights):
    """The final cost that the command prints is that of an engine run with the same layers, and far
    from that of the default layers."""
    layers = ("--content-layer", "conv2_2", "--style-layers", "conv1_1:0.7,conv3_1:0.3")
    printed, _ = _command_final_cost(
        capsys, photo, tmp_path / "out.png", "--size", "48x32", "--steps", 3, "--quiet", *layers
    )
    content, style = load_image(photo, *SIZE), load_image(SWIRLS, *SIZE)

    def final_cost(**layers):
        return _engine_final_cost(vgg_weights, content, style, content, steps=3, **layers)[0]

    assert printed == pytest.approx(
        final_cost(content_layer="conv2_2", style_layers=(("conv1_1", 0.7), ("conv3_1", 0.3))), rel=1e-3
    )
    assert abs(final_cost() / printed - 1) > 0.1


def test_style_scale_loads_the_styles_at_that_scale(tmp_path, photo, capsys, vgg_weights):
    """``--style-scale 2``: the final cost that the command prints is that of an engine run with the
    style image loaded at twice the output's size, and far from that of the style at the output's size."""
    printed, _ = _command_final_cost(
        capsys, photo, tmp_path / "out.png", "--size", "48x32", "--steps", 3, "--quiet", "--style-scale", 2
    )
    content = load_image(photo, *SIZE)

    def final_cost(style_size):
        return _engine_final_cost(vgg_weights, content, load_image(SWIRLS, *style_size), content, steps=3)[0]

    assert printed == pytest.approx(final_cost((96, 64)), rel=1e-3)
    assert abs(final_cost(SIZE) / printed - 1) > 0.05


@pytest.mark.parametrize(
    "scale, message",
    [
        ("0", "--style-scale: must be a number above 0 and at most 4"),
        ("4.5", "--style-scale: must be a number above 0 and at most 4"),
        ("nan", "--style-scale: must be a number above 0 and at most 4"),
        ("0.25", "--style-scale 0.25 makes the style images 12x8: at least 16x16 is needed"),
    ],
)
def test_style_scale_out_of_range_is_refused(tmp_path, photo, capsys, scale, message):
    status, _, err = run_main(
        capsys,
        "--content",
        photo,
        "--style",
        SWIRLS,
        "--size",
        "48x32",
        "--style-scale",
        scale,
        "--output",
        tmp_path / "o.png",
    )
    assert status == 2 and message in err, err
    assert not (tmp_path / "o.png").exists()


def test_levels_run_coarse_to_fine_as_the_engine_does_by_hand(tmp_path, photo, capsys, vgg_weights):
    """``--size 96x64 --levels 2 --steps 4``: 4 steps at 48x32, then 1 at 96x64 from the first level's
    result upsampled. The command's final cost is that of the same pipeline run by hand with the engine."""
    printed, out = _command_final_cost(
        capsys, photo, tmp_path / "out.png", "--size", "96x64", "--levels", 2, "--steps", 4
    )
    assert "level 1 of 2: 48x32, 4 steps" in out and "level 2 of 2: 96x64, 1 steps" in out, out
    # The time left, estimated from the first level's time per step, for 1 step at 4 times the pixels.
    left, per_step = re.search(r"about (\d+) s left, from level 1's ([\d.]+) s per step", out).groups()
    assert abs(int(left) - 4 * float(per_step)) <= 0.51
    # The whole run's time, estimated within the first level from its steps 2 to 4 (all it has): 4 + 1 * 4 steps' worth.
    total, first_steps = re.search(
        r"estimated again: about (\d+) s for the 2 levels \(level 1's first steps took ([\d.]+) s each\)", out
    ).groups()
    assert abs(int(total) - 8 * float(first_steps)) <= 0.51
    assert out.index("estimated again") < out.index("level 2 of 2")
    assert "(5 lbfgs steps in " in out and "4 at 48x32 + 1 at 96x64" in out, out
    with Image.open(tmp_path / "out.png") as image:
        assert image.size == (96, 64)

    image = load_image(photo, 48, 32)
    for (width, height), steps in zip(transfer.pyramid(96, 64, 2), (4, 1)):
        start = image if width == 48 else transfer.upsample(image, width, height)
        final_cost, image = _engine_final_cost(
            vgg_weights, load_image(photo, width, height), load_image(SWIRLS, width, height), start, steps=steps
        )
    assert printed == pytest.approx(final_cost, rel=1e-3)


@pytest.mark.parametrize(
    "options, message",
    [
        (["--size", "96x64", "--levels", "4"], "--levels: 4 levels make the first 12x8: at least 16x16 is needed"),
        (
            ["--size", "96x64", "--levels", "2", "--style-scale", "0.4"],
            "--style-scale 0.4 makes the style images 19x13 at the first level",
        ),
    ],
)
def test_levels_that_cannot_work_are_refused(tmp_path, photo, capsys, options, message):
    status, _, err = run_main(capsys, "--content", photo, "--style", SWIRLS, *options, "--output", tmp_path / "o.png")
    assert status == 2 and message in err, err
    assert list(tmp_path.iterdir()) == []


def test_a_run_over_the_memory_limit_is_refused_with_a_size_that_fits(tmp_path, photo, capsys):
    """``--max-memory 0.9`` (GB): 400x300 with 2 L-BFGS steps is estimated above it, so the command
    refuses before it writes anything and names a smaller size; that size, with the same options, runs."""
    options = ["--content", photo, "--style", SWIRLS, "--steps", 2, "--max-memory", 0.9, "--quiet"]
    status, _, err = run_main(capsys, *options, "--size", "400x300", "--output", tmp_path / "big.png")
    suggestion = re.search(
        r"400x300 needs about ([0-9.]+) GB of memory and 0.9 GB is allowed \(--max-memory\): "
        r"try --size (\d+)x(\d+) \(about ([0-9.]+) GB\)",
        err,
    )
    assert status == 1 and suggestion, err
    assert float(suggestion[1]) > 0.9 >= float(suggestion[4])
    assert list(tmp_path.iterdir()) == []
    width, height = int(suggestion[2]), int(suggestion[3])
    assert width / height == pytest.approx(4 / 3, rel=0.02)
    status, _, err = run_main(capsys, *options, "--size", f"{width}x{height}", "--output", tmp_path / "fits.png")
    assert status == 0, err
    with Image.open(tmp_path / "fits.png") as image:
        assert image.size == (width, height)


# Runs the command in a fresh process and prints the process's peak memory after it: VmHWM, the
# high-water mark of this program's own memory. Not getrusage's ru_maxrss: Linux carries it over
# from the process that forked this one (here a pytest worker, with gigabytes of models) across exec.
WITH_PEAK = """
import sys
from pathlib import Path
from neural_style import cli
cli.main(sys.argv[1:])
hwm = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmHWM:"))
print("PEAK", int(hwm.split()[1]) * 1024)
"""


def test_the_memory_estimate_is_close_to_the_real_peak(tmp_path, photo):
    """The peak memory estimated before a run (and printed with its result) is near the peak memory that
    the run then has: within 6% on an idle machine; the bounds are 0.8 to 1.25 times the peak."""
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            WITH_PEAK,
            "--content",
            photo,
            "--style",
            SWIRLS,
            "--size",
            "640x480",
            "--levels",
            "1",
            "--steps",
            "3",
            "--output",
            tmp_path / "out.png",
        ],
        cwd=ROOT,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    estimated = float(re.search(r"estimated peak memory ([0-9.]+) GB\)", result.stdout)[1]) * 1e9
    peak = int(re.search(r"PEAK (\d+)", result.stdout)[1])
    assert 0.8 * peak <= estimated <= 1.25 * peak, (estimated, peak)


def test_unknown_layer_is_refused(tmp_path, photo, capsys):
    status, out, err = run_main(
        capsys,
        "--content",
        photo,
        "--style",
        SWIRLS,
        "--size",
        "48x32",
        "--steps",
        1,
        "--content-layer",
        "conv9_9",
        "--output",
        tmp_path / "out.png",
    )
    assert status == 1 and out == ""
    assert err.startswith("error: unknown VGG-19 layer(s) ['conv9_9']; choose from ['conv1_1', ")
    assert list(tmp_path.iterdir()) == []
