"""The projected, preconditioned L-BFGS on box-constrained quadratics whose answers are known,
what each part of its preconditioner buys, the bounds on its moves, then its memory: dropped when
it points uphill, and its round trip; and BLAS held to one thread while it runs. (Style-transfer
runs with it are in test_engine and test_resume.)"""

import numpy as np
import pytest
import threadpoolctl

from neural_style.lbfgs import FIRST_MOVE, MAX_MOVE, ProjectedLBFGS, smoothing_filter

SHAPE = (1, 12, 16, 3)


def _smooth_fit(target, stiffness):
    """f(x) = |x - target|^2 / 2 + stiffness * (sum of squared neighbour differences) / 2: ill
    conditioned for a large ``stiffness``, like the style costs. Returns ``evaluate``."""

    def evaluate(x):
        x = x.astype(np.float64)
        dy, dx = np.diff(x, axis=1), np.diff(x, axis=2)
        cost = 0.5 * np.sum((x - target) ** 2) + 0.5 * stiffness * (np.sum(dy**2) + np.sum(dx**2))
        gradient = x - target
        gradient[:, 1:] += stiffness * dy
        gradient[:, :-1] -= stiffness * dy
        gradient[:, :, 1:] += stiffness * dx
        gradient[:, :, :-1] -= stiffness * dx
        return float(cost), gradient.astype(np.float32), None

    return evaluate


def _minimise(evaluate, start, steps, optimizer=None):
    """Returns ``(last image, costs from the start's on, optimizer)``."""
    optimizer = optimizer or ProjectedLBFGS(start.shape)
    costs = [evaluate(start)[0]]
    image = optimizer.minimise(start, evaluate, steps, on_step=lambda image, cost, _: costs.append(cost))
    return image, costs, optimizer


def test_separable_quadratic_ends_at_the_clipped_target():
    target = np.random.RandomState(0).uniform(-0.5, 1.5, SHAPE)  # a third of it outside the box
    image, costs, _ = _minimise(_smooth_fit(target, 0.0), np.full(SHAPE, 0.5, np.float32), 100)
    np.testing.assert_allclose(image, np.clip(target, 0, 1), atol=1e-4)
    assert image.min() >= 0 and image.max() <= 1


def test_stiff_quadratic_meets_the_optimality_conditions_and_never_goes_uphill():
    ramp = np.linspace(-1.5, 2.5, SHAPE[2])[None, None, :, None]  # the ends are pushed out of the box
    target = ramp + np.random.RandomState(1).uniform(-0.5, 0.5, SHAPE)
    evaluate = _smooth_fit(target, 30.0)
    image, costs, _ = _minimise(evaluate, np.full(SHAPE, 0.5, np.float32), 300)
    gradient = evaluate(image)[1]
    assert all(b <= a for a, b in zip(costs, costs[1:]))
    assert image.min() >= 0 and image.max() <= 1
    # KKT for the box: zero gradient inside, pointing outwards at a bound.
    inside = (image > 1e-6) & (image < 1 - 1e-6)
    assert inside.mean() > 0.2 and (~inside).mean() > 0.05  # both kinds of pixel occur
    scale = np.abs(evaluate(np.full(SHAPE, 0.5, np.float32))[1]).max()
    assert np.abs(gradient[inside]).max() < 1e-3 * scale
    assert (gradient[image <= 1e-6] > -1e-3 * scale).all()
    assert (gradient[image >= 1 - 1e-6] < 1e-3 * scale).all()


def test_smoothing_pays_on_a_stiff_problem():
    """Steps to get within 1e-4 of the minimum, with the low-pass preconditioner and with none."""
    target = np.random.RandomState(2).uniform(0.2, 0.8, SHAPE) + np.linspace(-0.5, 0.5, SHAPE[2])[None, None, :, None]
    evaluate = _smooth_fit(target, 100.0)
    start = np.full(SHAPE, 0.5, np.float32)
    _, reference, _ = _minimise(evaluate, start, 300)  # at the minimum to float precision
    best = reference[-1]

    def steps_to_converge(optimizer):
        _, costs, _ = _minimise(evaluate, start, 300, optimizer)
        return next(i for i, c in enumerate(costs) if c - best <= 1e-4 * (costs[0] - best))

    plain = ProjectedLBFGS(SHAPE)
    plain.filter = np.ones_like(plain.filter)
    assert steps_to_converge(ProjectedLBFGS(SHAPE)) < steps_to_converge(plain)


