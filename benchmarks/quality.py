"""The quality grid: ``python -m benchmarks.quality`` (``make quality``).

The engine's defaults against a Keras + Adam loop written the way TensorFlow's style-transfer tutorial
writes it (tensorflow.org/tutorials/generative/style_transfer), for the same optimisation time, on 4
content photos x 4 style images, none of them in images/ (photos and textures that ship inside
scikit-image, and two styles drawn here). Each picture gets two scores:

* **styled**: its Gram distance to the style, divided by the content photo's own. The Gram distance is
  the mean, over VGG-19's relu1_1 ... relu5_1, of ``|G(picture) - G(style)| / |G(style)|`` (Frobenius
  norms, Gram matrices per position). 1 is the photo itself; lower is more styled.
* **keeps the content**: LPIPS to the content photo (``benchmarks.lpips``), from VGG-16 weights that
  neither method optimises through. 0 is the photo itself; lower keeps more.

The tutorial's loss weights (style 1e-2, content 1e4, total variation 30) were set for Keras' ImageNet
VGG-19, whose activations are many times larger than those of the normalised VGG-19 that both methods
use here; with the normalised network as it is, the total variation drowns the rest and the loop only
blurs the photo. So the loop multiplies the activations by a feature scale k (its content cost grows
as k^2, its style cost as k^4, the total variation not at all), calibrated first on a pair outside the
grid (images/chelsea.jpg and images/swirls.jpg): the k, among half powers of ten, whose picture is
styled as much as the engine's. The grid then compares how much content each keeps at that scale.

Writes ``outputs/quality.json``, ``outputs/quality.md``, the headline record
``outputs/headline/quality-MACHINE.json`` (``benchmarks.outputs``) and the gallery
``images/readme/quality_grid.jpg``.

``--score PICTURE ... --content PHOTO --style STYLE --size WxH`` scores pictures made elsewhere (a big
picture scaled down, say) against one pair instead, and adds their ``sharpness``.
"""

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402
from scipy import ndimage  # noqa: E402

from atomic_files import atomic_path  # noqa: E402
from neural_style.colors import COLOR_MODES  # noqa: E402
from neural_style.transfer import defaults_for, layer_weights, stylize_levels  # noqa: E402
from nst_utils import build_vgg_model, load_image, read_vgg19  # noqa: E402

from .lpips import LPIPS  # noqa: E402
from .outputs import headline_record, write_outputs  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SKIMAGE_DATA = Path(__import__("skimage").__file__).parent / "data"
CONTENTS = ("camera.png", "coins.png", "hubble_deep_field.jpg", "retina.jpg")
"""scikit-image's sample photos, CC0 or public domain (their loaders' docstrings say so); none is in images/."""
TEXTURES = ("brick.png", "gravel.png")
"""scikit-image's CC0 textures (grey): pale styles."""
CALIBRATION_PAIR = (ROOT / "images" / "chelsea.jpg", ROOT / "images" / "swirls.jpg")
GRAM_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")

# The tutorial's loop, as it is written there (only the style weight is calibrated, see above).
TUTORIAL_CONTENT_LAYER = "relu5_2"  # Keras' block5_conv2, whose output is after its ReLU
TUTORIAL_STYLE_LAYERS = GRAM_LAYERS  # block1_conv1 ... block5_conv1
TUTORIAL_STYLE_WEIGHT = 1e-2
TUTORIAL_CONTENT_WEIGHT = 1e4
TUTORIAL_TV_WEIGHT = 30.0  # on tf.image.total_variation, a sum of absolute differences
TUTORIAL_ADAM = {"learning_rate": 0.02, "beta_1": 0.99, "epsilon": 1e-1}
CALIBRATION_FEATURE_SCALES = tuple(10 ** (power / 2) for power in range(7))  # 1 ... 1000


def pastel_wash(width, height, seed=7):
    """A pale style: soft, low-saturation washes of colour crossed by faint lines (1, height, width, 3)."""
    random = np.random.RandomState(seed)

    def smooth_field(sigma):
        field = ndimage.gaussian_filter(random.standard_normal((height, width)), sigma)
        return (field - field.mean()) / field.std()

    image = 0.86 + 0.07 * np.stack([smooth_field(height / 8) for _ in range(3)], axis=-1)
    image[np.abs(smooth_field(height / 20)) < 0.05] -= 0.15  # the zero crossings of a smooth field: lines
    return np.clip(image, 0, 1)[None].astype(np.float32)


