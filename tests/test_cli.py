"""The command line, run for real: ``python -m neural_style ...`` in a subprocess, real weights."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SWIRLS = ROOT / "images" / "swirls.jpg"
MOSAIC = ROOT / "images" / "mosaic.jpg"


def run_cli(*args, timeout=180):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, "-m", "neural_style", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


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


def test_tiny_adam_run_writes_output_and_snapshots(tmp_path, photo):
    output = tmp_path / "cat.png"
    result = run_cli("--content", photo, "--style", SWIRLS, "--size", "48x32", "--steps", 2,
                     "--optimizer", "adam", "--snapshot-every", 1, "--output", output)
    assert result.returncode == 0, result.stderr[-2000:]
    assert _size_of(output) == (48, 32)
    assert f"saved {output}" in result.stdout
    assert "2 adam steps" in result.stdout
    assert "s/step" in result.stdout
    assert "adam:" in result.stderr  # the progress bar
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cat.png", "cat_step0001.png", "cat_step0002.png"]
    for name in ("cat_step0001.png", "cat_step0002.png"):
        assert _size_of(tmp_path / name) == (48, 32)


def test_tiny_lbfgs_run_with_two_blended_styles(tmp_path, photo):
    output = tmp_path / "blend.jpg"
    result = run_cli("--content", photo, "--style", SWIRLS, "--style", MOSAIC, "--style-blend", "0.7,0.3",
                     "--size", "48x32", "--steps", 2, "--optimizer", "lbfgs", "--snapshot-every", 2,
                     "--quiet", "--output", output)
    assert result.returncode == 0, result.stderr[-2000:]
    with Image.open(output) as im:
        assert im.format == "JPEG" and im.size == (48, 32)
    assert f"saved {output}" in result.stdout
    assert "2 lbfgs steps" in result.stdout
    assert "s/step" in result.stdout
    assert "lbfgs:" not in result.stderr  # --quiet: no progress bar
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blend.jpg", "blend_step0002.jpg"]


@pytest.mark.parametrize("args, message", [
    (["--steps", "-1"], "argument --steps: must be a positive whole number, got -1"),
    (["--size", "0x0"], "argument --size: size must be at least 16x16, got '0x0'"),
    (["--size", "abc"], "argument --size: size must look like 400x300, got 'abc'"),
    (["--optimizer", "sgd"], "argument --optimizer: invalid choice: 'sgd'"),
    (["--style-blend", "0.7,0.3"], "--style-blend has 2 weights for 1 --style images"),
], ids=["negative-steps", "zero-size", "malformed-size", "unknown-optimizer", "blend-count"])
def test_bad_values_exit_2(tmp_path, photo, args, message):
    result = run_cli("--content", photo, "--style", SWIRLS, "--size", "48x32", "--steps", 1,
                     "--output", tmp_path / "out.png", *args)
    assert result.returncode == 2, (result.stdout, result.stderr[-2000:])
    assert message in result.stderr
    assert "usage: python -m neural_style" in result.stderr
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_missing_content_exits_1(tmp_path):
    output = tmp_path / "out.png"
    result = run_cli("--content", tmp_path / "no_such_photo.jpg", "--style", SWIRLS, "--size", "48x32",
                     "--steps", 1, "--output", output)
    assert result.returncode == 1, result.stderr[-2000:]
    assert f"error: no such image file: {tmp_path / 'no_such_photo.jpg'}" in result.stderr
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_output_in_missing_folder_fails_before_optimising(tmp_path, photo):
    output = tmp_path / "missing" / "out.png"
    result = run_cli("--content", photo, "--style", SWIRLS, "--size", "48x32", "--steps", 2,
                     "--snapshot-every", 1, "--output", output)
    assert result.returncode == 1, result.stderr[-2000:]
    assert f"folder {tmp_path / 'missing'} does not exist" in result.stderr
    assert "lbfgs:" not in result.stderr  # no progress bar: the optimisation never started
    assert "s/step" not in result.stdout
    assert list(tmp_path.iterdir()) == []
