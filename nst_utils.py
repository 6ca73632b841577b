"""Helpers for the Neural Style Transfer assignment: settings, the VGG-19 network, and images.

Image convention (everywhere in this project): a float32 array or tensor of shape
``(1, height, width, 3)`` holding RGB values in ``[0, 1]``. Whatever a weights file expects (RGB or
BGR, 0-255 minus a mean pixel) is handled inside the model that ``load_vgg_model`` returns.

    model = load_vgg_model(layers=["relu4_2"])
    activations = model(load_image("images/chelsea.jpg"))  # {"relu4_2": (1, 37, 50, 512) tensor}
"""

import dataclasses
import os
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image, ImageOps, UnidentifiedImageError

from atomic_files import atomic_path
from vgg_weights import NETWORKS, NORMALISED_FILENAME, VGG19_LAYERS, WeightsError

__all__ = [
    "CONFIG",
    "Config",
    "ImageError",
    "WeightsError",
    "VGG19_LAYERS",
    "VGG19Weights",
    "load_vgg_model",
    "read_vgg19",
    "build_vgg_model",
    "check_layer_names",
    "load_image",
    "generate_noise_image",
    "image_suffix",
    "save_image",
]


def _default_weights_path():
    """``$NST_WEIGHTS``, else the first ``pretrained-model/vgg19-normalised.mat`` found in this
    file's folder or one of its parents (so copies of this file in a course tree find it)."""
    if os.environ.get("NST_WEIGHTS"):
        return Path(os.environ["NST_WEIGHTS"])
    here = Path(__file__).resolve().parent
    for folder in (here, *here.parents):
        candidate = folder / "pretrained-model" / NORMALISED_FILENAME
        if candidate.exists():
            return candidate
    return here / "pretrained-model" / NORMALISED_FILENAME


@dataclasses.dataclass
class Config:
    """Settings shared by the notebook and the command line.

    The layers are Gatys et al.'s: the activations after the ReLU (``relu4_2``, not ``conv4_2``), the
    values of filters that fire, as in their Caffe network, whose ReLUs overwrite the convolutions'
    outputs.
    """

    image_width: int = 400  # pixels
    image_height: int = 300  # pixels
    noise_ratio: float = 0.6  # share of noise in the initial generated image
    weights_path: Path = dataclasses.field(default_factory=_default_weights_path)
    content_layer: str = "relu4_2"
    style_layers: tuple = (
        ("relu1_1", 0.2),
        ("relu2_1", 0.2),
        ("relu3_1", 0.2),
        ("relu4_1", 0.2),
        ("relu5_1", 0.2),
    )  # (layer name, weight)


CONFIG = Config()


# --------------------------------------------------------------------------------------------
# VGG-19
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class VGG19Weights:
    """VGG-19's convolutions read from a MatConvNet file.

    ``kernels`` maps conv layer name to ``(kernel, bias)``: kernel of shape (3, 3, in, out) in
    TensorFlow's (height, width, in, out) order, bias of shape (out,), both float32.
    ``mean_rgb`` (3,) is subtracted from ``255 * image`` before conv1_1. ``description``: the file's
    own words about itself (free text). ``network``: which network the file holds, one of
    ``vgg_weights.NETWORKS`` (see ``read_vgg19``).
    """

    kernels: dict
    mean_rgb: np.ndarray
    description: str
    network: str


def _field(struct, name, where):
    """Field ``name`` of a 1x1 MATLAB struct as loaded by scipy (by name: field order varies)."""
    if struct.dtype.names is None or name not in struct.dtype.names:
        raise WeightsError(f"{where} has no field '{name}': not a MatConvNet network")
    return struct[name].reshape(-1)[0]


def _text(value):
    return str(np.asarray(value).reshape(-1)[0]) if np.asarray(value).size else ""


