"""Tiny MatConvNet VGG files for tests, and numpy references to check activations against.

The files have the structure of the official ``imagenet-vgg-verydeep-19.mat`` (see
``shared/notes/weights.md``) but only a few channels per layer, so they are small and fast::

    fixture = write_vgg_mat(tmp_path / "vgg.mat", generation="beta16", seed=3)
    kernel, bias = fixture.kernels["conv1_1"]   # MatConvNet orientation (width, height, in, out)
    expected = numpy_vgg_forward(image, fixture.kernels, fixture.mean_rgb)["pool5"]

Two generations of official files exist, and the fixtures copy how they differ:

* ``"beta16"``: top-level variables ``layers``, ``classes`` and ``normalization``; the average
  image is a 224x224x3 image whose mean pixel is ``mean_rgb``; layer struct fields start with
  ``name``, ``type``, ``weights``.
* ``"current"``: top-level variables ``layers`` and ``meta`` (``meta.normalization.averageImage``
  is the 1x1x3 mean pixel, ``meta.classes``); layer struct fields in another order (``weights``
  first, ``name`` last).

Everything random comes from ``numpy.random.RandomState(seed)``; nothing here uses TensorFlow.
"""

import dataclasses
from pathlib import Path

import numpy as np
from scipy.io import savemat

VGG19_CONVS = (2, 2, 4, 4, 4)
"""Convolutions per block of VGG-19 (conv1_1 ... conv5_4)."""
VGG16_CONVS = (2, 2, 3, 3, 3)
"""Convolutions per block of VGG-16 (conv1_1 ... conv5_3)."""
TINY_CHANNELS = (2, 3, 3, 4, 4)
"""Default output channels per block: tiny, but every width differs from its neighbour's or from 3."""
CAFFE_MEAN_RGB = (123.68, 116.779, 103.939)
"""The mean pixel of the official files (RGB)."""
GENERATIONS = ("beta16", "current")

# Struct field orders per generation and layer type. They deliberately differ between the
# generations (as in the official files), so a loader reading fields by position fails on one.
_FIELDS = {
    "beta16": {
        "conv": ("name", "type", "weights", "size", "pad", "stride", "precious"),
        "relu": ("name", "type", "leak", "precious"),
        "pool": ("name", "type", "method", "pool", "stride", "pad", "precious"),
        "softmax": ("name", "type", "precious"),
    },
    "current": {
        "conv": ("weights", "size", "pad", "stride", "precious", "dilate", "type", "name"),
        "relu": ("leak", "precious", "type", "name"),
        "pool": ("method", "pool", "stride", "pad", "precious", "type", "name"),
        "softmax": ("precious", "type", "name"),
    },
}


@dataclasses.dataclass
class MatConvNetFixture:
    """What ``write_vgg_mat`` wrote.

    ``kernels`` maps each conv/fc layer name to ``(kernel, bias)``: kernel float32 in MatConvNet's
    (width, height, in, out) orientation exactly as stored, bias float32 of shape (out,).
    ``mean_rgb`` (3,) float64 is the mean pixel the file's normalisation describes.
    ``layers`` is the ``(name, type)`` list of the file's layers, in order.
    """

    path: Path
    generation: str
    kernels: dict
    mean_rgb: np.ndarray
    layers: list
    n_convs_per_block: tuple
    channels: tuple

    @property
    def conv_names(self):
        return [name for name, kind in self.layers if kind == "conv" and name.startswith("conv")]


def vgg_layer_names(n_convs_per_block=VGG19_CONVS, with_fc=False):
    """``[(name, type), ...]``: conv1_1, relu1_1, ..., pool5 (and fc6 ... prob if ``with_fc``)."""
    layers = []
    for block, n_convs in enumerate(n_convs_per_block, start=1):
        for i in range(1, n_convs + 1):
            layers += [(f"conv{block}_{i}", "conv"), (f"relu{block}_{i}", "relu")]
        layers.append((f"pool{block}", "pool"))
    if with_fc:
        layers += [
            ("fc6", "conv"),
            ("relu6", "relu"),
            ("fc7", "conv"),
            ("relu7", "relu"),
            ("fc8", "conv"),
            ("prob", "softmax"),
        ]
    return layers


def random_vgg_kernels(channels=TINY_CHANNELS, n_convs_per_block=VGG19_CONVS, seed=0, with_fc=False):
    """Random asymmetric kernels ``{name: (kernel (3, 3, in, out), bias (out,))}``, float32.

    Scaled (He-like) so activations neither vanish nor explode through 16 layers, which keeps deep
    comparisons meaningful. fc layers are 1x1 kernels (fc6: (1, 1, channels[-1], 3), fc7, fc8).
    """
    if len(channels) != len(n_convs_per_block):
        raise ValueError("channels and n_convs_per_block need one entry per block")
    rng = np.random.RandomState(seed)
    kernels = {}
    in_channels = 3
    for block, (n_convs, out_channels) in enumerate(zip(n_convs_per_block, channels), start=1):
        if out_channels < 2:
            raise ValueError("MATLAB drops trailing singleton dimensions: use at least 2 channels")
        for i in range(1, n_convs + 1):
            scale = np.sqrt(2.0 / (9 * in_channels))
            kernel = rng.normal(0.0, scale, size=(3, 3, in_channels, out_channels)).astype(np.float32)
            bias = rng.normal(0.0, 0.1, size=out_channels).astype(np.float32)
            kernels[f"conv{block}_{i}"] = (kernel, bias)
            in_channels = out_channels
    if with_fc:
        for name, out_channels in (("fc6", 3), ("fc7", 3), ("fc8", 2)):
            kernel = rng.normal(0.0, 0.5, size=(1, 1, in_channels, out_channels)).astype(np.float32)
            kernels[name] = (kernel, rng.normal(0.0, 0.1, size=out_channels).astype(np.float32))
            in_channels = out_channels
    return kernels


