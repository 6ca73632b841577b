"""The released notebook, solved, run top to bottom as a student runs it: ``python -m benchmarks.notebook``.

In a temporary course, ``nbgrader generate_assignment`` makes the release, and the model solutions go
into its exercise cells (the grading bench's correct submission); nbclient then runs every
cell in a kernel of this virtual environment, with the weights ``make demo`` prepares, as JupyterLab
would. Reported: the wall time from the kernel's start to the end of the last cell (what a student
waits for), the kernel's CPU seconds, the slowest cells, and the Adam steps section 7 ran (its
``NUM_STEPS``; ``--steps`` changes it, for a quick check of this bench, not for a figure).

Writes ``outputs/notebook_bench.json``, ``outputs/notebook_bench.md`` and the headline record
``outputs/headline/notebook-MACHINE.json`` (``benchmarks.outputs``).
"""

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

from vgg_weights import NORMALISED_FILENAME, PRETRAINED_DIR

from .grading import ASSIGNMENT, NOTEBOOK, make_course
from .outputs import headline_record, write_outputs

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = PRETRAINED_DIR / NORMALISED_FILENAME  # what make weights writes
STEPS = re.compile(r"^NUM_STEPS = (\d+)", re.MULTILINE)
SLOWEST = 5
# Appended to the notebook: the kernel's own CPU time, user and system, in seconds.
CPU_CELL = (
    "import json, resource\n"
    "_usage = resource.getrusage(resource.RUSAGE_SELF)\n"
    "print(json.dumps(_usage.ru_utime + _usage.ru_stime))"
)


def solved_release(folder):
    """The release, generated in a course in ``folder`` (``benchmarks.grading.make_course``), with the
    model solutions filled in: (its folder, the solved notebook)."""
    import nbformat

    [(student, kind)] = make_course(folder, 1, folder / "course.log").items()
    if kind != "correct":
        raise RuntimeError(f"the grading bench's first submission is {kind!r}, not the correct one")
    submitted = folder / "submitted" / student / ASSIGNMENT
    return submitted, nbformat.read(submitted / NOTEBOOK, as_version=4)


def _cell_seconds(cell):
    """A cell's run time, from the timestamps nbclient records (None if it did not run)."""
    from datetime import datetime

    timing = cell.metadata.get("execution", {})
    started, ended = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (started and ended):
        return None
    return (datetime.fromisoformat(ended) - datetime.fromisoformat(started)).total_seconds()


def measure(steps=None):
    """Run the solved release once; returns the results (see the module docstring)."""
    from nbclient import NotebookClient
    from nbformat.v4 import new_code_cell

    with tempfile.TemporaryDirectory(prefix="notebook-bench-") as folder:
        release, notebook = solved_release(Path(folder))
        [parameters] = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
        if steps is not None:
            parameters.source = STEPS.sub(f"NUM_STEPS = {steps}", parameters.source)
        adam_steps = int(STEPS.search(parameters.source).group(1))
        notebook.cells.append(new_code_cell(CPU_CELL))
        env = {key: value for key, value in os.environ.items() if key not in ("NBGRADER_EXECUTION", "MPLBACKEND")}
        env.update(NST_WEIGHTS=str(WEIGHTS), TF_CPP_MIN_LOG_LEVEL="2")
        client = NotebookClient(
            notebook, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(release)}}
        )
        start = time.perf_counter()
        client.execute(env=env)
        seconds = time.perf_counter() - start
    kernel_cpu = json.loads(notebook.cells[-1].outputs[-1]["text"])
    timed = [
        (_cell_seconds(cell), cell.source.splitlines()[0] if cell.source else "")
        for cell in notebook.cells[:-1]
        if cell.cell_type == "code"
    ]
    slowest = sorted((entry for entry in timed if entry[0] is not None), reverse=True)[:SLOWEST]
    return {
        "notebook_seconds": round(seconds, 1),
        "kernel_cpu_seconds": round(kernel_cpu, 1),
        "adam_steps": adam_steps,
        "code_cells": len(timed),
        "slowest_cells": [{"seconds": round(cell_s, 1), "first_line": line[:80]} for cell_s, line in slowest],
    }


def markdown(r):
    rows = "".join(f"| {cell['seconds']} s | `{cell['first_line']}` |\n" for cell in r["slowest_cells"])
    return (
        f"The solved release, {r['code_cells']} code cells, {r['adam_steps']} Adam steps: "
        f"{r['notebook_seconds']} s from the kernel's start to the last cell; the kernel's CPU "
        f"{r['kernel_cpu_seconds']} s.\n\n| slowest cells | first line |\n|---|---|\n{rows}"
    )


def headline(r, load_before):
    """The run's headline record (``benchmarks.outputs``)."""
    return headline_record(
        "the released notebook, with correct solutions filled in, run top to bottom with nbclient: "
        f"{r['adam_steps']} Adam steps at the notebook's image size, in float32",
        "python -m benchmarks.notebook (make bench)",
        {
            "notebook_seconds": round(r["notebook_seconds"]),
            "adam_steps": r["adam_steps"],
            "kernel_cpu_seconds": r["kernel_cpu_seconds"],
        },
        ["notebook_seconds"],
        load_before,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, help="NUM_STEPS for section 7 (default: the notebook's)")
    parser.add_argument("--out", type=Path, default=ROOT / "outputs", help="folder for notebook_bench.json and .md")
    args = parser.parse_args(argv)
    if args.steps is not None and args.steps < 1:
        parser.error("--steps must be at least 1")
    if not WEIGHTS.is_file():
        print(f"error: no weights at {WEIGHTS}: run make weights first", file=sys.stderr)
        return 1
    load_before = os.getloadavg()[0]
    results = measure(args.steps)
    write_outputs(args.out, "notebook_bench", results, markdown(results), "notebook", headline(results, load_before))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
