"""Interrupting a run and resuming it from its checkpoint (real VGG-19 weights, small images).

* Python API: L-BFGS resumes exactly (its curvature memory is restored). (Adam's exact resume and
  Ctrl-C inside the step recorder, with a real SIGINT, are in test_steps; Adam resumes end to end
  through the command line below.)
* The real command line in a subprocess: Ctrl-C (SIGINT) or SIGKILL after the first checkpoint,
  then ``--resume``; a checkpoint from other options, or a damaged one, is refused.
* Snapshots and checkpoints are written atomically: no ``*.part*`` file is ever left behind.
"""

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from helpers import read_rgb
from neural_style import cli, transfer
from nst_utils import load_image

ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT / "images" / "chelsea.jpg"
STYLE = ROOT / "images" / "swirls.jpg"
WIDTH, HEIGHT = 48, 32


def _no_partial_files(folder):
    leftovers = [p.name for p in Path(folder).rglob("*") if ".part" in p.name]
    assert leftovers == [], leftovers


# --------------------------------------------------------------------------------------------
# Python API
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def images():
    return load_image(CONTENT, WIDTH, HEIGHT), load_image(STYLE, WIDTH, HEIGHT)


def _interrupted_then_resumed(vgg_weights, images, settings, path, every, stop_at):
    """Run until the callback raises KeyboardInterrupt at ``stop_at``, then resume from the
    checkpoint. Returns ``(resume, steps seen by the resumed run, the resumed run's RunResult)``."""
    content, style = images
    checkpoint = transfer.Checkpoint(path, every, "api-test")
    seen_before = []

    def interrupt(step, image, terms):
        seen_before.append(step)
        if step == stop_at:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        transfer.stylize(
            vgg_weights,
            content,
            [style],
            content,
            settings=settings,
            progress=False,
            checkpoint=checkpoint,
            callback=interrupt,
        )
    assert seen_before == list(range(1, stop_at + 1))

    resume = checkpoint.load()
    seen_after = []
    result = transfer.stylize(
        vgg_weights,
        content,
        [style],
        content,
        settings=settings,
        progress=False,
        checkpoint=checkpoint,
        resume=resume,
        callback=lambda step, image, terms: seen_after.append(step),
    )
    return resume, seen_after, result


def test_lbfgs_resumes_exactly(vgg_weights, images, tmp_path):
    content, style = images
    settings = dataclasses.replace(transfer.defaults_for(vgg_weights), optimizer="lbfgs", steps=16)
    expected = transfer.stylize(vgg_weights, content, [style], content, settings=settings, progress=False)
    assert expected.steps == 16

    resume, steps, result = _interrupted_then_resumed(
        vgg_weights, images, settings, tmp_path / "run.checkpoint.npz", every=8, stop_at=9
    )
    assert resume.step == 8
    steps_memory, gradient_memory, squared_gradient = resume.optimizer_state  # pairs (s, y), mean of g^2
    assert steps_memory.shape == gradient_memory.shape == (8, *content.shape)  # one pair per step so far
    assert squared_gradient.shape == (1, *content.shape)
    assert steps == list(range(9, 17))
    assert result.image.min() >= 0.0 and result.image.max() <= 1.0
    # The memory is restored, so the resumed run retraces the uninterrupted one.
    np.testing.assert_allclose(
        [h["total"] for h in result.history], [h["total"] for h in expected.history[8:]], rtol=1e-4
    )
    np.testing.assert_allclose(result.image, expected.image, atol=1e-4)
    _no_partial_files(tmp_path)


# --------------------------------------------------------------------------------------------
# The command line, interrupted for real
# --------------------------------------------------------------------------------------------

# The first checkpoint comes at step EVERY, and the signal follows it. The run is long enough in steps
# that the signal lands well before the end, however slow or busy the machine: both processes slow
# down together, and the parent needs only to notice a file.
STEPS, EVERY = 60, 5


def _command(output, *extra):
    return [
        sys.executable,
        "-m",
        "neural_style",
        "--content",
        str(CONTENT),
        "--style",
        str(STYLE),
        "--optimizer",
        "adam",
        "--steps",
        str(STEPS),
        "--snapshot-every",
        str(EVERY),
        "--size",
        f"{WIDTH}x{HEIGHT}",
        "--output",
        str(output),
        *extra,
    ]


