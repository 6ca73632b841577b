"""The benchmark's measuring code, run for real on tiny images (its timings are not judged here)."""

import pytest

from benchmarks import engine as bench
from nst_utils import CONFIG


def test_the_engine_measurements_run_and_fill_the_table(vgg_weights, tmp_path):
    """Every engine measurement of ``make bench``, at a tiny size and with the fewest runs, then the
    table."""
    results, images = bench.measure_engine(
        vgg_weights,
        CONFIG.weights_path,
        step_sizes=((32, 24),),
        quality_size=(32, 24),
        quality_steps=3,
        compare_size=(32, 24),
        adam_steps=15,
        runs=1,
        load_runs=1,
        matmul_size=64,
        conv_shapes=((12, 16, 8, 8), (6, 8, 16, 16)),
        big_size=(528, 48),  # coarse to fine, as 1920x1080 is: 264x24, then 528x48
        big_steps=2,
        out=tmp_path,
    )
    for precision in ("float32", "bfloat16"):
        assert results["conv_peak_gflops"][precision] > 0
        assert results["conv_peak_shape"][precision] in ([12, 16, 8, 8], [6, 8, 16, 16])
    assert [(s["size"], s["optimizer"], s["precision"]) for s in results["steps"]] == [
        ("32x24", optimizer, precision) for optimizer in ("adam", "lbfgs") for precision in ("float32", "bfloat16")
    ]
    for step in results["steps"]:  # evaluations per steady step, counted over 10 steps
        if step["optimizer"] == "adam":
            assert step["evaluations_per_step"] == 1.0, step
        else:  # one, or more for a step whose line search backtracks
            assert 1.0 <= step["evaluations_per_step"] <= 2.0 and (step["evaluations_per_step"] * 10) % 1 == 0, step
        assert step["conv_peak_gflops"] > 0 and step["share_of_conv_peak"] > 0
        assert step["share_of_conv_peak_per_evaluation"] == pytest.approx(
            step["share_of_conv_peak"] * step["evaluations_per_step"]
        )
    comparison = results["lbfgs_vs_adam"]
    final, best = comparison["aims"]["final"], comparison["aims"]["best"]
    assert best["adam_cost"] <= final["adam_cost"], comparison
    for reached in (final, best):
        assert reached["lbfgs_steps"] is not None, comparison
        assert reached["lbfgs_steps"] < 15  # the cost of 15 Adam steps, in fewer L-BFGS steps
        assert reached["lbfgs_evaluations"] >= reached["lbfgs_steps"] + 1  # the start's, then one or more each
    # The lower cost takes at least as long (each run stops at the later of the two).
    assert best["lbfgs_steps"] >= final["lbfgs_steps"] and best["lbfgs_seconds"] >= final["lbfgs_seconds"]
    assert {precision: image.shape for precision, image in images.items()} == {
        "float32": (1, 24, 32, 3),
        "bfloat16": (1, 24, 32, 3),
    }
    assert results["bf16_quality"]["steps"] == 3
    load = results["weights_load"]
    assert load["peak_rss_mb"] - load["rss_before_mb"] > 40  # the file's 80 MB of kernels were read
    big = results["big_picture"]
    assert big["size"] == "528x48" and (tmp_path / "bench_528x48.png").is_file() and big["estimated_seconds"] >= 0
    assert 0.3 < big["peak_rss_gb"] < 4 and big["seconds"] > 0  # TensorFlow alone takes 0.3 GB
    assert 0 <= big["optimisation_seconds"] <= big["seconds"]  # the levels' steps, from the command's summary
    record = bench.headline(results, load_before=1.5)
    assert record["figures"] == {
        "wall_seconds": round(big["seconds"]),
        "optimisation_seconds": big["optimisation_seconds"],
        "peak_rss_gb": round(big["peak_rss_gb"], 2),
        "estimated_seconds": big["estimated_seconds"],
    }
    assert record["headline"] == ["wall_seconds", "peak_rss_gb"] and record["load_average"]["before"] == 1.5
    assert (
        record["command"] == "python -m benchmarks.engine (make bench)" and "a 528x48 picture" in record["measurement"]
    )
    table = bench.markdown(results)
    assert table.count("| 32x24 |") == 4
    assert f"({results['bf16_quality']['steps']} L-BFGS steps, evaluated in fp32) | " in table
    assert "Adam: one run of 15 steps" in table


