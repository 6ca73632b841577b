"""What a failed graded cell computed, in a compact canonical form, and its name (issue #31).

Students who make the same mistake compute the same wrong numbers on the same hidden inputs (every
student gets the same inputs: ``nst_grader.secret``). ``summarise`` runs in the grader, right after
``nst_grader.scoring`` judged a cell, and keeps, instead of the reported entries, how they relate
to the reference: per hidden case, the error type raised, the shape returned, or the ratio of the
value (or of its gradient) to the reference when it is one constant, else two rounded figures of it.
``scoring`` stores it in the graded cell's metadata (``METADATA_KEY``) of the autograded notebook,
which only the instructor reads; ``nst_grader.clusters`` groups students by it.

``signature`` is what identifies a mistake: the hint's name when the checks recognise the mistake,
else a factor written in the case's dimensions (``×4``, ``×n_C``, ``×1/(n_H·n_W)``) when one explains
every case, else the whole summary. The first two do not depend on the inputs, so a cluster keeps
its key when the class is regraded, when a late submission arrives and when the course's key is
rotated; the last keeps it as long as the key does.
"""

import functools
import hashlib
import itertools
import json
import math
from fractions import Fraction

import numpy as np

import nst_checks

METADATA_KEY = "nst_grader_behaviour"
SIGNIFICANT = 3  # digits kept of a ratio or a figure: far above float32's noise (1e-6), far below a mistake's
SIMPLE_FACTORS = (1, 2, 4, 8, 16, 3)
MAX_POWER = 2  # of each dimension in a factor that depends on the shape
ROUNDING = 6e-3  # a ratio rounded to SIGNIFICANT digits is within this of the true one (5e-3 at most)


def rounded(number: float | None) -> float | None:
    """``number`` to ``SIGNIFICANT`` significant digits (None for NaN or infinity)."""
    if number is None or not math.isfinite(number):
        return None
    return float(f"{number:.{SIGNIFICANT}g}")


def relation(got: list[float], want: list[float]) -> dict[str, object]:
    """How entries ``got`` relate to the reference entries ``want`` (flat lists, ``nst_checks.entries``):
    ``{"ratio": r}`` when ``got`` is ``r`` times ``want`` (within the checks' tolerance), else
    ``{"figures": [sum, root mean square]}`` of ``got``, or ``{"entries": "not finite"}``."""
    g, w = nst_checks.as_array(got), nst_checks.as_array(want)
    if g.shape != w.shape or not np.all(np.isfinite(g)):
        return {"entries": "not finite" if g.shape == w.shape else "another size"}
    norm = float(w @ w)
    if norm > 0:
        ratio = float(g @ w) / norm
        if math.isfinite(ratio) and nst_checks.close(list(g), list(ratio * w)):
            return {"ratio": rounded(ratio)}
    return {"figures": [rounded(float(np.sum(g))), rounded(float(np.sqrt(np.mean(g**2))))]}


def _cost_case(run, expectation):
    """The summary of one case's checked run (``nst_grader.scoring._run``) of a cost exercise."""
    if "error" in run:
        return {"raised": run["error"]}
    if "value" not in run:
        return {"returned": run.get("kind")}
    variants = expectation["variants"]
    if run["shape"] != variants[0]["shape"]:
        return {"shape": run["shape"]}
    matches = [variant for variant in variants if nst_checks.close(run["value"], variant["value"])]
    if not matches:
        relations = [relation(run["value"], variant["value"]) for variant in variants]
        return {"value": next((found for found in relations if "ratio" in found), relations[0])}
    if run["kind"] != "tensor":
        return {"value": "right", "kind": run["kind"]}
    if run["gradient"] is None:
        return {"value": "right", "gradient": None}
    if any(nst_checks.close(run["gradient"], variant["gradient"]) for variant in matches):
        return {"value": "right", "gradient": "right"}
    return {"value": "right", "gradient": relation(run["gradient"], matches[0]["gradient"])}


def _step_case(run, expectation):
    """The summary of one case's checked run of ``train_step``: the optimizer's count, what each step
    returned, and how each image after a step relates to the expected one."""
    if "error" in run:
        return {"raised": run["error"]}
    return {
        "iterations": run["iterations"],
        "returned": [step["returned"]["kind"] for step in run["steps"]],
        "images": [
            "right" if nst_checks.close(step["image"], want["image"]) else relation(step["image"], want["image"])
            for step, want in zip(run["steps"], expectation["steps"])
        ],
    }