def stained_glass(width, height, seed=11, cells=60):
    """A vivid style: Voronoi cells of saturated colours with dark lead between them (1, height, width, 3)."""
    random = np.random.RandomState(seed)
    centres = random.rand(cells, 2) * (height, width)
    palette = np.array([[0.8, 0.1, 0.1], [0.1, 0.3, 0.8], [0.95, 0.75, 0.1], [0.1, 0.6, 0.3], [0.5, 0.1, 0.6]])
    colours = palette[random.randint(len(palette), size=cells)] * random.uniform(0.7, 1.0, (cells, 1))
    rows, columns = np.mgrid[:height, :width]
    distances = np.hypot(rows[..., None] - centres[:, 0], columns[..., None] - centres[:, 1])
    nearest = np.sort(distances, axis=-1)
    image = colours[np.argmin(distances, axis=-1)]
    image[(nearest[..., 1] - nearest[..., 0]) < max(1.0, width / 120)] = 0.08  # the lead
    return image[None].astype(np.float32)


def grid_images(width, height):
    """The grid's content photos and style images at ``width`` x ``height``: two dicts name -> (1, H, W, 3)."""
    contents = {Path(name).stem: load_image(SKIMAGE_DATA / name, width, height) for name in CONTENTS}
    styles = {Path(name).stem: load_image(SKIMAGE_DATA / name, width, height) for name in TEXTURES}
    styles["pastel_wash"] = pastel_wash(width, height)
    styles["stained_glass"] = stained_glass(width, height)
    return contents, styles


def vgg_network(vgg_weights):
    """The normalised VGG-19, up to the layers that the scores and the tutorial loop read: built once."""
    return build_vgg_model(vgg_weights, (TUTORIAL_CONTENT_LAYER, *GRAM_LAYERS))


class GramDistance:
    """The "styled" score's distance: mean over ``GRAM_LAYERS`` of |G(image) - G(style)| / |G(style)|,
    with the activations of ``network`` (``vgg_network``)."""

    def __init__(self, network):
        self.network = network

    def grams(self, image):
        """Gram matrices per position, one (C, C) numpy array per layer, of ``image`` (1, H, W, 3)."""
        activations = self.network(tf.constant(image))
        grams = []
        for name in GRAM_LAYERS:
            unrolled = tf.reshape(activations[name], (-1, activations[name].shape[-1]))
            grams.append((tf.matmul(unrolled, unrolled, transpose_a=True) / unrolled.shape[0]).numpy())
        return grams

    def __call__(self, image, style_grams):
        return float(
            np.mean([np.linalg.norm(g - s) / np.linalg.norm(s) for g, s in zip(self.grams(image), style_grams)])
        )


class Scores:
    """Scores pictures of one pair (``content``, ``style``, each (1, H, W, 3)); the style's Gram matrices and
    the photo's own Gram distance are computed once, for every picture of the pair."""

    def __init__(self, content, style, gram_distance, lpips):
        self.content, self.gram_distance, self.lpips = content, gram_distance, lpips
        self.style_grams = gram_distance.grams(style)
        self.content_distance = gram_distance(content, self.style_grams)

    def __call__(self, image):
        """``{"styled": ..., "lpips": ...}`` of ``image`` (see the module's docstring)."""
        return {
            "styled": self.gram_distance(image, self.style_grams) / self.content_distance,
            "lpips": float(self.lpips(image, self.content)[0]),
        }


def sharpness(image):
    """Mean absolute Laplacian of ``image`` (1, H, W, 3) in grey, per pixel: fine strokes raise it,
    an upsampled, blurred picture has little."""
    grey = np.asarray(image, np.float32)[0].mean(axis=-1)
    return float(np.abs(ndimage.laplace(grey))[1:-1, 1:-1].mean())


def score_pictures(paths, content_path, style_path, width, height, gram_distance, lpips):
    """``{"picture", "styled", "lpips", "sharpness"}`` of each picture file in ``paths``, every image
    (the pictures, the photo and the style) scaled and cropped to ``width`` x ``height`` first."""
    scores = Scores(
        load_image(content_path, width, height), load_image(style_path, width, height), gram_distance, lpips
    )
    records = []
    for path in paths:
        picture = load_image(path, width, height)
        records.append({"picture": str(path), **scores(picture), "sharpness": sharpness(picture)})
    return records