def test_pixel_scale_pays_on_a_badly_scaled_problem():
    """Steps to cut the cost a million-fold on a fit whose stiffness varies smoothly over three
    decades across the image (like a style cost: stiff at edges, soft in flat areas), with the
    pixel scale D and without it."""
    rows, columns = np.mgrid[: SHAPE[1], : SHAPE[2]]
    stiffness = 10.0 ** (1.5 + 1.5 * np.sin(rows / 2.0) * np.cos(columns / 3.0))[None, :, :, None] * np.ones(SHAPE)
    target = np.random.RandomState(5).uniform(0.2, 0.8, SHAPE)

    def evaluate(x):
        difference = x.astype(np.float64) - target
        return float(0.5 * np.sum(stiffness * difference**2)), (stiffness * difference).astype(np.float32), None

    start = np.full(SHAPE, 0.5, np.float32)

    def steps_to_converge(optimizer):
        _, costs, _ = _minimise(evaluate, start, 300, optimizer)
        return next(i for i, c in enumerate(costs) if c <= 1e-6 * costs[0])

    assert steps_to_converge(ProjectedLBFGS(SHAPE)) < 0.8 * steps_to_converge(ProjectedLBFGS(SHAPE, scale_power=0))


def test_stationary_point_stops_without_a_step():
    target = np.random.RandomState(3).uniform(0, 1, SHAPE).astype(np.float32)
    evaluations = []

    def evaluate(x):
        evaluations.append(x)
        return _smooth_fit(target, 0.0)(x)

    assert ProjectedLBFGS(SHAPE).step(target, *evaluate(target)[:2], evaluate) is None
    assert len(evaluations) == 1  # only the caller's


def _recording(evaluate, tries):
    """``evaluate`` that also appends each point it is asked about to ``tries``."""

    def recorded(x):
        tries.append(x)
        return evaluate(x)

    return recorded


def test_first_step_moves_first_move_and_later_tries_start_within_max_move():
    """The minimum lies about 0.8 from the start in every pixel. The first step, with no curvature
    pair to scale it, moves the farthest pixel exactly ``FIRST_MOVE``. The second step's quasi-Newton
    direction reaches for the minimum, still 0.7 away, but its first try moves no pixel more than
    ``MAX_MOVE``: exactly that far."""
    rng = np.random.RandomState(6)
    start = rng.uniform(0.1, 0.15, SHAPE).astype(np.float32)
    target = rng.uniform(0.9, 0.95, SHAPE)
    tries = []
    evaluate = _recording(_smooth_fit(target, 0.0), tries)
    optimizer = ProjectedLBFGS(SHAPE)
    cost, gradient, _ = evaluate(start)

    tries.clear()
    image, cost, gradient, _ = optimizer.step(start, cost, gradient, evaluate)
    assert np.abs(tries[0] - start).max() == pytest.approx(FIRST_MOVE, rel=1e-4)
    np.testing.assert_array_equal(image, tries[-1])

    tries.clear()
    following, _, _, _ = optimizer.step(image, cost, gradient, evaluate)
    assert np.abs(target - image).min() > 2 * MAX_MOVE
    assert np.abs(tries[0] - image).max() == pytest.approx(MAX_MOVE, rel=1e-4)
    assert np.abs(following - image).max() <= MAX_MOVE * (1 + 1e-4)


def test_a_memory_that_points_uphill_is_dropped():
    """A memory whose direction goes uphill (here one pair of negative curvature, as a memory left
    from another cost could hold) is dropped: the step starts afresh from the smoothed gradient,
    moving at most ``FIRST_MOVE``, lowers the cost, and afterwards the memory holds only its own pair."""
    target = np.random.RandomState(7).uniform(0, 1, SHAPE)
    tries = []
    evaluate = _recording(_smooth_fit(target, 5.0), tries)
    image = np.full(SHAPE, 0.5, np.float32)
    cost, gradient, _ = evaluate(image)
    downhill = -0.01 * gradient
    stale = [downhill[None], -downhill[None], np.zeros((0, *SHAPE), np.float32)]
    optimizer = ProjectedLBFGS(SHAPE, stale)
    assert np.vdot(gradient, optimizer.direction(gradient, np.ones(SHAPE, bool))) > 0  # uphill

    tries.clear()
    new_image, new_cost, _, _ = optimizer.step(image, cost, gradient, evaluate)
    assert new_cost < cost
    assert np.abs(tries[0] - image).max() == pytest.approx(FIRST_MOVE, rel=1e-4)
    steps, changes, _ = optimizer.state()
    assert steps.shape == (1, *SHAPE)
    np.testing.assert_allclose(steps[0], new_image - image, atol=1e-7)