def _struct(fields, values):
    """A 1x1 MATLAB struct with exactly this field order."""
    struct = np.empty((1, 1), dtype=[(field, object) for field in fields])
    for field in fields:
        struct[field][0, 0] = values[field]
    return struct


def _cell(items):
    cell = np.empty((1, len(items)), dtype=object)
    for i, item in enumerate(items):
        cell[0, i] = item
    return cell


def _layer_struct(generation, name, kind, kernels):
    values = {"name": name, "type": kind, "precious": np.array([[0]], np.uint8), "leak": np.array([[0.0]])}
    if kind == "conv":
        kernel, bias = kernels[name]
        values.update(
            weights=_cell([kernel.astype(np.float32), bias.reshape(1, -1).astype(np.float32)]),
            size=np.array([kernel.shape], np.float64),
            pad=np.array([[0.0, 0.0, 0.0, 0.0]] if name.startswith("fc") else [[1.0, 1.0, 1.0, 1.0]]),
            stride=np.array([[1.0, 1.0]]),
            dilate=np.array([[1.0, 1.0]]),
        )
    elif kind == "pool":
        values.update(
            method="max",
            pool=np.array([[2.0, 2.0]]),
            stride=np.array([[2.0, 2.0]]),
            pad=np.array([[0.0, 0.0, 0.0, 0.0]]),
        )
    return _struct(_FIELDS[generation][kind], values)


def _average_image(generation, mean_rgb, rng):
    mean_rgb = np.asarray(mean_rgb, np.float64)
    if generation == "current":
        return mean_rgb.reshape(1, 1, 3).astype(np.float32)
    # beta16: a full 224x224x3 image whose mean pixel is mean_rgb (zero-mean texture added).
    texture = rng.uniform(-20.0, 20.0, size=(224, 224, 3))
    texture -= texture.mean(axis=(0, 1))
    return (mean_rgb + texture).astype(np.float32)


def write_vgg_mat(
    path,
    generation="current",
    channels=TINY_CHANNELS,
    n_convs_per_block=VGG19_CONVS,
    seed=0,
    with_fc=True,
    mean_rgb=CAFFE_MEAN_RGB,
    kernels=None,
    omit=(),
):
    """Write a tiny VGG in MatConvNet layout to ``path``; return a ``MatConvNetFixture``.

    ``generation``: ``"beta16"`` or ``"current"`` (see the module docstring).
    ``channels``: output channels of each block's convolutions; ``n_convs_per_block``: e.g.
    ``VGG19_CONVS`` or ``VGG16_CONVS``. ``kernels`` (same form as ``random_vgg_kernels`` returns)
    replaces the random ones drawn with ``seed``. ``omit``: layer names to leave out of the file
    (to make broken networks). Writing the same arguments twice gives the same arrays.
    """
    if generation not in GENERATIONS:
        raise ValueError(f"generation must be one of {GENERATIONS}, got {generation!r}")
    path = Path(path)
    n_convs_per_block = tuple(n_convs_per_block)
    channels = tuple(channels)
    if kernels is None:
        kernels = random_vgg_kernels(channels, n_convs_per_block, seed, with_fc)
    layers = [(name, kind) for name, kind in vgg_layer_names(n_convs_per_block, with_fc) if name not in omit]
    cell = _cell([_layer_struct(generation, name, kind, kernels) for name, kind in layers])

    rng = np.random.RandomState(seed + 1_000_003)
    average_image = _average_image(generation, mean_rgb, rng)
    class_names = _cell(["n01440764", "n01443537"])
    class_descriptions = _cell(["tench, Tinca tinca", "goldfish, Carassius auratus"])
    if generation == "beta16":
        normalization = _struct(
            ("imageSize", "averageImage", "keepAspect", "border", "interpolation"),
            {
                "imageSize": np.array([[224.0, 224.0, 3.0]]),
                "averageImage": average_image,
                "keepAspect": np.array([[1]], np.uint8),
                "border": np.array([[32.0, 32.0]]),
                "interpolation": "bilinear",
            },
        )
        classes = _struct(("name", "description"), {"name": class_names, "description": class_descriptions})
        variables = {"layers": cell, "classes": classes, "normalization": normalization}
    else:
        normalization = _struct(
            ("averageImage", "keepAspect", "border", "imageSize", "interpolation", "cropSize"),
            {
                "averageImage": average_image,
                "keepAspect": np.array([[1]], np.uint8),
                "border": np.array([[32.0, 32.0]]),
                "imageSize": np.array([[224.0, 224.0, 3.0]]),
                "interpolation": "bilinear",
                "cropSize": np.array([[0.875]]),
            },
        )
        meta = _struct(
            ("inputs", "classes", "normalization"),
            {
                "inputs": _struct(("name", "size"), {"name": "input", "size": np.array([[224.0, 224.0, 3.0, 10.0]])}),
                "classes": _struct(("name", "description"), {"name": class_names, "description": class_descriptions}),
                "normalization": normalization,
            },
        )
        variables = {"layers": cell, "meta": meta}
    savemat(path, variables, do_compression=False, oned_as="row")

    mean = np.asarray(average_image, np.float64).reshape(-1, 3).mean(axis=0)
    stored = {name: (kernel, np.asarray(bias, np.float32).reshape(-1)) for name, (kernel, bias) in kernels.items()}
    return MatConvNetFixture(
        path=path,
        generation=generation,
        kernels=stored,
        mean_rgb=mean,
        layers=layers,
        n_convs_per_block=n_convs_per_block,
        channels=channels,
    )


