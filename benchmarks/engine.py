"""Benchmark: ``python -m benchmarks.engine`` (``make bench``) measures the engine on this machine.

Writes ``outputs/bench.json``, ``outputs/bench.md`` and the big picture's headline record
``outputs/headline/big-picture-MACHINE.json`` (``benchmarks.outputs``). Every timing is the median of
several runs. Run it on an otherwise idle machine.
"""

import argparse
import dataclasses
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from neural_style.machine import cpu_model  # noqa: E402
from neural_style.precision import resolve_precision  # noqa: E402
from neural_style.speed import PROBE_REPEATS, conv_gflops, median_seconds, step_flops  # noqa: E402
from neural_style.transfer import StyleTransfer, defaults_for  # noqa: E402
from nst_utils import CONFIG, load_image, read_vgg19, save_image  # noqa: E402

from .outputs import headline_record, write_outputs  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONTENT = ROOT / "images" / "chelsea.jpg"
STYLE = ROOT / "images" / "swirls.jpg"
CONV_PEAK_SHAPES = ((300, 400, 64, 64), (150, 200, 128, 128), (75, 100, 256, 256), (100, 100, 512, 512))
"""(height, width, input channels, output channels) of the 3x3 convolutions timed for the conv peak:
VGG-19's four widths at the bench's 400x300 size, and its widest at a size that keeps the chip busy."""
TARGETS = {
    "fp32_share_of_conv_peak": 0.80,
    "bf16_share_of_conv_peak": 0.60,
    "bf16_over_fp32_time": 0.6,
    "bf16_loss_change": 0.02,
    "lbfgs_over_adam_time": 0.20,
    "weights_load_s": 0.5,
    "weights_load_rss_mb": 400,
    "big_picture_seconds": 360,
    "big_picture_rss_gb": 4.0,
}


def matmul_peak_gflops(n=2048, repeats=20):
    """Measured fp32 matrix-multiply throughput (median over ``repeats`` products of n x n)."""
    a = tf.constant(np.random.RandomState(0).rand(n, n), tf.float32)
    matmul = tf.function(lambda: tf.matmul(a, a))
    return 2 * n**3 / median_seconds(lambda: matmul().numpy(), repeats) / 1e9


def conv_peak_gflops(precision, shapes=CONV_PEAK_SHAPES, repeats=PROBE_REPEATS):
    """The best throughput over ``shapes`` of ``speed.conv_gflops`` in ``precision``. Returns
    ``(GFLOP/s, shape)``."""
    return max(((conv_gflops(precision, shape, repeats), shape) for shape in shapes), key=lambda pair: pair[0])


def _transfer(vgg_weights, size, precision="float32", **changes):
    settings = dataclasses.replace(defaults_for(vgg_weights), precision=precision, **changes)
    content = load_image(CONTENT, *size)
    return StyleTransfer(vgg_weights, content, [load_image(STYLE, *size)], settings=settings), content


def timed_runs(
    vgg_weights, size, optimizer, precision="float32", timed_steps=10, runs=3, peaks=None, clock=time.perf_counter
):
    """``runs`` runs of ``timed_steps`` steps after a warm-up. The warm-up (1 Adam step, 10 L-BFGS
    steps) leaves out graph tracing and, for L-BFGS, the first steps, whose line searches often
    backtrack; after them nearly every step needs one evaluation. Returns one dict per run: its
    ``seconds`` per step, its cost ``evaluations`` per step, and what ``peaks()`` (if given) measured
    between the warm-up and the timed steps, so that each run is compared with peaks taken under the
    same load: the host's speed can change within the seconds a warm-up takes. ``clock()``: seconds (a
    test's fake clock shows what each timing spans)."""
    warmup = 1 if optimizer == "adam" else 10
    transfer, content = _transfer(vgg_weights, size, precision, optimizer=optimizer, steps=warmup + timed_steps)
    measured = []
    for _ in range(runs):
        peaks_before, ends = {}, []

        def on_step(step, image, terms, peaks_before=peaks_before, ends=ends):
            if step == warmup and peaks:
                peaks_before.update(peaks())
            ends.append(clock())  # after the peaks: the timed steps start here

        result = transfer.run(content, callback=on_step, progress=False)
        measured.append(
            {
                "seconds": (ends[-1] - ends[warmup - 1]) / timed_steps,
                "evaluations": (result.step_evaluations[-1] - result.step_evaluations[warmup - 1]) / timed_steps,
                **peaks_before,
            }
        )
    return measured


