"""One real run of the source notebook: it runs top to bottom, each suggestion of section 8 changes the
picture, and each exploration of section 9 shows what its text claims, in numbers.

The notebook runs in a Jupyter kernel of this virtual environment, with the real weights, shrunk to a
few steps on tiny images (``helpers.shrink_run``), with the costs printed every other step and
``EXPLORE = True`` at a tiny size, and with ``IN_COLAB = True`` set after the setup cell, so that the
figure cells show the figures as they do in Colab. After the notebook's last cell, the same kernel
tries every suggestion written in section 8's text as the text says (the settings cell with that one line
changed and ``TRY_MY_SETTINGS = True``, then the cell that generates), and a last cell measures the
results and prints them as JSON. The claims are about what the optimisation does, so the explorations
need enough steps to show them even on tiny images: 15 at 48 x 64 (after 10, Adam's first steps still
leave 9.5's half-and-half blend closer to the mosaic than the mosaic's own result is).
"""

import base64
import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell
from PIL import Image

from course import ASSIGNMENT, NOTEBOOK, ROOT, SOURCE_DIR, cell_by_grade_id, read_notebook
from helpers import shrink_run

WEIGHTS = ROOT / "pretrained-model" / "vgg19-normalised.mat"
STEPS = 8  # section 7 and the suggestions, at 64 x 48
PRINT_EVERY = 2
EXPLORE_SETTINGS = "EXPLORE = True\nEXPLORE_HEIGHT, EXPLORE_WIDTH = 48, 64\nEXPLORE_STEPS = 15"
SUGGESTION = re.compile(r"`(my_\w+(?:, my_\w+)* = [^`]+)`")  # a line of the settings cell, quoted in the text
CHANGED = 1 / 255  # a mean change of one grey level per pixel counts as a change of the picture

pytestmark = pytest.mark.skipif(not WEIGHTS.exists(), reason=f"needs {WEIGHTS.relative_to(ROOT)} (make weights)")

# Run in the kernel after the notebook: the numbers that each exploration's text makes a claim about.
MEASURE = """
import json

_names = [name for name, _ in STYLE_LAYERS]
_model = build_vgg_model(VGG19, [CONFIG.content_layer, *_names])


def _style_costs(image, style):
    targets, activations = _model(style), _model(image)
    return [float(compute_layer_style_cost(targets[name], activations[name])) for name in _names]


def _content_cost(image):
    layer = CONFIG.content_layer
    return float(compute_content_cost(_model(small_content)[layer], _model(image)[layer]))


def _chroma_distance(image, reference):
    return float(np.sqrt(np.mean(((image - reference) @ RGB_TO_YIQ[1:].T) ** 2)))


print(json.dumps({
    "reconstruction_distances": [[layer, float(distance)] for layer, distance in zip(content_layers, distances)],
    "texture_style_costs": [_style_costs(texture, small_style) for texture in textures],
    "ratio_content_costs": [[beta, _content_cost(result)] for beta, result in zip(betas, results)],
    "chroma_distances": {"style colours": _chroma_distance(coloured, small_content),
                         "content colours": _chroma_distance(with_colours_of(grey, small_content), small_content)},
    "blend_style_costs": [[blend, sum(_style_costs(image, small_style)), sum(_style_costs(image, second_style))]
                          for blend, image in zip(blends, mixed)],
    "suggestion_changes": {line: float(np.mean(np.abs(image - _tried["baseline"])))
                           for line, image in _tried.items() if line != "baseline"},
}))
"""


def _setting(source, line):
    """``source`` (the settings cell) with the line that sets the same names as ``line`` replaced by it."""
    names = line.split(" = ", 1)[0]
    source, count = re.subn(rf"(?m)^{re.escape(names)} = .*$", lambda _: line, source)
    assert count == 1, f"`{line}` replaces no single line of the settings cell:\n{source}"
    return source


def _trying(settings, generating, line):
    """Cells that run the settings cell with ``line`` (None: as it is), then the generating cell, and keep
    the picture in ``_tried``."""
    source = _setting(settings if line is None else _setting(settings, line), "TRY_MY_SETTINGS = True")
    keep = f"_tried = globals().get('_tried', {{}})\n_tried[{line or 'baseline'!r}] = my_generated"
    return [new_code_cell(source), new_code_cell(generating), new_code_cell(keep)]


def _execute(notebook, folder):
    """Run every cell of ``notebook`` (in place) as Jupyter does: in a kernel of this virtual environment
    (kernelspec ``python3``, whose argv "python" jupyter_client replaces with sys.executable) started in
    ``folder``, with inline figures, not on the grading path (no ``NBGRADER_EXECUTION``), and with the real
    weights (the helpers copied into ``folder`` would look for them above it). A cell that raises fails the
    test, with its traceback."""
    env = {key: value for key, value in os.environ.items() if key not in ("NBGRADER_EXECUTION", "MPLBACKEND")}
    env.update(NST_WEIGHTS=str(WEIGHTS), TF_CPP_MIN_LOG_LEVEL="2")
    client = NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(folder)}})
    client.execute(env=env)


