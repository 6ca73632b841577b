"""The optimiser protocol without the network: Adam on problems whose answers are known, and the
step recorder (history, step numbers, the NaN guard, checkpoints, Ctrl-C, stopping early) around
both optimisers. The costs here are numpy quadratics, so every run takes milliseconds; runs with
the real network are in test_engine and test_resume."""

import signal

import numpy as np
import pytest

from neural_style.adam import Adam
from neural_style.lbfgs import ProjectedLBFGS
from neural_style.steps import Interrupted, StepRecorder
from neural_style.transfer import Checkpoint

SHAPE = (1, 6, 8, 3)


def _quadratic(target):
    """f(x) = |x - target|^2 / 2, with the cost terms the engine's ``evaluate`` returns."""

    def evaluate(x):
        difference = np.asarray(x, np.float64) - target
        cost = float(0.5 * np.sum(difference**2))
        return cost, difference.astype(np.float32), {"content": cost, "style": 0.0, "tv": 0.0, "total": cost}

    return evaluate


@pytest.fixture
def target():
    return np.random.RandomState(0).uniform(-0.3, 1.3, SHAPE)  # partly outside the box


@pytest.fixture
def start():
    return np.full(SHAPE, 0.5, np.float32)


def _optimizer(name, state=None):
    return Adam(SHAPE, 0.05, state) if name == "adam" else ProjectedLBFGS(SHAPE, state)


def _run(optimizer, start, evaluate, steps, first_step=0, **options):
    """``optimizer.minimise`` inside a ``StepRecorder``; returns the recorder's ``RunResult``."""
    with StepRecorder(start, first_step + steps, optimizer.state, first_step, progress=False, **options) as recorder:
        optimizer.minimise(start, recorder.evaluating(evaluate), steps, recorder.record)
    return recorder.result("float32")


# --------------------------------------------------------------------------------------------
# Adam
# --------------------------------------------------------------------------------------------


def test_adam_takes_the_steps_of_keras_adam():
    """The same gradients give the same images as ``tf.keras.optimizers.Adam`` followed by clipping,
    as in the notebook: a learning rate means the same thing in both."""
    import tensorflow as tf

    rng = np.random.RandomState(1)
    first = image = rng.uniform(0, 1, SHAPE).astype(np.float32)
    gradients = [rng.normal(0, 10.0 ** rng.uniform(-3, 1), SHAPE).astype(np.float32) for _ in range(6)]
    variable = tf.Variable(image)
    keras_adam = tf.keras.optimizers.Adam(learning_rate=0.02)
    ours = Adam(SHAPE, 0.02)
    for gradient in gradients:
        keras_adam.apply_gradients([(tf.constant(gradient), variable)])
        variable.assign(tf.clip_by_value(variable, 0.0, 1.0))
        image = ours.step(image, gradient)
        assert image.dtype == np.float32
        np.testing.assert_allclose(image, variable.numpy(), atol=1e-6)
    assert np.abs(image - first).max() > 0.05  # it moved (6 steps of about 0.02)


def test_adam_ends_at_the_clipped_target(target, start):
    evaluate = _quadratic(target)
    image = Adam(SHAPE, 0.02).minimise(start, evaluate, 400, on_step=lambda *_: None)
    np.testing.assert_allclose(image, np.clip(target, 0, 1), atol=0.01)


def test_adam_state_round_trip_retraces_the_run(target, start):
    evaluate = _quadratic(target)
    full = Adam(SHAPE, 0.05).minimise(start, evaluate, 12, on_step=lambda *_: None)
    first = Adam(SHAPE, 0.05)
    middle = first.minimise(start, evaluate, 5, on_step=lambda *_: None)
    t, m, v = first.state()
    assert t.shape == () and int(t) == 5 and m.shape == v.shape == SHAPE and m.dtype == v.dtype == np.float32
    resumed = Adam(SHAPE, 0.05, [t, m, v]).minimise(middle, evaluate, 7, on_step=lambda *_: None)
    np.testing.assert_array_equal(resumed, full)


def test_adam_state_of_another_shape_or_an_older_version_is_refused():
    moments = np.zeros((1, 4, 4, 3), np.float32)
    with pytest.raises(ValueError, match=r"Adam moments of shape \(1, 4, 4, 3\) do not fit images of shape \(1, 6, 8"):
        Adam(SHAPE, 0.02, [np.array(3), moments, moments])
    with pytest.raises(ValueError, match="Adam state of 4 arrays: it was saved by an older version"):
        Adam(SHAPE, 0.02, [np.array(3), np.array(0.02), np.zeros(SHAPE), np.zeros(SHAPE)])


# --------------------------------------------------------------------------------------------
# The step recorder, around either optimiser
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["adam", "lbfgs"])
def test_history_steps_and_evaluations(name, target, start):
    evaluate = _quadratic(target)
    seen = []
    result = _run(
        _optimizer(name),
        start,
        evaluate,
        9,
        callback=lambda step, image, terms: seen.append((step, image.copy(), terms)),
    )
    assert result.steps == len(result.history) == 9
    assert [step for step, _, _ in seen] == list(range(1, 10))
    assert [terms for _, _, terms in seen] == list(result.history)
    for _, image, terms in seen:  # each entry is the cost of that step's image
        assert terms["total"] == pytest.approx(evaluate(image)[0], rel=1e-6)
    np.testing.assert_array_equal(result.image, seen[-1][1])
    assert result.history[-1]["total"] < 0.5 * evaluate(start)[0]
    # One evaluation for the start, then one or more per step; the last step's count is the total.
    assert list(result.step_evaluations) == sorted(result.step_evaluations)
    assert result.step_evaluations[0] >= 2 and result.step_evaluations[-1] == result.evaluations
    if name == "adam":
        assert result.step_evaluations == tuple(range(2, 11))


