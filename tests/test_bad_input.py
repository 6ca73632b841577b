"""The bad-input corpus: every kind of wrong or unusual input the project must cope with, in one table.

Each kind expects either a specific, readable error (key words of the message are checked) or a
correct result, and never half-written output: the output folder holds no new or partial files
afterwards and an existing output file is unchanged (or, for a success, replaced by a whole image).

Three routes, chosen per kind to keep the file fast (one CLI subprocess costs ~5 s of TensorFlow
import):

* ``cli``: ``python -m neural_style ...`` in a subprocess, so the exit status and what the user
  sees on stderr are checked exactly (exit 1 with a message starting ``error:``; exit 2 with
  argparse's usage line);
* ``main``: ``neural_style.cli.main(argv)`` in this process (same code path, SystemExit caught);
* ``api``: a call into ``nst_utils`` / ``vgg_weights`` / ``neural_style.transfer``.

Other files test some of these files one function at a time (``test_images``: ``load_image`` on
odd images; ``test_weights``: ``read_vgg19`` on wrong files; ``test_cli``: argparse errors in
subprocesses). Here the same kinds go through the command line end to end, with a tiny VGG-19
(``matconvnet_fixtures.write_vgg_mat``) so a run costs well under a second.
"""

import dataclasses
import hashlib
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image, ImageFile
from scipy.io import savemat

import nst_utils
import unprivileged
import vgg_weights
from helpers import malicious_pth, read_rgb
from matconvnet_fixtures import VGG16_CONVS, write_vgg_mat
from neural_style import cli, transfer

ROOT = Path(__file__).resolve().parent.parent
SIZE = (32, 32)  # --size for every run
A, B = (200, 60, 30), (30, 90, 220)  # the two tones of the test images (left, right as displayed)
PREVIOUS = "previous result"  # what the existing output file holds before each case

# TensorFlow's start-up lines, written before its logging is configured (TF_CPP_MIN_LOG_LEVEL
# cannot silence them); everything else on stderr is the program's own.
_TF_LOG_LINE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\).*"
    r"|[IWEF]\d{4} [\d:.]+ +\d+ \S+:\d+\] .*)$"
)


# --------------------------------------------------------------------------------------------
# Test images (written with PIL) and helpers
# --------------------------------------------------------------------------------------------


