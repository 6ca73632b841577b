"""Adam (Kingma & Ba, 2015) for an image kept in the box 0 <= pixel <= 1.

It has the protocol of ``neural_style.lbfgs.ProjectedLBFGS``, so one loop drives either::

    image = Adam(image.shape, learning_rate=0.02).minimise(image, evaluate, steps, on_step)

A step moves each pixel by about ``learning_rate`` against its running mean gradient m, divided by
the root of the running mean squared gradient v (so the step size hardly depends on the cost's
scale), then clips the image to [0, 1]. The constants and the bias correction are Keras's, so a
learning rate means here what it means for the notebook's ``tf.keras.optimizers.Adam``. The moments
are plain arrays, so a checkpoint can hold them and a resumed run continues exactly.
"""

import numpy as np

from .steps import saved_state

BETA_1 = 0.9  # decay of the running mean gradient m
BETA_2 = 0.999  # decay of the running mean squared gradient v
EPSILON = 1e-7  # added to sqrt(v): keeps the step finite where the gradient has been zero


class Adam:
    """The optimiser's state for images of ``shape`` (1, H, W, 3): the step count and the moments.

    ``state`` is what ``state()`` returned (for a resumed run), or None to start afresh.
    """

    def __init__(self, shape, learning_rate, state=None):
        self.shape, self.learning_rate = tuple(shape), learning_rate
        self.t = 0
        self.m = np.zeros(self.shape, np.float32)
        self.v = np.zeros(self.shape, np.float32)
        if state:
            t, m, v = saved_state(state, 3, "Adam")
            if m.shape != self.shape or v.shape != self.shape:
                raise ValueError(f"Adam moments of shape {m.shape} do not fit images of shape {self.shape}")
            self.t, self.m, self.v = int(t), np.float32(m), np.float32(v)

    def state(self):
        """Three arrays: the number of steps taken (a 0-d int64), then m and v (1, H, W, 3) float32."""
        return [np.array(self.t, np.int64), self.m.copy(), self.v.copy()]

    def step(self, image, gradient):
        """The image after one step from ``image`` (in [0, 1]) with its ``gradient``."""
        self.t += 1
        self.m += (1 - BETA_1) * (gradient - self.m)
        self.v += (1 - BETA_2) * (np.square(gradient) - self.v)
        rate = self.learning_rate * np.sqrt(1 - BETA_2**self.t) / (1 - BETA_1**self.t)
        return np.clip(image - np.float32(rate) * self.m / (np.sqrt(self.v) + np.float32(EPSILON)), 0, 1)

    def minimise(self, image, evaluate, steps, on_step):
        """``steps`` steps from ``image``; calls ``on_step(image, cost, extra)`` after each with the new
        image and what ``evaluate`` returned for it. Returns the last image.

        ``evaluate(image)`` returns ``(cost, gradient, extra)``. It is called once for the start, then
        once per step, for the image that step reached: one evaluation per step, as for L-BFGS once
        its line searches stop backtracking.
        """
        _, gradient, _ = evaluate(image)
        for _ in range(steps):
            image = self.step(image, gradient)
            cost, gradient, extra = evaluate(image)
            on_step(image, cost, extra)
        return image
