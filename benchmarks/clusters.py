"""Clustering benchmark: ``python -m benchmarks.clusters`` (the last part of ``make bench``).

Writes 10,000 generated graded notebooks (by default) into a temporary course, then times, in this
process, what ``make report`` adds for clusters (issue #31): reading every graded notebook's failed
cells (``nst_grader.clusters.course_failures``), clustering them (``cluster``), and writing the
clusters' HTML and CSV (``nst_grader.report.clusters_html``, ``write_clusters_csv``). Its peak
memory is the process's (``ru_maxrss``), Python, numpy and nbgrader's modules included.

The notebooks are the source notebook (its size and cells, as graders keep them) with each failed
graded cell's behaviour computed by ``nst_grader.behaviour.summarise`` from reported results made
from the reference: each student fails 0 to 3 exercises, mostly with one of a dozen class-wide
mistakes per exercise (a factor, the wrong sign, an error, a value that depends on the inputs),
written in a few ways; one failure in ten is a one-off, unlike anyone's. Writing the notebooks is
not timed.

Writes ``outputs/clusters_bench.json``, ``outputs/clusters_bench.md`` and the headline record
``outputs/headline/clusters-MACHINE.json`` (``benchmarks.outputs``).
"""

import argparse
import copy
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import nst_checks
from nst_grader import report
from nst_grader.behaviour import METADATA_KEY, summarise
from nst_grader.clusters import cluster, course_failures
from nst_grader.expected import expectation
from nst_grader.grade import ASSIGNMENT, NOTEBOOK
from nst_grader.scoring import reported_call

from .outputs import headline_record, write_outputs

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "notebooks" / ASSIGNMENT / NOTEBOOK
COST_EXERCISES = ("content_cost", "gram_matrix", "layer_style_cost", "style_cost", "total_cost")
# Class-wide mistakes: how the value relates to the reference, per case (dims: the case's dimensions).
FACTORS = {
    "times 4": lambda dims, case: 4.0,
    "wrong sign": lambda dims, case: -1.0,
    "over a dimension": lambda dims, case: 1.0 / next(iter(dims.values()), 3),
    "squared dimensions": lambda dims, case: float(np.prod(list(dims.values()) or [5])) ** 2,
    "input-dependent": lambda dims, case: 1.0 + (case[0] % 7) / 10,
}
ERRORS = ("TypeError", "ValueError", "InvalidArgumentError")


def _run(value, gradient, kind="tensor"):
    shape = [] if len(value) == 1 else [int(np.sqrt(len(value)))] * 2
    return {"kind": kind, "shape": shape, "value": value, "gradient": gradient}


def behaviours(exercise, cases):
    """``{mistake: behaviour}`` of the class-wide mistakes of a cost exercise, and a function giving a
    one-off's behaviour from a random generator."""
    expected = [expectation(exercise, case) for case in cases]

    def of(make_run, message="the cost is wrong; it differs from the expected value"):
        runs = [{"eager": make_run(case, want), "graph": make_run(case, want)} for case, want in zip(cases, expected)]
        return summarise(exercise, cases, runs, expected, message)

    def scaled(factor):
        def make_run(case, want):
            variant = want["variants"][0]
            value = [x * factor(nst_checks.case_dimensions(exercise, case), case) for x in variant["value"]]
            return _run(value, variant["gradient"])

        return make_run

    found = {name: of(scaled(factor)) for name, factor in FACTORS.items()}
    found.update({error: of(lambda case, want, error=error: {"error": error}, "raised") for error in ERRORS})
    found["numpy"] = of(lambda case, want: _run(want["variants"][0]["value"], None, "numpy"), "numpy")

    def one_off(random):
        noise = random.uniform(0.5, 2.0, 64)
        return of(
            lambda case, want: _run(
                [x * noise[(i + case[0]) % 64] for i, x in enumerate(want["variants"][0]["value"])], None
            )
        )

    return found, one_off


