"""The precision the engine's network computes in: float32, or bfloat16 where the CPU has it natively.

In bfloat16 the network's convolutions, the bulk of every step, move and multiply half the bits;
the costs and the image stay float32 (``neural_style.losses`` sums in float32).
The student notebook always runs in float32.
"""

import functools
import platform

import tensorflow as tf

from .machine import cpu_flags

PRECISIONS = ("auto", "float32", "bfloat16")
DTYPE_POLICIES = {"float32": "float32", "bfloat16": "bfloat16"}
"""The Keras dtype policy for each precision. The weights are stored in bfloat16 too: they are never
trained, and ``mixed_bfloat16`` would round its float32 copies to bfloat16 again at every step."""


@functools.cache  # the hardware does not change while the process runs
def native_bfloat16(cpuinfo: str | None = None, machine: str | None = None) -> bool:
    """True on an x86 CPU with bfloat16 instructions (AVX512_BF16 or AMX-BF16) and no GPU visible to
    TensorFlow. Only there is bfloat16 known to pay (``make bench`` measures it): CPUs without these
    instructions emulate bfloat16 and run it slower than float32, and no GPU has been measured.

    Args:
        cpuinfo: the text of ``/proc/cpuinfo`` to judge (default: this machine's).
        machine: what ``platform.machine()`` answers there (default: this machine's).
    """
    if tf.config.list_physical_devices("GPU") or (machine or platform.machine()) not in ("x86_64", "AMD64"):
        return False
    return bool(cpu_flags(cpuinfo) & {"avx512_bf16", "amx_bf16"})


def resolve_precision(precision: str) -> str:
    """``"float32"`` or ``"bfloat16"`` as given; ``"auto"``: bfloat16 where ``native_bfloat16()``,
    else float32. Raises ``ValueError`` for anything else."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose from {list(PRECISIONS)}")
    if precision == "auto":
        return "bfloat16" if native_bfloat16() else "float32"
    return precision
