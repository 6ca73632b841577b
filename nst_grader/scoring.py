"""Grader-side scoring: an nbgrader preprocessor that judges what the graded cells reported.

A graded cell of the notebook only runs the student's function on hidden inputs and shows the
results (``nst_checks.report``). The expected values and the comparison never enter the kernel
that runs student code: after nbgrader has executed the notebook, this preprocessor reads each
graded cell's source (restored from the gradebook by nbgrader's OverwriteCells, so the student
cannot change it), recomputes the reference results in numpy (``nst_grader.expected``), judges the
reported ones with ``nst_checks.judge`` (the instructor's copy), and replaces the cell's outputs:
nothing on success, one error naming the inputs and the likely mistake on failure. nbgrader's
SaveAutoGrades then scores the cell from those outputs alone.

So whatever a student cell does in its kernel (patching the check helpers, numpy, TensorFlow or
builtins, printing or displaying anything, inspecting frames), it can only change the reported
results, and only results that match the reference earn points.

Of an error that a run reports, the verdict keeps only the exception's type, since its message could
carry anything, and the key of a mistake known by its error (``nst_checks.RAISED_MISTAKES``, e.g. the
costs computed outside ``tf.GradientTape``) only if the allow-list holds it for the exercise. A student
who forges that key changes only the hint they read with a wrong answer, never a score.

It is enabled in ``nbgrader_config.py`` (``Autograde.autograde_preprocessors``), right after
``Execute``.
"""

import ast
import json
import re

from nbformat.v4 import new_output
from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor

import nst_checks
from nst_grader.behaviour import METADATA_KEY, summarise
from nst_grader.execute import LIMIT_ERROR
from nst_grader.expected import expectation

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,80}")
MAX_ENTRIES = 100_000  # far above any graded case's; a larger report is malformed


def report_node(source: str) -> ast.Call | None:
    """The ``nst_checks.report("exercise", function, cases)`` call in a graded cell's source (an
    ``ast.Call``), or None if it has none."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "report"
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "nst_checks"
        ):
            return node
    return None


def reported_call(source: str) -> tuple[str, list[tuple]] | None:
    """``(exercise, cases)`` of the ``nst_checks.report`` call in a graded cell's source, or None."""
    node = report_node(source)
    if node is None:
        return None
    return ast.literal_eval(node.args[0]), [tuple(case) for case in ast.literal_eval(node.args[2])]


def _reported_results(outputs):
    """Every results bundle shown in a cell's outputs (a student cell could add some)."""
    bundles = []
    for output in outputs:
        data = output.get("data", {}) if output.get("output_type") in ("display_data", "execute_result") else {}
        if nst_checks.RESULTS_MIME in data:
            bundle = data[nst_checks.RESULTS_MIME]
            bundles.append(json.loads(bundle) if isinstance(bundle, str) else bundle)
    return bundles


def _stopped(outputs):
    """The errors the cell stopped with, as text, or None: a grading limit's with its text
    (``nst_grader.execute``), any other by its type alone, since its message comes from the kernel
    and may carry anything (the hidden inputs, markup), and the verdict reaches the student."""
    errors = []
    for output in outputs:
        if output.get("output_type") != "error":
            continue
        match = IDENTIFIER.fullmatch(str(output.get("ename", "")))
        name = match.group(0) if match else "an error"
        if name == LIMIT_ERROR:
            text = "".join(char for char in str(output.get("evalue", ""))[:300] if char.isprintable())
            errors.append(f"{name}: {text}")
        else:
            errors.append(name)
    return "; ".join(errors) or None


def _entries(values, size=None):
    """Reported entries: a list of floats or None (``nst_checks.entries``), of ``size`` if given."""
    if not isinstance(values, list) or len(values) > MAX_ENTRIES or (size is not None and len(values) != size):
        raise ValueError("entries")
    if not all(value is None or (type(value) in (float, int)) for value in values):
        raise ValueError("entries")
    return [None if value is None else float(value) for value in values]


def _error_type(error):
    """Only the exception's type, of an error the kernel reported: its message may carry anything
    (the hidden inputs, markup), and the graded cells' verdicts reach the student."""
    if not isinstance(error, str):
        raise ValueError("error")
    match = IDENTIFIER.match(error.split(":", 1)[0].strip())
    return match.group(0) if match else "an error"


