"""Running a student's notebook for grading, within limits on its output and its time.

nbgrader's ``Execute`` (nbclient) keeps every message a kernel sends until the notebook ends, and
``LimitOutput`` trims the outputs only afterwards, by lines: a cell that prints 100 MB would cost
the grader that memory many times over, and end up in the graded notebook. Its only time limit is
per cell, so a notebook of many slow cells could hold a grader for as long as it likes.
``LimitedExecute`` (``Autograde.autograde_preprocessors`` in ``nbgrader_config.py``) adds:

* **output limits**, counted as the messages arrive: a cell keeps at most ``cell_output_limit_kb``
  of output and the notebook ``notebook_output_limit_kb``. Past either, the rest is dropped, the
  cell is interrupted unless it ends by itself within ``INTERRUPT_DELAY_S``, and an error output
  says which limit it passed; past the notebook's, the cells after it are not run.
* **a time limit for the whole notebook**, ``notebook_timeout`` seconds from the kernel's start:
  each cell's timeout is cut to the time left, and the cells after the limit are not run.
* **messages over the size limit**: ZeroMQ drops a message over
  ``SandboxedKernelManager.message_size_limit_mb`` rather than let the grader hold it, and closes
  the connection for good. The cell's "idle" status then never arrives: if the cell answered, the
  grader connects again and the next cells run as usual; if it had to be interrupted and went on
  all the same, the kernel is lost to the notebook, and the cells after it are not run.
* **notes for the instructor**: every limit a notebook ran into (these, a cell's timeout, and the
  sandbox's memory, process and file-size limits as the kernel reported them) is logged as a
  warning starting with ``LIMIT_NOTE``; ``nst_grader.grade`` puts them in ``grading_log.csv``. A note
  holds no control character and at most ``NOTE_LENGTH`` characters, whatever the kernel sent.

It also skips the visible checks (locked cells whose grade id matches ``skip_grade_ids``): grading
does not need them, and their ``tf.function`` tracing is a good part of a submission's time. After
the last cell the kernel is killed rather than shut down gracefully: nothing of its state is needed
any more, and a graceful shutdown would wait for TensorFlow's exit handlers.
"""

import asyncio
import json
import math
import re
import time

from jupyter_core.utils import ensure_async, run_sync
from nbformat.v4 import new_output
from nbgrader import utils
from nbgrader.preprocessors import Execute
from traitlets import Integer, Unicode, default

LIMIT_NOTE = "Grading limit: "
LIMIT_ERROR = "GradingLimit"  # the ename of the error outputs this module adds
# A cell past an output limit is interrupted this much later, unless it ends by itself meanwhile: an
# interrupt that reached the kernel after the cell had ended would hit whatever the kernel did next.
INTERRUPT_DELAY_S = 1.0
# The longest note logged about one limit (they end up in grading_log.csv and the report).
NOTE_LENGTH = 300
# What the kernel reports when the sandbox's limits stop it: (text in the error, the limit).
SANDBOX_LIMITS = (
    ("MemoryError", "memory"),
    ("Resource temporarily unavailable", "process"),
    ("File too large", "file size"),
)


def printable_line(text: object, limit: int = NOTE_LENGTH) -> str:
    """``text`` on one line, each control character (an escape sequence's start, a carriage
    return...) replaced by a space, cut to ``limit`` characters: safe for a terminal and a log."""
    text = "".join(char if char.isprintable() else " " for char in str(text))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _limit_error(text):
    return new_output("error", ename=LIMIT_ERROR, evalue=text, traceback=[f"{LIMIT_ERROR}: {text}"])


