"""A run's memory, estimated before it starts, against what the machine has free.

A run's peak memory grows with the pixels of its largest level: the network's activations, which the
gradient needs, and the optimiser's state (L-BFGS keeps two images per step, up to ``lbfgs.memory_for``,
Adam two moments). The constants come from runs measured with ``/usr/bin/time -v`` (README, Big
pictures); a run that would need more than the machine has free is refused before it starts, rather
than killed by the system after minutes.
"""

from collections.abc import Callable, Sequence
from pathlib import Path

from .lbfgs import memory_for
from .transfer import MIN_SIZE

BASE_BYTES = 0.85e9  # TensorFlow, the network's weights, the images
# Fitted where the first block runs in strips (``neural_style.strips``, above 0.5 megapixels); below,
# a run holds more per pixel, but at most 0.3 GB more.
ACTIVATION_BYTES_PER_PIXEL = {"bfloat16": 970, "float32": 1470}
IMAGE_BYTES_PER_PIXEL = 3 * 4  # float32 RGB


def peak_bytes(
    sizes: Sequence[tuple[int, int]], steps_per_level: Sequence[int], precision: str, optimizer: str
) -> float:
    """Estimated peak memory (bytes) of a run over ``sizes`` ((width, height) per level, as
    ``transfer.pyramid`` gives them) with ``steps_per_level`` steps, in ``precision``
    ("float32" or "bfloat16") with ``optimizer`` ("lbfgs" or "adam")."""

    def level(size, steps):
        kept_images = 2 * min(steps, memory_for((1, size[1], size[0], 3))) if optimizer == "lbfgs" else 2
        return size[0] * size[1] * (ACTIVATION_BYTES_PER_PIXEL[precision] + kept_images * IMAGE_BYTES_PER_PIXEL)

    return BASE_BYTES + max(level(size, steps) for size, steps in zip(sizes, steps_per_level))


def available_bytes() -> int | None:
    """The memory the system can give a new program without swapping (``MemAvailable`` of
    ``/proc/meminfo``), or None where that is not known (not Linux)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def largest_fitting(
    width: int, height: int, limit: float, needed_at: Callable[[int, int], float]
) -> tuple[int, int] | None:
    """The largest (width, height) of the same shape, at most the given one, whose
    ``needed_at(width, height)`` is within ``limit`` bytes, or None if no size of at least ``MIN_SIZE`` does."""
    scale = 1.0
    while True:
        scale *= 0.95
        size = (round(width * scale), round(height * scale))
        if min(size) < MIN_SIZE:
            return None
        if needed_at(*size) <= limit:
            return size


def gigabytes(count: float) -> str:
    return f"{count / 1e9:.1f} GB"


def check_fits(
    width: int, height: int, limit: float, needed_at: Callable[[int, int], float], what: str = "available"
) -> float:
    """Raise ``ValueError`` with a suggestion if a run at (width, height) needs more than
    ``limit`` bytes (``what``: where the limit comes from). Returns the bytes it needs."""
    needed = needed_at(width, height)
    if needed <= limit:
        return needed
    smaller = largest_fitting(width, height, limit, needed_at)
    hint = (
        f"try --size {smaller[0]}x{smaller[1]} (about {gigabytes(needed_at(*smaller))})"
        if smaller
        else "free some memory"
    )
    raise ValueError(
        f"{width}x{height} needs about {gigabytes(needed)} of memory and {gigabytes(limit)} is {what}: {hint}"
    )