def _summary(summary):
    """A checked copy of a result's summary (``nst_checks._summary``)."""
    if not isinstance(summary, dict) or not IDENTIFIER.fullmatch(str(summary.get("kind"))):
        raise ValueError("kind")
    if "shape" not in summary:
        return {"kind": summary["kind"]}
    shape = summary["shape"]
    if (
        not isinstance(shape, list)
        or len(shape) > 8
        or not all(type(n) is int and 0 <= n <= MAX_ENTRIES for n in shape)
    ):
        raise ValueError("shape")
    size = 1
    for n in shape:
        size *= n
    return {"kind": summary["kind"], "shape": shape, "value": _entries(summary["value"], size)}


def _run(exercise, run):
    """A checked copy of one run (``nst_checks.measure``), with only the type of an error it reports and
    the error's mistake key if ``nst_checks.raised_mistake`` accepts it."""
    if not isinstance(run, dict):
        raise ValueError("run")
    if "error" in run:
        key = nst_checks.raised_mistake(exercise, run.get("mistake"))
        return {"error": _error_type(run["error"]), **({"mistake": key} if key else {})}
    if exercise == "train_step":
        if type(run["iterations"]) is not int or not isinstance(run["steps"], list):
            raise ValueError("steps")
        steps = []
        for step in run["steps"]:
            returned = step["returned"]
            if isinstance(returned, dict) and returned.get("kind") == "sequence":
                if not isinstance(returned["items"], list) or len(returned["items"]) > 16:
                    raise ValueError("items")
                returned = {"kind": "sequence", "items": [_summary(item) for item in returned["items"]]}
            else:
                returned = _summary(returned)
            steps.append({"returned": returned, "image": _entries(step["image"])})
        return {"steps": steps, "iterations": run["iterations"]}
    checked = _summary(run)
    if "value" in checked:
        checked["gradient"] = None if run["gradient"] is None else _entries(run["gradient"])
    return checked


def verdict(exercise: str, cases: list[tuple], outputs: list[dict]) -> str | None:
    """None if the graded cell's outputs report right results for every case, else the message."""
    function = nst_checks.FUNCTIONS[exercise]
    bundles = _reported_results(outputs)
    if not bundles:
        stopped = _stopped(outputs)
        return (
            f"{function}: the graded cell stopped before it reported any result ({stopped})."
            if stopped
            else f"{function}: the graded cell reported no result."
        )
    if len(bundles) > 1:
        return f"{function}: the graded cell reported {len(bundles)} sets of results instead of one."
    try:
        results = bundles[0]["results"]
        if bundles[0]["exercise"] != exercise or len(results) != len(cases):
            raise ValueError("results for other inputs")
        for case, measured in zip(cases, results):
            checked = {"eager": _run(exercise, measured["eager"]), "graph": _run(exercise, measured["graph"])}
            message = nst_checks.judge(exercise, case, checked, expectation(exercise, case))
            if message:
                return message
    except (KeyError, TypeError, ValueError, AttributeError, IndexError):
        return f"{function}: the graded cell's results are malformed (were they changed?)."
    return None


def failed_behaviour(exercise: str, cases: list[tuple], outputs: list[dict], message: str) -> dict[str, object]:
    """What a failed graded cell computed (``nst_grader.behaviour.summarise``), from its outputs as
    ``verdict`` read them; a cell whose results cannot be read is summarised by its message alone."""
    bundles = _reported_results(outputs)
    try:
        results = bundles[0]["results"] if len(bundles) == 1 else []
        runs = [{"eager": _run(exercise, run["eager"]), "graph": _run(exercise, run["graph"])} for run in results]
        if len(runs) != len(cases):
            raise ValueError("results for other inputs")
        return summarise(exercise, cases, runs, [expectation(exercise, case) for case in cases], message)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError):
        return summarise(exercise, cases, None, None, message)


class ScoreReportedResults(NbGraderPreprocessor):
    """Judge each graded cell that calls ``nst_checks.report`` from its reported results alone."""

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type != "code" or not utils.is_grade(cell) or utils.is_solution(cell):
            return cell, resources
        call = reported_call(cell.source)
        if call is None:
            return cell, resources
        exercise, cases = call
        message = verdict(exercise, cases, cell.outputs)
        if message is None:
            text = (
                f"{nst_checks.FUNCTIONS[exercise]}: right on "
                + "; ".join(nst_checks.describe(exercise, case, show_values=False) for case in cases)
                + ".\n"
            )
            cell.outputs = [new_output("stream", name="stdout", text=text)]
        else:  # what it computed stays in the instructor's graded notebook, for nst_grader.clusters
            cell.metadata[METADATA_KEY] = failed_behaviour(exercise, cases, cell.outputs, message)
            cell.outputs = [new_output("error", ename="AssertionError", evalue=message, traceback=[message])]
        return cell, resources
