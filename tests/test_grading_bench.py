"""The grading benchmark's code, run for real on 3 submissions (its timings are not judged here).

``python -m benchmarks.grading --submissions 3 --ceiling-runs 1`` grades a correct submission, one with a wrong Gram
matrix and an unsolved one with serial ``nbgrader autograde`` and with the grading command on 1 and
2 workers, in the sandbox; every run must give the grades the bench expects, and the report must
hold every figure. The bench's other mistakes are judged in process, as ``test_checks`` judges the
corpus, so that the full 200-submission run never stops on a grade this test could have caught.
"""

import json
import shutil

import nbformat
import pytest

from benchmarks import grading as bench
from test_checks import GRADED, judged


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    if shutil.which("bwrap") is None:
        pytest.skip("grading needs bubblewrap (apt-get install bubblewrap; .ci/run installs it)")
    out = tmp_path_factory.mktemp("grading-bench")
    assert bench.main(["--submissions", "3", "--out", str(out), "--ceiling-runs", "1"]) == 0
    [record] = (out / "headline").iterdir()
    assert record.name.startswith("grading-")
    return (
        json.loads((out / "grading_bench.json").read_text()),
        (out / "grading_bench.md").read_text(),
        json.loads(record.read_text()),
    )


def test_every_grader_gives_the_expected_grades(report):
    results, _, _ = report
    assert results["submissions"] == 3
    assert results["mix"] == {"correct": 1, "gram_outer": 1, "unsolved": 1}
    assert [(run["grader"], run["workers"]) for run in results["runs"]] == [
        ("serial nbgrader autograde", None),
        ("nst_grader.grade --workers 1", 1),
        ("nst_grader.grade --workers 2", 2),
    ]
    for run in results["runs"]:
        assert run["grades"] == {"student0000": 12, "student0001": 10, "student0002": 0}, run["grader"]


def test_the_report_holds_every_figure(report):
    results, table, _ = report
    assert set(results["machine"]) == {
        "cpu_model",
        "cpus",
        "platform",
        "python",
        "nbgrader",
        "dask",
        "load_average_before",
    }
    assert results["machine"]["cpu_model"] in table
    serial, _, two = results["runs"]
    assert results["speedup_2_workers_over_serial"] == two["submissions_per_minute"] / serial["submissions_per_minute"]
    for run in results["runs"]:
        assert run["submissions_per_minute"] == 60 * 3 / run["seconds"]
        assert (
            f"| {run['grader']} | {run['seconds']:.0f} | {run['submissions_per_minute']:.1f} | "
            f"{run['seconds_per_submission']:.2f} |"
        ) in table
    assert f"| {results['speedup_2_workers_over_serial']:.2f}x | ≥ 1.8x |" in table
    assert f"(this machine's ceiling for 2 workers) | {results['parallel_ceiling']:.2f}x |" in table
    estimate = results["estimate"]
    assert estimate["worker_s_per_submission"] == 2 * two["seconds"] / 3
    assert list(estimate["hours_on_workers"]) == [str(workers) for workers in bench.ESTIMATE_WORKERS]
    hours = list(estimate["hours_on_workers"].values())
    assert hours == sorted(hours, reverse=True) and hours[-1] >= 10_000 * results["recording_s_per_submission"] / 3600
    assert "| workers | 1 | 2 | 8 | 32 | 128 |" in table
    assert f"The bench took {results['bench_minutes']:.0f} minutes." in table


def test_the_headline_record_holds_each_run_s_figures(report):
    results, _, record = report
    serial, one, two = results["runs"]
    assert record["figures"] == {
        **{
            f"{name}_{figure}": round(run[key], digits)
            for name, run in (("serial_nbgrader", serial), ("one_worker", one), ("two_workers", two))
            for figure, key, digits in (
                ("seconds", "seconds", None),
                ("per_minute", "submissions_per_minute", 1),
                ("seconds_per_submission", "seconds_per_submission", 2),
            )
        },
        "two_workers_speedup_over_serial_nbgrader": round(results["speedup_2_workers_over_serial"], 2),
    }
    assert record["headline"] == [
        "two_workers_per_minute",
        "two_workers_seconds_per_submission",
        "two_workers_speedup_over_serial_nbgrader",
    ]
    assert record["command"] == "python -m benchmarks.grading (make bench)"
    assert record["load_average"]["before"] == round(results["machine"]["load_average_before"], 2)


def test_grades_other_than_expected_stop_the_bench():
    expected = {"student0000": 10, "student0001": 8}
    bench.check_grades("a grader", expected, dict(expected))
    with pytest.raises(bench.BenchError, match=r"student0001': \(10, 8\)"):
        bench.check_grades("a grader", expected, {"student0000": 10, "student0001": 10})
    with pytest.raises(bench.BenchError, match=r"student0001': \(None, 8\)"):
        bench.check_grades("a grader", expected, {"student0000": 10})


@pytest.mark.parametrize("kind", sorted(bench.MISTAKES))
def test_each_mistake_fails_its_exercise_s_check(kind):
    mistake = bench.MISTAKES[kind]
    assert any(judged(mistake, case) for case in GRADED[mistake.exercise]), f"{kind} passes its check"


def test_each_mistake_is_expected_to_lose_exactly_its_exercise_s_points():
    # The exercises are worth: content cost 2, Gram matrix 2, layer style cost 3, style cost 2, total cost 1,
    # train step 2: 12 points (written out here, not read from the notebook as the bench reads them).
    scores = bench.expected_scores(nbformat.read(bench.SOURCE_NOTEBOOK, as_version=4))
    assert scores == {
        "correct": 12,
        "unsolved": 0,
        "content_mean": 10,
        "gram_outer": 10,
        "layer_no_transpose": 9,
        "style_no_coefficients": 10,
        "total_swapped": 11,
        "step_no_clip": 10,
    }