def read_vgg19(path: str | os.PathLike | None = None) -> VGG19Weights:
    """Read and check a MatConvNet VGG-19 ``.mat`` file: an official one (either generation), or the
    ``vgg19-normalised.mat`` made by ``vgg_weights.py``. The network is what ``meta.network``
    records; the official files record none, and are the ImageNet VGG-19 (``"imagenet"``).

    Args:
        path: the ``.mat`` file (default ``CONFIG.weights_path``).

    Returns:
        The ``VGG19Weights``: each conv layer's kernel (3, 3, in, out) and bias (out,), float32, in
        TensorFlow's order, the mean RGB colour, the file's description and its network.

    Raises:
        WeightsError: the file is missing (the message says how to make it), damaged, or not a
            VGG-19 in MatConvNet's layout.
    """
    from scipy.io import loadmat

    path = Path(path if path is not None else CONFIG.weights_path)
    if not path.is_file():
        here = Path(__file__).resolve().parent  # vgg_weights.py's folder too: it writes pretrained-model/ there
        make = ", or `make weights`" if (here / "Makefile").is_file() else ""  # only the course repository has one
        raise WeightsError(
            f"no VGG-19 weights at {path}. To make them (offline), run `python vgg_weights.py normalised` in "
            f"{here}{make}; in a notebook, `!python vgg_weights.py normalised`. The official ImageNet file "
            "instead (510 MB, needs internet): `python vgg_weights.py official`."
        )
    try:
        mat = loadmat(path, variable_names=["layers", "meta", "normalization"])
    except Exception as error:  # scipy raises many kinds for a damaged or foreign file
        raise WeightsError(
            f"{path} is not a readable MatConvNet .mat file (truncated, or another format?): {error}"
        ) from error
    if "layers" not in mat:
        raise WeightsError(f"{path} has no 'layers' variable: not a MatConvNet network")

    layers = {}
    for i, cell in enumerate(np.asarray(mat["layers"]).reshape(-1)):
        struct = np.asarray(cell).reshape(-1)[:1]
        where = f"{path.name}: layer {i + 1}"
        name = _text(_field(struct, "name", where))
        layers[name] = struct

    conv_names = [name for name, kind, _ in VGG19_LAYERS if kind == "conv"]
    file_convs = [name for name in layers if name.startswith("conv")]
    if file_convs and file_convs[-1] == "conv5_3" and len(file_convs) == 13:
        raise WeightsError(
            f"{path} is VGG-16 (13 convolutions); neural style transfer here needs "
            "VGG-19 (16 convolutions, conv1_1 ... conv5_4)"
        )
    missing = [name for name in conv_names if name not in layers]
    if missing:
        raise WeightsError(
            f"{path} is not a complete VGG-19: missing {', '.join(missing)} "
            f"({len(conv_names) - len(missing)} of {len(conv_names)} convolutions found)"
        )

    kernels = {}
    in_channels = 3
    for name in conv_names:
        weights = np.asarray(_field(layers[name], "weights", name)).reshape(-1)
        if weights.size != 2:
            raise WeightsError(f"{path}: {name} should hold [kernel, bias], found {weights.size} arrays")
        kernel = np.asarray(weights[0], np.float32)
        bias = np.asarray(weights[1], np.float32).reshape(-1)
        if kernel.ndim != 4 or kernel.shape[:3] != (3, 3, in_channels) or bias.shape != kernel.shape[3:]:
            raise WeightsError(
                f"{path}: {name} has kernel {kernel.shape} and bias {bias.shape}; "
                f"expected (3, 3, {in_channels}, n) and (n,)"
            )
        # MatConvNet stores kernels as (width, height, in, out); TensorFlow wants (height, width, ...).
        kernels[name] = (np.ascontiguousarray(kernel.transpose(1, 0, 2, 3)), bias)
        in_channels = kernel.shape[3]

    if "meta" in mat:
        normalization = _field(_field(mat["meta"], "normalization", "meta"), "averageImage", "normalization")
    elif "normalization" in mat:
        normalization = _field(mat["normalization"], "averageImage", "normalization")
    else:
        raise WeightsError(f"{path} has neither 'meta' nor 'normalization': the mean pixel is unknown")
    average = np.asarray(normalization, np.float64)
    if average.size % 3:
        raise WeightsError(f"{path}: averageImage of shape {average.shape} is not an RGB image")
    mean_rgb = average.reshape(-1, 3).mean(axis=0).astype(np.float32)

    meta = mat.get("meta")
    meta_fields = () if meta is None else meta.dtype.names or ()
    description = _text(_field(meta, "description", "meta")) if "description" in meta_fields else path.name
    network = _text(_field(meta, "network", "meta")) if "network" in meta_fields else "imagenet"
    if network not in NETWORKS:
        raise WeightsError(f"{path} records the network {network!r}, which is none of {', '.join(NETWORKS)}")
    return VGG19Weights(kernels, mean_rgb, description, network)