def _two_tone(a=A, b=B, size=40, channels=3, dtype=np.uint8):
    """size x size array: left half ``a``, right half ``b``."""
    image = np.empty((size, size, channels) if channels > 1 else (size, size), dtype)
    image[:, : size // 2], image[:, size // 2 :] = a, b
    return image


def _png_with_header_size(path, width, height):
    """A real PNG (1-bit, 8x8 pixels of data) whose IHDR says ``width`` x ``height``, CRC fixed.

    Costs a few hundred bytes; decoding it would fail as truncated, so a size error proves the
    size check runs before decoding.
    """
    Image.new("1", (8, 8)).save(path)
    data = bytearray(path.read_bytes())
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # PIL's own guard off, just here
    try:
        with Image.open(path) as im:  # PIL checks chunk CRCs: the header is valid
            assert im.size == (width, height)
    finally:
        Image.MAX_IMAGE_PIXELS = limit
    return path


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    """Files shared by every case: tiny VGG-19 weights, a content image and a style image."""
    folder = tmp_path_factory.mktemp("assets")
    weights = write_vgg_mat(folder / "tiny-vgg19.mat", generation="current", seed=5).path
    content = folder / "content.png"
    Image.fromarray(_two_tone()).save(content)
    style = folder / "style.png"
    Image.fromarray(np.random.RandomState(0).randint(0, 256, (40, 40, 3)).astype(np.uint8)).save(style)
    return {"weights": weights, "content": content, "style": style}


@dataclasses.dataclass
class Ctx:
    """One case's folders: ``inputs`` (bad files go here), ``out`` (the output folder, holding an
    existing ``out.png``), and the shared assets."""

    tmp: Path
    inputs: Path
    out: Path
    weights: Path
    content: Path
    style: Path
    monkeypatch: pytest.MonkeyPatch
    finalizers: list

    @property
    def output(self):
        return self.out / "out.png"

    def file(self, name, data=b""):
        path = self.inputs / name
        path.write_bytes(data) if isinstance(data, bytes) else path.write_text(data)
        return path


# --------------------------------------------------------------------------------------------
# The corpus
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Kind:
    """One kind of bad input.

    ``make(ctx)`` prepares the files; for ``cli``/``main`` it returns option overrides for the
    base command (value None: drop the option; True: a flag; a list: repeat the option; key
    ``"env"``: extra environment variables), for ``api`` the call to make (no arguments).
    ``expect``: exit status 0/1/2 (``cli``, ``main``) or the exception type (``api``).
    ``words``: must all appear in the message. ``check(ctx, result)``: further checks.
    ``leaves``: files (besides out.png) the output folder holds afterwards.
    """

    name: str
    route: str
    make: Callable
    expect: object
    words: tuple = ()
    check: Callable = None
    leaves: tuple = ()


def _base_options(ctx):
    return {
        "--content": ctx.content,
        "--style": ctx.style,
        "--size": f"{SIZE[0]}x{SIZE[1]}",
        "--steps": 1,
        "--optimizer": "adam",
        "--learning-rate": 0.005,
        "--weights": ctx.weights,
        "--output": ctx.output,
        "--quiet": True,
    }


def _argv(options):
    argv = []
    for option, value in options.items():
        if value is None or value is False:
            continue
        if value is True:
            argv.append(option)
        else:
            for item in value if isinstance(value, list) else [value]:
                argv += [option, str(item)]
    return argv


# ---- weights ----


def _truncated_mat(ctx):
    whole = write_vgg_mat(ctx.inputs / "whole.mat", seed=5).path.read_bytes()
    return {"--weights": ctx.file("truncated.mat", whole[: len(whole) // 2])}


def _vgg16(ctx):
    return {"--weights": write_vgg_mat(ctx.inputs / "vgg16.mat", n_convs_per_block=VGG16_CONVS).path}


def _no_layers_mat(ctx):
    savemat(ctx.inputs / "other.mat", {"weights": np.ones((3, 3)), "meta": {"description": "a regression model"}})
    return {"--weights": ctx.inputs / "other.mat"}


def _pth_through_prepare_normalised(ctx):
    """The converter given a hostile .pth (with its own sha, so the checksum passes)."""
    source = malicious_pth(ctx.inputs / "vgg_normalised.pth", ctx.tmp / "pwned")
    return lambda: vgg_weights.prepare_normalised(
        ctx.out, source=source, expected_sha256=vgg_weights.file_sha256(source)
    )


def _pth_as_weights(ctx):
    """The same hostile .pth passed to the style-transfer CLI as --weights."""
    return {"--weights": malicious_pth(ctx.inputs / "weights.pth", ctx.tmp / "pwned")}


def _nothing_ran(ctx, result):
    assert not (ctx.tmp / "pwned").exists(), "code from the weights file was executed"


def _tampered_download(ctx):
    """``python vgg_weights.py normalised`` when the bundled .pth was altered (one byte)."""
    data = bytearray(vgg_weights.normalised_source().read_bytes())
    data[len(data) // 2] ^= 0x40  # inside the float data: still a parseable file
    tampered = ctx.file("vgg_normalised.pth", bytes(data))
    ctx.monkeypatch.setattr(vgg_weights, "normalised_source", lambda: tampered)
    return lambda: vgg_weights.main(["normalised", "--dest", str(ctx.out)])


def _names_both_checksums(ctx, message):
    actual = hashlib.sha256((ctx.inputs / "vgg_normalised.pth").read_bytes()).hexdigest()
    assert actual in message and vgg_weights.NORMALISED_SOURCE_SHA256 in message


def _missing_default_weights(ctx):
    """No --weights: the default path ($NST_WEIGHTS here) does not exist."""
    return {"--weights": None, "env": {"NST_WEIGHTS": str(ctx.inputs / "vgg19-normalised.mat")}}


# ---- images that must work ----


def _image_kind(name, save, expected, tolerance=0.03):
    """``save(path)`` writes an odd image whose display is ``expected`` (two tones A | B, or one
    colour); it is used as content and style, and the result must look like it."""

    def make(ctx):
        path = ctx.inputs / name
        save(path)
        return {"--content": path, "--style": path}

    def check(ctx, result):
        result_image = read_rgb(ctx.output)
        assert result_image.shape == (SIZE[1], SIZE[0], 3)
        expected_image = np.asarray(expected, np.float32) / 255.0
        if expected_image.ndim == 1:  # one colour
            np.testing.assert_allclose(
                result_image, np.broadcast_to(expected_image, result_image.shape), atol=tolerance
            )
        else:  # left and right halves, away from the edge between them
            np.testing.assert_allclose(
                result_image[:, 1:13], np.broadcast_to(expected_image[0], (32, 12, 3)), atol=tolerance
            )
            np.testing.assert_allclose(
                result_image[:, 20:31], np.broadcast_to(expected_image[1], (32, 11, 3)), atol=tolerance
            )

    return make, check


def _save_grayscale(path):
    Image.fromarray(_two_tone(60, 190, channels=1)).save(path)


def _save_rgba(path):
    rgba = _two_tone((*A, 255), (*B, 0), channels=4)  # the right half fully transparent: colour kept
    Image.fromarray(rgba).save(path)


def _save_palette(path):
    image = Image.frombytes("P", (40, 40), _two_tone(0, 1, channels=1).tobytes())  # palette indices
    image.putpalette([*A, *B] + [0, 0, 0] * 254)
    image.save(path)
    assert Image.open(path).mode == "P"


def _save_16bit(path):
    Image.fromarray(_two_tone(16384, 49151, channels=1, dtype=np.uint16)).save(path)
    assert Image.open(path).mode in ("I;16", "I")


def _save_cmyk_jpeg(path):
    cmyk = Image.new("CMYK", (40, 40), (0, 255, 255, 0))  # red
    cmyk.paste((255, 0, 255, 0), (20, 0, 40, 40))  # green
    cmyk.save(path, quality=95)


def _save_exif_rotated(path):
    exif = Image.Exif()
    exif[0x0112] = 6  # display = stored image turned 90 degrees clockwise
    stored = np.rot90(_two_tone(), k=1)  # so the stored image is A on top, B below
    Image.fromarray(np.ascontiguousarray(stored)).save(path, exif=exif, quality=95)


def _save_animated_gif(path):
    frames = [Image.fromarray(_two_tone(a, b)) for a, b in ((A, B), (B, A), ((0, 0, 0), (0, 0, 0)))]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(path).n_frames == 3


def _save_one_pixel(path):
    Image.new("RGB", (1, 1), A).save(path)


# ---- images that must be refused ----


def _huge(side):
    def make(ctx):
        return {"--content": _png_with_header_size(ctx.inputs / "huge.png", side, side)}

    return make


def _path_through_a_file(ctx):
    """Unreadable for root too: the path goes through a regular file (ENOTDIR). (A file of mode 0:
    ``test_permission_denied_for_an_unprivileged_user``.)"""
    return {"--content": ctx.file("notes.txt", "notes") / "photo.png"}


# ---- output paths ----


def _output_parent_is_a_file(ctx):
    return {"--output": ctx.file("notes.txt", "notes") / "out.png"}


def _no_new_files_in(folder):
    def check(ctx, result):
        assert not folder(ctx).exists() or os.listdir(folder(ctx)) == []

    return check


# ---- optimisation ----


class _Poisoned(transfer.StyleTransfer):
    """A StyleTransfer whose cost is multiplied by ``factor`` (a variable, read inside the graph)."""

    def __init__(self, *args, **kwargs):
        self.factor = tf.Variable(1.0)
        super().__init__(*args, **kwargs)

    def losses(self, image):
        terms = super().losses(image)
        return {**terms, "total": terms["total"] * self.factor}


def _nan_at_step_3(optimizer):
    """StyleTransfer.run whose cost turns NaN at step 3, saving a checkpoint every step: it must
    raise FloatingPointError naming step 3, and the checkpoint must still hold step 2."""

    def make(ctx):
        weights = nst_utils.read_vgg19(ctx.weights)
        content = nst_utils.load_image(ctx.content, *SIZE)
        style = nst_utils.load_image(ctx.style, *SIZE)
        settings = dataclasses.replace(transfer.defaults_for(weights), optimizer=optimizer, steps=6)
        engine = _Poisoned(weights, content, [style], settings=settings)
        checkpoint = transfer.Checkpoint(ctx.out / "out.checkpoint.npz", 1, "key")

        def poison_after_step_2(step, image, terms):
            if step == 2:
                engine.factor.assign(float("nan"))

        return lambda: engine.run(content, poison_after_step_2, progress=False, checkpoint=checkpoint)

    def check(ctx, message):  # the checkpoint holds step 2, not the NaN state
        resume = transfer.Checkpoint(ctx.out / "out.checkpoint.npz", 1, "key").load()
        assert resume.step == 2 and np.isfinite(resume.image).all()
        assert all(np.isfinite(slot).all() for slot in resume.optimizer_state)

    return Kind(
        f"nan-mid-run-{optimizer}",
        "api",
        make,
        FloatingPointError,
        ("the cost became nan at step 3",),
        check,
        ("out.checkpoint.npz",),
    )


def _two_styles(ctx, blend):
    return {"--style": [ctx.style, ctx.style], "--style-blend": blend}


def _keeps_the_content(ctx, result):
    """All cost weights zero: L-BFGS stops at once and the result is the (8-bit) content image."""
    assert "0 lbfgs steps" in result[1]
    expected = nst_utils.load_image(ctx.content, *SIZE)[0]
    np.testing.assert_allclose(read_rgb(ctx.output), expected, atol=0.5 / 255 + 1e-6)


_IMAGES = {
    name: _image_kind(file, save, expected, tolerance)
    for name, file, save, expected, tolerance in [
        ("grayscale", "gray.png", _save_grayscale, ((60,) * 3, (190,) * 3), 0.03),
        ("rgba", "rgba.png", _save_rgba, (A, B), 0.03),
        ("palette", "palette.png", _save_palette, (A, B), 0.03),
        ("16-bit", "gray16.png", _save_16bit, ((64,) * 3, (191,) * 3), 0.03),
        ("cmyk-jpeg", "cmyk.jpg", _save_cmyk_jpeg, ((255, 0, 0), (0, 255, 0)), 0.07),
        ("exif-rotated", "rotated.jpg", _save_exif_rotated, (A, B), 0.07),
        ("animated-gif", "anim.gif", _save_animated_gif, (A, B), 0.03),
        ("one-pixel", "dot.png", _save_one_pixel, A, 0.03),
    ]
}

KINDS = [
    # -- weights --
    Kind("weights-truncated-mat", "main", _truncated_mat, 1, ("not a readable MatConvNet .mat file", "truncated")),
    Kind(
        "weights-empty-file",
        "main",
        lambda ctx: {"--weights": ctx.file("empty.mat")},
        1,
        ("empty.mat", "not a readable MatConvNet .mat file"),
    ),
    Kind("weights-vgg16", "main", _vgg16, 1, ("is VGG-16", "needs VGG-19")),
    Kind("weights-not-matconvnet", "main", _no_layers_mat, 1, ("has no 'layers' variable", "not a MatConvNet network")),
    Kind("weights-folder", "main", lambda ctx: {"--weights": ctx.inputs}, 1, ("no VGG-19 weights at", "make weights")),
    Kind(
        "weights-pth-forbidden-global",
        "api",
        _pth_through_prepare_normalised,
        vgg_weights.WeightsError,
        ("refusing to load 'posix.system'", "would run code"),
        _nothing_ran,
    ),
    Kind(
        "weights-pth-given-as-mat",
        "cli",
        _pth_as_weights,
        1,
        ("weights.pth", "not a readable MatConvNet"),
        _nothing_ran,
    ),
    Kind(
        "weights-checksum-mismatch",
        "api",
        _tampered_download,
        SystemExit,
        ("error: checksum mismatch", "vgg_normalised.pth"),
        lambda ctx, message: _names_both_checksums(ctx, message),
    ),
    Kind(
        "weights-missing",
        "cli",
        _missing_default_weights,
        1,
        ("no VGG-19 weights at", "vgg19-normalised.mat", "`make weights`"),
    ),
    # -- images that must give a correct result --
    *[
        Kind(f"image-{name}", "cli" if name == "cmyk-jpeg" else "main", make, 0, ("saved",), check)
        for name, (make, check) in _IMAGES.items()
    ],
    # -- images that must be refused --
    Kind("image-huge-10000x10000", "cli", _huge(10_000), 1, ("10000x10000 pixels", "more than the 50,000,000 allowed")),
    Kind("image-huge-20000x20000", "main", _huge(20_000), 1, ("huge.png", "too large to open safely")),
    Kind(
        "image-not-an-image",
        "cli",
        lambda ctx: {"--content": ctx.file("photo.jpg", "my holiday notes\n")},
        1,
        ("photo.jpg", "not an image format"),
    ),
    Kind(
        "image-truncated-jpeg",
        "main",
        lambda ctx: {"--style": ctx.file("cut.jpg", (ROOT / "images" / "swirls.jpg").read_bytes()[:5000])},
        1,
        ("cut.jpg", "damaged or truncated"),
    ),
    Kind(
        "image-path-through-a-file",
        "main",
        _path_through_a_file,
        1,
        ("notes.txt/photo.png", "part of the path is a file, not a folder"),
    ),
    Kind("image-folder", "main", lambda ctx: {"--style": ctx.inputs}, 1, ("is a folder, not an image",)),
    Kind(
        "image-missing-style",
        "main",
        lambda ctx: {"--style": ctx.inputs / "absent.jpg"},
        1,
        ("no such image file", "absent.jpg"),
    ),
    Kind(
        "image-init-not-an-image",
        "main",
        lambda ctx: {"--init": ctx.file("init.png", "not a picture")},
        1,
        ("init.png", "not an image format"),
    ),
    # -- output paths (all checked before optimising) --
    Kind(
        "output-missing-folder",
        "main",
        lambda ctx: {"--output": ctx.tmp / "missing" / "deeper" / "out.png"},
        1,
        ("folder", "missing/deeper", "does not exist"),
        _no_new_files_in(lambda ctx: ctx.tmp / "missing"),
    ),
    Kind("output-parent-is-a-file", "main", _output_parent_is_a_file, 1, ("notes.txt is a file, not a folder",)),
    # /proc refuses new files to everyone, root included (os.access says yes to root there).
    Kind(
        "output-in-proc",
        "cli",
        lambda ctx: {"--output": "/proc/nst-out.png"},
        1,
        ("cannot save /proc/nst-out.png", "/proc is not writable"),
    ),
    Kind(
        "output-unknown-suffix",
        "main",
        lambda ctx: {"--output": ctx.out / "out.xyz"},
        1,
        ("unknown image suffix '.xyz'", ".png"),
    ),
    Kind("output-no-suffix", "main", lambda ctx: {"--output": ctx.out / "out"}, 1, ("unknown image suffix ''",)),
    # -- the optimisation --
    # 1e38 fits float32; style weight x style cost overflows to inf in the first evaluation.
    Kind(
        "nan-huge-style-weight-cli",
        "cli",
        lambda ctx: {"--optimizer": "lbfgs", "--style-weight": "1e38", "--snapshot-every": 1},
        1,
        ("the cost became inf at step 1", "smaller"),
    ),
    _nan_at_step_3("adam"),
    _nan_at_step_3("lbfgs"),
    Kind(
        "all-cost-weights-zero",
        "main",
        lambda ctx: {"--optimizer": "lbfgs", "--content-weight": 0, "--style-weight": 0, "--tv-weight": 0},
        0,
        ("saved",),
        _keeps_the_content,
    ),
    # -- command-line values --
    Kind("cli-negative-steps", "main", lambda ctx: {"--steps": -3}, 2, ("--steps: must be a positive whole number",)),
    Kind("cli-zero-steps", "main", lambda ctx: {"--steps": 0}, 2, ("--steps: must be a positive whole number, got 0",)),
    Kind("cli-zero-size", "main", lambda ctx: {"--size": "0x0"}, 2, ("--size: size must be at least 16x16",)),
    Kind("cli-malformed-size", "main", lambda ctx: {"--size": "32by32"}, 2, ("size must look like 400x300",)),
    Kind("cli-unknown-optimizer", "main", lambda ctx: {"--optimizer": "sgd"}, 2, ("invalid choice: 'sgd'",)),
    Kind(
        "cli-blend-count-mismatch",
        "main",
        lambda ctx: {"--style-blend": "0.5,0.5"},
        2,
        ("--style-blend has 2 weights for 1 --style images",),
    ),
    Kind(
        "cli-negative-blend-weight",
        "main",
        lambda ctx: _two_styles(ctx, "1,-1"),
        2,
        ("--style-blend", "must be a number from 0 to 3.4e38, got -1"),
    ),
    Kind("cli-all-zero-blend", "main", lambda ctx: _two_styles(ctx, "0,0"), 1, ("style blend", "not all zero")),
    Kind(
        "cli-negative-style-weight",
        "main",
        lambda ctx: {"--style-weight": "-5"},
        2,
        ("--style-weight: must be a number from 0 to 3.4e38, got -5",),
    ),
    Kind(
        "cli-infinite-content-weight",
        "main",
        lambda ctx: {"--content-weight": "inf"},
        2,
        ("--content-weight: must be a number from 0 to 3.4e38, got inf",),
    ),
    Kind(
        "cli-noise-ratio-above-1",
        "main",
        lambda ctx: {"--init": "noise", "--noise-ratio": 1.5},
        2,
        ("--noise-ratio must be in [0, 1], got 1.5",),
    ),
    Kind(
        "cli-noise-ratio-nan",
        "main",
        lambda ctx: {"--init": "noise", "--noise-ratio": "nan"},
        2,
        ("--noise-ratio must be in [0, 1], got nan",),
    ),
    Kind(
        "cli-zero-snapshot-every",
        "main",
        lambda ctx: {"--snapshot-every": 0},
        2,
        ("--snapshot-every: must be a positive whole number",),
    ),
    Kind(
        "cli-malformed-style-layers",
        "main",
        lambda ctx: {"--style-layers": "conv1_1:heavy"},
        2,
        ("expected layer[:weight]",),
    ),
    Kind(
        "cli-unknown-content-layer",
        "main",
        lambda ctx: {"--content-layer": "conv9_9"},
        1,
        ("unknown VGG-19 layer", "conv9_9"),
    ),
    Kind(
        "cli-resume-without-checkpoint",
        "cli",
        lambda ctx: {"--resume": True},
        1,
        ("nothing to resume", "out.checkpoint.npz", "--snapshot-every"),
    ),
]


# --------------------------------------------------------------------------------------------
# Running a case
# --------------------------------------------------------------------------------------------


def _run_subprocess(argv, env):
    result = subprocess.run(
        [sys.executable, "-m", "neural_style", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **env),
        timeout=180,
    )
    stderr = "\n".join(line for line in result.stderr.splitlines() if not _TF_LOG_LINE.match(line))
    assert "Traceback" not in stderr, stderr
    return result.returncode, result.stdout, stderr


def _run_main(argv, capsys):
    capsys.readouterr()
    try:
        cli.main(argv)
        status = 0
    except SystemExit as exit_info:
        status = exit_info.code
    out, err = capsys.readouterr()
    if isinstance(status, str):  # sys.exit("error: ..."): Python prints it and exits with 1
        status, err = 1, err + status + "\n"
    return status, out, err


@pytest.mark.parametrize("kind", KINDS, ids=[kind.name for kind in KINDS])
def test_bad_input(kind, assets, tmp_path, capsys, monkeypatch, request):
    ctx = Ctx(
        tmp=tmp_path, inputs=tmp_path / "inputs", out=tmp_path / "out", monkeypatch=monkeypatch, finalizers=[], **assets
    )
    ctx.inputs.mkdir()
    ctx.out.mkdir()
    ctx.output.write_text(PREVIOUS)
    request.addfinalizer(lambda: [undo() for undo in ctx.finalizers])

    prepared = kind.make(ctx)
    if kind.route == "api":
        with pytest.raises(kind.expect) as error:
            prepared()
        message = str(error.value.code if isinstance(error.value, SystemExit) else error.value)
        for word in kind.words:
            assert word in message, message
        if kind.check:
            kind.check(ctx, message)
    else:
        options = _base_options(ctx)
        env = prepared.pop("env", {})
        options.update(prepared)
        argv = _argv(options)
        status, out, err = _run_subprocess(argv, env) if kind.route == "cli" else _run_main(argv, capsys)
        assert status == kind.expect, (status, out, err)
        if status == 0:
            for word in kind.words:
                assert word in out, out
        else:
            assert out == "", out  # no "saved" line, no timing
            for word in kind.words:
                assert word in err, err
            if status == 1:
                assert err.startswith("error: "), err
                assert err.count("\n") <= 1, err  # one readable line
            else:
                assert err.startswith("usage: python -m neural_style"), err
        if kind.check:
            kind.check(ctx, (status, out, err))

    # No half-written output: the output folder holds out.png (unchanged after an error, a whole
    # new image after a success) and nothing else, temporary files included.
    assert sorted(os.listdir(ctx.out)) == sorted(["out.png", *kind.leaves])
    if kind.expect == 0:
        with Image.open(ctx.output) as im:
            assert im.format == "PNG" and im.size == SIZE
    else:
        assert ctx.output.read_text() == PREVIOUS
    assert not [p for p in tmp_path.rglob("*") if ".part" in p.name]


@pytest.mark.parametrize(
    "side, words",
    [
        (10_000, "10000x10000 pixels, more than the 50,000,000 allowed"),  # the project's own limit
        (20_000, "too large to open safely"),  # beyond PIL's decompression-bomb limit
    ],
    ids=["project-limit", "pil-limit"],
)
def test_huge_image_is_refused_before_decoding(tmp_path, monkeypatch, side, words):
    """The size check reads only the header: no pixel of the huge image is decoded. A spy on PIL's
    decoding (``ImageFile.load``, which every decode goes through) records the files it is called
    for; it first shows that it sees a small image being decoded."""
    decoded, load = [], ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda im: decoded.append(Path(im.filename).name) or load(im))
    small = tmp_path / "small.png"
    Image.fromarray(_two_tone()).save(small)
    nst_utils.load_image(small, *SIZE)
    assert set(decoded) == {"small.png"}

    huge = _png_with_header_size(tmp_path / "huge.png", side, side)
    with pytest.raises(nst_utils.ImageError, match=words):
        nst_utils.load_image(huge, *SIZE)
    assert "huge.png" not in decoded


# --------------------------------------------------------------------------------------------
# Permissions, which root does not obey: as an unprivileged user
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def as_unprivileged():
    """``(command prefix, user)`` that runs a program as a user whom file permissions bind: as root (CI),
    ``unprivileged.UNPRIVILEGED_USER`` with this very Python (``unprivileged.as_unprivileged``) and
    that user's ``pwd`` entry; as anyone else, no prefix and None (they are bound already)."""
    if os.geteuid() != 0:
        return [], None
    return unprivileged.as_unprivileged([]), unprivileged.unprivileged_user()


def _unreadable_content(folder):
    photo = folder / "photo.png"
    shutil.copy(ROOT / "images" / "chelsea.jpg", photo)
    return photo, {"--content": photo}


def _read_only_output_folder(folder):
    read_only = folder / "read-only"
    read_only.mkdir()
    return read_only, {"--output": read_only / "out.png"}


@pytest.mark.parametrize(
    ("make", "mode", "words"),
    [
        (_unreadable_content, 0o000, ("photo.png", "permission denied")),
        (_read_only_output_folder, 0o555, ("read-only", "is not writable")),
    ],
    ids=["image-unreadable-chmod-000", "output-read-only-folder"],
)
def test_permission_denied_for_an_unprivileged_user(make, mode, words, assets, as_unprivileged):
    """The permission-denied branches of ``nst_utils``, through the command line run by a user whom the
    mode binds (as root: another user, whose files these are). One readable line, exit 1, and the
    output folder as it was."""
    prefix, user = as_unprivileged
    with tempfile.TemporaryDirectory() as shared:  # not under pytest's root-only tmp folder
        folder = Path(shared)
        for name in ("weights", "content", "style"):
            shutil.copy(assets[name], folder / assets[name].name)
        out = folder / "out"
        out.mkdir()
        (out / "out.png").write_text(PREVIOUS)
        target, options = make(folder)
        if user:
            for path in [folder, *folder.rglob("*")]:
                os.chown(path, user.pw_uid, user.pw_gid)
        folder.chmod(0o755)
        target.chmod(mode)
        ctx = SimpleNamespace(content=folder / assets["content"].name, style=folder / assets["style"].name)
        ctx.weights, ctx.output = folder / assets["weights"].name, out / "out.png"
        argv = _argv({**_base_options(ctx), **options})
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", HOME=shared, MPLCONFIGDIR=str(folder / "matplotlib"))
        result = subprocess.run(
            [*prefix, sys.executable, "-m", "neural_style", *argv],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env=env,
            timeout=180,
        )
        err = "\n".join(line for line in result.stderr.splitlines() if not _TF_LOG_LINE.match(line))
        assert result.returncode == 1 and result.stdout == "", (result.returncode, result.stdout, err)
        assert err.startswith("error: ") and err.count("\n") == 0, err
        for word in words:
            assert word in err, err
        assert sorted(os.listdir(out)) == ["out.png"] and (out / "out.png").read_text() == PREVIOUS
        if target.is_dir():
            assert os.listdir(target) == []
        target.chmod(0o755)
