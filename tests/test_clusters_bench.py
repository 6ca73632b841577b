"""The clustering bench (``python -m benchmarks.clusters``), run for real on a few notebooks: its
results, table and headline record (its timings are not judged here)."""

import json

from benchmarks import clusters as bench


def test_the_bench_writes_its_results_table_and_headline_record(tmp_path):
    assert bench.main(["--notebooks", "40", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "clusters_bench.json").read_text())
    assert results["notebooks"] == 40 and results["failed_cells"] > 0
    assert 1 <= results["clusters"] <= results["failed_cells"] and results["peak_mb"] > 0
    assert (
        f"| 40 | {results['failed_cells']:,} | {results['clusters']:,} " in (tmp_path / "clusters_bench.md").read_text()
    )
    [path] = (tmp_path / "headline").iterdir()
    record = json.loads(path.read_text())
    assert path.name.startswith("clusters-") and record["command"] == "python -m benchmarks.clusters (make bench)"
    assert record["figures"] == {
        "notebooks": 40,
        "failed_cells": results["failed_cells"],
        "clusters": results["clusters"],
        "clusters_of_two_or_more": results["clusters_of_two_or_more"],
        "read_seconds": results["read_s"],
        "cluster_seconds": results["cluster_s"],
        "html_and_csv_seconds": results["report_s"],
        "total_seconds": results["total_s"],
        "peak_memory_mb": results["peak_mb"],
    }
    assert record["headline"] == ["total_seconds", "peak_memory_mb"] and "reading 40 generated" in record["measurement"]