def check_layer_names(layers: Iterable[str]) -> None:
    """Raise ``ValueError`` naming the ``layers`` that are not VGG-19 layer names, and the names."""
    all_names = [name for name, _, _ in VGG19_LAYERS]
    unknown = [name for name in layers if name not in all_names]
    if unknown:
        raise ValueError(f"unknown VGG-19 layer(s) {unknown}; choose from {all_names}")


def build_vgg_model(
    weights: VGG19Weights, layers: Iterable[str] | None = None, dtype_policy: str = "float32"
) -> tf.keras.Model:
    """Keras model mapping images (batch, height, width, 3), RGB in [0, 1], to a dict
    ``{layer name: activation (batch, height', width', channels)}`` for the requested ``layers``.
    Pooling is average pooling (as Gatys et al. advise), and the network stops at the deepest
    requested layer.

    Args:
        weights: what ``read_vgg19`` returned.
        layers: the layer names to output (default: all of conv1_1 ... pool5).
        dtype_policy: the Keras dtype policy of every layer (``"bfloat16"`` computes in bfloat16);
            the activations come in its compute dtype.

    Returns:
        The model, not trainable: ``model(images)`` gives ``{layer name: activation}``.

    Raises:
        ValueError: a name in ``layers`` is not a VGG-19 layer (``check_layer_names``).
    """
    all_names = [name for name, _, _ in VGG19_LAYERS]
    layers = list(all_names if layers is None else layers)
    check_layer_names(layers)
    policy = tf.keras.mixed_precision.Policy(dtype_policy)
    deepest = max(all_names.index(name) for name in layers)

    image = tf.keras.Input(shape=(None, None, 3), name="image")
    x = tf.keras.layers.Rescaling(255.0, offset=-weights.mean_rgb, name="preprocess", dtype=policy)(image)
    activations = {}
    for name, kind, _ in VGG19_LAYERS[: deepest + 1]:
        if kind == "conv":
            kernel, bias = weights.kernels[name]
            # Initialised straight from the file's arrays: no random weights drawn only to be replaced.
            x = tf.keras.layers.Conv2D(
                kernel.shape[-1],
                3,
                padding="same",
                name=name,
                dtype=policy,
                kernel_initializer=lambda shape, dtype=None, value=kernel: tf.constant(value, dtype),
                bias_initializer=lambda shape, dtype=None, value=bias: tf.constant(value, dtype),
            )(x)
        elif kind == "relu":
            x = tf.keras.layers.ReLU(name=name, dtype=policy)(x)
        else:
            x = tf.keras.layers.AveragePooling2D(2, name=name, dtype=policy)(x)
        activations[name] = x
    model = tf.keras.Model(image, {name: activations[name] for name in layers}, name="vgg19")
    model.trainable = False
    return model


def load_vgg_model(path: str | os.PathLike | None = None, layers: Iterable[str] | None = None) -> tf.keras.Model:
    """Load VGG-19 from a MatConvNet ``.mat`` file (default ``CONFIG.weights_path``).

    Returns a Keras model: images (batch, height, width, 3), RGB in [0, 1] -> dict of activations
    named as in VGG-19 (``conv1_1``, ``relu1_1``, ..., ``pool5``). ``layers`` picks the outputs
    (default: all); the network is built only up to the deepest of them.
    """
    return build_vgg_model(read_vgg19(path), layers)


# --------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------


class ImageError(ValueError):
    """An image file cannot be read or written."""