def test_each_share_is_taken_within_its_run_against_the_peaks_measured_just_before_it():
    """A host that slows down between runs slows the peak and the step alike: each run's share is
    the same 50%, though the median step time and the median peak, divided, would give 40%."""
    runs = [
        {"seconds": 1.0, "evaluations": 1.0, "conv": 200.0, "matmul": 100.0},
        {"seconds": 2.0, "evaluations": 1.0, "conv": 100.0, "matmul": 50.0},
        {"seconds": 4.0, "evaluations": 1.5, "conv": 50.0, "matmul": 25.0},
    ]
    row = bench.step_row((400, 300), "lbfgs", "bfloat16", 100e9, runs)
    assert row["seconds_per_step"] == 2.0 and row["conv_peak_gflops"] == 100.0 and row["evaluations_per_step"] == 1.0
    assert row["share_of_conv_peak"] == pytest.approx(0.5)
    assert row["share_of_fp32_peak"] == pytest.approx(1.0)
    assert row["share_of_conv_peak_per_evaluation"] == pytest.approx(0.5)  # the median of 0.5, 0.5, 0.75
    assert row["gflops"] == pytest.approx(50.0) and row["gflop_per_step"] == 100.0


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_the_peaks_are_measured_once_per_run_outside_the_timed_steps(vgg_weights, optimizer):
    """``peaks()`` runs once per run, between the warm-up and the timed steps. The clock moves 1 s each
    time it is read and ``peaks()`` moves it 1000 s: the timed steps read 1 s each, exactly, only if
    the peaks fall outside them."""
    now = [0.0]
    events = []

    def clock():
        now[0] += 1.0
        events.append("clock")
        return now[0]

    def peaks():
        now[0] += 1000.0
        events.append("peaks")
        return {"conv": 1.0, "matmul": 1.0}

    runs = bench.timed_runs(vgg_weights, (32, 24), optimizer, timed_steps=3, runs=2, peaks=peaks, clock=clock)
    assert [run["conv"] for run in runs] == [1.0, 1.0]
    assert [run["seconds"] for run in runs] == [1.0, 1.0]
    warmup = 1 if optimizer == "adam" else 10
    one_run = ["clock"] * (warmup - 1) + ["peaks"] + ["clock"] * (1 + 3)  # one clock reading after each step
    assert events == one_run * 2


def test_markdown_computes_the_ratios():
    steps = [
        {
            "size": "48x36",
            "optimizer": optimizer,
            "precision": precision,
            "seconds_per_step": seconds,
            "gflop_per_step": 1.0,
            "gflops": 1 / seconds,
            "share_of_fp32_peak": 0.9,
            "conv_peak_gflops": 100.0,
            "share_of_conv_peak": share_of_conv_peak,
            "evaluations_per_step": evaluations,
            "share_of_conv_peak_per_evaluation": share_of_conv_peak * evaluations,
        }
        for optimizer, precision, seconds, share_of_conv_peak, evaluations in (
            ("adam", "float32", 0.2, 0.85, 1.0),
            ("adam", "bfloat16", 0.1, 0.7, 1.0),
            ("lbfgs", "float32", 0.25, 0.8, 1.0),
            ("lbfgs", "bfloat16", 0.15, 0.55, 1.2),
        )
    ]
    results = {
        "machine": {
            "cpus": 2,
            "cpu": "Test CPU",
            "platform": "test",
            "tensorflow": "2",
            "gpu": [],
            "default_precision": "float32",
        },
        "matmul_peak_gflops": 100.0,
        "conv_peak_gflops": {"float32": 120.0, "bfloat16": 700.0},
        "conv_peak_shape": {"float32": [300, 400, 64, 64], "bfloat16": [100, 100, 512, 512]},
        "targets": bench.TARGETS,
        "steps": steps,
        "bf16_quality": {"steps": 5, "relative_change": 0.013},
        "lbfgs_vs_adam": {
            "size": "48x36",
            "adam_steps": 40,
            "adam_seconds": 8.0,
            "aims": {
                "final": {"adam_cost": 6.96, "lbfgs_steps": 9, "lbfgs_seconds": 1.5, "lbfgs_evaluations": 11},
                "best": {"adam_cost": 5.4, "lbfgs_steps": None, "lbfgs_seconds": None, "lbfgs_evaluations": None},
            },
        },
        "weights_load": {"seconds": 0.3, "rss_before_mb": 500.0, "peak_rss_mb": 650.0},
        "big_picture": {"size": "1920x1080", "seconds": 341.6, "peak_rss_gb": 3.62, "estimated_seconds": 301},
    }
    table = bench.markdown(results)
    assert "adam 48x36 0.50, lbfgs 48x36 0.60" in table  # bf16 / fp32 step ratios
    assert "| 80% or more (90% or more) | ≥ 80% |" in table
    assert "| bf16 evaluation, share of the bf16 conv peak (per step) | 66% or more (55% or more) | ≥ 60% |" in table
    assert "bfloat16 3x3 convolution 700 GFLOP/s (100x100x512x512" in table
    assert "+1.3%" in table and "| 150 MB |" in table
    assert (
        "| L-BFGS time to reach the final cost of 40 Adam steps (48x36: 6.96) | "
        "1.5 s (9 steps, 11 evaluations) vs 8.0 s = 19% | |"
    ) in table
    assert "| L-BFGS time to reach the best cost of 40 Adam steps (48x36: 5.4) | not reached | ≤ 20% |" in table
    assert "2 CPUs (Test CPU)" in table
    assert (
        "| a 1920x1080 picture from the command line, its defaults" in table
        and "| 342 s; 3.6 GB | ≤ 360 s; ≤ 4 GB |" in table
        and "| its time estimated before the first step (without start-up) | 301 s |" in table
    )