def step_row(size, optimizer, precision, flops, runs):
    """A row of the steps table from ``timed_runs``'s ``runs`` (with peaks ``conv`` and ``matmul``):
    medians over the runs, each share computed within its run. A share "per evaluation" counts the
    FLOPs of every evaluation a step made (an L-BFGS step whose line search backtracks makes two)."""

    def median(value):
        return statistics.median(value(run) for run in runs)

    return {
        "size": f"{size[0]}x{size[1]}",
        "optimizer": optimizer,
        "precision": precision,
        "seconds_per_step": median(lambda run: run["seconds"]),
        "evaluations_per_step": median(lambda run: run["evaluations"]),
        "gflop_per_step": flops / 1e9,
        "gflops": flops / median(lambda run: run["seconds"]) / 1e9,
        "conv_peak_gflops": median(lambda run: run["conv"]),
        "share_of_conv_peak": median(lambda run: flops / run["seconds"] / 1e9 / run["conv"]),
        "share_of_conv_peak_per_evaluation": median(
            lambda run: flops * run["evaluations"] / run["seconds"] / 1e9 / run["conv"]
        ),
        "share_of_fp32_peak": median(lambda run: flops / run["seconds"] / 1e9 / run["matmul"]),
    }


def lbfgs_versus_adam(vgg_weights, size, adam_steps=1000, lbfgs_runs=3):
    """Wall time of ``adam_steps`` Adam steps (one run), and of L-BFGS until it reaches two costs of
    that run (the median of ``lbfgs_runs`` runs each), both in float32 from the content image:
    ``"final"``, Adam's cost after its last step, and ``"best"``, the lowest cost after any of its
    steps. Adam's cost oscillates at its learning rate, so its last step can sit on a bump or in a
    trough: the best cost is the aim that does not depend on where the run stopped."""
    adam, content = _transfer(vgg_weights, size, optimizer="adam", steps=adam_steps)
    adam_run = adam.run(content, progress=False)
    adam_costs = [terms["total"] for terms in adam_run.history]
    aims = {"final": adam_costs[-1], "best": min(adam_costs)}

    lbfgs, _ = _transfer(vgg_weights, size, optimizer="lbfgs", steps=adam_steps)
    lbfgs.evaluate(content)  # trace the graph before timing
    runs = [_lbfgs_run_to(lbfgs, content, aims) for _ in range(lbfgs_runs)]

    def median_run(aim_runs):  # a run that never reached the cost counts as the slowest (reported as not reached)
        ordered = sorted(aim_runs, key=lambda run: math.inf if run["seconds"] is None else run["seconds"])
        return ordered[len(ordered) // 2]

    return {
        "size": f"{size[0]}x{size[1]}",
        "adam_steps": adam_steps,
        "adam_seconds": adam_run.seconds,
        "lbfgs_runs": lbfgs_runs,
        "aims": {
            aim: {
                "adam_cost": cost,
                **{f"lbfgs_{key}": value for key, value in median_run([run[aim] for run in runs]).items()},
            }
            for aim, cost in aims.items()
        },
    }


def _lbfgs_run_to(lbfgs, content, aims):
    """One L-BFGS run from ``content`` until its cost is at or below every cost in ``aims`` (name ->
    cost). Returns, per aim, the first ``steps`` at that cost, the ``seconds`` since the run began
    and the ``evaluations`` by then (all None where the run ended first)."""
    reached = {}

    def on_step(step, image, terms):
        for aim, cost in aims.items():
            if aim not in reached and terms["total"] <= cost:
                reached[aim] = step, time.perf_counter() - started
        return len(reached) == len(aims)

    started = time.perf_counter()
    result = lbfgs.run(content, callback=on_step, progress=False)
    per_aim = {aim: {"steps": None, "seconds": None, "evaluations": None} for aim in aims}
    for aim, (step, seconds) in reached.items():
        per_aim[aim] = {"steps": step, "seconds": seconds, "evaluations": result.step_evaluations[step - 1]}
    return per_aim


def bf16_quality(vgg_weights, size, steps):
    """Final cost (evaluated in float32) after ``steps`` L-BFGS steps in float32 and in bfloat16."""
    costs, images = {}, {}
    evaluate, content = _transfer(vgg_weights, size)
    for precision in ("float32", "bfloat16"):
        transfer, _ = _transfer(vgg_weights, size, precision, steps=steps)
        images[precision] = transfer.run(content, progress=False).image
        costs[precision] = float(evaluate.losses(tf.constant(images[precision]))["total"])
    return {
        "steps": steps,
        "fp32_cost": costs["float32"],
        "bf16_cost_in_fp32": costs["bfloat16"],
        "relative_change": costs["bfloat16"] / costs["float32"] - 1,
        "max_pixel_difference": float(np.abs(images["float32"] - images["bfloat16"]).max()),
    }, images


_LOAD_SCRIPT = """
import json, sys, threading, time
import psutil
import tensorflow as tf
from nst_utils import build_vgg_model, read_vgg19
process = psutil.Process()
before = peak = process.memory_info().rss
done = threading.Event()
def sample():
    global peak
    while not done.wait(0.002):
        peak = max(peak, process.memory_info().rss)
sampler = threading.Thread(target=sample)
sampler.start()
start = time.perf_counter()
model = build_vgg_model(read_vgg19(sys.argv[1]))
seconds = time.perf_counter() - start
done.set()
sampler.join()
peak = max(peak, process.memory_info().rss)
print(json.dumps({"seconds": seconds, "rss_before_mb": before / 2**20, "peak_rss_mb": peak / 2**20}))
"""


def weights_load(path, runs=5):
    """Seconds to read the weights and build the full model, and the resident memory this adds at
    its peak (sampled every 2 ms), in fresh processes with TensorFlow already imported."""
    results = []
    for _ in range(runs):
        output = subprocess.run(
            [sys.executable, "-c", _LOAD_SCRIPT, str(path)], cwd=ROOT, check=True, capture_output=True, text=True
        ).stdout
        results.append(json.loads(output.strip().splitlines()[-1]))
    return {key: statistics.median(r[key] for r in results) for key in results[0]}


_BIG_PICTURE_SCRIPT = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, stderr=subprocess.DEVNULL)  # its stdout: the estimate
seconds = time.perf_counter() - start
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # Linux: kilobytes
print(json.dumps({"seconds": seconds, "peak_rss_gb": peak_kb * 1024 / 1e9}))
"""


def big_picture(size, output, steps=None):
    """Wall seconds (start-up included), peak RSS (GB), the time the command estimated before its
    first step, and the seconds its levels' steps took (its summary's; None for a picture painted in
    one level), of the command line painting the bundled pair at ``size`` (width, height) with its
    defaults (coarse to fine above 512 px), in a fresh process; ``steps`` overrides the default steps
    (for tests)."""
    command = [sys.executable, "-m", "neural_style", "--content", str(CONTENT), "--style", str(STYLE)]
    command += ["--size", f"{size[0]}x{size[1]}", "--output", str(output)]
    command += ["--steps", str(steps)] if steps else []
    result = subprocess.run(
        [sys.executable, "-c", _BIG_PICTURE_SCRIPT, *command], cwd=ROOT, check=True, capture_output=True, text=True
    )
    estimate = re.search(r"^estimated time: about (\d+) s", result.stdout, re.MULTILINE)
    levels = re.search(r"^saved .* steps in \w+, .* at \d+x\d+; (\d+) s", result.stdout, re.MULTILINE)
    return {
        "size": f"{size[0]}x{size[1]}",
        "estimated_seconds": int(estimate[1]),
        "optimisation_seconds": int(levels[1]) if levels else None,
        **json.loads(result.stdout.strip().splitlines()[-1]),
    }


def headline(results, load_before):
    """The big picture's headline record (``benchmarks.outputs``): its wall time with start-up and
    peak memory (the README quotes them), the seconds its steps took, and the time estimated."""
    b = results["big_picture"]
    return headline_record(
        f"a {b['size']} picture with the command line's defaults ({results['machine']['default_precision']} "
        "where the CPU has it, L-BFGS coarse to fine), from a fresh process",
        "python -m benchmarks.engine (make bench)",
        {
            "wall_seconds": round(b["seconds"]),
            "optimisation_seconds": b["optimisation_seconds"],
            "peak_rss_gb": round(b["peak_rss_gb"], 2),
            "estimated_seconds": b["estimated_seconds"],
        },
        ["wall_seconds", "peak_rss_gb"],
        load_before,
    )


def measure_engine(
    vgg_weights,
    weights_path,
    step_sizes,
    quality_size,
    quality_steps,
    compare_size,
    adam_steps,
    runs=3,
    load_runs=5,
    matmul_size=2048,
    conv_shapes=CONV_PEAK_SHAPES,
    big_size=(1920, 1080),
    big_steps=None,
    out=ROOT / "outputs",
):
    """The engine's figures for ``bench.json``: the machine, the matmul peak, the steps of each
    optimiser and precision at each of ``step_sizes`` (``runs`` runs each), the bfloat16 quality at
    ``quality_size`` after ``quality_steps`` L-BFGS steps, L-BFGS against ``adam_steps`` Adam steps at
    ``compare_size``, and the weights load (``load_runs`` processes). Returns ``(results, images)``,
    ``images`` being the quality run's final image per precision. The conv peaks are measured first on
    ``conv_shapes`` in each precision, then again at the best shape just before each run of steps,
    with the matmul peak, so that each run is compared with peaks taken under the same load. Last,
    the command line paints a ``big_size`` picture (``big_picture``, with ``big_steps``) into ``out``."""
    settings = defaults_for(vgg_weights)
    peak = matmul_peak_gflops(matmul_size)
    conv_peaks = {precision: conv_peak_gflops(precision, conv_shapes) for precision in ("float32", "bfloat16")}
    results = {
        "machine": {
            "cpus": os.cpu_count(),
            "cpu": cpu_model(),
            "platform": platform.platform(),
            "tensorflow": tf.__version__,
            "gpu": [d.name for d in tf.config.list_physical_devices("GPU")],
            "default_precision": resolve_precision("auto"),
        },
        "matmul_peak_gflops": peak,
        "conv_peak_gflops": {precision: gflops for precision, (gflops, _) in conv_peaks.items()},
        "conv_peak_shape": {precision: list(shape) for precision, (_, shape) in conv_peaks.items()},
        "targets": TARGETS,
        "steps": [],
    }
    for size in step_sizes:
        flops = step_flops(*size, settings)
        for optimizer in ("adam", "lbfgs"):
            for precision in ("float32", "bfloat16"):
                shape = conv_peaks[precision][1]

                def peaks(precision=precision, shape=shape):
                    return {
                        "conv": conv_gflops(precision, shape),
                        "matmul": matmul_peak_gflops(matmul_size, repeats=10),
                    }

                runs_measured = timed_runs(vgg_weights, size, optimizer, precision, runs=runs, peaks=peaks)
                results["steps"].append(step_row(size, optimizer, precision, flops, runs_measured))
                print(results["steps"][-1], flush=True)
    results["bf16_quality"], images = bf16_quality(vgg_weights, quality_size, quality_steps)
    results["lbfgs_vs_adam"] = lbfgs_versus_adam(vgg_weights, compare_size, adam_steps, lbfgs_runs=runs)
    results["weights_load"] = weights_load(weights_path, load_runs)
    results["big_picture"] = big_picture(big_size, out / f"bench_{big_size[0]}x{big_size[1]}.png", big_steps)
    return results, images


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "outputs")
    parser.add_argument(
        "--compare-size", default="200x150", help="size for the L-BFGS versus 1000 Adam steps run (default %(default)s)"
    )
    parser.add_argument("--adam-steps", type=int, default=1000)
    args = parser.parse_args(argv)

    load_before = os.getloadavg()[0]
    vgg_weights = read_vgg19()
    width, height = (int(v) for v in args.compare_size.split("x"))
    args.out.mkdir(exist_ok=True)
    results, images = measure_engine(
        vgg_weights,
        CONFIG.weights_path,
        step_sizes=((400, 300), (512, 512)),
        quality_size=(CONFIG.image_width, CONFIG.image_height),
        quality_steps=defaults_for(vgg_weights).steps,
        compare_size=(width, height),
        adam_steps=args.adam_steps,
        out=args.out,
    )
    for precision, image in images.items():
        save_image(args.out / f"bench_{precision}.png", image)

    write_outputs(args.out, "bench", results, markdown(results), "big-picture", headline(results, load_before))
    print(markdown(results))


def markdown(r):
    t = r["targets"]
    lines = [
        f"Machine: {r['machine']['cpus']} CPUs ({r['machine']['cpu']}), {r['machine']['platform']}, TensorFlow "
        f"{r['machine']['tensorflow']}, GPU: {r['machine']['gpu'] or 'none'}, default precision "
        f"(auto): {r['machine']['default_precision']}. "
        f"Measured peaks: fp32 matmul {r['matmul_peak_gflops']:.0f} GFLOP/s (2048x2048, median of 20); "
        + "; ".join(
            f"{precision} 3x3 convolution {r['conv_peak_gflops'][precision]:.0f} GFLOP/s "
            f"({'x'.join(str(n) for n in r['conv_peak_shape'][precision])}: height, width, channels in, out)"
            for precision in ("float32", "bfloat16")
        )
        + ".",
        "",
        "| size | optimizer | precision | s/step | evaluations/step | GFLOP/step | GFLOP/s "
        "| its precision's conv peak, GFLOP/s | share of it | share of it per evaluation "
        "| share of the fp32 matmul peak |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in r["steps"]:
        lines.append(
            f"| {s['size']} | {s['optimizer']} | {s['precision']} | {s['seconds_per_step']:.3f} | "
            f"{s['evaluations_per_step']:.2f} | {s['gflop_per_step']:.0f} | {s['gflops']:.0f} | "
            f"{s['conv_peak_gflops']:.0f} | {s['share_of_conv_peak']:.0%} | "
            f"{s['share_of_conv_peak_per_evaluation']:.0%} | {s['share_of_fp32_peak']:.0%} |"
        )
    q, c, w, b = r["bf16_quality"], r["lbfgs_vs_adam"], r["weights_load"], r["big_picture"]
    seconds = {(s["size"], s["optimizer"], s["precision"]): s["seconds_per_step"] for s in r["steps"]}
    fp32 = [s for s in r["steps"] if s["precision"] == "float32"]
    bf16 = [s for s in r["steps"] if s["precision"] == "bfloat16"]
    ratios = ", ".join(
        f"{optimizer} {size} {seconds[size, optimizer, 'bfloat16'] / seconds[size, optimizer, 'float32']:.2f}"
        for size, optimizer, precision in seconds
        if precision == "float32"
    )
    lines += [
        "",
        "| figure | measured | target |",
        "|---|---|---|",
        f"| fp32 step, share of the fp32 conv peak (of the fp32 matmul peak) | "
        f"{min(s['share_of_conv_peak'] for s in fp32):.0%} or more "
        f"({min(s['share_of_fp32_peak'] for s in fp32):.0%} or more) | ≥ {t['fp32_share_of_conv_peak']:.0%} |",
        f"| bf16 evaluation, share of the bf16 conv peak (per step) | "
        f"{min(s['share_of_conv_peak_per_evaluation'] for s in bf16):.0%} or more "
        f"({min(s['share_of_conv_peak'] for s in bf16):.0%} or more) | ≥ {t['bf16_share_of_conv_peak']:.0%} |",
        f"| bf16 step / fp32 step | {ratios} | ≤ {t['bf16_over_fp32_time']} |",
        f"| bf16 final cost vs fp32 ({q['steps']} L-BFGS steps, evaluated in fp32) | "
        f"{q['relative_change']:+.1%} | within ±{t['bf16_loss_change']:.0%} |",
        *(
            f"| L-BFGS time to reach the {aim} cost of {c['adam_steps']} Adam steps ({c['size']}: "
            f"{reached['adam_cost']:.3g}) | "
            + (
                f"{reached['lbfgs_seconds']:.1f} s ({reached['lbfgs_steps']} steps, {reached['lbfgs_evaluations']} "
                f"evaluations) vs {c['adam_seconds']:.1f} s = {reached['lbfgs_seconds'] / c['adam_seconds']:.0%}"
                if reached["lbfgs_seconds"] is not None
                else "not reached"
            )
            + (f" | ≤ {t['lbfgs_over_adam_time']:.0%} |" if aim == "best" else " | |")
            for aim, reached in c["aims"].items()
        ),
        f"| weights load (read .mat + build model) | {w['seconds']:.2f} s | ≤ {t['weights_load_s']} s |",
        f"| memory added by loading, at its peak (process RSS {w['rss_before_mb']:.0f} MB "
        f"with TensorFlow imported) | {w['peak_rss_mb'] - w['rss_before_mb']:.0f} MB | "
        f"≤ {t['weights_load_rss_mb']} MB |",
        f"| a {b['size']} picture from the command line, its defaults (time with start-up; peak RSS) | "
        f"{b['seconds']:.0f} s; {b['peak_rss_gb']:.1f} GB | "
        f"≤ {t['big_picture_seconds']} s; ≤ {t['big_picture_rss_gb']:g} GB |",
        f"| its time estimated before the first step (without start-up) | {b['estimated_seconds']} s | |",
        "",
        "Step times are medians of 3 runs of 10 steps, timed after a warm-up of 1 Adam step or "
        "10 L-BFGS steps (graph tracing; L-BFGS's first line searches); weights load: median of 5 "
        "fresh processes; L-BFGS to the Adam costs: median of 3 runs (Adam: one run of "
        f"{c['adam_steps']} steps; its best cost is the lowest after any step, its final the last, which "
        "depends on where its oscillation stopped). FLOPs are counted "
        "analytically: forward convolutions up to conv5_1, the same again for the input gradient, "
        f"and the Gram matrices. A conv peak is the median of {PROBE_REPEATS} timings of one 3x3 convolution, "
        "of the shape that was the best of those named in the bench at the start (the header's "
        "peaks). The peaks are measured again just before each run of steps, and each share is "
        "the median over the runs of the run's share of its own peaks, as the host's speed drifts. "
        "An evaluation is one cost-and-gradient computation; the L-BFGS "
        "versus Adam run is in float32.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