def _start(command, folder):
    """Popen with stdout/stderr in files (a full pipe would block the child)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    with open(folder / "stdout.txt", "w") as out, open(folder / "stderr.txt", "w") as err:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=err)


def _resumed(command):
    """The finished ``--resume`` run (it must succeed)."""
    resumed = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    return resumed


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The same command, run to the end once; started at once so it overlaps the other runs.
    Returns a function that waits for it and gives its output path."""
    folder = tmp_path_factory.mktemp("uninterrupted")
    logs = tmp_path_factory.mktemp("uninterrupted-logs")
    process = _start(_command(folder / "out.png"), logs)

    def result():
        assert process.wait(timeout=300) == 0, (logs / "stderr.txt").read_text()[-3000:]
        _no_partial_files(folder)
        assert not (folder / "out.checkpoint.npz").exists()
        return folder / "out.png"

    yield result
    if process.poll() is None:
        process.kill()
        process.wait()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_cli_interrupted_then_resumed(tmp_path, uninterrupted, sig):
    folder, logs = tmp_path / "out", tmp_path / "logs"
    folder.mkdir()
    logs.mkdir()
    output, checkpoint = folder / "out.png", folder / "out.checkpoint.npz"
    process = _start(_command(output), logs)
    try:
        give_up = time.monotonic() + 600  # only so that a broken run cannot hang the suite
        while not checkpoint.exists():
            assert process.poll() is None, (logs / "stderr.txt").read_text()[-3000:]  # ended too early
            assert time.monotonic() < give_up, "no checkpoint after 600 s"
            time.sleep(0.02)
        process.send_signal(sig)
        returncode = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    stderr = (logs / "stderr.txt").read_text()
    with np.load(checkpoint) as saved:
        key, step = str(saved["key"]), int(saved["step"])
    if sig == signal.SIGINT:
        assert returncode == 1, stderr[-3000:]
        # Ctrl-C lets the step in progress end and saves the checkpoint there.
        assert f"interrupted after step {step}: run the same command with --resume to continue" in stderr
        assert "Traceback" not in stderr
        _no_partial_files(folder)  # Ctrl-C: every temporary file was removed on the way out
    else:
        assert returncode == -signal.SIGKILL
        # Nothing runs at SIGKILL: a snapshot or checkpoint being written stays behind as a hidden
        # temporary file (never under its final name). --resume must clean those up; two are
        # planted so that is tested whether or not this kill caught a write.
        leftovers = [p.name for p in folder.iterdir() if ".part" in p.name]
        assert all(name.startswith(".out") for name in leftovers), leftovers
        for name in (".out_step0010.png.zzzzzzzz.part.png", ".out.checkpoint.npz.zzzzzzzz.part.npz"):
            (folder / name).write_bytes(b"half a file")
    assert not output.exists()

    # The checkpoint is complete: it loads with the project's loader.
    assert EVERY <= step < STEPS, step  # the run was caught before its end
    assert step % EVERY == 0 or sig == signal.SIGINT, step
    saved = transfer.Checkpoint(checkpoint, EVERY, key).load()
    assert saved.step == step and saved.image.shape == (1, HEIGHT, WIDTH, 3) and np.isfinite(saved.image).all()
    assert len(saved.optimizer_state) >= 2

    resumed = _resumed(_command(output, "--resume", "--quiet"))
    assert f"saved {output}  ({STEPS - step} adam steps" in resumed.stdout  # continued from the checkpoint
    assert output.exists() and not checkpoint.exists()
    for later in range((step // EVERY + 1) * EVERY, STEPS + 1, EVERY):  # the snapshots continue the numbering
        assert (folder / f"out_step{later:04d}.png").exists(), later
    names = set(os.listdir(folder))
    assert names <= {"out.png", *(f"out_step{s:04d}.png" for s in range(EVERY, STEPS + 1, EVERY))}, names
    _no_partial_files(folder)

    result, expected = read_rgb(output), read_rgb(uninterrupted())
    assert result.shape == expected.shape == (HEIGHT, WIDTH, 3)
    assert np.abs(result - expected).mean() < 2 / 255
    assert np.abs(result - read_rgb(folder / f"out_step{STEPS:04d}.png")).max() == 0  # last snapshot == result


def test_cli_interrupted_at_the_second_level_resumes_there(tmp_path):
    """``--levels 2``: 200 steps at 48x32, then 50 at 96x64. Ctrl-C once the second level has saved
    a checkpoint; ``--resume`` goes on from that level and step without running the first again, and
    the picture is the uninterrupted run's."""
    size, steps = ("--size", f"{2 * WIDTH}x{2 * HEIGHT}", "--levels", "2"), ("--steps", "200")
    folder, logs = tmp_path / "out", tmp_path / "logs"
    for path in (folder, logs, tmp_path / "whole"):
        path.mkdir()
    output, checkpoint = folder / "out.png", folder / "out.checkpoint.npz"
    whole = _start(_command(tmp_path / "whole" / "out.png", *size, *steps, "--quiet"), tmp_path / "whole")
    process = _start(_command(output, *size, *steps), logs)
    try:
        give_up = time.monotonic() + 600  # only so that a broken run cannot hang the suite
        level = 0
        while level == 0:  # a first-level checkpoint, or none yet
            assert process.poll() is None, (logs / "stderr.txt").read_text()[-3000:]  # ended too early
            assert time.monotonic() < give_up, "no second-level checkpoint after 600 s"
            time.sleep(0.02)
            if checkpoint.exists():
                with np.load(checkpoint) as saved:
                    level = int(saved["level"])
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 1
        assert whole.wait(timeout=600) == 0
    finally:
        for running in (process, whole):
            if running.poll() is None:
                running.kill()
                running.wait()
    with np.load(checkpoint) as saved:
        key, step = str(saved["key"]), int(saved["step"])
    saved = transfer.Checkpoint(checkpoint, EVERY, key).load()
    assert saved.level == 1 and EVERY <= step < 50 and saved.image.shape == (1, 2 * HEIGHT, 2 * WIDTH, 3)

    resumed = _resumed(_command(output, *size, *steps, "--resume"))
    assert "level 1 of 2" not in resumed.stdout, resumed.stdout  # not run again
    assert f"level 2 of 2: 96x64, 50 steps, resumed after step {step}" in resumed.stdout, resumed.stdout
    assert f"saved {output}  ({50 - step} adam steps" in resumed.stdout, resumed.stdout
    assert not checkpoint.exists()
    # Snapshots are named after their level: the first level's all there, the second's up to the end.
    names = set(os.listdir(folder))
    assert {f"out_level1_step{s:04d}.png" for s in range(EVERY, 201, EVERY)} <= names, names
    assert f"out_level2_step{50:04d}.png" in names, names
    _no_partial_files(folder)
    result, expected = read_rgb(output), read_rgb(tmp_path / "whole" / "out.png")
    assert result.shape == expected.shape == (2 * HEIGHT, 2 * WIDTH, 3)
    assert np.abs(result - expected).mean() < 2 / 255


# --------------------------------------------------------------------------------------------
# Checkpoints that must be refused (in-process: same code path, no TensorFlow start-up)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved_checkpoint(tmp_path_factory):
    """The bytes of the checkpoint that ``cli.main`` leaves when interrupted (KeyboardInterrupt) while
    writing its first snapshot, at step 5 (made once: the run key does not depend on the output path)."""
    folder = tmp_path_factory.mktemp("interrupted")
    real_save = cli.save_image

    def ctrl_c_on_snapshot(path, image):
        if "_step" in Path(path).name:
            raise KeyboardInterrupt
        return real_save(path, image)

    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(cli, "save_image", ctrl_c_on_snapshot)
        with pytest.raises(SystemExit, match="interrupted: run the same command with --resume"):
            cli.main(_command(folder / "out.png", "--quiet")[3:])
    assert sorted(os.listdir(folder)) == ["out.checkpoint.npz"]
    return (folder / "out.checkpoint.npz").read_bytes()


@pytest.fixture
def interrupted_checkpoint(tmp_path, saved_checkpoint):
    """An output folder holding only the interrupted run's checkpoint. Returns ``(argv, output,
    checkpoint path)``."""
    output, checkpoint = tmp_path / "out.png", tmp_path / "out.checkpoint.npz"
    checkpoint.write_bytes(saved_checkpoint)
    return _command(output, "--quiet")[3:], output, checkpoint


def _refused(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert capsys.readouterr().out == ""
    message = str(exit_info.value.code)
    assert message.startswith("error: ")
    return message


def test_checkpoint_from_other_options_is_refused(interrupted_checkpoint, capsys):
    argv, output, checkpoint = interrupted_checkpoint
    before = checkpoint.read_bytes()
    message = _refused([*argv, "--resume", "--style-weight", "50"], capsys)
    assert f"{checkpoint} was saved by a run with other images or settings" in message
    assert "resume with the same options, or delete it" in message
    assert checkpoint.read_bytes() == before and not output.exists()  # kept for a resume with the right options
    _no_partial_files(output.parent)


@pytest.mark.parametrize("damage", ["truncated", "empty", "not-an-archive"])
def test_damaged_checkpoint_is_refused(interrupted_checkpoint, capsys, damage):
    argv, output, checkpoint = interrupted_checkpoint
    data = checkpoint.read_bytes()
    checkpoint.write_bytes(
        {"truncated": data[: len(data) // 2], "empty": b"", "not-an-archive": b"step 5, trust me\n"}[damage]
    )
    message = _refused([*argv, "--resume"], capsys)
    assert f"cannot resume from {checkpoint}: the file is damaged" in message
    assert not output.exists()
    assert sorted(os.listdir(output.parent)) == ["out.checkpoint.npz"]  # left for the user to look at