# --------------------------------------------------------------------------------------------
# numpy references (float64)
# --------------------------------------------------------------------------------------------


def numpy_conv_matconvnet(image, kernel_whio, bias):
    """3x3 convolution as MatConvNet applies its kernels: zero padding 1, stride 1, no flip.

    ``image`` (height, width, in); ``kernel_whio`` (3, 3, in, out) in MatConvNet's [width, height]
    axis order; ``bias`` (out,) or (1, out). Returns float64 (height, width, out) with
    ``out[y, x, o] = sum k[kx, ky, i, o] * in[y + ky - 1, x + kx - 1, i] + b[o]``.
    """
    image = np.asarray(image, np.float64)
    kernel = np.asarray(kernel_whio, np.float64)
    if image.ndim != 3 or kernel.shape[:3] != (3, 3, image.shape[2]):
        raise ValueError(f"image {image.shape} and kernel {kernel.shape} do not fit")
    height, width, _ = image.shape
    padded = np.pad(image, ((1, 1), (1, 1), (0, 0)))
    out = np.zeros((height, width, kernel.shape[3]))
    for ky in range(3):
        for kx in range(3):
            out += padded[ky : ky + height, kx : kx + width, :] @ kernel[kx, ky]
    return out + np.asarray(bias, np.float64).reshape(-1)


def numpy_avg_pool2(image):
    """2x2 average pooling, stride 2, odd edges dropped (Keras ``AveragePooling2D(2)``)."""
    image = np.asarray(image, np.float64)
    height, width = image.shape[0] // 2 * 2, image.shape[1] // 2 * 2
    x = image[:height, :width]
    return 0.25 * (x[0::2, 0::2] + x[1::2, 0::2] + x[0::2, 1::2] + x[1::2, 1::2])


def preprocess(image, mean_rgb):
    """``255 * image - mean_rgb`` for one image (height, width, 3) or a batch of one."""
    image = np.asarray(image, np.float64)
    if image.ndim == 4:
        if image.shape[0] != 1:
            raise ValueError("numpy references take one image at a time")
        image = image[0]
    return 255.0 * image - np.asarray(mean_rgb, np.float64).reshape(3)


def numpy_vgg_forward(image, kernels, mean_rgb, n_convs_per_block=VGG19_CONVS, pooling="avg"):
    """Every activation conv1_1 ... pool5 of a VGG given MatConvNet kernels, as the project's
    network computes it (RGB in [0, 1] -> ``255 * image - mean_rgb`` -> convs, ReLUs, average pools).

    ``image``: (1, height, width, 3) or (height, width, 3). Returns ``{name: (height', width', c)}``
    float64 (no batch axis). Stops early if a layer's kernel is absent from ``kernels``.
    """
    if pooling != "avg":
        raise ValueError("only average pooling is used by the project")
    x = preprocess(image, mean_rgb)
    out = {}
    for name, kind in vgg_layer_names(n_convs_per_block):
        if kind == "conv":
            if name not in kernels:
                break
            x = numpy_conv_matconvnet(x, *kernels[name])
        elif kind == "relu":
            x = np.maximum(x, 0.0)
        else:
            x = numpy_avg_pool2(x)
        out[name] = x
    return out


def relative_error(actual, expected):
    """``max |actual - expected| / max |expected|`` (a scale-free distance between activations)."""
    actual = np.asarray(actual, np.float64)
    expected = np.asarray(expected, np.float64)
    if actual.shape != expected.shape:
        raise AssertionError(f"shapes differ: {actual.shape} vs {expected.shape}")
    scale = np.abs(expected).max()
    if scale == 0:
        raise AssertionError("expected activations are all zero: the comparison would be meaningless")
    return float(np.abs(actual - expected).max() / scale)
