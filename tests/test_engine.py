"""The style-transfer engine: cost functions against numpy, the truncated VGG-19, the defaults each
network gets, and end-to-end optimisation with the real converted weights at a small size."""

import dataclasses
import platform
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.io import loadmat, savemat

import vgg_weights as weights_sources
from matconvnet_fixtures import GENERATIONS, random_vgg_kernels, vgg_layer_names, write_vgg_mat
from neural_style import transfer
from neural_style.colors import RGB_TO_YIQ, luminance, match_color_histogram, match_luminance
from neural_style.losses import content_loss, gram_matrix, style_layer_loss, total_variation_loss
from neural_style.machine import cpu_model
from neural_style.precision import native_bfloat16, resolve_precision
from nst_utils import CONFIG, VGG19_LAYERS, WeightsError, build_vgg_model, load_image, read_vgg19

ROOT = Path(__file__).resolve().parent.parent
STYLE_PATH = ROOT / "images" / "swirls.jpg"
WIDTH, HEIGHT = 96, 72

# --------------------------------------------------------------------------------------------
# Costs against straightforward numpy references
# --------------------------------------------------------------------------------------------

SHAPE = (1, 5, 7, 3)  # n_H, n_W, n_C all different
DTYPES = [np.float32, np.float64]


def _random(seed, shape=SHAPE, dtype=np.float32):
    return np.random.RandomState(seed).normal(size=shape).astype(dtype)


def _gram_reference(features):
    _, n_h, n_w, n_c = features.shape
    gram = np.zeros((n_c, n_c))
    for i in range(n_h):
        for j in range(n_w):
            v = features[0, i, j].astype(np.float64)
            gram += np.outer(v, v)
    return gram


def _tolerance(dtype):
    return {"rtol": 1e-5, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}


