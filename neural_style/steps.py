"""One run's bookkeeping, the same whichever optimiser runs: step numbers, the cost history, the
progress bar, the NaN guard, checkpoints, Ctrl-C, and what the run returns.

Every optimiser (``neural_style.adam.Adam``, ``neural_style.lbfgs.ProjectedLBFGS``) has one method::

    image = optimizer.minimise(image, evaluate, steps, on_step)

where ``evaluate(image)`` returns ``(cost, gradient, terms)`` and ``on_step(image, cost, terms)``
follows each step. A ``StepRecorder`` supplies both ends, so that the optimisers know nothing of
files, signals or progress bars::

    with StepRecorder(start, steps, optimizer.state, checkpoint=checkpoint) as recorder:
        optimizer.minimise(start, recorder.evaluating(evaluate), steps, recorder.record)
    result = recorder.result(precision)
"""

import dataclasses
import signal
import threading
import time

import numpy as np
from tqdm.auto import tqdm


def saved_state(state, count, optimizer):
    """The ``count`` arrays of an optimiser's ``state`` as its ``state()`` returned them into a
    checkpoint. Raises ``ValueError`` naming the ``optimizer`` where the checkpoint holds another
    number: an older version saved it, and its arrays cannot be read as this version's."""
    if len(state) != count:
        raise ValueError(
            f"{optimizer} state of {len(state)} arrays: it was saved by an older version; "
            "delete the checkpoint to start afresh"
        )
    return list(state)


@dataclasses.dataclass(frozen=True)
class RunResult:
    """What a run did.

    ``image``: (1, H, W, 3) float32 in [0, 1], where the last step ended (the start image if the
    optimiser took no step). ``history``: after each step, the cost terms at the step's image
    (``content``, ``style``, ``tv`` and ``total``; floats). ``evaluations``: cost-and-gradient
    evaluations in all (the start's included; an L-BFGS step whose line search backtracks needs
    several). ``step_evaluations``: evaluations made by the end of each step, so that steady steps
    can be told from the first ones. ``seconds``: the run's wall time. ``precision``: what the
    network computed in, ``"float32"`` or ``"bfloat16"``.
    """

    image: np.ndarray
    history: tuple
    evaluations: int
    step_evaluations: tuple
    seconds: float
    precision: str

    @property
    def steps(self):
        """Steps taken in this run (not counting those before a resume)."""
        return len(self.history)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C stopped the run after ``step``; its checkpoint, if it keeps one, is saved there."""

    def __init__(self, step):
        super().__init__(f"stopped after step {step}")
        self.step = step


class _Stop(Exception):
    """Raised by ``StepRecorder.record`` when the callback asks to stop; ends the ``with`` block."""


class StepRecorder:
    """Records the steps of one run from ``start`` (1, H, W, 3) to step ``steps``.

    ``first_step``: steps done before (a resumed run numbers its steps from ``first_step + 1``).
    ``optimizer_state()``: the optimiser's state, for the checkpoint. ``checkpoint`` (a
    ``neural_style.transfer.Checkpoint``) is saved every ``checkpoint.every`` steps.
    ``callback(step, image, terms)`` follows every step; a true return value ends the run there.
    ``progress``: show a progress bar labelled ``label``.

    Use it as a context manager around the optimiser. Inside, the first Ctrl-C only marks the run:
    the step in progress ends, is recorded and checkpointed, then ``record`` raises ``Interrupted``.
    A second Ctrl-C raises ``KeyboardInterrupt`` at once.
    """

    def __init__(
        self, start, steps, optimizer_state, first_step=0, checkpoint=None, callback=None, progress=True, label=None
    ):
        self.image = np.asarray(start, np.float32)
        self.steps, self.first_step, self.optimizer_state = steps, first_step, optimizer_state
        self.checkpoint, self.callback, self.progress, self.label = checkpoint, callback, progress, label
        self.history, self.step_evaluations, self.evaluations = [], [], 0

    @property
    def step(self):
        """The number of the last step recorded (``first_step`` before the first)."""
        return self.first_step + len(self.history)

    def __enter__(self):
        self.bar = tqdm(
            total=self.steps, initial=self.first_step, desc=self.label, disable=not self.progress, unit="step"
        )
        self.ctrl_c = _FinishStepOnCtrlC().__enter__()
        self.started = time.perf_counter()
        return self

    def __exit__(self, exc_type, exc, tb):
        self.seconds = time.perf_counter() - self.started
        self.bar.close()
        self.ctrl_c.__exit__(exc_type, exc, tb)
        return exc_type is _Stop

    def evaluating(self, evaluate):
        """``evaluate``, counted, and stopped with ``FloatingPointError`` (naming the step in progress)
        at a cost that is not finite: a step from there would carry NaN into every pixel."""

        def counted(image):
            self.evaluations += 1
            cost, gradient, terms = evaluate(image)
            if not np.isfinite(cost):
                raise FloatingPointError(
                    f"the cost became {cost} at step {self.step + 1}; try a smaller learning rate or style weight"
                )
            return cost, gradient, terms

        return counted

    def record(self, image, cost, terms):
        """``on_step`` for the optimiser: the step that just ended reached ``image``, of cost ``terms``."""
        self.image = np.asarray(image, np.float32)
        self.history.append(dict(terms))
        self.step_evaluations.append(self.evaluations)
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{cost:.4g}")
        saved = self.checkpoint is not None and self.step % self.checkpoint.every == 0
        if saved:
            self.checkpoint.save(self.step, self.image, self.optimizer_state())
        if self.callback is not None and self.callback(self.step, self.image, dict(terms)):
            raise _Stop
        if self.ctrl_c.pressed:
            if self.checkpoint is not None and not saved:
                self.checkpoint.save(self.step, self.image, self.optimizer_state())
            raise Interrupted(self.step)

    def result(self, precision):
        """The ``RunResult`` of the run, once the ``with`` block has ended."""
        return RunResult(
            self.image, tuple(self.history), self.evaluations, tuple(self.step_evaluations), self.seconds, precision
        )


class _FinishStepOnCtrlC:
    """Context manager: the first SIGINT only sets ``pressed``, so that the step in progress ends
    cleanly (``StepRecorder.record`` then stops the run); it also restores the default handler, so a
    second Ctrl-C raises ``KeyboardInterrupt`` at once.

    Why: a ``KeyboardInterrupt`` raised wherever Python happens to be (inside library code, or while
    the command line is already handling one) can end the program by SIGINT (exit status -2) instead
    of with its message. Acts only in the main thread and when SIGINT has Python's default handler,
    so it never replaces a handler installed by someone else.
    """

    def __enter__(self):
        self.pressed = False
        self.installed = (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        )
        if self.installed:
            signal.signal(signal.SIGINT, self._press)
        return self

    def _press(self, signum, frame):
        self.pressed = True
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def __exit__(self, *exception):
        if self.installed:
            signal.signal(signal.SIGINT, signal.default_int_handler)