def _graph(of_case, runs, expectation):
    """The run inside tf.function: the error type it raised, or whether it computed the same."""
    if "error" in runs["graph"]:
        return {"raised": runs["graph"]["error"]}
    return "same" if of_case(runs["graph"], expectation) == of_case(runs["eager"], expectation) else "differs"


def hint_key(message: str) -> str | None:
    """The ``nst_checks.HINTS`` key whose text a verdict holds, or None."""
    return next((key for key, text in nst_checks.HINTS.items() if text in message), None)


def summarise(
    exercise: str,
    cases: list[tuple],
    checked_runs: list[dict] | None,
    expectations: list[dict] | None,
    message: str,
) -> dict[str, object]:
    """The behaviour of a failed graded cell: ``{"exercise", "hint", "cases"}``, each case
    ``{"dimensions", "eager", "graph"}``. ``checked_runs`` are ``{"eager", "graph"}`` per case
    (``nst_grader.scoring._run``), or None where the cell reported nothing usable."""
    summary = {"exercise": exercise, "hint": hint_key(message), "cases": None}
    if checked_runs is None:
        summary["cell"] = message.split(": ", 1)[-1].split(" (", 1)[0].rstrip(".")  # stopped, no result, malformed
        return summary
    of_case = _step_case if exercise == "train_step" else _cost_case
    summary["cases"] = [
        {
            "dimensions": nst_checks.case_dimensions(exercise, case),
            "eager": of_case(runs["eager"], expectation),
            "graph": _graph(of_case, runs, expectation),
        }
        for case, runs, expectation in zip(cases, checked_runs, expectations)
    ]
    return summary


# ------------------------------------------------------------------------------------------------
# Names and keys


def _power(symbol, exponent):
    return symbol if exponent == 1 else f"{symbol}{'²' if exponent == 2 else '^' + str(exponent)}"


def _written(constant, exponents):
    """``×c·n_C²`` or ``×1/(4·n_C)``: a factor in words."""
    numerator = [str(constant.numerator)] if constant.numerator != 1 else []
    denominator = [str(constant.denominator)] if constant.denominator != 1 else []
    for symbol, exponent in exponents.items():
        if exponent > 0:
            numerator.append(_power(symbol, exponent))
        elif exponent < 0:
            denominator.append(_power(symbol, -exponent))
    top = "·".join(numerator) or "1"
    if not denominator:
        return f"×{top}"
    bottom = denominator[0] if len(denominator) == 1 else f"({'·'.join(denominator)})"
    return f"×{top}/{bottom}"


@functools.cache
def _candidates(count):
    """The constants and the powers of ``count`` dimensions a factor may have, simplest first."""
    constants = sorted(
        {Fraction(sign * n, 1) for n in SIMPLE_FACTORS for sign in (1, -1)}
        | {Fraction(sign, n) for n in SIMPLE_FACTORS for sign in (1, -1)},
        key=lambda c: (c < 0, max(c.numerator, c.denominator), c.denominator),
    )
    powers = sorted(
        itertools.product(range(-MAX_POWER, MAX_POWER + 1), repeat=count),
        key=lambda p: (sum(map(abs, p)), [-e for e in p]),
    )
    return constants, powers


def fit_factor(ratios: list[float | None], dimensions_of_cases: list[dict[str, int]]) -> dict[str, object] | None:
    """The simplest factor ``c · Π dimension^power`` (c in ``SIMPLE_FACTORS`` or its inverse, with a
    sign; powers up to ``MAX_POWER``) that gives every case's ratio: ``{"constant": [numerator,
    denominator], "powers": {dimension: power}}``, or None. All candidates are tried at once (numpy)."""
    symbols = sorted(dimensions_of_cases[0]) if dimensions_of_cases else []
    if any(sorted(dims) != symbols for dims in dimensions_of_cases) or None in ratios:
        return None
    constants, powers = _candidates(len(symbols))
    sizes = np.array([[dims[s] for s in symbols] for dims in dimensions_of_cases], np.float64)  # cases x symbols
    products = np.prod(sizes[None, :, :] ** np.array(powers, np.float64)[:, None, :], axis=2)  # powers x cases
    predicted = (
        np.array([float(c) for c in constants])[None, :, None] * products[:, None, :]
    )  # powers x constants x cases
    fits = np.all(np.abs(np.array(ratios)[None, None, :] - predicted) <= ROUNDING * np.abs(predicted), axis=2)
    if not fits.any():
        return None
    power, constant = np.unravel_index(int(np.argmax(fits)), fits.shape)  # the first: simplest powers, then constant
    return {
        "constant": [constants[constant].numerator, constants[constant].denominator],
        "powers": dict(zip(symbols, (int(e) for e in powers[power]))),
    }