class LimitedExecute(Execute):
    """nbgrader's Execute within limits on output and on the notebook's time (see the module docstring)."""

    cell_output_limit_kb = Integer(1024, help="Output a cell may send (KB); past it the rest is dropped.").tag(
        config=True
    )
    notebook_output_limit_kb = Integer(4096, help="Output the notebook may send (KB); past it, no more cells run.").tag(
        config=True
    )
    notebook_timeout = Integer(
        120, help="Seconds the notebook may run, from its kernel's start (each cell also has Execute.timeout)."
    ).tag(config=True)
    skip_grade_ids = Unicode(
        r"^check_",
        help="Regular expression: locked, ungraded cells whose grade id matches are not run (the visible checks).",
    ).tag(config=True)

    @default("shutdown_kernel")
    def _kill_the_kernel(self):
        return "immediate"

    @default("raise_on_iopub_timeout")
    def _keep_going_without_idle(self):
        return False  # a cell whose "idle" never came is dealt with above, not by failing the submission

    def reset_execution_trackers(self):
        super().reset_execution_trackers()
        self._deadline = time.monotonic() + self.notebook_timeout
        self._notebook_bytes = 0
        self._stop_reason = None  # why the remaining cells are not run
        self._cell = None  # (index, label) of the cell running now
        self._cell_bytes = 0
        self._dropping = False  # the running cell passed an output limit
        self._timed_out = False  # the running cell was interrupted after its timeout
        self._idle = False  # the running cell's "idle" status arrived
        self._pending = set()  # interrupts on their way

    def _note(self, text):
        """Log a limit the notebook met, on one line without control characters and within
        ``NOTE_LENGTH`` (part of it may come from the kernel: an error's name and value)."""
        index, label = self._cell
        self.log.warning("%scell %d%s: %s", LIMIT_NOTE, index, printable_line(label), printable_line(text))

    def _skipped(self, cell):
        meta = cell.metadata.get("nbgrader", {})
        return (
            bool(self.skip_grade_ids)
            and utils.is_locked(cell)
            and not utils.is_grade(cell)
            and not utils.is_solution(cell)
            and re.search(self.skip_grade_ids, meta.get("grade_id", ""))
        )

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        if cell.cell_type != "code" or not cell.source.strip() or self._skipped(cell):
            return cell
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        self._cell = (cell_index, f" ({grade_id})" if grade_id else "")
        if self._stop_reason is None and time.monotonic() >= self._deadline:
            self._stop_reason = f"the notebook ran past its {self.notebook_timeout} s"
            self._note(f"{self._stop_reason}: it and the cells after it were not run")
        if self._stop_reason is not None:
            cell.outputs = [_limit_error(f"{self._stop_reason}: this cell was not run")]
            return cell
        self._cell_bytes, self._dropping, self._timed_out, self._idle = 0, False, False, False
        cell = await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        if not self._idle and self._stop_reason is None:
            if self._timed_out:
                self._stop_reason = "the cell went on after it was interrupted"
                text = f"{self._stop_reason}: the cells after it were not run"
            else:
                text = "the kernel sent a message over the size limit: the rest of the cell's output was lost"
                self.kc.stop_channels()
                await self.async_start_new_kernel_client()  # a new connection, for the next cells
            cell.outputs.append(_limit_error(text))
            self._note(text)
        for output in cell.outputs:
            if output.output_type == "error" and output.ename != LIMIT_ERROR:
                error = f"{output.ename}: {output.evalue}"
                for marker, limit in SANDBOX_LIMITS:
                    if marker in error:
                        self._note(f"it ran into the sandbox's {limit} limit ({error[:120]})")
        return cell

    execute_cell = run_sync(async_execute_cell)

    def _get_timeout(self, cell):
        timeout = super()._get_timeout(cell)
        left = max(1, math.ceil(self._deadline - time.monotonic()))
        return left if timeout is None else min(timeout, left)

    async def _async_handle_timeout(self, timeout, cell=None):
        if time.monotonic() >= self._deadline - 1:
            self._stop_reason = f"the notebook ran past its {self.notebook_timeout} s"
            text = f"{self._stop_reason}: the cell was interrupted, and the cells after it were not run"
        else:
            text = f"the cell ran past its {timeout} s and was interrupted"
        self._timed_out = True
        self._note(text)
        reply = await super()._async_handle_timeout(timeout, cell)
        if reply is not None:  # the error output nbgrader's Execute adds for a timeout
            reply["content"].update(ename=LIMIT_ERROR, evalue=text, traceback=[f"{LIMIT_ERROR}: {text}"])
        return reply

    def process_message(self, msg, cell, cell_index):
        if msg["msg_type"] == "status":
            self._idle = msg["content"].get("execution_state") == "idle"
            if self._idle:
                for interrupt in self._pending:
                    interrupt.cancel()  # the cell ended by itself: an interrupt now would hit the next one
            return super().process_message(msg, cell, cell_index)
        if self._dropping:
            return None
        size = len(json.dumps(msg["content"], default=str))
        self._cell_bytes += size
        self._notebook_bytes += size
        if self._notebook_bytes > self.notebook_output_limit_kb * 1024:
            self._stop_reason = f"the notebook's output passed {self.notebook_output_limit_kb} KB"
            self._drop(
                cell,
                f"{self._stop_reason}: the rest was dropped, the cell interrupted if it went on, and "
                "the cells after it were not run",
            )
            return None
        if self._cell_bytes > self.cell_output_limit_kb * 1024:
            self._drop(
                cell,
                f"the cell's output passed {self.cell_output_limit_kb} KB: the rest was dropped, "
                "and the cell interrupted if it went on",
            )
            return None
        return super().process_message(msg, cell, cell_index)

    def _drop(self, cell, text):
        """Keep nothing more of the running cell's output, say why, and interrupt it if it has not
        ended within ``INTERRUPT_DELAY_S``: the output that passed the limit is often its last."""
        self._dropping = True
        cell.outputs.append(_limit_error(text))
        self._note(text)
        interrupt = asyncio.ensure_future(self._interrupt_later())
        self._pending.add(interrupt)
        interrupt.add_done_callback(self._pending.discard)

    async def _interrupt_later(self):
        await asyncio.sleep(INTERRUPT_DELAY_S)
        await ensure_async(self.km.interrupt_kernel())
