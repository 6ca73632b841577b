"""The notebook's figures (``scripts/make_notebook_figures.py``, ``make figures``): what they compute, that
the committed ones are small and reachable from the notebook's folder, and that the reference result
was made with the settings the notebook uses now."""

import ast
import importlib.util
import json
import math
import subprocess
import sys

import nbformat
import numpy as np
import pytest
from PIL import Image

from course import ROOT, SOURCE_DIR, SOURCE_NOTEBOOK, cell_by_grade_id
from nst_utils import CONFIG

SCRIPT = ROOT / "scripts" / "make_notebook_figures.py"
FIGURES = ROOT / "images" / "figures"
PNGS = ("unrolling.png", "gram.png", "reference_result.png")
MAX_PNG_BYTES = 150 * 1024  # they ship with the student bundle
WEIGHTS = ROOT / "pretrained-model" / "vgg19-normalised.mat"


def _load_script():
    spec = importlib.util.spec_from_file_location("make_notebook_figures", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


figures = _load_script()


def test_unrolling_makes_each_channel_a_row_read_row_by_row():
    volume = figures.unrolling_volume()
    n_h, n_w, n_c = volume.shape
    assert (n_h, n_w, n_c) == (3, 4, 3)

    matrix = figures.unroll(volume)

    assert matrix.shape == (n_c, n_h * n_w)
    for c in range(n_c):
        assert matrix[c].tolist() == [volume[h, w, c] for h in range(n_h) for w in range(n_w)]
        assert matrix[c].tolist() == list(range(c * n_h * n_w + 1, (c + 1) * n_h * n_w + 1))


def test_gram_channels_pick_a_pair_that_fires_together_and_one_that_does_not():
    """Channel 3 is the most active; 7 fires where 3 does, 5 (also active) fires elsewhere."""
    rng = np.random.RandomState(0)
    activation = rng.uniform(0.0, 0.05, size=(8, 10, 12)).astype(np.float32)
    activation[:4, :5, 3] += 3.0
    activation[:4, :5, 7] += 2.0
    activation[4:, 5:, 5] += 2.5

    channels, gram = figures.gram_channels(activation)

    assert channels[:3] == [3, 7, 5]
    assert len(channels) == len(set(channels)) == figures.GRAM_CHANNELS
    unrolled = activation.reshape(-1, 12).astype(np.float64)
    np.testing.assert_allclose(gram, unrolled.T @ unrolled, rtol=1e-6)


@pytest.mark.parametrize("name", PNGS)
def test_committed_figure_is_small_and_reachable_from_the_notebook(name):
    path = FIGURES / name
    assert path.stat().st_size < MAX_PNG_BYTES, f"{name}: {path.stat().st_size} bytes"
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert min(image.size) >= 200, image.size
    link = SOURCE_DIR / "images" / "figures" / name
    assert link.is_symlink() and link.resolve() == path.resolve()


def _notebook_values():
    """What the source notebook's generate() runs with: its parameters, STYLE_LAYERS and defaults."""
    notebook = nbformat.read(SOURCE_NOTEBOOK, as_version=4)
    [parameters] = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    values = {}
    for node in ast.parse(parameters.source).body + ast.parse(cell_by_grade_id(notebook, "style_layers").source).body:
        if isinstance(node, ast.Assign):
            values[node.targets[0].id] = ast.literal_eval(node.value)
    [generate] = [
        node
        for cell in notebook.cells
        if cell.cell_type == "code" and "def generate(" in cell.source
        for node in ast.parse(cell.source).body
        if isinstance(node, ast.FunctionDef) and node.name == "generate"
    ]
    arguments = generate.args.args[-len(generate.args.defaults) :]
    for argument, default in zip(arguments, generate.args.defaults):
        if argument.arg in ("alpha", "beta", "seed"):
            values[argument.arg] = ast.literal_eval(default)
    return values


def test_reference_result_was_made_with_the_notebooks_settings():
    record = json.loads((FIGURES / "reference_result.json").read_text())
    notebook = _notebook_values()

    assert record["optimizer"] == "adam"
    assert record["steps"] == notebook["NUM_STEPS"] == figures.NUM_STEPS
    assert record["learning_rate"] == notebook["LEARNING_RATE"] == figures.LEARNING_RATE
    assert (record["alpha"], record["beta"], record["seed"]) == (notebook["alpha"], notebook["beta"], notebook["seed"])
    assert list(record["style_layers"].items()) == [tuple(pair) for pair in notebook["STYLE_LAYERS"]]
    assert record["content_layer"] == CONFIG.content_layer
    assert record["size"] == [CONFIG.image_width, CONFIG.image_height]
    assert record["noise_ratio"] == CONFIG.noise_ratio
    assert (record["content"], record["style"]) == ("images/chelsea.jpg", "images/swirls.jpg")
    assert record["precision"] == "float32"

    assert record["seconds"] > 0 and math.isclose(
        record["seconds_per_step"], record["seconds"] / record["steps"], rel_tol=0.01
    )
    assert record["cpu"] and record["cpu_cores"] >= 1
    costs = record["final_costs"]
    assert all(math.isfinite(value) and value > 0 for value in costs.values()), costs
    assert math.isclose(
        costs["J"], record["alpha"] * costs["J_content"] + record["beta"] * costs["J_style"], rel_tol=1e-4
    )


@pytest.mark.skipif(not WEIGHTS.exists(), reason=f"needs {WEIGHTS.relative_to(ROOT)} (make weights)")
def _run_script(*figures, out):
    return subprocess.run(
        [sys.executable, str(SCRIPT), *figures, "--out", str(out)], capture_output=True, text=True, timeout=300
    )


def test_script_draws_the_unrolling_and_gram_figures(tmp_path):
    result = _run_script("unrolling", "gram", out=tmp_path)

    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["gram.png", "unrolling.png"]
    for path in tmp_path.iterdir():
        assert path.stat().st_size < MAX_PNG_BYTES, path
        with Image.open(path) as image:
            image.verify()


def test_script_refuses_an_unknown_figure(tmp_path):
    result = _run_script("unrolling", "mona_lisa", out=tmp_path)

    assert result.returncode == 2, result.stderr[-3000:]
    assert "unknown figure(s) mona_lisa; choose from unrolling, gram, reference" in result.stderr
    assert list(tmp_path.iterdir()) == []