def tutorial_loop(network, content, style, seconds, feature_scale):
    """The tutorial's Adam loop from ``content`` for ``seconds`` of wall time (its first step, which traces
    the graph, included, as the engine's time includes its own), on the activations of ``network``
    (``vgg_network``) times ``feature_scale``. Returns ``(image, steps)``."""

    def model(image):
        return {name: feature_scale * features for name, features in network(image).items()}

    def gram(features):
        return tf.einsum("bijc,bijd->bcd", features, features) / tf.cast(
            features.shape[1] * features.shape[2], tf.float32
        )

    style_targets = {name: gram(value) for name, value in model(style).items() if name in TUTORIAL_STYLE_LAYERS}
    content_target = model(content)[TUTORIAL_CONTENT_LAYER]
    image = tf.Variable(content)
    optimizer = tf.keras.optimizers.Adam(**TUTORIAL_ADAM)

    @tf.function
    def train_step():
        with tf.GradientTape() as tape:
            outputs = model(image)
            style_loss = tf.add_n(
                [tf.reduce_mean((gram(outputs[name]) - style_targets[name]) ** 2) for name in TUTORIAL_STYLE_LAYERS]
            )
            content_loss = tf.reduce_mean((outputs[TUTORIAL_CONTENT_LAYER] - content_target) ** 2)
            loss = (
                TUTORIAL_STYLE_WEIGHT * style_loss / len(TUTORIAL_STYLE_LAYERS) + TUTORIAL_CONTENT_WEIGHT * content_loss
            )
            loss += TUTORIAL_TV_WEIGHT * tf.image.total_variation(image)
        optimizer.apply_gradients([(tape.gradient(loss, image), image)])
        image.assign(tf.clip_by_value(image, 0.0, 1.0))

    start, steps = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        train_step()
        steps += 1
    return image.numpy(), steps


def engine_run(vgg_weights, content, style, settings, preserve_colors=None):
    """The engine with ``settings`` (a ``transfer.Settings``) and ``preserve_colors`` (see
    ``transfer.stylize``) from ``content``, at its size (one level, as the grid's pictures are small):
    ``(image, seconds, steps)``."""
    size = (content.shape[2], content.shape[1])
    [result] = stylize_levels(
        vgg_weights, lambda level: (content, [style]), content, [size], None, settings, preserve_colors, progress=False
    )
    return result.image, result.seconds, result.steps


def calibrate(vgg_weights, network, settings, width, height, gram_distance, lpips):
    """The tutorial loop's feature scale: among ``CALIBRATION_FEATURE_SCALES``, the one whose picture of the
    calibration pair, after the engine's time, has the "styled" score nearest the engine's (in log ratio).
    Returns ``(feature scale, record of every try)``."""
    content, style = (load_image(path, width, height) for path in CALIBRATION_PAIR)
    score = Scores(content, style, gram_distance, lpips)
    image, seconds, steps = engine_run(vgg_weights, content, style, settings)
    engine = {"seconds": seconds, "steps": steps, **score(image)}
    tries = []
    for feature_scale in CALIBRATION_FEATURE_SCALES:
        image, steps = tutorial_loop(network, content, style, seconds, feature_scale)
        tries.append({"feature_scale": feature_scale, "steps": steps, **score(image)})
        print("calibration", tries[-1], flush=True)
    best = min(tries, key=lambda entry: abs(np.log(entry["styled"] / engine["styled"])))
    return best["feature_scale"], {"engine": engine, "tutorial": tries}


