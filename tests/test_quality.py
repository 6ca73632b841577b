"""The quality grid's parts (``benchmarks.quality``), run for real at tiny sizes; the grid itself is
``make quality``."""

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from scipy import ndimage

from benchmarks import quality

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def network(vgg_weights):
    return quality.vgg_network(vgg_weights)


@pytest.fixture(scope="module")
def images():
    return quality.grid_images(48, 32)


def test_the_grid_is_4_photos_by_4_styles_none_of_them_in_images(images):
    contents, styles = images
    assert len(contents) == 4 and len(styles) == 4
    bundled = {path.stem for path in (ROOT / "images").iterdir()}
    assert not (set(contents) | set(styles)) & bundled
    for image in (*contents.values(), *styles.values()):
        assert image.shape == (1, 32, 48, 3) and image.dtype == np.float32
        assert image.min() >= 0 and image.max() <= 1
    # The pale styles are pale: the drawn wash is light and nearly grey, the textures are grey.
    wash = styles["pastel_wash"][0]
    assert wash.mean() > 0.75 and np.ptp(wash, axis=-1).mean() < 0.15
    assert all(np.ptp(styles[name][0], axis=-1).max() < 0.02 for name in ("brick", "gravel"))


def test_drawn_styles_are_the_same_for_the_same_seed():
    np.testing.assert_array_equal(quality.pastel_wash(40, 30), quality.pastel_wash(40, 30))
    np.testing.assert_array_equal(quality.stained_glass(40, 30), quality.stained_glass(40, 30))
    assert not np.array_equal(quality.stained_glass(40, 30, seed=1), quality.stained_glass(40, 30, seed=2))


def test_gram_distance_is_zero_for_the_style_and_relative_to_its_size(network, images):
    contents, styles = images
    distance = quality.GramDistance(network)
    style_grams = distance.grams(styles["stained_glass"])
    assert distance(styles["stained_glass"], style_grams) == 0.0
    assert distance(contents["camera"], style_grams) > 0.1
    # Relative to the style's own Gram norm: against Gram matrices k times the image's own, each layer's
    # distance is |1 - k| |G| / (k |G|) = |1 - k| / k, whatever the image's norms (without the division
    # by the style's norm it would be |1 - k| |G|, which differs per layer and image).
    photo = contents["camera"]
    own = distance.grams(photo)
    assert distance(photo, [2 * gram for gram in own]) == pytest.approx(0.5, rel=1e-4)
    assert distance(photo, [4 * gram for gram in own]) == pytest.approx(0.75, rel=1e-4)
    assert distance(photo, [gram / 2 for gram in own]) == pytest.approx(1.0, rel=1e-4)


def test_gram_matrices_are_per_position_as_numpy_computes_them(network, images):
    photo = images[0]["coins"]
    activations = network(tf.constant(photo))
    for name, gram in zip(quality.GRAM_LAYERS, quality.GramDistance(network).grams(photo)):
        features = activations[name].numpy().reshape(-1, activations[name].shape[-1]).astype(np.float64)
        np.testing.assert_allclose(gram, features.T @ features / features.shape[0], rtol=1e-4, atol=1e-6)


def test_tutorial_loop_takes_steps_towards_the_style(network, images):
    contents, styles = images
    content, style = contents["coins"], styles["stained_glass"]
    distance = quality.GramDistance(network)
    style_grams = distance.grams(style)
    image, steps = quality.tutorial_loop(network, content, style, seconds=3.0, feature_scale=30.0)
    assert steps >= 1 and image.shape == content.shape and image.min() >= 0 and image.max() <= 1
    assert distance(image, style_grams) < distance(content, style_grams)