def test_memory_round_trip_retraces_the_run():
    target = np.random.RandomState(4).uniform(-0.5, 1.5, SHAPE)
    evaluate = _smooth_fit(target, 10.0)
    start = np.full(SHAPE, 0.5, np.float32)
    _, full, _ = _minimise(evaluate, start, 20)
    middle, first, optimizer = _minimise(evaluate, start, 10)
    steps, changes, squared_gradient = optimizer.state()
    assert steps.shape == changes.shape == (10, *SHAPE) and steps.dtype == np.float32
    assert squared_gradient.shape == (1, *SHAPE) and squared_gradient.dtype == np.float32
    _, second, _ = _minimise(evaluate, middle, 10, ProjectedLBFGS(SHAPE, [steps, changes, squared_gradient]))
    np.testing.assert_allclose(first + second[1:], full, rtol=1e-6)
    empty = ProjectedLBFGS(SHAPE).state()
    assert [a.shape for a in empty] == [(0, *SHAPE)] * 3


def test_memory_of_another_shape_or_an_older_version_is_refused():
    state = [np.zeros((2, 1, 8, 8, 3), np.float32)] * 2 + [np.zeros((1, 1, 8, 8, 3), np.float32)]
    with pytest.raises(
        ValueError, match=r"L-BFGS memory of shape \(1, 8, 8, 3\) does not fit images of shape \(1, 12, 16, 3\)"
    ):
        ProjectedLBFGS(SHAPE, state)
    with pytest.raises(ValueError, match="saved by an older version; delete the checkpoint"):
        ProjectedLBFGS(SHAPE, [np.zeros((2, *SHAPE), np.float32)] * 2)


def test_smoothing_filter_passes_low_frequencies_and_has_mean_one():
    response = smoothing_filter(30, 40)
    assert response.shape == (30, 21, 1)
    assert response.mean() == pytest.approx(1, rel=1e-5)
    assert response[0, 0, 0] == response.max() and response[15, 20, 0] == response.min()
    assert response[0, 0, 0] / response[15, 20, 0] == pytest.approx(
        ((0.5**2 + 0.5**2) ** 0.5 + 0.02) ** 0.5 / 0.02**0.5, rel=1e-4
    )


def test_big_images_keep_fewer_curvature_pairs():
    """At most MEMORY_BYTES of pairs (s and y, float32): all 50 up to about 1.3 megapixels, then fewer,
    never under MIN_MEMORY; a run keeps no more than that, and the memory estimate counts the same."""
    from neural_style import lbfgs, memory

    assert lbfgs.memory_for((1, 300, 400, 3)) == lbfgs.MEMORY == 50
    assert lbfgs.memory_for((1, 1080, 1920, 3)) == int(lbfgs.MEMORY_BYTES // (2 * 4 * 1080 * 1920 * 3)) == 10
    assert lbfgs.memory_for((1, 8000, 8000, 3)) == lbfgs.MIN_MEMORY
    assert ProjectedLBFGS((1, 1080, 1920, 3)).memory == 10 and ProjectedLBFGS(SHAPE).memory == lbfgs.MEMORY
    optimizer = ProjectedLBFGS(SHAPE, memory=3)
    _minimise(_smooth_fit(np.full(SHAPE, 0.5, np.float32), stiffness=10.0), np.zeros(SHAPE, np.float32), 6, optimizer)
    assert len(optimizer.s) == len(optimizer.y) == 3
    sizes, steps = [(480, 270), (1920, 1080)], [200, 25]
    expected = memory.BASE_BYTES + 1920 * 1080 * (memory.ACTIVATION_BYTES_PER_PIXEL["bfloat16"] + 2 * 10 * 12)
    assert memory.peak_bytes(sizes, steps, "bfloat16", "lbfgs") == pytest.approx(expected)


def test_blas_runs_on_one_thread_during_a_run_and_as_before_after_it():
    """numpy's and scipy's OpenBLAS are held to one thread while the optimiser runs (its evaluations
    and steps), and get their thread counts back afterwards."""

    def blas_threads():
        return [pool["num_threads"] for pool in threadpoolctl.threadpool_info() if pool["user_api"] == "blas"]

    before = blas_threads()
    assert before, "no BLAS library loaded"
    if max(before) == 1:
        pytest.skip("not applicable here: BLAS already runs on one thread: nothing to limit")
    seen = []
    fit = _smooth_fit(np.full(SHAPE, 0.5, np.float32), stiffness=1.0)

    def evaluate(x):
        seen.append(blas_threads())
        return fit(x)

    _minimise(evaluate, np.zeros(SHAPE, np.float32), steps=3)
    assert len(seen) >= 4 and all(threads == [1] * len(before) for threads in seen[1:]), seen
    assert blas_threads() == before