def run_grid(vgg_weights, network, settings, width, height, feature_scale, gram_distance, lpips, preserve_colors=None):
    """Every pair of the grid, each method for the engine's time (the engine with ``preserve_colors``):
    ``(records, pictures)``, pictures being ``{(content, style): {"engine": image, "tutorial": image}}``."""
    contents, styles = grid_images(width, height)
    records, pictures = [], {}
    for content_name, content in contents.items():
        for style_name, style in styles.items():
            score = Scores(content, style, gram_distance, lpips)
            image, seconds, steps = engine_run(vgg_weights, content, style, settings, preserve_colors)
            tutorial_image, tutorial_steps = tutorial_loop(network, content, style, seconds, feature_scale)
            record = {
                "content": content_name,
                "style": style_name,
                "seconds": seconds,
                "engine": {"steps": steps, **score(image)},
                "tutorial": {"steps": tutorial_steps, **score(tutorial_image)},
            }
            records.append(record)
            pictures[content_name, style_name] = {"engine": image, "tutorial": tutorial_image}
            print(record, flush=True)
    return records, (contents, styles, pictures)


def gallery(contents, styles, pictures, tile=(160, 120)):
    """One image: a row per content photo (the photo first), two columns per style (the engine's picture,
    then the tutorial loop's), under a header row of the style images. Returns a PIL image."""
    width, height = tile
    label = 14
    columns = 1 + 2 * len(styles)
    sheet = Image.new("RGB", (columns * width, label + (1 + len(contents)) * height + label), "white")
    draw = ImageDraw.Draw(sheet)

    def paste(image, column, row):
        picture = Image.fromarray(np.uint8(np.clip(image[0], 0, 1) * 255 + 0.5)).resize(tile, Image.LANCZOS)
        sheet.paste(picture, (column * width, label + row * height))

    for index, (style_name, style) in enumerate(styles.items()):
        paste(style, 1 + 2 * index, 0)
        draw.text(((2 + 2 * index) * width + 4, label + height // 2), style_name, fill="black")
        draw.text(((1 + 2 * index) * width + 4, label + (1 + len(contents)) * height), "engine", fill="black")
        draw.text(((2 + 2 * index) * width + 4, label + (1 + len(contents)) * height), "tutorial", fill="black")
    draw.text((4, 2), "content | per style: engine, tutorial loop (same time)", fill="black")
    for row, (content_name, content) in enumerate(contents.items(), start=1):
        paste(content, 0, row)
        for index, style_name in enumerate(styles):
            paste(pictures[content_name, style_name]["engine"], 1 + 2 * index, row)
            paste(pictures[content_name, style_name]["tutorial"], 2 + 2 * index, row)
    return sheet


def summary(records):
    """Medians over the grid, and the pairs where the engine is both more styled and keeps as much content."""
    medians = {
        method: {score: statistics.median(r[method][score] for r in records) for score in ("styled", "lpips")}
        for method in ("engine", "tutorial")
    }
    dominates = sum(
        r["engine"]["styled"] < r["tutorial"]["styled"] and r["engine"]["lpips"] <= r["tutorial"]["lpips"]
        for r in records
    )
    return {"medians": medians, "engine_dominates": dominates, "pairs": len(records)}


def markdown(results):
    s, colors, layers = results["summary"], results.get("engine_preserve_colors"), results.get("engine_style_layers")
    lines = [
        f"Quality grid at {results['size']}: {s['pairs']} pairs; each method ran for the engine's time "
        f"(median {statistics.median(r['seconds'] for r in results['records']):.0f} s). Tutorial loop's feature "
        f"scale: {results['tutorial_feature_scale']:g}. Engine's content weight: {results['engine_content_weight']:g}"
        f"{'; its colours preserved by ' + colors if colors else ''}"
        f"{'; its style layers ' + ','.join(f'{name}:{weight:g}' for name, weight in layers) if layers else ''}.",
        "",
        "| content | style | engine styled | tutorial styled | engine LPIPS | tutorial LPIPS "
        "| engine steps | tutorial steps |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results["records"]:
        e, t = r["engine"], r["tutorial"]
        lines.append(
            f"| {r['content']} | {r['style']} | {e['styled']:.3f} | {t['styled']:.3f} | {e['lpips']:.3f} | "
            f"{t['lpips']:.3f} | {e['steps']} | {t['steps']} |"
        )
    m = s["medians"]
    lines += [
        f"| **median** | | {m['engine']['styled']:.3f} | {m['tutorial']['styled']:.3f} | "
        f"{m['engine']['lpips']:.3f} | {m['tutorial']['lpips']:.3f} | | |",
        "",
        f"The engine is more styled and keeps at least as much content on {s['engine_dominates']} "
        f"of {s['pairs']} pairs.",
    ]
    return "\n".join(lines) + "\n"


def headline(results, command, load_before):
    """The grid's headline record (``benchmarks.outputs``): the medians of both scores of both methods,
    the pairs where the engine wins on both, and the tutorial loop's feature scale."""
    s = results["summary"]
    m = s["medians"]
    figures = {
        "engine_styled_median": round(m["engine"]["styled"], 3),
        "tutorial_styled_median": round(m["tutorial"]["styled"], 3),
        "engine_lpips_median": round(m["engine"]["lpips"], 3),
        "tutorial_lpips_median": round(m["tutorial"]["lpips"], 3),
        "pairs_won_on_both": s["engine_dominates"],
        "pairs": s["pairs"],
        "tutorial_feature_scale": results["tutorial_feature_scale"],
    }
    return headline_record(
        f"the quality grid: the engine's defaults (bfloat16 where the CPU has it) against a TensorFlow-tutorial "
        f"Keras + Adam loop (float32) given the same time, 4 photos x 4 styles at {results['size']}; medians over "
        f"the {s['pairs']} pairs",
        command,
        figures,
        ["engine_styled_median", "tutorial_styled_median", "engine_lpips_median", "tutorial_lpips_median"],
        load_before,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="256x192", help="WIDTHxHEIGHT of every picture (default %(default)s)")
    parser.add_argument("--out", type=Path, default=ROOT / "outputs")
    parser.add_argument("--gallery", type=Path, default=ROOT / "images" / "readme" / "quality_grid.jpg")
    parser.add_argument(
        "--content-weight", type=float, help="the engine's content weight, to try another (default: its default)"
    )
    parser.add_argument(
        "--style-layers", type=layer_weights, help="the engine's style layers and weights, to try others (as the CLI's)"
    )
    parser.add_argument(
        "--preserve-colors", choices=COLOR_MODES, help="the engine's colour mode, to try one (default: none)"
    )
    parser.add_argument(
        "--feature-scale", type=float, help="the tutorial loop's feature scale, calibrated if not given (saves 5 min)"
    )
    parser.add_argument("--score", type=Path, nargs="+", metavar="PICTURE", help="score these pictures instead")
    parser.add_argument("--content", type=Path, help="with --score: the photo")
    parser.add_argument("--style", type=Path, help="with --score: the style image")
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    width, height = (int(part) for part in args.size.split("x"))
    if args.score and not (args.content and args.style):
        parser.error("--score needs --content and --style")

    vgg_weights = read_vgg19()
    if args.score:
        gram_distance = GramDistance(vgg_network(vgg_weights))
        for record in score_pictures(args.score, args.content, args.style, width, height, gram_distance, LPIPS()):
            print(json.dumps(record))
        return
    load_before = os.getloadavg()[0]
    settings = defaults_for(vgg_weights)
    if args.content_weight is not None:
        settings = dataclasses.replace(settings, content_weight=args.content_weight)
    if args.style_layers is not None:
        settings = dataclasses.replace(settings, style_layers=args.style_layers)
    network = vgg_network(vgg_weights)
    gram_distance, lpips = GramDistance(network), LPIPS()
    feature_scale, calibration = (
        (args.feature_scale, None)
        if args.feature_scale
        else calibrate(vgg_weights, network, settings, width, height, gram_distance, lpips)
    )
    records, (contents, styles, pictures) = run_grid(
        vgg_weights, network, settings, width, height, feature_scale, gram_distance, lpips, args.preserve_colors
    )
    results = {
        "size": args.size,
        "engine_content_weight": settings.content_weight,
        "engine_preserve_colors": args.preserve_colors,
        "engine_style_layers": settings.style_layers,
        "tutorial_feature_scale": feature_scale,
        "calibration": calibration,
        "records": records,
        "summary": summary(records),
    }
    command = " ".join(["python -m benchmarks.quality", *(argv or ["(make quality)"])])
    write_outputs(args.out, "quality", results, markdown(results), "quality", headline(results, command, load_before))
    args.gallery.parent.mkdir(exist_ok=True)
    with atomic_path(args.gallery) as tmp:
        gallery(contents, styles, pictures).save(tmp, format="JPEG", quality=88)
    print(markdown(results))


if __name__ == "__main__":
    main()