@pytest.mark.parametrize("dtype", DTYPES)
def test_content_loss(dtype):
    a_c, a_g = _random(0, dtype=dtype), _random(1, dtype=dtype)
    expected = np.sum((a_c.astype(np.float64) - a_g) ** 2) / (4 * 5 * 7 * 3)
    np.testing.assert_allclose(float(content_loss(a_c, a_g)), expected, **_tolerance(dtype))
    assert float(content_loss(a_c, a_c)) == 0.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_gram_matrix(dtype):
    features = _random(2, dtype=dtype)
    gram = np.asarray(gram_matrix(features))
    assert gram.shape == (3, 3)
    np.testing.assert_allclose(gram, _gram_reference(features), **_tolerance(dtype))
    np.testing.assert_allclose(gram, gram.T, **_tolerance(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_style_layer_loss(dtype):
    style, generated = _random(3, dtype=dtype), _random(4, dtype=dtype)
    style_gram = _gram_reference(style).astype(dtype)
    expected = np.sum((style_gram - _gram_reference(generated)) ** 2) / (4 * 3**2 * (5 * 7) ** 2)
    np.testing.assert_allclose(float(style_layer_loss(style_gram, generated)), expected, **_tolerance(dtype))
    assert float(style_layer_loss(_gram_reference(generated).astype(dtype), generated)) == pytest.approx(0, abs=1e-9)


@pytest.mark.parametrize("dtype", DTYPES)
def test_total_variation_loss(dtype):
    image = _random(5, shape=(1, 6, 9, 3), dtype=dtype)
    x = image[0].astype(np.float64)
    vertical = [(x[i + 1, j, c] - x[i, j, c]) ** 2 for i in range(5) for j in range(9) for c in range(3)]
    horizontal = [(x[i, j + 1, c] - x[i, j, c]) ** 2 for i in range(6) for j in range(8) for c in range(3)]
    expected = np.mean(vertical) + np.mean(horizontal)
    np.testing.assert_allclose(float(total_variation_loss(image)), expected, **_tolerance(dtype))
    assert float(total_variation_loss(np.full((1, 6, 9, 3), 0.3, dtype))) == 0.0


def _numeric_gradient(cost, x, step=1e-6):
    """Central differences of ``cost`` (numpy float64 -> float) at every element of ``x``."""
    gradient = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[index] += step
        down[index] -= step
        gradient[index] = (cost(up) - cost(down)) / (2 * step)
    return gradient


def test_written_out_gradients_match_central_differences():
    """The Gram matrix's and the total variation's gradients are written by hand (one product
    instead of two; no slice gradients): checked in float64 against finite differences of the
    costs they feed."""
    import tensorflow as tf

    features = _random(6, shape=(1, 4, 5, 3), dtype=np.float64)
    weights = tf.constant(np.random.RandomState(7).normal(size=(3, 3)))
    image = _random(8, shape=(1, 5, 6, 3), dtype=np.float64)

    def weighted_gram(x):
        return tf.reduce_sum(weights * gram_matrix(x))

    for cost, x in ((weighted_gram, features), (total_variation_loss, image)):
        tensor = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(tensor)
            value = cost(tensor)
        numeric = _numeric_gradient(lambda y: float(cost(y)), x)  # noqa: B023 (used at once)
        np.testing.assert_allclose(tape.gradient(value, tensor), numeric, rtol=1e-6, atol=1e-8)


def test_gram_gradient_of_bfloat16_features_is_bfloat16_and_close():
    """bfloat16 features (the network's bfloat16 path) get their gradient in bfloat16, within its rounding."""
    import tensorflow as tf

    features = _random(9, shape=(1, 6, 7, 8)).astype(np.float32)
    upstream = np.random.RandomState(10).normal(size=(8, 8)).astype(np.float32)
    results = {}
    for dtype in (tf.float32, tf.bfloat16):
        tensor = tf.cast(tf.cast(features, tf.bfloat16), dtype)  # the same values in both
        with tf.GradientTape() as tape:
            tape.watch(tensor)
            gram = gram_matrix(tensor)
            value = tf.reduce_sum(upstream * gram)
        assert gram.dtype == tf.float32
        results[dtype] = (gram.numpy(), tape.gradient(value, tensor))
    assert results[tf.bfloat16][1].dtype == tf.bfloat16
    np.testing.assert_array_equal(results[tf.bfloat16][0], results[tf.float32][0])  # summed in float32
    exact = results[tf.float32][1].numpy()
    rounded = tf.cast(results[tf.bfloat16][1], tf.float32).numpy()
    assert np.abs(rounded - exact).max() <= 2**-7 * np.abs(exact).max()


# --------------------------------------------------------------------------------------------
# The truncated VGG-19 (real weights)
# --------------------------------------------------------------------------------------------


def test_build_returns_requested_layers_and_is_truncated(vgg_weights):
    requested = ["relu2_1", "conv1_1", "pool1"]
    model = build_vgg_model(vgg_weights, requested)
    image = np.random.RandomState(6).uniform(0, 1, (1, 20, 14, 3)).astype(np.float32)
    outputs = model(image)
    assert set(outputs) == set(requested)
    assert tuple(outputs["conv1_1"].shape) == (1, 20, 14, 64)
    assert tuple(outputs["pool1"].shape) == (1, 10, 7, 64)
    assert tuple(outputs["relu2_1"].shape) == (1, 10, 7, 128)
    assert np.min(outputs["relu2_1"]) >= 0.0

    names = [name for name, _, _ in VGG19_LAYERS]
    allowed = set(names[: names.index("relu2_1") + 1])
    vgg_layers = [layer.name for layer in model.layers if layer.name in names]
    assert set(vgg_layers) == allowed  # everything up to relu2_1 ...
    assert "conv2_2" not in [layer.name for layer in model.layers]  # ... and nothing deeper
    assert all(layer.name in allowed or layer.name in ("image", "preprocess") for layer in model.layers)


def test_conv1_1_matches_numpy_convolution(vgg_weights):
    model = build_vgg_model(vgg_weights, ["conv1_1"])
    image = np.random.RandomState(7).uniform(0, 1, (1, 6, 5, 3)).astype(np.float32)
    kernel, bias = vgg_weights.kernels["conv1_1"]
    x = np.pad(255.0 * image[0].astype(np.float64) - vgg_weights.mean_rgb, ((1, 1), (1, 1), (0, 0)))
    expected = np.zeros((6, 5, 64))
    for i in range(6):
        for j in range(5):
            expected[i, j] = np.einsum("hwc,hwco->o", x[i : i + 3, j : j + 3], kernel) + bias
    np.testing.assert_allclose(model(image)["conv1_1"][0], expected, rtol=1e-4, atol=1e-2)


def test_unknown_layer_rejected(vgg_weights):
    with pytest.raises(ValueError, match="unknown VGG-19 layer"):
        build_vgg_model(vgg_weights, ["conv1_1", "conv6_1"])


def test_pool1_is_2x2_mean_of_relu1_2(vgg_weights):
    model = build_vgg_model(vgg_weights, ["relu1_2", "pool1"])
    image = np.random.RandomState(8).uniform(0, 1, (1, 16, 12, 3)).astype(np.float32)
    outputs = model(image)
    relu = np.asarray(outputs["relu1_2"])
    expected = relu.reshape(1, 8, 2, 6, 2, 64).mean(axis=(2, 4))
    np.testing.assert_allclose(outputs["pool1"], expected, rtol=1e-5, atol=1e-4)


def test_bfloat16_network_computes_in_bfloat16_and_stays_close(vgg_weights):
    layers = ["conv1_1", "relu3_1", "relu4_2"]
    image = np.random.RandomState(9).uniform(0, 1, (1, 32, 24, 3)).astype(np.float32)
    exact = build_vgg_model(vgg_weights, layers)(image)
    model = build_vgg_model(vgg_weights, layers, dtype_policy="bfloat16")
    assert model.get_layer("conv4_2").compute_dtype == "bfloat16"
    assert model.get_layer("conv4_2").variable_dtype == "bfloat16"
    fast = model(image)
    for name in layers:
        assert fast[name].dtype == "bfloat16"
        relative = np.linalg.norm(np.float32(fast[name]) - exact[name]) / np.linalg.norm(exact[name])
        assert 1e-4 < relative < 0.02, (name, relative)  # rounded (not float32), but close


# /proc/cpuinfo as three machines write it (one processor each, the lines that matter).
SAPPHIRE_RAPIDS = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile
"""
ZEN4 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9654 96-Core Processor
flags\t\t: fpu sse2 avx2 avx512f avx512_bf16
"""
SKYLAKE = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz
flags\t\t: fpu sse2 avx2 avx512f avx512bw
"""
GRAVITON = """processor\t: 0
BogoMIPS\t: 243.75
Features\t: fp asimd bf16 i8mm
CPU implementer\t: 0x41
"""


@pytest.mark.parametrize(
    ("cpuinfo", "machine", "native"),
    [
        (SAPPHIRE_RAPIDS, "x86_64", True),  # AMX-BF16 and AVX512_BF16
        (ZEN4, "x86_64", True),  # AVX512_BF16 only
        (SKYLAKE, "x86_64", False),  # AVX-512 without bfloat16: emulated, slower than float32
        (SAPPHIRE_RAPIDS, "aarch64", False),  # the flags count on x86 only
        (GRAVITON, "aarch64", False),  # Arm's bf16 has not been measured
        ("", "x86_64", False),  # no /proc/cpuinfo (not Linux)
    ],
)
def test_native_bfloat16_reads_the_cpu_flags_it_is_given(cpuinfo, machine, native):
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("not applicable here: a GPU is visible: native_bfloat16 is False whatever the CPU (checked below)")
    assert native_bfloat16(cpuinfo, machine) is native


def test_the_cpu_model_is_the_model_name_line():
    assert cpu_model(ZEN4) == "AMD EPYC 9654 96-Core Processor"
    assert cpu_model(SAPPHIRE_RAPIDS) == "Intel(R) Xeon(R) Platinum 8480+"
    assert cpu_model(GRAVITON) == (platform.processor() or "unknown")  # Arm's cpuinfo names no model


def test_auto_precision_follows_the_cpu_flags():
    """ "auto" means bfloat16 exactly where the CPU reports bfloat16 instructions (read here from
    lscpu, not /proc/cpuinfo) and no GPU is visible."""
    import shutil
    import subprocess

    import tensorflow as tf

    if shutil.which("lscpu") is None:
        pytest.skip("lscpu is not installed")
    flags = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    native = bool({"avx512_bf16", "amx_bf16"} & set(flags.split())) and not tf.config.list_physical_devices("GPU")
    assert resolve_precision("auto") == ("bfloat16" if native else "float32")
    assert resolve_precision("float32") == "float32"
    assert resolve_precision("bfloat16") == "bfloat16"
    with pytest.raises(ValueError, match="unknown precision 'float16'"):
        resolve_precision("float16")


# --------------------------------------------------------------------------------------------
# Which network a file holds, and the defaults that follow (tiny MatConvNet files)
# --------------------------------------------------------------------------------------------


def _write_converted(path, description, network):
    """A tiny VGG-19 written by ``vgg_weights.write_matconvnet`` (the converter's writer)."""
    kernels = random_vgg_kernels(seed=11)
    layers = []
    for name, kind in vgg_layer_names():
        layer = {"name": name, "type": kind}
        if kind == "conv":
            weights = np.empty((1, 2), dtype=object)
            weights[0, 0], weights[0, 1] = kernels[name][0], kernels[name][1].reshape(1, -1)
            layer["weights"] = weights
        layers.append(layer)
    weights_sources.write_matconvnet(path, layers, (120.0, 110.0, 100.0), description, network)
    return path


@pytest.mark.parametrize("network", sorted(transfer.DEFAULTS))
def test_default_layers_are_the_activations_after_the_relu(vgg_weights, network):
    """Gatys et al.'s features, for every network and in CONFIG (which the notebook uses): content at
    relu4_2, style at relu1_1 ... relu5_1, with equal weights in CONFIG and for the official network,
    and weighted towards the deeper layers for the normalised one (the quality grid's choice). Each is
    its convolution's output with the negative values set to 0 (the convolution's own output has
    negative values)."""
    settings = transfer.DEFAULTS[network]
    assert settings.content_layer == CONFIG.content_layer == "relu4_2"
    names = [f"relu{block}_1" for block in range(1, 6)]
    assert [name for name, _ in settings.style_layers] == [name for name, _ in CONFIG.style_layers] == names
    weights = [weight for _, weight in settings.style_layers]
    assert sum(weights) == pytest.approx(1.0)
    assert [weight for _, weight in CONFIG.style_layers] == [0.2] * 5
    if network == "imagenet":
        assert weights == [0.2] * 5
    else:
        assert weights == [0.1, 0.15, 0.25, 0.25, 0.25]

    layers = [settings.content_layer, *(name for name, _ in settings.style_layers)]
    convolutions = [name.replace("relu", "conv") for name in layers]
    image = np.random.RandomState(13).uniform(0, 1, (1, 40, 32, 3)).astype(np.float32)
    outputs = build_vgg_model(vgg_weights, layers + convolutions)(image)
    for name, convolution in zip(layers, convolutions):
        assert np.min(outputs[convolution]) < 0, convolution
        np.testing.assert_array_equal(outputs[name], np.maximum(outputs[convolution], 0))


def test_the_converted_weights_hold_the_normalised_network(vgg_weights):
    assert vgg_weights.network == "normalised"
    assert transfer.defaults_for(vgg_weights) == transfer.DEFAULTS["normalised"]
    assert transfer.DEFAULTS["normalised"] != transfer.DEFAULTS["imagenet"]


@pytest.mark.parametrize("generation", GENERATIONS)
def test_official_files_hold_the_imagenet_network(tmp_path, generation):
    fixture = write_vgg_mat(tmp_path / "official.mat", generation=generation)
    weights = read_vgg19(fixture.path)
    assert weights.network == "imagenet"
    assert transfer.defaults_for(weights) == transfer.DEFAULTS["imagenet"]


@pytest.mark.parametrize(
    "description, network, expected",
    [
        ("weights I converted myself", "normalised", "normalised"),
        ("VGG-19 normalised, they said", "imagenet", "imagenet"),
        ("VGG-19 normalised (Gatys et al. 2015)", None, "imagenet"),  # no record: the original network
    ],
    ids=["unrelated-description", "misleading-description", "no-record"],
)
def test_defaults_follow_the_recorded_network_not_the_description(tmp_path, description, network, expected):
    weights = read_vgg19(_write_converted(tmp_path / "vgg.mat", description, network))
    assert weights.description == description
    assert weights.network == expected
    assert transfer.defaults_for(weights) == transfer.DEFAULTS[expected]


def test_an_unknown_network_is_refused_by_writer_and_reader(tmp_path):
    with pytest.raises(ValueError, match="unknown network 'alexnet'"):
        _write_converted(tmp_path / "vgg.mat", "x", "alexnet")
    assert list(tmp_path.iterdir()) == []
    path = _write_converted(tmp_path / "vgg.mat", "x", None)
    savemat(
        path,
        {
            "layers": loadmat(path)["layers"],
            "meta": {"normalization": {"averageImage": np.zeros((1, 1, 3))}, "network": "alexnet"},
        },
    )
    with pytest.raises(WeightsError, match="records the network 'alexnet', which is none of normalised, imagenet"):
        read_vgg19(path)


# --------------------------------------------------------------------------------------------
# End to end (real weights, small images)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def photo_path(tmp_path_factory):
    """A content photo: skimage's Chelsea the cat, written as JPEG."""
    from skimage import data

    path = tmp_path_factory.mktemp("content") / "chelsea.jpg"
    Image.fromarray(data.chelsea()).save(path, quality=95)
    return path


@pytest.fixture(scope="module")
def content(photo_path):
    return load_image(photo_path, WIDTH, HEIGHT)


@pytest.fixture(scope="module")
def style():
    return load_image(STYLE_PATH, WIDTH, HEIGHT)


@pytest.fixture(scope="module")
def measure(vgg_weights):
    """Independent yardsticks on a separately built model: Gram distance over the default style
    layers, and feature distance at the default content layer."""
    settings = transfer.defaults_for(vgg_weights)
    style_layers = [name for name, _ in settings.style_layers]
    model = build_vgg_model(vgg_weights, [*style_layers, settings.content_layer])

    def grams(image):
        activations = model(image)
        result = {}
        for name in style_layers:
            features = np.asarray(activations[name], np.float64)[0]
            flat = features.reshape(-1, features.shape[-1])
            result[name] = (flat.T @ flat, flat.shape)
        return result

    def style_distance(image, style_image):
        ours, target = grams(image), grams(style_image)
        total = 0.0
        for name, weight in settings.style_layers:
            (g, (n_positions, n_c)), (s, _) = ours[name], target[name]
            total += weight * np.sum((g - s) ** 2) / (4 * n_c**2 * n_positions**2)
        return total

    def content_distance(a, b):
        features = [np.asarray(model(image)[settings.content_layer]) for image in (a, b)]
        return float(np.mean((features[0] - features[1]) ** 2))

    return style_distance, content_distance


@pytest.fixture(scope="module")
def lbfgs_run(vgg_weights, content, style):
    settings = dataclasses.replace(transfer.defaults_for(vgg_weights), optimizer="lbfgs", steps=40)
    calls = []
    result = transfer.stylize(
        vgg_weights,
        content,
        [style],
        content,
        settings=settings,
        progress=False,
        callback=lambda step, img, terms: calls.append((step, np.array(img), terms)),
    )
    return result, calls


@pytest.fixture(scope="module")
def judge(vgg_weights, content, style):
    """A separate engine with the default settings in float32, to evaluate results with."""
    return transfer.StyleTransfer(
        vgg_weights,
        content,
        [style],
        settings=dataclasses.replace(transfer.defaults_for(vgg_weights), precision="float32"),
    )


def test_lbfgs_moves_towards_the_style_and_keeps_the_content(lbfgs_run, content, style, measure):
    image = lbfgs_run[0].image
    style_distance, content_distance = measure
    assert image.shape == content.shape and image.dtype == np.float32
    assert image.min() >= 0.0 and image.max() <= 1.0
    assert np.abs(image - content).mean() > 0.01  # it did change

    start, end = style_distance(content, style), style_distance(image, style)
    assert end < 0.5 * start, (start, end)
    # Much closer to the content than the style image is.
    assert content_distance(image, content) < 0.5 * content_distance(style, content)


def test_lbfgs_history_decreases(lbfgs_run, judge, content):
    result, calls = lbfgs_run
    history = result.history
    assert 20 <= result.steps == len(history) <= 40
    totals = [entry["total"] for entry in history]
    assert all(set(entry) == {"content", "style", "tv", "total"} for entry in history)
    for entry in history:
        assert entry["total"] == pytest.approx(entry["content"] + entry["style"] + entry["tv"], rel=1e-5)
    start = float(judge.losses(content)["total"])
    assert totals[0] < start
    assert totals[-1] < 0.2 * start
    assert all(b <= a * (1 + 1e-6) for a, b in zip(totals, totals[1:]))  # L-BFGS: never worse
    # The callback saw every step, in order, with the history's numbers; the last image is the result.
    assert [step for step, _, _ in calls] == list(range(1, len(history) + 1))
    assert [terms for _, _, terms in calls] == list(history)
    np.testing.assert_allclose(calls[-1][1], result.image, atol=1e-6)
    # One evaluation for the start and at least one per step, counted step by step.
    assert len(result.step_evaluations) == result.steps
    assert all(b > a for a, b in zip(result.step_evaluations, result.step_evaluations[1:]))
    assert result.steps + 1 <= result.evaluations == result.step_evaluations[-1]


def test_bfloat16_run_ends_near_the_float32_run(vgg_weights, content, style, judge, lbfgs_run):
    """The same 40 L-BFGS steps in both precisions end at costs (evaluated in float32) within 5%
    and at similar pictures. (``lbfgs_run`` ran in the precision "auto" chose: only the other runs here.)"""
    results = {lbfgs_run[0].precision: lbfgs_run[0].image}
    for precision in {"float32", "bfloat16"} - set(results):
        settings = dataclasses.replace(
            transfer.defaults_for(vgg_weights), optimizer="lbfgs", steps=40, precision=precision
        )
        run = transfer.stylize(vgg_weights, content, [style], content, settings=settings, progress=False)
        assert run.precision == precision
        results[precision] = run.image
    cost = {precision: float(judge.losses(image)["total"]) for precision, image in results.items()}
    start = float(judge.losses(content)["total"])
    assert cost["float32"] < 0.2 * start
    assert cost["bfloat16"] == pytest.approx(cost["float32"], rel=0.05), cost
    assert np.mean(np.abs(results["bfloat16"] - results["float32"])) < 0.05


def test_adam_lowers_the_cost(vgg_weights, photo_path):
    content = load_image(photo_path, 64, 48)
    style = load_image(STYLE_PATH, 64, 48)
    settings = dataclasses.replace(
        transfer.defaults_for(vgg_weights), optimizer="adam", steps=15, precision="float32"
    )  # eager and graph costs agree to 1e-4
    engine = transfer.StyleTransfer(vgg_weights, content, [style], settings=settings)
    result = engine.run(content, progress=False)
    assert result.steps == 15 and result.evaluations == 16  # the start, then one per step
    assert result.step_evaluations == tuple(range(2, 17))
    image, history = result.image, result.history
    assert image.min() >= 0.0 and image.max() <= 1.0
    start = float(engine.losses(content)["total"])
    end = float(engine.losses(image)["total"])
    assert history[-1]["total"] == pytest.approx(end, rel=1e-4)  # the history holds each step's image's cost
    assert history[0]["total"] < start
    assert all(b < a for a, b in zip([start, *[h["total"] for h in history]], [h["total"] for h in history]))
    assert end < 0.95 * start, (start, end)


def test_preserve_colors_keeps_chrominance(vgg_weights, photo_path):
    content = load_image(photo_path, 64, 48)
    style = load_image(STYLE_PATH, 64, 48)
    settings = dataclasses.replace(transfer.defaults_for(vgg_weights), optimizer="lbfgs", steps=10)
    image = transfer.stylize(
        vgg_weights, content, [style], content, settings=settings, preserve_colors="luminance", progress=False
    ).image
    assert image.shape == content.shape and image.min() >= 0.0 and image.max() <= 1.0
    result, original = image[0] @ RGB_TO_YIQ.T, content[0] @ RGB_TO_YIQ.T
    np.testing.assert_allclose(result[..., 1:], original[..., 1:], atol=2e-3)  # I and Q kept
    assert np.abs(result[..., 0] - original[..., 0]).mean() > 0.01  # luminance restyled


def test_match_color_histogram_gives_the_style_the_content_mean_and_covariance():
    """A colourful style (its channels mixed, so their covariance is full) takes the content's colour
    mean and 3x3 covariance exactly while nothing is clipped; a grey style, which has no spread across
    colours to match, varies along C_c^1/2 (1, 1, 1) instead: tinted with the content's colours."""
    rng = np.random.RandomState(3)
    content = 0.5 + rng.randn(1, 20, 30, 3) @ np.diag([0.06, 0.03, 0.02]) @ [[1, 0.5, 0], [0, 1, 0.3], [0, 0, 1]]
    style = 0.5 + rng.randn(1, 24, 16, 3) @ np.diag([0.02, 0.05, 0.04]) @ [[1, 0, 0.4], [0.2, 1, 0], [0, 0.3, 1]]
    assert content.min() > 0 and content.max() < 1 and style.min() > 0 and style.max() < 1
    matched = match_color_histogram(style.astype(np.float32), content.astype(np.float32))
    assert matched.shape == style.shape and matched.dtype == np.float32
    assert matched.min() > 0 and matched.max() < 1  # nothing clipped
    np.testing.assert_allclose(matched.reshape(-1, 3).mean(0), content.reshape(-1, 3).mean(0), atol=1e-5)
    np.testing.assert_allclose(
        np.cov(matched.reshape(-1, 3), rowvar=False), np.cov(content.reshape(-1, 3), rowvar=False), atol=1e-5
    )

    grey = np.repeat(rng.uniform(0.3, 0.7, (1, 10, 10, 1)), 3, axis=-1).astype(np.float32)
    colored = match_color_histogram(grey, content.astype(np.float32)).reshape(-1, 3)
    values, vectors = np.linalg.eigh(np.cov(content.reshape(-1, 3), rowvar=False))
    grey_axis = (vectors * values**0.5) @ vectors.T @ np.ones(3)  # C_c^1/2 (1, 1, 1)
    spread = np.linalg.svd(colored - colored.mean(0), full_matrices=False)[2][0]  # the one direction it varies in
    assert abs(spread @ grey_axis) / np.linalg.norm(grey_axis) > 0.999
    assert np.abs(colored[:, 0] - colored[:, 1]).max() > 0.01  # no longer grey


def test_histogram_colors_run_the_transfer_on_the_matched_style(vgg_weights, photo_path):
    """``preserve_colors="histogram"`` is the plain transfer with the style matched first, the same
    picture to the last bit; an unknown mode is refused."""
    content = load_image(photo_path, 64, 48)
    style = load_image(STYLE_PATH, 64, 48)
    settings = dataclasses.replace(transfer.defaults_for(vgg_weights), optimizer="lbfgs", steps=5)
    run = lambda styles, mode: (
        transfer.stylize(  # noqa: E731
            vgg_weights, content, styles, content, settings=settings, preserve_colors=mode, progress=False
        ).image
    )
    np.testing.assert_array_equal(run([style], "histogram"), run([match_color_histogram(style, content)], None))
    with pytest.raises(ValueError, match="unknown colour mode 'sepia'"):
        run([style], "sepia")


def test_match_luminance_takes_the_content_brightness_and_contrast():
    """The style's luma, shifted and scaled: the content's mean and spread, the style's pattern (a
    dark, flat style and a bright, contrasted one of the same pattern match to the same image)."""
    rng = np.random.RandomState(10)
    content = rng.uniform(0.2, 0.9, (1, 12, 16, 3)).astype(np.float32)
    pattern = rng.uniform(0, 1, (1, 10, 14, 3)).astype(np.float32)
    dark, bright = 0.05 + 0.2 * pattern, 0.1 + 0.8 * pattern
    matched = match_luminance(dark, content)
    y_content = luminance(content)
    assert matched.shape == dark.shape
    assert matched.mean() == pytest.approx(y_content.mean(), abs=1e-4)
    assert matched.std() == pytest.approx(y_content.std(), rel=1e-3)
    assert np.corrcoef(matched[0, ..., 0].ravel(), luminance(pattern)[0, ..., 0].ravel())[0, 1] > 0.999
    np.testing.assert_allclose(match_luminance(bright, content), matched, atol=1e-5)
    assert (matched[..., 0] == matched[..., 1]).all() and (matched[..., 1] == matched[..., 2]).all()


def test_custom_content_and_style_layers_shape_the_costs(vgg_weights):
    """Content at conv2_2, style at conv1_1 (0.7) and conv3_1 (0.3): the engine's network ends at
    conv3_1 and its cost terms equal numpy references on those layers with those weights."""
    settings = dataclasses.replace(
        transfer.defaults_for(vgg_weights),
        content_layer="conv2_2",
        style_layers=(("conv1_1", 0.7), ("conv3_1", 0.3)),
        content_weight=2.0,
        style_weight=3.0,
        precision="float32",
    )
    rng = np.random.RandomState(12)
    content, style, image = (rng.uniform(0, 1, (1, 20, 28, 3)).astype(np.float32) for _ in range(3))
    engine = transfer.StyleTransfer(vgg_weights, content, [style], settings=settings)
    names = {layer.name for layer in engine.model.layers}
    assert {"conv2_2", "conv3_1"} <= names and "conv3_2" not in names  # stops at the deepest layer used
    assert set(engine.model(image)) == {"conv2_2", "conv1_1", "conv3_1"}

    reference = build_vgg_model(vgg_weights, ["conv1_1", "conv2_2", "conv3_1"])
    ours, of_content, of_style = (
        {name: np.asarray(value, np.float64) for name, value in reference(x).items()} for x in (image, content, style)
    )

    def gram(features):
        flat = features.reshape(-1, features.shape[-1])
        return flat.T @ flat

    def layer_cost(name):
        _, n_h, n_w, n_c = ours[name].shape
        return np.sum((gram(of_style[name]) - gram(ours[name])) ** 2) / (4 * n_c**2 * (n_h * n_w) ** 2)

    n_content = ours["conv2_2"].size
    expected_content = 2.0 * np.sum((of_content["conv2_2"] - ours["conv2_2"]) ** 2) / (4 * n_content)
    expected_style = 3.0 * (0.7 * layer_cost("conv1_1") + 0.3 * layer_cost("conv3_1"))
    terms = engine.losses(image)
    assert float(terms["content"]) == pytest.approx(expected_content, rel=1e-4)
    assert float(terms["style"]) == pytest.approx(expected_style, rel=1e-4)


def test_a_style_of_another_size_is_asked_for_per_position(vgg_weights):
    """A style image of another size than the content (``--style-scale``): each layer's style target is
    the style's Gram matrix rescaled by (the content's positions / the style's positions) at that layer,
    so the style cost equals a numpy reference written that way."""
    settings = dataclasses.replace(
        transfer.defaults_for(vgg_weights), style_layers=(("relu1_1", 0.4), ("relu2_1", 0.6)), precision="float32"
    )
    rng = np.random.RandomState(13)
    content, image = (rng.uniform(0, 1, (1, 20, 28, 3)).astype(np.float32) for _ in range(2))
    style = rng.uniform(0, 1, (1, 36, 50, 3)).astype(np.float32)
    reference = build_vgg_model(vgg_weights, ["relu1_1", "relu2_1"])
    ours, of_style = (
        {name: np.asarray(value, np.float64) for name, value in reference(x).items()} for x in (image, style)
    )

    def layer_cost(name):
        _, n_h, n_w, n_c = ours[name].shape
        flat, flat_style = ours[name].reshape(-1, n_c), of_style[name].reshape(-1, n_c)
        target = flat_style.T @ flat_style * (n_h * n_w) / len(flat_style)
        return np.sum((target - flat.T @ flat) ** 2) / (4 * n_c**2 * (n_h * n_w) ** 2)

    engine = transfer.StyleTransfer(vgg_weights, content, [style], settings=settings)
    expected = settings.style_weight * (0.4 * layer_cost("relu1_1") + 0.6 * layer_cost("relu2_1"))
    assert float(engine.losses(image)["style"]) == pytest.approx(expected, rel=1e-4)


def test_a_larger_copy_of_a_texture_asks_for_nearly_the_same_style(vgg_weights):
    """The same periodic texture, as a style image of the content's size and of twice it (2 x 2 times
    the tiles), gives style targets within 8% of each other (Frobenius norm): only the borders differ.
    Without the rescaling per position, the larger one's would be four times as large."""
    settings = dataclasses.replace(
        transfer.defaults_for(vgg_weights), style_layers=(("relu1_1", 0.5), ("relu2_1", 0.5)), precision="float32"
    )
    tile = np.random.RandomState(14).uniform(0, 1, (1, 16, 16, 3)).astype(np.float32)
    content = np.full((1, 64, 64, 3), 0.5, np.float32)
    same_size = np.tile(tile, (1, 4, 4, 1))
    twice = np.tile(tile, (1, 8, 8, 1))
    targets = [
        transfer.StyleTransfer(vgg_weights, content, [style], settings=settings).style_grams
        for style in (same_size, twice)
    ]
    for small, large in zip(*targets):
        small, large = np.asarray(small), np.asarray(large)
        assert np.linalg.norm(large - small) < 0.08 * np.linalg.norm(small)
        assert np.linalg.norm(4 * large - small) > np.linalg.norm(small)  # the sum over positions: far off


def test_every_cost_is_a_mean_so_a_larger_canvas_of_the_same_pattern_costs_the_same(vgg_weights):
    """The loss weights do not depend on the size: content, image and style all tiled from one
    periodic pattern, 4 x 4 and 8 x 8 tiles give each cost term within 10% (only the borders differ).
    A sum over positions would grow 4 times for content and total variation, 16 times for style."""
    settings = dataclasses.replace(transfer.defaults_for(vgg_weights), precision="float32")
    rng = np.random.RandomState(15)
    content_tile, style_tile, image_tile = (rng.uniform(0, 1, (1, 16, 16, 3)).astype(np.float32) for _ in range(3))
    image_tile = 0.5 * (image_tile + content_tile)
    terms = [
        transfer.StyleTransfer(
            vgg_weights, np.tile(content_tile, (1, n, n, 1)), [np.tile(style_tile, (1, n, n, 1))], settings=settings
        ).evaluate(np.tile(image_tile, (1, n, n, 1)))[2]
        for n in (4, 8)
    ]
    for name in ("content", "style", "tv"):
        assert terms[1][name] == pytest.approx(terms[0][name], rel=0.1), name


def test_pyramid_halves_down_to_the_first_level():
    assert transfer.pyramid(400, 300) == [(400, 300)]
    assert transfer.pyramid(512, 384) == [(512, 384)]
    assert transfer.pyramid(1024, 768) == [(512, 384), (1024, 768)]
    assert transfer.pyramid(1920, 1080) == [(480, 270), (960, 540), (1920, 1080)]
    assert transfer.pyramid(1920, 1080, levels=1) == [(1920, 1080)]
    assert transfer.pyramid(101, 75, levels=2) == [(50, 38), (101, 75)]
    with pytest.raises(ValueError, match="3 levels make the first 10x8: at least 16x16"):
        transfer.pyramid(40, 30, levels=3)


def test_level_steps_spend_most_steps_where_they_are_cheap():
    assert transfer.level_steps(200, 1) == [200]
    assert transfer.level_steps(200, 3) == [200, 50, 12]
    assert transfer.level_steps(200, 4) == [200, 50, 12, 3]
    assert transfer.level_steps(3, 3) == [3, 1, 1]


def test_level_seconds_grow_with_steps_and_pixels():
    """A level of twice the width and height and a quarter of the steps takes as long."""
    assert transfer.level_seconds(0.5, (48, 32), [(96, 64), (192, 128)], [4, 1]) == pytest.approx([8.0, 8.0])
    assert transfer.level_seconds(0.5, (48, 32), [(48, 32)], [10]) == pytest.approx([5.0])


def test_upsample_keeps_range_and_smooth_images():
    rng = np.random.RandomState(15)
    image = rng.uniform(0, 1, (1, 8, 12, 3)).astype(np.float32)
    larger = transfer.upsample(image, 24, 16)
    assert larger.shape == (1, 16, 24, 3) and larger.dtype == np.float32
    assert larger.min() >= 0 and larger.max() <= 1
    ramp = np.broadcast_to(np.linspace(0.2, 0.8, 12, dtype=np.float32)[None, None, :, None], (1, 8, 12, 3))
    np.testing.assert_allclose(transfer.upsample(ramp, 24, 16)[0, 3], transfer.upsample(ramp, 24, 16)[0, 12], atol=1e-6)
    np.testing.assert_allclose(transfer.upsample(np.full((1, 8, 12, 3), 0.3, np.float32), 24, 16), 0.3, atol=1e-6)


@pytest.fixture(scope="module")
def small_settings(vgg_weights):
    return dataclasses.replace(
        transfer.defaults_for(vgg_weights), content_layer="conv1_2", style_layers=(("conv1_1", 0.5), ("conv2_1", 0.5))
    )


def test_style_blend_weights(vgg_weights, small_settings):
    rng = np.random.RandomState(9)
    content, first, second = (rng.uniform(0, 1, (1, 24, 32, 3)).astype(np.float32) for _ in range(3))
    second = second**3  # Gram statistics unlike the first's

    alone = transfer.StyleTransfer(vgg_weights, content, [first], settings=small_settings)
    first_only = transfer.StyleTransfer(vgg_weights, content, [first, second], [1, 0], small_settings)
    for a, b in zip(alone.style_grams, first_only.style_grams):
        np.testing.assert_allclose(a, b, rtol=1e-6)

    other = transfer.StyleTransfer(vgg_weights, content, [second], settings=small_settings)
    mixed = transfer.StyleTransfer(vgg_weights, content, [first, second], [3, 1], small_settings)
    for a, b, m in zip(alone.style_grams, other.style_grams, mixed.style_grams):
        assert np.abs(np.asarray(a) - np.asarray(b)).max() > 1e-3 * np.abs(a).max()
        np.testing.assert_allclose(m, 0.75 * np.asarray(a) + 0.25 * np.asarray(b), rtol=1e-5)


@pytest.mark.parametrize("blend", [[1.0], [1.0, 2.0, 3.0], [1.0, -1.0], [0.0, 0.0]])
def test_style_blend_rejects_bad_weights(vgg_weights, small_settings, blend):
    image = np.full((1, 16, 16, 3), 0.5, np.float32)
    with pytest.raises(ValueError, match="style blend"):
        transfer.StyleTransfer(vgg_weights, image, [image, image], blend, small_settings)