class Run(NamedTuple):
    notebook: object  # the executed notebook
    folder: Path  # where it ran
    suggestions: list  # the lines of the settings cell that section 8's text suggests
    measured: dict  # what MEASURE printed


def _increasing(values, length):
    """True if ``values`` are ``length`` numbers (so that a short or empty list cannot pass), each above
    the one before."""
    return len(values) == length and all(a < b for a, b in zip(values, values[1:]))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One run of the notebook (see the module's docstring)."""
    workdir = tmp_path_factory.mktemp("notebook") / ASSIGNMENT
    shutil.copytree(
        SOURCE_DIR, workdir, symlinks=False, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints")
    )
    notebook = read_notebook(workdir / NOTEBOOK)
    shrink_run(notebook, steps=STEPS)
    setup = notebook.cells.index(cell_by_grade_id(notebook, "setup"))
    notebook.cells.insert(setup + 1, new_code_cell("IN_COLAB = True  # as in Colab: the figure cells show the figures"))
    [parameters] = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    parameters.source = _setting(parameters.source, f"PRINT_EVERY = {PRINT_EVERY}")
    [explore] = [cell for cell in notebook.cells if cell.source.startswith("EXPLORE = False")]
    explore.source, count = re.subn(r"(?s)^.*?EXPLORE_STEPS = \d+", EXPLORE_SETTINGS, explore.source)
    assert count == 1, explore.source

    suggestions = SUGGESTION.findall(cell_by_grade_id(notebook, "own_images_text").source)
    [settings] = [cell.source for cell in notebook.cells if "TRY_MY_SETTINGS = False" in cell.source]
    [generating] = [cell.source for cell in notebook.cells if cell.source.startswith("if TRY_MY_SETTINGS")]
    for line in [None, *suggestions]:
        notebook.cells += _trying(settings, generating, line)
    notebook.cells += [new_code_cell("import sys\nprint(sys.prefix)"), new_code_cell(MEASURE)]

    _execute(notebook, workdir)
    printed = "".join(output.get("text", "") for output in notebook.cells[-1].outputs)
    return Run(notebook, workdir, suggestions, json.loads(printed.strip().splitlines()[-1]))


def _printed(cell):
    return "".join(output.get("text", "") for output in cell.outputs)


def _shows_a_figure(cell):
    return any("image/png" in output.get("data", {}) for output in cell.get("outputs", []))


def test_figure_cells_show_the_texts_figures_in_colab(run):
    """Colab does not display a text cell's pictures from the course folder: in Colab, the code cell after
    each text cell with a figure shows that figure, byte for byte. No other picture of the folder is used."""
    cells = run.notebook.cells
    pictures = [
        (index, path)
        for index, cell in enumerate(cells)
        if cell.cell_type == "markdown"
        for path in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", cell.source)
        if not path.startswith("https://")  # the "Open in Colab" badge
    ]
    assert sorted(path for _, path in pictures) == [
        f"images/figures/{name}.png" for name in ("gram", "reference_result", "unrolling")
    ]
    for index, path in pictures:
        shown = [
            output["data"]["image/png"]
            for output in cells[index + 1].get("outputs", [])
            if "image/png" in output.get("data", {})
        ]
        expected = base64.b64encode((run.folder / path).read_bytes()).decode()
        assert [item.replace("\n", "") for item in shown] == [expected], f"the cell after the text with {path}"


def test_source_notebook_runs_top_to_bottom(run):
    """Every cell runs, in this virtual environment's kernel; section 7 saves and shows its result, prints
    the costs and the reference result's time; the images, the cost curves and each exploration show
    their figures."""
    notebook, workdir = run.notebook, run.folder
    # The kernel is this virtual environment's.
    [prefix_cell] = [cell for cell in notebook.cells if cell.source == "import sys\nprint(sys.prefix)"]
    assert Path(_printed(prefix_cell).strip()).resolve() == Path(sys.prefix).resolve()

    with Image.open(workdir / "outputs" / "generated.png") as image:
        assert image.size == (64, 48)
    assert (workdir / "outputs" / "result.png").exists()  # the content | style | generated figure
    [generate_cell] = [cell for cell in notebook.cells if 'save_image("outputs/generated.png"' in cell.source]
    printed = _printed(generate_cell)
    assert "saved outputs/generated.png" in printed
    progress = [
        output
        for output in generate_cell.outputs  # tqdm.auto: a widget, or text without one
        if "application/vnd.jupyter.widget-view+json" in output.get("data", {})
        or f"{STEPS}/{STEPS}" in output.get("text", "")
    ]
    assert progress, generate_cell.outputs
    # The costs, every PRINT_EVERY steps, as section 7 says.
    lines = re.findall(r"(?m)^step (\d+): J_content = \S+, J_style = \S+, J = \S+$", printed)
    assert lines == [str(step) for step in range(PRINT_EVERY, STEPS + 1, PRINT_EVERY)], printed

    figures = {
        "the images": 'CONTENT_IMAGE = "images/',
        "the result": 'save_image("outputs/generated.png"',
        "the cost curves": "semilogy",
    }
    for what, text in figures.items():
        [cell] = [cell for cell in notebook.cells if text in cell.source]
        assert _shows_a_figure(cell), f"no figure of {what}"
    explorations = [
        cell
        for cell in notebook.cells
        if "if EXPLORE and not GRADING:" in cell.source and "show_images(" in cell.source
    ]
    assert len(explorations) == 5, [cell.source[:60] for cell in explorations]
    assert all(map(_shows_a_figure, explorations)), [
        cell.source[:60] for cell in explorations if not _shows_a_figure(cell)
    ]


def test_every_suggestion_changes_the_picture(run):
    """Section 8: each line its text suggests, put into the settings cell, changes the generated picture."""
    suggestions = run.suggestions
    # One for each kind of setting: the images, the steps, alpha and beta, the style and content layers.
    assert sorted(line.split(" = ", 1)[0] for line in suggestions) == sorted(
        ["my_content_image, my_style_image", "my_steps", "my_alpha, my_beta", "my_style_layers", "my_content_layer"]
    ), suggestions
    changes = run.measured["suggestion_changes"]
    assert sorted(changes) == sorted(suggestions)
    unchanged = {line: change for line, change in changes.items() if change < CHANGED}
    assert not unchanged, f"mean change of a pixel below {CHANGED:.4f}: {unchanged}"
    assert (run.folder / "outputs" / "my_generated.png").exists()


def test_shallow_layers_reconstruct_the_content_more_closely(run):
    """9.1: the reconstructions from relu1_2 to relu3_2 are closer to the content's pixels (in RMS distance)
    than the one from relu4_2, and the one from relu5_2 is the farthest."""
    distances = dict(run.measured["reconstruction_distances"])
    shallow = [distances[layer] for layer in ("relu1_2", "relu2_2", "relu3_2")]
    assert _increasing([max(shallow), distances["relu4_2"], distances["relu5_2"]], 3), distances


def test_each_added_style_layer_matches_the_style_at_its_scale(run):
    """9.2: the texture made with one more layer matches the style better at that layer than the texture
    made without it."""
    costs = np.array(run.measured["texture_style_costs"])  # [texture, layer]: texture k uses layers 0 ... k
    assert costs.ndim == 2 and 1 < len(costs) <= costs.shape[1], costs  # at least two textures to compare
    assert all(costs[k, k] < costs[k - 1, k] for k in range(1, len(costs))), costs


def test_larger_beta_moves_the_result_away_from_the_content(run):
    """9.3: the larger beta / alpha, the larger the content cost of the result."""
    costs = run.measured["ratio_content_costs"]  # [[beta, content cost], ...]: betas 4, 40, 400
    assert _increasing([beta for beta, _ in costs], 3) and _increasing([cost for _, cost in costs], 3), costs


def test_content_colours_keep_the_photos_colours(run):
    """9.4: the colour (YIQ's I and Q) of "content colours" is much closer to the photo's than the colour of
    "style colours"."""
    distances = run.measured["chroma_distances"]
    assert distances["content colours"] < 0.25 * distances["style colours"], distances


def test_blend_weights_move_the_result_from_one_style_to_the_other(run):
    """9.5: as the weight moves from the swirls to the mosaic, the style cost to the swirls rises and the
    style cost to the mosaic falls."""
    blends = run.measured["blend_style_costs"]  # [[weights of swirls and mosaic], cost to swirls, cost to mosaic]
    assert _increasing([weights[1] for weights, _, _ in blends], 3), blends  # 3 blends
    assert _increasing([to_swirls for _, to_swirls, _ in blends], 3), blends
    assert _increasing([-to_mosaic for _, _, to_mosaic in blends], 3), blends


def test_fewer_steps_than_snapshot_every_still_draws_the_cost_curves(monkeypatch):
    """Section 7 suggests lowering NUM_STEPS on a slow computer: below SNAPSHOT_EVERY no image is kept, and
    the cell of the cost curves shows the curves alone instead of failing. Its cells run here in process
    (the imports, the layers, the settings, ``generate`` and ``show_images``, the curves) with three steps'
    costs and no snapshot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.syspath_prepend(str(SOURCE_DIR))
    notebook = read_notebook(SOURCE_DIR / NOTEBOOK)
    [parameters] = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    [functions] = [cell for cell in notebook.cells if cell.source.startswith("def generate(")]
    [curves] = [cell for cell in notebook.cells if "semilogy" in cell.source]
    imports, layers = (cell_by_grade_id(notebook, grade_id) for grade_id in ("imports", "style_layers"))
    scope = {}
    for cell in (imports, layers, parameters, functions):
        exec(cell.source, scope)  # noqa: S102 - the course's own notebook
    assert "NUM_STEPS" in parameters.source and "SNAPSHOT_EVERY" in parameters.source
    scope.update(GRADING=False, costs=np.ones((3, 3)), snapshots=[])
    plt.close("all")
    exec(curves.source, scope)  # noqa: S102
    figures = [plt.figure(number) for number in plt.get_fignums()]
    assert len(figures) == 1 and figures[0].axes[0].get_yscale() == "log", figures
    plt.close("all")
