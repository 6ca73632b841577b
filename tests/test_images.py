"""nst_utils' image helpers: reading odd files, resizing/cropping, noise, and saving.

Every unusual image is written by the test itself (PIL) into ``tmp_path``.
"""

import os
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import nst_utils
from helpers import read_rgb
from nst_utils import ImageError, generate_noise_image, load_image, save_image

ROOT = Path(__file__).resolve().parent.parent
RED, GREEN, BLUE, YELLOW = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)


def _pixels(rgb):
    return np.asarray(rgb, np.float32) / 255.0


def _check_convention(image, height, width):
    assert isinstance(image, np.ndarray)
    assert image.shape == (1, height, width, 3)
    assert image.dtype == np.float32
    assert image.min() >= 0.0 and image.max() <= 1.0


# --------------------------------------------------------------------------------------------
# load_image: formats and modes
# --------------------------------------------------------------------------------------------


def test_grayscale_png_becomes_rgb_with_equal_channels(tmp_path):
    gray = np.tile(np.linspace(0, 255, 30).round().astype(np.uint8), (20, 1))  # horizontal ramp
    Image.fromarray(gray).save(tmp_path / "gray.png")
    assert Image.open(tmp_path / "gray.png").mode == "L"
    image = load_image(tmp_path / "gray.png", 30, 20)
    _check_convention(image, 20, 30)
    np.testing.assert_allclose(image[0, ..., 0], image[0, ..., 1], atol=1e-6)
    np.testing.assert_allclose(image[0, ..., 0], image[0, ..., 2], atol=1e-6)
    np.testing.assert_allclose(image[0, ..., 0], gray / 255.0, atol=1e-3)  # same size: values kept


def test_rgba_png_drops_alpha_and_keeps_rgb(tmp_path):
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[:, :15] = (200, 100, 50, 0)  # fully transparent: colour still kept
    rgba[:, 15:] = (10, 20, 30, 255)
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    assert Image.open(tmp_path / "rgba.png").mode == "RGBA"
    image = load_image(tmp_path / "rgba.png", 30, 20)
    _check_convention(image, 20, 30)
    np.testing.assert_allclose(image[0], rgba[..., :3] / 255.0, atol=1e-3)


def test_palette_png(tmp_path):
    indices = np.zeros((20, 30), np.uint8)
    indices[10:] = 1
    indices[:, 20:] = 2
    palette_image = Image.new("P", (30, 20))
    palette_image.putdata(indices.ravel().tolist())
    palette_image.putpalette([*RED, *GREEN, *BLUE] + [0, 0, 0] * 253)
    palette_image.save(tmp_path / "palette.png")
    assert Image.open(tmp_path / "palette.png").mode == "P"
    image = load_image(tmp_path / "palette.png", 30, 20)
    _check_convention(image, 20, 30)
    expected = np.array([RED, GREEN, BLUE], np.float32)[indices] / 255.0
    np.testing.assert_allclose(image[0], expected, atol=1e-3)


def test_16bit_grayscale_png(tmp_path):
    values = np.full((20, 30), 32768, np.uint16)
    values[:, :10] = 65535
    values[:, 20:] = 0
    Image.fromarray(values).save(tmp_path / "gray16.png")
    assert Image.open(tmp_path / "gray16.png").mode in ("I;16", "I")
    image = load_image(tmp_path / "gray16.png", 30, 20)
    _check_convention(image, 20, 30)
    np.testing.assert_allclose(image[0, :, 10:20], 0.5, atol=1e-3)  # not 128 * 255 clipped to 1
    np.testing.assert_allclose(image[0, :, :10], 1.0, atol=1e-3)
    np.testing.assert_allclose(image[0, :, 20:], 0.0, atol=1e-3)


