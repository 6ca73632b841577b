"""The notebook bench (``python -m benchmarks.notebook``), run for real with 2 Adam steps: the solved
release runs to its end, and the bench writes its table and a headline record (its times are not
judged here)."""

import json

from benchmarks import notebook as bench
from benchmarks.outputs import check_record


def test_the_solved_release_runs_and_its_record_is_written(vgg_weights, tmp_path):
    assert bench.main(["--steps", "2", "--out", str(tmp_path)]) == 0  # a cell that raises stops it
    results = json.loads((tmp_path / "notebook_bench.json").read_text())
    assert results["adam_steps"] == 2 and results["code_cells"] > 20
    assert results["notebook_seconds"] > 0 and results["kernel_cpu_seconds"] > 0
    slowest = [cell["seconds"] for cell in results["slowest_cells"]]
    assert len(slowest) == bench.SLOWEST and slowest == sorted(slowest, reverse=True)
    [record_path] = (tmp_path / "headline").glob("notebook-*.json")
    record = json.loads(record_path.read_text())
    check_record(record)
    assert record["figures"]["adam_steps"] == 2 and record["headline"] == ["notebook_seconds"]
    assert "2 Adam steps" in (tmp_path / "notebook_bench.md").read_text()
