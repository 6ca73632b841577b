"""What a correct function reports for a case, and what typical mistakes report instead.

``expectation(exercise, case)`` is the grader's side of ``nst_checks.judge``. Run as a module, it
rewrites the ``EXPECTED`` table at the end of ``nst_checks.py`` for the visible checks, whose cases
are listed below (``python -m nst_grader.expected``; ``--check`` only reports drift).
"""

import argparse
import re
import sys
from pathlib import Path

import numpy as np

import nst_checks
from nst_grader import reference

REFERENCES = {
    "content_cost": reference.content_cost,
    "gram_matrix": reference.gram_matrix,
    "layer_style_cost": reference.layer_style_cost,
    "style_cost": reference.style_cost,
    "total_cost": reference.total_cost,
}
# The stand-in world first (what a student who calls the function sees), then the true one.
WORLDS = {"layer_style_cost": ({"stand_in_gram": True}, {}), "style_cost": ({"stand_in_layer": True}, {})}

# The inputs of the visible checks. The graded cells' inputs are in the source notebook only.
VISIBLE_CASES = {
    "content_cost": (1, (1, 4, 3, 5)),
    "gram_matrix": (2, (3, 5)),
    "layer_style_cost": (3, (1, 4, 3, 5)),
    "style_cost": (
        4,
        (
            ("relu3_1", (1, 2, 3, 4), 0.5),
            ("relu1_1", (1, 4, 3, 2), 0.3),
            ("relu2_1", (1, 3, 2, 4), None),
            ("relu4_1", (1, 2, 4, 3), None),
            ("relu4_2", (1, 2, 4, 3), None),
            ("relu5_1", (1, 1, 2, 3), None),
        ),
    ),
    "total_cost": (5, (3.0, 0.5)),
    "train_step": (6, ((1, 3, 5, 3), 16.0)),
}


def _float64(value):
    if isinstance(value, dict):
        return {name: np.asarray(array, np.float64) for name, array in value.items()}
    return np.asarray(value, np.float64) if isinstance(value, np.ndarray | np.generic) else value


def _step_expectation(case, args):
    """``{"case", "steps", "mistakes"}`` of ``train_step`` (see ``nst_checks._wrong_steps``)."""
    steps = [
        {
            "image": nst_checks.entries(step["image"]),
            "costs": [float(cost) for cost in step["costs"]],
            "costs_after": [float(cost) for cost in step["costs_after"]],
        }
        for step in reference.train_step(*args)
    ]
    mistakes = [
        [
            reference.HINT_OF_FORM.get(form, form),
            nst_checks.entries(reference.train_step(*args, mistake=form)[0]["image"]),
        ]
        for form in reference.MISTAKE_FORMS["train_step"]
    ]
    return {"case": case, "steps": steps, "mistakes": mistakes}


def expectation(exercise: str, case: tuple) -> dict[str, object]:
    """For ``nst_checks.judge``: ``{"case", "variants", "mistakes"}`` of a cost exercise, or
    ``{"case", "steps", "mistakes"}`` of ``train_step`` (see there). Every value and gradient is
    whole, as the entries that ``nst_checks.entries`` gives."""
    arrays, _ = nst_checks.make_inputs(exercise, case)
    args = [_float64(value) for value in arrays]
    if exercise == "train_step":
        return _step_expectation(case, args)
    function = REFERENCES[exercise]
    direction = nst_checks.gradient_direction(exercise, case)
    if direction is not None:
        args.append(direction)
    variants, mistakes = [], []
    for world in WORLDS.get(exercise, ({},)):
        value, gradients = function(*args, **world)
        flat = np.concatenate([np.ravel(gradient) for gradient in gradients])
        variants.append(
            {"shape": list(np.shape(value)), "value": nst_checks.entries(value), "gradient": nst_checks.entries(flat)}
        )
        for form in reference.MISTAKE_FORMS[exercise]:
            mistaken = function(*args, **world, mistake=form)[0]
            mistakes.append([reference.HINT_OF_FORM.get(form, form), nst_checks.entries(mistaken)])
    return {"case": case, "variants": variants, "mistakes": mistakes}


def _rounded(value):
    """``value`` with its floats to 8 significant digits (far below the checks' tolerance)."""
    if isinstance(value, float):
        return float(f"{value:.8g}")
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_rounded(item) for item in value)
    return value


def expected_table() -> str:
    """The source of the ``EXPECTED`` table for the visible checks."""
    lines = ["EXPECTED = {"]
    for exercise, case in VISIBLE_CASES.items():
        entry = _rounded(expectation(exercise, case))
        lines.append(f"    {exercise!r}: {{")
        lines.append(f"        'case': {entry.pop('case')!r},")
        for key, items in entry.items():  # one item a line
            lines.append(f"        {key!r}: [")
            lines += [f"            {item!r}," for item in items]
            lines.append("        ],")
        lines.append("    },")
    return "\n".join(lines + ["}"]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report whether the table is current")
    arguments = parser.parse_args(argv)
    path = Path(nst_checks.__file__).resolve()
    text = path.read_text()
    block = re.compile(r"(# BEGIN EXPECTED\n).*(# END EXPECTED\n)", re.S)
    updated = block.sub(lambda match: match.group(1) + expected_table() + match.group(2), text)
    if arguments.check:
        print(f"{path}: " + ("current" if updated == text else "out of date"))
        return 0 if updated == text else 1
    path.write_text(updated)
    print(f"wrote the expected results of the checks into {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
