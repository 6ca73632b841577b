"""Projected, preconditioned L-BFGS for an image kept in the box 0 <= pixel <= 1.

One step, from the image x with cost f and gradient g (arrays (1, H, W, 3), float32):

1. Pixels held at a bound by the gradient (x = 0 and g > 0, or x = 1 and g < 0) are frozen.
2. The L-BFGS two-loop recursion turns the gradient on the other pixels into a direction d. Its
   initial inverse Hessian is ``gamma * D F D`` (``ProjectedLBFGS.precondition``):
   - F is a low-pass filter (``smoothing_filter``): the costs are much stiffer in fine detail than
     in broad shapes;
   - D is a per-pixel scale (``pixel_scale``), v ** -1/4 for v a running mean of low-passed squared
     gradients (Adam's second moment, smoothed): pixels whose gradients stay large, such as edges,
     take smaller steps;
   - gamma = s'y / y'(D F D y) from the latest curvature pair (Nocedal & Wright's eq. 7.20,
     preconditioned).
3. A backtracking line search along the projected path clip(x + t d, 0, 1) takes the first t with
   sufficient decrease (Armijo). It starts from t = 1, or less where that would move a pixel by
   more than ``MAX_MOVE``; each further try is at the minimum of a parabola fitted to the last.
   Once the memory holds a few pairs, the first try nearly always passes, so a step costs one
   evaluation.

``minimise(image, evaluate, steps, on_step)`` is the protocol every optimiser of the engine has
(``neural_style.steps``). What F, D and the size of the memory buy is reported in the README
(Speed). The curvature memory and the running mean are plain arrays, so
a checkpoint can hold them and a resumed run continues exactly.
"""

import numpy as np
import scipy.fft
from scipy.linalg.blas import saxpy
from threadpoolctl import threadpool_limits

from .steps import saved_state

# Curvature pairs (s, y) kept. More pairs model the cost's curvature better, so fewer evaluations
# reach a given cost; the price is memory, 2 * MEMORY images of float32 (144 MB at 400x300), which
# also go into every checkpoint. Big images keep fewer, so that the pairs stay within MEMORY_BYTES
# (see ``memory_for``).
MEMORY = 50
MEMORY_BYTES = 512e6
MIN_MEMORY = 5
GRADIENT_DECAY = 0.9  # of the running mean of squared gradients behind the pixel scale D
SCALE_POWER = 0.25  # D = v ** -SCALE_POWER (0: no pixel scale)
SCALE_FLOOR = 1e-3  # v is floored at this share of its mean, so that D stays bounded
SUFFICIENT_DECREASE = 1e-4  # Armijo constant
LINE_SEARCH_TRIES = 20  # before giving up on a direction (each try at most halves the step)
# With no curvature pairs yet (the first step, or after the memory was dropped), the direction
# carries no scale of its own: it is scaled so that the step moves no pixel by more than this.
FIRST_MOVE = 0.05
# A line search starts with no pixel moving more than this. Early on, with few and far-apart
# curvature pairs, L-BFGS proposes steps that move pixels across the whole range; the line search
# would then backtrack, at one evaluation per try.
MAX_MOVE = 0.25


def smoothing_filter(height, width, decay=0.5, floor=0.02):
    """Frequency response of the low-pass filter F, (height, width // 2 + 1, 1) for an ``rfft2``:
    (|f| + floor) ** -decay with f in cycles per pixel, scaled to mean 1. Broad shapes (low |f|)
    pass with a larger gain than fine detail, as the costs are much less stiff in them; ``floor``
    bounds the gain at f = 0."""
    frequency = np.hypot(np.fft.fftfreq(height)[:, None], np.fft.rfftfreq(width)[None, :])
    response = (frequency + floor) ** -decay
    return (response / response.mean()).astype(np.float32)[:, :, None]


