"""What this machine's CPU is, from the text of ``/proc/cpuinfo``: its model name (the benches and the
notebook's reference figure record it) and its instruction flags (``neural_style.precision`` picks
bfloat16 by them).

Every function takes the cpuinfo text as an argument (None: this machine's), so that it can be
checked against other machines' texts. No TensorFlow here: the grading bench imports this too.
"""

import platform
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")


def cpuinfo_text() -> str:
    """The text of ``/proc/cpuinfo``, or ``""`` where there is none (not Linux)."""
    try:
        return CPUINFO.read_text()
    except OSError:
        return ""


def cpu_model(cpuinfo: str | None = None) -> str:
    """The CPU's model name as ``cpuinfo`` (default: this machine's) gives it, else the platform's,
    else ``"unknown"``."""
    for line in (cpuinfo_text() if cpuinfo is None else cpuinfo).splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The instruction flags (``avx2``, ``avx512_bf16``, ...) on the ``flags`` lines of ``cpuinfo``
    (default: this machine's); empty where it has none."""
    text = cpuinfo_text() if cpuinfo is None else cpuinfo
    return {flag for line in text.splitlines() if line.startswith("flags") for flag in line.split(":", 1)[1].split()}