def factor_name(factor: dict) -> str:
    """A factor in words: ``×4``, ``×n_C²``, ``×1/(4·n_C)``, or ``the wrong sign`` for ×-1."""
    constant = Fraction(*factor["constant"])
    if constant == -1 and not any(factor["powers"].values()):
        return "the wrong sign"
    return _written(constant, factor["powers"])


def _relation_name(what, relations, dims):
    """``(name, factor)``: how ``what`` (value, gradient) relates to the reference over the cases, and
    the factor in the dimensions that explains it (``fit_factor``; the same whatever the inputs), if any."""
    if not all("ratio" in found for found in relations):
        return f"the {what} is unrelated to the reference", None
    ratios = [found["ratio"] for found in relations]
    factor = fit_factor(ratios, dims)
    if factor is None:
        if len(set(ratios)) == 1:
            return f"the {what} is ×{ratios[0]:g} the reference", None
        return f"the {what} is off by a factor that depends on the inputs", None
    name = factor_name(factor)
    if name == "the wrong sign":
        return f"the {what} has the wrong sign", factor
    if any(factor["powers"].values()) and len(set(ratios)) > 1:
        return f"the {what} is off by a factor that depends on the shape: {name}", factor
    return f"the {what} is {name} the reference", factor


def _steps_name(steps):
    """What went wrong first in a run of ``train_step`` (``_step_case``), in words."""
    wrong = [number for number, image in enumerate(steps["images"], 1) if image != "right"]
    if steps["iterations"] != len(steps["images"]):
        return f"the optimizer took {steps['iterations']} steps in {len(steps['images'])} calls"
    if wrong:
        return f"the image after step {wrong[0]} is wrong"
    return "the images are right, the returned costs are not"


def describe(summary: dict) -> dict[str, object]:
    """``{"name", "signature", "factor"}`` of a behaviour. The name is the hint's text when the checks
    recognised the mistake, else how it relates to the reference; the signature identifies it (see
    the module); the factor (``fit_factor``) is the value's, where one explains every case."""
    if summary["hint"]:
        return {"name": nst_checks.HINTS[summary["hint"]], "signature": {"hint": summary["hint"]}, "factor": None}
    cases = summary["cases"]
    if cases is None:
        return {"name": summary["cell"], "signature": {"cell": summary["cell"]}, "factor": None}
    eager = [case["eager"] for case in cases]
    dims = [case["dimensions"] for case in cases]
    raised = {found.get("raised") for found in eager}
    value_factor = gradient_factor = None
    if raised != {None}:
        name = "raises " + " or ".join(sorted(filter(None, raised)))
    elif all(isinstance(found.get("value"), dict) for found in eager):
        name, value_factor = _relation_name("value", [found["value"] for found in eager], dims)
    elif all(isinstance(found.get("gradient"), dict) for found in eager):
        name, gradient_factor = _relation_name("gradient", [found["gradient"] for found in eager], dims)
        name = "the value is right, but " + name
    elif all("shape" in found for found in eager):
        name = "returns shape " + " and ".join(str(tuple(found["shape"])) for found in eager)
    elif all(found.get("value") == "right" and found.get("gradient") == "right" for found in eager):
        name = "right outside tf.function, not inside it"
    elif all("images" in found for found in eager):
        name = _steps_name(eager[0])
    else:
        name = "a different relation to the reference on each input"
    if value_factor or gradient_factor:
        signature = {"value": value_factor} if value_factor else {"gradient": gradient_factor}
    else:
        signature = {"cases": cases}
    return {"name": name, "signature": signature, "factor": value_factor}


def cluster_key(exercise: str, signature: dict) -> str:
    """A key that names the cluster in the comments file: ``exercise/hint`` for a recognised mistake,
    else ``exercise/`` and 10 hex digits of the signature's SHA-256."""
    if "hint" in signature:
        return f"{exercise}/{signature['hint']}"
    text = json.dumps(signature, sort_keys=True, ensure_ascii=True)
    return f"{exercise}/{hashlib.sha256(text.encode()).hexdigest()[:10]}"