@pytest.mark.parametrize("orientation, turns", [(6, -1), (8, 1)])  # 6: rotate 90 clockwise; 8: anticlockwise
def test_exif_orientation_is_applied(tmp_path, orientation, turns):
    stored = np.full((40, 80, 3), 255, np.uint8)  # wide as stored: 80 x 40
    stored[:12, :20] = RED  # marker in the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(stored).save(tmp_path / "rotated.jpg", exif=exif, quality=95)

    image = load_image(tmp_path / "rotated.jpg", 40, 80)  # the displayed (upright) size: tall
    _check_convention(image, 80, 40)
    expected = np.rot90(stored, k=turns) / 255.0
    assert np.abs(image[0] - expected).mean() < 0.03
    red = (image[0, ..., 0] > 0.7) & (image[0, ..., 1] < 0.3) & (image[0, ..., 2] < 0.3)
    rows, cols = np.nonzero(red)
    assert rows.size > 150
    if orientation == 6:  # the top-left corner ends top-right
        assert rows.max() < 25 and cols.min() > 22
    else:  # ... or bottom-left
        assert rows.min() > 55 and cols.max() < 17


def test_cmyk_jpeg(tmp_path):
    cmyk = Image.new("CMYK", (30, 20), (0, 255, 255, 0))  # no cyan, full magenta + yellow: red
    cmyk.paste((255, 0, 255, 0), (15, 0, 30, 20))  # full cyan + yellow: green
    cmyk.save(tmp_path / "cmyk.jpg", quality=95)
    assert Image.open(tmp_path / "cmyk.jpg").mode == "CMYK"
    image = load_image(tmp_path / "cmyk.jpg", 30, 20)
    _check_convention(image, 20, 30)
    np.testing.assert_allclose(image[0, 5:15, 2:12], np.broadcast_to(_pixels(RED), (10, 10, 3)), atol=0.05)
    np.testing.assert_allclose(image[0, 5:15, 18:28], np.broadcast_to(_pixels(GREEN), (10, 10, 3)), atol=0.05)