def write_course(folder, count, seed=0):
    """``count`` graded notebooks in ``folder/autograded/``; returns how many failed cells they hold."""
    source = json.loads(SOURCE.read_text())
    graded = {}
    for index, cell in enumerate(source["cells"]):
        call = reported_call("".join(cell["source"])) if cell["cell_type"] == "code" else None
        if call and call[0] in COST_EXERCISES:
            graded[call[0]] = (index, call[1])
    answer = {
        exercise: next(
            i
            for i, cell in enumerate(source["cells"])
            if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == nst_checks.FUNCTIONS[exercise]
        )
        for exercise in graded
    }
    mistakes = {exercise: behaviours(exercise, cases) for exercise, (_, cases) in graded.items()}
    random = np.random.RandomState(seed)
    failed = 0
    for number in range(count):
        notebook = copy.deepcopy(source)
        for exercise in random.choice(list(graded), random.randint(0, 4), replace=False):
            found, one_off = mistakes[exercise]
            if random.uniform() < 0.1:
                behaviour, text = one_off(random), f"    return {random.uniform():.6f}  # one-off {number}"
            else:
                name = random.choice(list(found))
                behaviour, text = found[name], f"    return wrong  # {name}, way {random.randint(3)}"
            function = nst_checks.FUNCTIONS[exercise]
            notebook["cells"][answer[exercise]]["source"] = f"def {function}(*args):\n{text}\n"
            notebook["cells"][graded[exercise][0]]["metadata"][METADATA_KEY] = behaviour
            failed += 1
        path = folder / "autograded" / f"student-{number:05d}" / ASSIGNMENT / NOTEBOOK
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(notebook))
    return failed


def measure(count):
    with tempfile.TemporaryDirectory(prefix="nst-clusters-bench-") as folder:
        course = Path(folder)
        failed = write_course(course, count)
        start = time.perf_counter()
        failures = course_failures(course)
        read = time.perf_counter()
        clusters = cluster(failures)
        clustered = time.perf_counter()
        page = report.clusters_html(clusters, {})
        report.write_clusters_csv(course / "clusters.csv", clusters, {})
        written = time.perf_counter()
    found = [each for each in clusters.values() for each in each]
    return {
        "notebooks": count,
        "failed_cells": failed,
        "clusters": len(found),
        "clusters_of_two_or_more": sum(len(each.sources) >= 2 for each in found),
        "read_s": round(read - start, 2),
        "cluster_s": round(clustered - read, 2),
        "report_s": round(written - clustered, 2),
        "total_s": round(written - start, 2),
        "page_kb": round(len(page) / 1024),
        "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def markdown(r):
    return (
        "| notebooks | failed cells | clusters (2+ students) | read | cluster | HTML + CSV | total | peak memory |\n"
        "|---|---|---|---|---|---|---|---|\n"
        f"| {r['notebooks']:,} | {r['failed_cells']:,} | {r['clusters']:,} ({r['clusters_of_two_or_more']}) "
        f"| {r['read_s']} s | {r['cluster_s']} s | {r['report_s']} s | {r['total_s']} s | {r['peak_mb']} MB |\n"
    )


def headline(r, load_before):
    """The run's headline record (``benchmarks.outputs``), its figures named as the README quotes them."""
    figures = {
        "notebooks": r["notebooks"],
        "failed_cells": r["failed_cells"],
        "clusters": r["clusters"],
        "clusters_of_two_or_more": r["clusters_of_two_or_more"],
        "read_seconds": r["read_s"],
        "cluster_seconds": r["cluster_s"],
        "html_and_csv_seconds": r["report_s"],
        "total_seconds": r["total_s"],
        "peak_memory_mb": r["peak_mb"],
    }
    return headline_record(
        f"reading {r['notebooks']:,} generated graded notebooks' failed cells, clustering them by behaviour and "
        "writing the clusters' HTML and CSV (make report's clusters part), in one process",
        "python -m benchmarks.clusters (make bench)",
        figures,
        ["total_seconds", "peak_memory_mb"],
        load_before,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebooks", type=int, default=10_000, help="graded notebooks (default %(default)s)")
    parser.add_argument("--out", type=Path, default=ROOT / "outputs", help="folder for clusters_bench.json and .md")
    args = parser.parse_args(argv)
    if args.notebooks < 1:
        parser.error("--notebooks must be at least 1")
    load_before = os.getloadavg()[0]
    results = measure(args.notebooks)
    write_outputs(args.out, "clusters_bench", results, markdown(results), "clusters", headline(results, load_before))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