def memory_for(shape):
    """The curvature pairs kept for images of ``shape`` (1, H, W, 3): ``MEMORY``, or fewer (at least
    ``MIN_MEMORY``) where that many would take more than ``MEMORY_BYTES`` (above about 1.3 megapixels).
    A big picture is refined from an upsampled smaller one in few steps, where the last pairs matter most."""
    pair_bytes = 2 * 4 * int(np.prod(shape))  # s and y, float32
    return max(MIN_MEMORY, min(MEMORY, int(MEMORY_BYTES // pair_bytes)))


class ProjectedLBFGS:
    """The optimiser's state for images of ``shape`` (1, H, W, 3): the curvature memory and the
    running mean of squared gradients.

    ``state`` is what ``state()`` returned (for a resumed run), or None to start afresh.
    """

    def __init__(self, shape, state=None, memory=None, scale_power=SCALE_POWER):
        self.shape, self.scale_power = tuple(shape), scale_power
        self.memory = memory_for(self.shape) if memory is None else memory
        self.filter = smoothing_filter(*self.shape[1:3])
        self.s, self.y, self.rho, self.squared_gradient = [], [], [], None
        if state:
            steps, gradient_changes, squared_gradient = saved_state(state, 3, "L-BFGS")
            if (
                steps.shape[1:] != self.shape
                or gradient_changes.shape != steps.shape
                or squared_gradient.shape[1:] != self.shape
            ):
                raise ValueError(f"L-BFGS memory of shape {steps.shape[1:]} does not fit images of shape {self.shape}")
            self.s, self.y = list(np.float32(steps)), list(np.float32(gradient_changes))
            self.rho = [1.0 / np.vdot(y, s) for s, y in zip(self.s, self.y)]
            self.squared_gradient = np.float32(squared_gradient[0]) if len(squared_gradient) else None

    def state(self):
        """Three float32 arrays: the steps s and gradient changes y (k, 1, H, W, 3), and the running
        mean of squared gradients (1, 1, H, W, 3), or (0, 1, H, W, 3) before the first step."""
        empty = np.zeros((0, *self.shape), np.float32)
        return [
            np.stack(self.s) if self.s else empty,
            np.stack(self.y) if self.y else empty,
            empty if self.squared_gradient is None else self.squared_gradient[None],
        ]

    def smooth(self, image):
        """``image`` (1, H, W, 3) through the low-pass filter F (one float32 FFT each way, on every
        core: the network waits meanwhile)."""
        spectrum = scipy.fft.rfft2(image, axes=(1, 2), workers=-1) * self.filter
        return scipy.fft.irfft2(spectrum, s=self.shape[1:3], axes=(1, 2), workers=-1)

    def pixel_scale(self):
        """D: (1, H, W, 3), mean 1, from the running mean v of squared gradients; all ones before
        the first step (or with ``scale_power`` 0)."""
        if self.squared_gradient is None or not self.scale_power:
            return np.ones(self.shape, np.float32)
        v = self.squared_gradient
        scale = (v + SCALE_FLOOR * v.mean()) ** -self.scale_power
        return scale / scale.mean()

    def precondition(self, image, scale):
        """D F D ``image``, for the pixel scale D given as ``scale``."""
        return scale * self.smooth(scale * image)

    def direction(self, gradient, free):
        """Quasi-Newton direction for the ``free`` pixels (zero elsewhere).

        The two loops update q and r with BLAS ``saxpy`` (in place, on flat float32 arrays), and
        rho = 1 / y's is kept with each pair: numpy's ``q -= alpha * y`` would fill a temporary
        image for every pair, and at the largest sizes the recursion would then take a sizeable
        share of a step."""
        q = np.where(free, np.asarray(gradient, np.float32), np.float32(0)).ravel()
        alphas = []
        for s, y, rho in zip(reversed(self.s), reversed(self.y), reversed(self.rho)):
            alphas.append(rho * np.vdot(s, q))
            q = saxpy(y.ravel(), q, a=-alphas[-1])
        scale = self.pixel_scale()
        r = self.precondition(q.reshape(self.shape), scale)
        if self.s:
            r *= np.vdot(self.s[-1], self.y[-1]) / np.vdot(self.y[-1], self.precondition(self.y[-1], scale))
        else:
            r *= FIRST_MOVE / max(float(np.abs(r).max()), 1e-30)
        r = np.asarray(r, np.float32).ravel()
        for s, y, rho, alpha in zip(self.s, self.y, self.rho, reversed(alphas)):
            r = saxpy(s.ravel(), r, a=alpha - rho * np.vdot(y, r))
        r = r.reshape(self.shape)
        return np.where(free, -r, np.float32(0))

    def step(self, image, cost, gradient, evaluate):
        """One step from ``image`` (in [0, 1]) with its ``cost`` and ``gradient``.

        ``evaluate(image)`` returns ``(cost, gradient, extra)``. Returns the new point's
        ``(image, cost, gradient, extra)``, or None where no step lowers the cost (a stationary point).
        """
        free = ~(((image <= 0) & (gradient > 0)) | ((image >= 1) & (gradient < 0)))
        if not np.any(gradient[free]):
            return None
        self._observe(gradient)
        while True:  # at most twice: with the memory, then without it
            direction = self.direction(gradient, free)
            if np.vdot(gradient, direction) < 0:
                t = min(1.0, MAX_MOVE / float(np.abs(direction).max()))
                for _ in range(LINE_SEARCH_TRIES):
                    candidate = np.clip(image + t * direction, 0, 1)
                    new_cost, new_gradient, extra = evaluate(candidate)
                    slope = float(np.vdot(gradient, candidate - image))  # first-order change, < 0
                    if new_cost <= cost + min(SUFFICIENT_DECREASE * slope, 0.0):  # min: float32 rounding
                        self._remember(candidate - image, new_gradient - gradient)
                        return candidate, new_cost, new_gradient, extra
                    # The minimum of the parabola through the two costs and the slope, kept in
                    # [t/10, t/2].
                    curvature = new_cost - cost - slope
                    t *= min(max(-slope / (2 * curvature), 0.1), 0.5) if curvature > 0 else 0.5
            if not self.s:
                return None
            self.s, self.y, self.rho = [], [], []  # a stale memory: start again from the smoothed gradient

    def minimise(self, image, evaluate, steps, on_step):
        """Up to ``steps`` steps from ``image``, fewer if a stationary point comes first; calls
        ``on_step(image, cost, extra)`` after each with the new image and what ``evaluate`` returned
        for it. Returns the last image. ``evaluate(image)`` returns ``(cost, gradient, extra)``; it is
        called for the start, then at least once per step (once per line-search try).

        numpy's and scipy's BLAS (OpenBLAS) run on one thread meanwhile: the update's vector
        operations gain little from a second, and OpenBLAS's threads keep spinning for a while
        after each call, on the cores the network's next evaluation needs."""
        with threadpool_limits(limits=1, user_api="blas"):
            cost, gradient, _ = evaluate(image)
            for _ in range(steps):
                point = self.step(image, cost, gradient, evaluate)
                if point is None:
                    break
                image, cost, gradient, extra = point
                on_step(image, cost, extra)
        return image

    def _observe(self, gradient):
        """Update the running mean of low-passed squared gradients (behind ``pixel_scale``)."""
        squared = np.maximum(self.smooth(np.square(gradient)), 0)
        self.squared_gradient = (
            squared
            if self.squared_gradient is None
            else (GRADIENT_DECAY * self.squared_gradient + (1 - GRADIENT_DECAY) * squared)
        )

    def _remember(self, s, y):
        """Keep the pair (s, y), with rho = 1 / y's, if it meets the curvature condition."""
        curvature = np.vdot(s, y)
        if curvature > 1e-10 * np.linalg.norm(s) * np.linalg.norm(y):
            self.s.append(np.ascontiguousarray(s, np.float32))
            self.y.append(np.ascontiguousarray(y, np.float32))
            self.rho.append(1.0 / curvature)
            del self.s[: -self.memory], self.y[: -self.memory], self.rho[: -self.memory]