def test_animated_gif_uses_first_frame(tmp_path):
    frames = [Image.new("RGB", (30, 20), colour) for colour in (RED, BLUE, GREEN)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(tmp_path / "anim.gif").n_frames == 3
    image = load_image(tmp_path / "anim.gif", 30, 20)
    _check_convention(image, 20, 30)
    np.testing.assert_allclose(image[0], np.broadcast_to(_pixels(RED), (20, 30, 3)), atol=1e-3)


def test_one_pixel_image_is_upscaled(tmp_path):
    Image.new("RGB", (1, 1), (40, 120, 200)).save(tmp_path / "dot.png")
    image = load_image(tmp_path / "dot.png", 24, 18)
    _check_convention(image, 18, 24)
    np.testing.assert_allclose(image[0], np.broadcast_to(_pixels((40, 120, 200)), (18, 24, 3)), atol=2e-3)


def test_aspect_ratio_kept_by_centre_crop(tmp_path):
    # 200x100 in four 50-pixel stripes A B C D. Loaded at 100x100, a centre crop shows B | C (50 px
    # each); a stretch would show all four stripes, 25 px each.
    stripes = np.zeros((100, 200, 3), np.uint8)
    for i, colour in enumerate((RED, GREEN, BLUE, YELLOW)):
        stripes[:, 50 * i : 50 * (i + 1)] = colour
    Image.fromarray(stripes).save(tmp_path / "stripes.png")
    image = load_image(tmp_path / "stripes.png", 100, 100)
    _check_convention(image, 100, 100)
    np.testing.assert_allclose(image[0, :, 2:47], np.broadcast_to(_pixels(GREEN), (100, 45, 3)), atol=0.02)
    np.testing.assert_allclose(image[0, :, 53:98], np.broadcast_to(_pixels(BLUE), (100, 45, 3)), atol=0.02)


def test_downscale_covers_then_crops_tall_image(tmp_path):
    # 60x240 (tall) loaded at 30x30: scaled to 30x120 then the middle 30 rows kept.
    tall = np.zeros((240, 60, 3), np.uint8)
    tall[:90] = RED
    tall[90:150] = GREEN
    tall[150:] = BLUE
    Image.fromarray(tall).save(tmp_path / "tall.png")
    image = load_image(tmp_path / "tall.png", 30, 30)
    _check_convention(image, 30, 30)
    np.testing.assert_allclose(image[0, 3:27], np.broadcast_to(_pixels(GREEN), (24, 30, 3)), atol=0.02)


# --------------------------------------------------------------------------------------------
# load_image: errors
# --------------------------------------------------------------------------------------------


def test_not_an_image_file(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("these are my notes, not a picture\n")
    with pytest.raises(ImageError, match="not an image format"):
        load_image(path, 32, 32)


def test_missing_path(tmp_path):
    with pytest.raises(ImageError, match="no such image file"):
        load_image(tmp_path / "absent.jpg", 32, 32)


def test_folder_instead_of_file(tmp_path):
    (tmp_path / "folder.jpg").mkdir()
    with pytest.raises(ImageError, match="is a folder"):
        load_image(tmp_path / "folder.jpg", 32, 32)


def test_truncated_jpeg(tmp_path):
    noise = np.random.RandomState(0).randint(0, 256, (64, 64, 3)).astype(np.uint8)
    Image.fromarray(noise).save(tmp_path / "whole.jpg", quality=90)
    data = (tmp_path / "whole.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="damaged or truncated"):
        load_image(tmp_path / "cut.jpg", 32, 32)


def test_too_many_pixels_refused_before_decoding(tmp_path, monkeypatch):
    noise = np.random.RandomState(1).randint(0, 256, (40, 50, 3)).astype(np.uint8)
    Image.fromarray(noise).save(tmp_path / "big.png")
    data = (tmp_path / "big.png").read_bytes()
    # Only the header and the start of the pixel data: decoding it would fail as truncated, so
    # the size error proves the check runs before decoding.
    (tmp_path / "big_cut.png").write_bytes(data[:200])
    monkeypatch.setattr(nst_utils, "MAX_IMAGE_PIXELS", 40 * 50 - 1)
    for name in ("big.png", "big_cut.png"):
        with pytest.raises(ImageError, match=r"50x40 pixels, more than the 1,999 allowed"):
            load_image(tmp_path / name, 32, 32)
    monkeypatch.setattr(nst_utils, "MAX_IMAGE_PIXELS", 40 * 50)  # exactly at the limit: fine
    _check_convention(load_image(tmp_path / "big.png", 50, 40), 40, 50)


def test_non_positive_size_rejected(tmp_path):
    Image.new("RGB", (4, 4)).save(tmp_path / "small.png")
    with pytest.raises(ValueError, match="must be positive"):
        load_image(tmp_path / "small.png", -3, 10)


# --------------------------------------------------------------------------------------------
# generate_noise_image
# --------------------------------------------------------------------------------------------


def _content(seed=0, shape=(1, 12, 16, 3)):
    return np.random.RandomState(seed).uniform(0, 1, shape).astype(np.float32)


def test_noise_is_deterministic_per_seed_and_differs_between_seeds():
    content = _content()
    first = generate_noise_image(content, 0.6, seed=3)
    again = generate_noise_image(content, 0.6, seed=3)
    other = generate_noise_image(content, 0.6, seed=4)
    assert first.shape == content.shape and first.dtype == np.float32
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - other).mean() > 0.05


def test_noise_ratio_zero_returns_content():
    content = _content()
    np.testing.assert_allclose(generate_noise_image(content, 0.0, seed=5), content, atol=1e-7)


def test_noise_mixes_content_and_uniform_noise():
    ratio = 0.6
    a, b = _content(1, (1, 40, 50, 3)), _content(2, (1, 40, 50, 3))
    mixed_a, mixed_b = generate_noise_image(a, ratio, seed=7), generate_noise_image(b, ratio, seed=7)
    for mixed in (mixed_a, mixed_b):
        assert mixed.min() >= 0.0 and mixed.max() <= 1.0
    noise_a = (mixed_a - (1 - ratio) * a) / ratio
    noise_b = (mixed_b - (1 - ratio) * b) / ratio
    np.testing.assert_allclose(noise_a, noise_b, atol=1e-5)  # the same noise, whatever the content
    assert noise_a.min() > -1e-5 and noise_a.max() < 1 + 1e-5
    assert abs(noise_a.mean() - 0.5) < 0.02 and abs(noise_a.std() - np.sqrt(1 / 12)) < 0.02


def test_noise_of_extreme_content_stays_in_range():
    for value in (0.0, 1.0):
        content = np.full((1, 10, 10, 3), value, np.float32)
        mixed = generate_noise_image(content, 1.0, seed=0)
        assert mixed.min() >= 0.0 and mixed.max() <= 1.0
        assert mixed.std() > 0.1  # ratio 1: all noise


@pytest.mark.parametrize("ratio", [-0.1, 1.5, float("nan")])
def test_noise_ratio_out_of_range(ratio):
    with pytest.raises(ValueError, match="noise_ratio"):
        generate_noise_image(_content(), ratio, seed=0)


# --------------------------------------------------------------------------------------------
# save_image
# --------------------------------------------------------------------------------------------


def test_png_round_trip(tmp_path):
    image = _content(3, (1, 18, 24, 3))
    written = save_image(tmp_path / "out.png", image)
    assert written == tmp_path / "out.png"
    back = read_rgb(tmp_path / "out.png")
    assert back.shape == (18, 24, 3)
    assert np.abs(back - image[0]).max() <= 1 / 255 + 1e-6
    np.testing.assert_allclose(load_image(tmp_path / "out.png", 24, 18), image, atol=1 / 255 + 1e-6)
    assert sorted(os.listdir(tmp_path)) == ["out.png"]  # no temporary file left behind


def test_save_accepts_tensor_and_three_dimensional_array(tmp_path):
    image = _content(4, (1, 10, 14, 3))
    save_image(tmp_path / "tensor.png", tf.constant(image))
    save_image(tmp_path / "hwc.png", image[0])
    for name in ("tensor.png", "hwc.png"):
        assert np.abs(read_rgb(tmp_path / name) - image[0]).max() <= 1 / 255 + 1e-6


def test_save_clips_out_of_range_values(tmp_path):
    image = np.zeros((1, 4, 4, 3), np.float32)
    image[..., 0] = 1.7
    image[..., 1] = -0.4
    save_image(tmp_path / "clipped.png", image)
    back = read_rgb(tmp_path / "clipped.png")
    np.testing.assert_array_equal(back[..., 0], 1.0)
    np.testing.assert_array_equal(back[..., 1:], 0.0)


def test_save_jpeg_by_suffix(tmp_path):
    save_image(tmp_path / "out.JPG", np.full((1, 8, 8, 3), 0.5, np.float32))
    with Image.open(tmp_path / "out.JPG") as im:
        assert im.format == "JPEG" and im.size == (8, 8)


def test_save_into_missing_folder(tmp_path):
    with pytest.raises(ImageError, match="does not exist"):
        save_image(tmp_path / "nowhere" / "out.png", _content())
    assert not (tmp_path / "nowhere").exists()
    assert os.listdir(tmp_path) == []


def test_save_unknown_suffix(tmp_path):
    with pytest.raises(ImageError, match="unknown image suffix '.xyz'"):
        save_image(tmp_path / "out.xyz", _content())
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_save_non_finite_image_leaves_existing_file(tmp_path, bad):
    path = tmp_path / "out.png"
    path.write_bytes(b"previous result")
    image = _content()
    image[0, 3, 4, 1] = bad
    with pytest.raises(ImageError, match="NaN or infinite"):
        save_image(path, image)
    assert path.read_bytes() == b"previous result"
    assert os.listdir(tmp_path) == ["out.png"]


def test_save_wrong_shape(tmp_path):
    with pytest.raises(ImageError, match="expected an image of shape"):
        save_image(tmp_path / "out.png", np.zeros((2, 8, 8, 3), np.float32))
    assert os.listdir(tmp_path) == []


def test_every_committed_image_is_credited():
    """Each picture under images/ appears in images/CREDITS.md, and the notebook's copies are links
    to those pictures (so the credits cover them too)."""
    images = ROOT / "images"
    credits = (images / "CREDITS.md").read_text()
    pictures = {
        path.relative_to(images).as_posix()
        for path in images.rglob("*")
        if path.suffix.lower() in (".jpg", ".jpeg", ".png", ".gif")
    }
    assert {"chelsea.jpg", "swirls.jpg", "readme/chelsea_swirls.jpg"} <= pictures  # subfolders searched too
    for picture in pictures:
        assert f"`{picture}`" in credits, picture
    for copy in (ROOT / "notebooks" / "art_generation" / "images").rglob("*"):
        if not copy.is_dir():  # figures/ is a folder of links
            original = images / copy.relative_to(ROOT / "notebooks" / "art_generation" / "images")
            assert copy.is_symlink() and copy.resolve() == original.resolve(), copy
