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

It is enabled in ``nbgrader_config.py`` (``Autograde.autograde_preprocessors``), right after
``Execute``.
"""

import ast
import json

from nbformat.v4 import new_output
from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor

import nst_checks
from nst_grader.expected import expectation


def reported_call(source):
    """``(exercise, cases)`` of the ``nst_checks.report("exercise", function, cases)`` call in a
    graded cell's source, or None if it has none."""
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
            return ast.literal_eval(node.args[0]), [tuple(case) for case in ast.literal_eval(node.args[2])]
    return None


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
    """The errors the cell stopped with (its own, a timeout's, a grading limit's), as text, or None."""
    errors = [
        f"{output.get('ename', 'Error')}: {output.get('evalue', '')}".strip()
        for output in outputs
        if output.get("output_type") == "error"
    ]
    return "; ".join(errors) or None


def verdict(exercise, cases, outputs):
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
            message = nst_checks.judge(exercise, case, measured, expectation(exercise, case))
            if message:
                return message
    except (KeyError, TypeError, ValueError, AttributeError, IndexError):
        return f"{function}: the graded cell's results are malformed (were they changed?)."
    return None


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
                + "; ".join(nst_checks.describe(exercise, case) for case in cases)
                + ".\n"
            )
            cell.outputs = [new_output("stream", name="stdout", text=text)]
        else:
            cell.outputs = [new_output("error", ename="AssertionError", evalue=message, traceback=[message])]
        return cell, resources