def test_summary_counts_the_pairs_where_the_engine_wins_on_both_scores():
    def record(engine, tutorial):
        return {
            "content": "c",
            "style": "s",
            "seconds": 10.0,
            "engine": dict(zip(("styled", "lpips", "steps"), (*engine, 200))),
            "tutorial": dict(zip(("styled", "lpips", "steps"), (*tutorial, 90))),
        }

    records = [
        record((0.3, 0.40), (0.5, 0.40)),  # more styled, as much content kept: counts
        record((0.3, 0.45), (0.5, 0.40)),  # more styled, less content kept
        record((0.6, 0.30), (0.5, 0.40)),  # less styled
    ]
    summary = quality.summary(records)
    assert summary["engine_dominates"] == 1 and summary["pairs"] == 3
    assert summary["medians"]["engine"] == {"styled": 0.3, "lpips": 0.40}
    table = quality.markdown(
        {
            "size": "48x32",
            "tutorial_feature_scale": 100.0,
            "engine_content_weight": 11.0,
            "records": records,
            "summary": summary,
        }
    )
    assert "on 1 of 3 pairs" in table and "feature scale: 100. Engine's content weight: 11." in table
    assert table.count("| c | s |") == 3
    with_colors = {"size": "48x32", "tutorial_feature_scale": 100.0, "engine_content_weight": 11.0}
    with_colors.update(records=records, summary=summary, engine_preserve_colors="histogram")
    assert "Engine's content weight: 11; its colours preserved by histogram." in quality.markdown(with_colors)
    with_colors["engine_style_layers"] = (("relu1_1", 0.5), ("relu3_1", 0.5))
    assert "by histogram; its style layers relu1_1:0.5,relu3_1:0.5." in quality.markdown(with_colors)
    results = {"size": "48x32", "tutorial_feature_scale": 100.0, "records": records, "summary": summary}
    record = quality.headline(results, "python -m benchmarks.quality --size 48x32", load_before=0.7)
    assert record["figures"] == {
        "engine_styled_median": 0.3,
        "tutorial_styled_median": 0.5,
        "engine_lpips_median": 0.4,
        "tutorial_lpips_median": 0.4,
        "pairs_won_on_both": 1,
        "pairs": 3,
        "tutorial_feature_scale": 100.0,
    }
    assert record["headline"] == [
        "engine_styled_median",
        "tutorial_styled_median",
        "engine_lpips_median",
        "tutorial_lpips_median",
    ]
    assert record["command"] == "python -m benchmarks.quality --size 48x32" and "at 48x32" in record["measurement"]


def test_gallery_has_a_row_per_photo_and_two_columns_per_style(images):
    contents, styles = images
    pictures = {
        (content, style): {"engine": styles[style], "tutorial": contents[content]}
        for content in contents
        for style in styles
    }
    sheet = quality.gallery(contents, styles, pictures, tile=(40, 30))
    label = 14
    assert sheet.size == ((1 + 2 * 4) * 40, label + (1 + 4) * 30 + label)
    # The engine's cell of the first photo and first style holds that style image.
    cell = np.asarray(sheet)[label + 30 + 5 : label + 60 - 5, 40 + 5 : 80 - 5] / 255
    assert abs(cell.mean() - next(iter(styles.values())).mean()) < 0.05


def test_score_mode_scores_pictures_against_a_pair_with_their_sharpness(tmp_path, capsys):
    """``--score``: the photo itself is not styled at all (1) and as close to itself as LPIPS goes (0); a
    blurred copy is less sharp and farther from the photo; a flat grey picture has no sharpness."""
    from benchmarks import lpips
    from nst_utils import load_image, save_image

    if not lpips.LPIPS_WEIGHTS.is_file():
        pytest.skip(f"{lpips.LPIPS_WEIGHTS} is missing: run `python -m benchmarks.lpips prepare`")
    photo, style = ROOT / "images" / "chelsea.jpg", ROOT / "images" / "swirls.jpg"
    blurred, flat = tmp_path / "blurred.png", tmp_path / "flat.png"
    save_image(blurred, ndimage.gaussian_filter(load_image(photo, 96, 64), (0, 2, 2, 0)))
    save_image(flat, np.full((1, 64, 96, 3), 0.5, np.float32))
    quality.main(
        [
            "--score",
            str(photo),
            str(blurred),
            str(flat),
            "--content",
            str(photo),
            "--style",
            str(style),
            "--size",
            "96x64",
        ]
    )
    itself, blur, grey = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert itself["styled"] == pytest.approx(1.0) and itself["lpips"] == pytest.approx(0.0, abs=1e-5)
    assert blur["sharpness"] < 0.5 * itself["sharpness"] and blur["lpips"] > 0.1
    assert grey["sharpness"] == 0.0 and grey["picture"] == str(flat)


def test_score_mode_needs_the_pair(capsys):
    with pytest.raises(SystemExit) as exit_info:
        quality.main(["--score", "a.png", "--style", "b.png"])
    assert exit_info.value.code == 2
    assert "--score needs --content and --style" in capsys.readouterr().err
