"""The benchmark's measuring code, run for real on tiny images (its timings are not judged here)."""

import dataclasses
import shutil

import pytest

from neural_style import bench, transfer
from nst_utils import read_vgg19


@pytest.fixture(scope="module")
def vgg_weights():
    return read_vgg19()


def test_step_flops_counts_convolutions_gradient_and_grams(vgg_weights):
    # conv1_1 (3 -> 64) and conv1_2 (64 -> 64) on 10x8 pixels; one Gram matrix at conv1_1.
    settings = dataclasses.replace(transfer.defaults_for(vgg_weights), content_layer="conv1_2",
                                   style_layers=(("conv1_1", 1.0),))
    pixels = 10 * 8
    convolutions = 2 * pixels * 9 * 3 * 64 + 2 * pixels * 9 * 64 * 64
    gram = 2 * pixels * 64 * 64
    assert bench.step_flops(10, 8, settings) == 2 * convolutions + 2 * gram
    # Deeper layers see fewer positions after each pooling: the default set costs more per pixel.
    default = transfer.defaults_for(vgg_weights)
    assert bench.step_flops(40, 32, default) > 16 * bench.step_flops(10, 8, settings)


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_seconds_per_step_counts_one_evaluation_per_steady_step(vgg_weights, optimizer):
    seconds, evaluations = bench.seconds_per_step(vgg_weights, (48, 36), optimizer, timed_steps=3, runs=2)
    assert 0 < seconds < 10
    if optimizer == "adam":
        assert evaluations == 1.0
    else:  # L-BFGS: one, or more for a step whose line search backtracks; counted over the 3 steps
        assert 1.0 <= evaluations <= 2.0 and (evaluations * 3) % 1 == 0


def test_lbfgs_versus_adam_reaches_the_adam_cost_and_the_table_reports_it(vgg_weights):
    comparison = bench.lbfgs_versus_adam(vgg_weights, (48, 36), adam_steps=40, lbfgs_runs=2)
    assert comparison["lbfgs_steps"] is not None, comparison
    assert comparison["lbfgs_evaluations"] >= comparison["lbfgs_steps"]
    assert 0 < comparison["lbfgs_seconds"] < comparison["adam_seconds"]

    steps = [{"size": "48x36", "optimizer": optimizer, "precision": precision,
              "seconds_per_step": seconds, "gflop_per_step": 1.0, "gflops": 1 / seconds,
              "share_of_fp32_peak": 0.9, "evaluations_per_step": 1.0,
              "share_of_fp32_peak_per_evaluation": 0.9}
             for optimizer, precision, seconds in (("adam", "float32", 0.2), ("adam", "bfloat16", 0.1),
                                                   ("lbfgs", "float32", 0.25), ("lbfgs", "bfloat16", 0.15))]
    results = {"machine": {"cpus": 2, "platform": "test", "tensorflow": "2", "gpu": [],
                           "default_precision": "float32"},
               "matmul_peak_gflops": 100.0, "targets": bench.TARGETS, "steps": steps,
               "bf16_quality": {"steps": 5, "relative_change": 0.013},
               "lbfgs_vs_adam": comparison,
               "weights_load": {"seconds": 0.3, "rss_before_mb": 500.0, "peak_rss_mb": 650.0},
               "autograde": {"one_submission_s": 8.5, "per_submission_in_batch_s": 4.25, "batch": 6}}
    table = bench.markdown(results)
    assert "adam 48x36 0.50, lbfgs 48x36 0.60" in table  # bf16 / fp32 step ratios
    assert "+1.3%" in table and "150 MB" in table and "| 8.5 s |" in table
    assert "per submission in a run of 6 | 4.2 s | ≤ 5 s" in table
    assert f"{comparison['lbfgs_steps']} steps, {comparison['lbfgs_evaluations']} evaluations" in table
    assert f"= {comparison['lbfgs_seconds'] / comparison['adam_seconds']:.0%}" in table
    assert "Adam: one run of 40 steps" in table


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="grading needs bubblewrap")
def test_autograde_seconds_grades_real_submissions():
    """The bench's autograde timing runs the real nbgrader (one single run, a batch of two)."""
    timing = bench.autograde_seconds(runs=1, batch=2)
    assert timing["scores"] == [10.0, 10.0, 10.0]  # the timed submissions were really graded