MAX_IMAGE_PIXELS = 50_000_000  # refuse larger images before decoding them (decompression bombs)
IMAGE_SUFFIXES = (".bmp", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")  # what save_image writes


def _open_image(path):
    """``Image.open`` without PIL's DecompressionBombWarning: ``_read_rgb`` refuses such images."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(path)


def _read_rgb(path):
    """Decode ``path`` to a float32 (height, width, 3) RGB array in [0, 1]."""
    try:
        with _open_image(path) as im:
            if im.width * im.height > MAX_IMAGE_PIXELS:
                raise ImageError(
                    f"{path} is {im.width}x{im.height} pixels, more than the "
                    f"{MAX_IMAGE_PIXELS:,} allowed; shrink it first"
                )
            im.seek(0)  # first frame of an animation
            im = ImageOps.exif_transpose(im)
            if im.mode in ("I", "I;16", "I;16B", "I;16L"):  # 16-bit grayscale
                gray = np.asarray(im, np.float32) / 65535.0
                return np.repeat(np.clip(gray, 0, 1)[..., None], 3, axis=2)
            return np.asarray(im.convert("RGB"), np.float32) / 255.0
    except FileNotFoundError:
        raise ImageError(f"no such image file: {path}") from None
    except IsADirectoryError:
        raise ImageError(f"{path} is a folder, not an image") from None
    except PermissionError:
        raise ImageError(f"cannot read {path}: permission denied") from None
    except NotADirectoryError:  # e.g. notes.txt/photo.jpg; not "damaged", which the OSError below says
        raise ImageError(f"cannot read {path}: part of the path is a file, not a folder") from None
    except UnidentifiedImageError:
        raise ImageError(f"{path} is not an image format that can be read (use JPEG or PNG)") from None
    except Image.DecompressionBombError as error:
        raise ImageError(f"{path} is too large to open safely: {error}") from None
    except OSError as error:
        raise ImageError(f"{path} is damaged or truncated: {error}") from None


def load_image(path: str | os.PathLike, width: int | None = None, height: int | None = None) -> np.ndarray:
    """Read an image file as a float32 array (1, height, width, 3), RGB in [0, 1].

    Any common format works (JPEG, PNG, ...): grayscale becomes RGB, alpha is dropped, EXIF
    orientation is applied. The image is scaled to cover ``width`` x ``height`` pixels (default
    CONFIG's) and centre-cropped, so its aspect ratio is kept.
    """
    width = width or CONFIG.image_width
    height = height or CONFIG.image_height
    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    image = _read_rgb(path)
    scale = max(width / image.shape[1], height / image.shape[0])
    scaled = (max(height, round(image.shape[0] * scale)), max(width, round(image.shape[1] * scale)))
    resized = tf.image.resize(image, scaled, method="bicubic", antialias=True).numpy()
    top, left = (scaled[0] - height) // 2, (scaled[1] - width) // 2
    cropped = resized[top : top + height, left : left + width]
    return np.clip(cropped, 0.0, 1.0)[None].astype(np.float32)


def generate_noise_image(content: np.ndarray, noise_ratio: float | None = None, seed: int | None = None) -> np.ndarray:
    """Mix ``content`` (1, height, width, 3) with uniform noise: ``ratio * noise + (1 - ratio) * content``.

    ``seed`` makes the noise reproducible (numpy's RandomState). Returns float32 in [0, 1].
    """
    noise_ratio = CONFIG.noise_ratio if noise_ratio is None else noise_ratio
    if not 0.0 <= noise_ratio <= 1.0:
        raise ValueError(f"noise_ratio must be in [0, 1], got {noise_ratio}")
    content = np.asarray(content, np.float32)
    noise = np.random.RandomState(seed).uniform(0.0, 1.0, size=content.shape).astype(np.float32)
    return noise_ratio * noise + (1.0 - noise_ratio) * content


def image_suffix(path: str | os.PathLike) -> str:
    """The suffix of ``path`` in lower case (``".png"``): the format ``save_image`` writes there.
    Raises ``ImageError`` for a suffix that names no format it writes."""
    suffix = Path(path).suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise ImageError(
            f"cannot save {path}: unknown image suffix {Path(path).suffix!r} (use one of {', '.join(IMAGE_SUFFIXES)})"
        )
    return suffix


def save_image(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write ``image`` ((1, height, width, 3) or (height, width, 3), RGB in [0, 1]) to ``path``.

    The format follows the suffix (.png, .jpg, ...). The file appears complete or not at all.
    """
    import imageio.v3 as iio

    path = Path(path)
    suffix = image_suffix(path)
    pixels = np.asarray(image, np.float32)
    if pixels.ndim == 4 and pixels.shape[0] == 1:
        pixels = pixels[0]
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ImageError(f"expected an image of shape (1, height, width, 3), got {np.shape(image)}")
    if not np.isfinite(pixels).all():
        raise ImageError(f"cannot save {path}: the image contains NaN or infinite values")
    pixels = np.round(np.clip(pixels, 0.0, 1.0) * 255.0).astype(np.uint8)
    try:
        with atomic_path(path) as tmp:
            iio.imwrite(tmp, pixels, extension=suffix)
    except OSError as error:
        raise ImageError(f"cannot save {path}: {error}") from None
    return path