def test_a_resumed_run_numbers_its_steps_on(target, start):
    seen = []
    result = _run(
        _optimizer("adam"),
        start,
        _quadratic(target),
        4,
        first_step=6,
        callback=lambda step, image, terms: seen.append(step),
    )
    assert seen == [7, 8, 9, 10] and result.steps == 4


@pytest.mark.parametrize("name", ["adam", "lbfgs"])
def test_checkpoint_every_n_steps_resumes_exactly(name, target, start, tmp_path):
    """Every 3 steps: runs stopped after 2, 5 and 7 steps leave no checkpoint, step 3 and step 6;
    from step 6, 4 more steps retrace the uninterrupted 10."""
    evaluate = _quadratic(target)
    full = _run(_optimizer(name), start, evaluate, 10)
    for steps, saved in ((2, None), (5, 3), (7, 6)):
        checkpoint = Checkpoint(tmp_path / f"after{steps}.checkpoint.npz", 3, "key")
        _run(_optimizer(name), start, evaluate, steps, checkpoint=checkpoint)
        assert checkpoint.path.exists() == (saved is not None)
        assert saved is None or checkpoint.load().step == saved
    resume = checkpoint.load()
    rest = _run(_optimizer(name, resume.optimizer_state), resume.image, evaluate, 4, first_step=6)
    np.testing.assert_allclose([h["total"] for h in rest.history], [h["total"] for h in full.history[6:]], rtol=1e-6)
    np.testing.assert_allclose(rest.image, full.image, atol=1e-6)


@pytest.mark.parametrize("name", ["adam", "lbfgs"])
def test_nan_guard_names_the_step_and_keeps_the_last_checkpoint(name, target, start, tmp_path):
    """The cost turns NaN during step 4: ``FloatingPointError`` names step 4, and the checkpoint
    (every step) still holds step 3, whose image and state are finite."""
    evaluate = _quadratic(target)
    poisoned = [False]

    def evaluate_until_poisoned(x):
        cost, gradient, terms = evaluate(x)
        return (float("nan"), gradient, terms) if poisoned[0] else (cost, gradient, terms)

    def poison_after_step_3(step, image, terms):
        poisoned[0] = step == 3

    checkpoint = Checkpoint(tmp_path / "run.checkpoint.npz", 1, "key")
    with pytest.raises(FloatingPointError, match="the cost became nan at step 4; try a smaller learning rate"):
        _run(_optimizer(name), start, evaluate_until_poisoned, 10, checkpoint=checkpoint, callback=poison_after_step_3)
    resume = checkpoint.load()
    assert resume.step == 3 and np.isfinite(resume.image).all()
    assert all(np.isfinite(array).all() for array in resume.optimizer_state)


def test_nan_at_the_start_is_step_1(target, start):
    def infinite(x):
        return float("inf"), np.zeros(SHAPE, np.float32), {}

    with pytest.raises(FloatingPointError, match="the cost became inf at step 1"):
        _run(_optimizer("lbfgs"), start, infinite, 5)


@pytest.mark.parametrize("name", ["adam", "lbfgs"])
def test_a_true_callback_ends_the_run_there(name, target, start):
    result = _run(_optimizer(name), start, _quadratic(target), 50, callback=lambda step, image, terms: step == 4)
    assert result.steps == 4
    after_4 = _run(_optimizer(name), start, _quadratic(target), 4)
    np.testing.assert_array_equal(result.image, after_4.image)
    assert result.evaluations == after_4.evaluations


@pytest.fixture
def python_sigint():
    """Python's own SIGINT handler for the test (pytest-xdist's workers ignore SIGINT), restored after."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("name, presses", [("adam", 1), ("lbfgs", 1), ("adam", 2)])
def test_ctrl_c_finishes_the_step_and_saves_it(name, presses, target, start, tmp_path, python_sigint):
    """A real SIGINT during step 7: the first one lets the step end, saves the checkpoint there and
    raises ``Interrupted``; a second one raises KeyboardInterrupt at once (last checkpoint: step 5).
    Either way Python's default handler is back afterwards."""
    checkpoint = Checkpoint(tmp_path / "run.checkpoint.npz", 5, "key")
    seen = []

    def ctrl_c(step, image, terms):
        seen.append(step)
        if step == 7:
            for _ in range(presses):
                signal.raise_signal(signal.SIGINT)

    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with pytest.raises(KeyboardInterrupt) as interrupt:
        _run(_optimizer(name), start, _quadratic(target), 12, checkpoint=checkpoint, callback=ctrl_c)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert seen == list(range(1, 8))
    if presses == 1:
        assert isinstance(interrupt.value, Interrupted) and interrupt.value.step == 7
        saved = checkpoint.load()
        assert saved.step == 7
        if name == "lbfgs":  # the curvature memory holds one pair per step so far
            assert saved.optimizer_state[0].shape == (7, *SHAPE)
        else:
            assert int(saved.optimizer_state[0]) == 7
    else:
        assert not isinstance(interrupt.value, Interrupted)
        assert checkpoint.load().step == 5
    assert not [p for p in tmp_path.iterdir() if ".part" in p.name]
