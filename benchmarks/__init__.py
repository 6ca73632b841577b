"""Measurement tools, kept out of the engine and the grader: ``python -m benchmarks.engine`` (speed and
memory, ``make bench``), ``benchmarks.grading`` (grading throughput, ``make bench``), ``benchmarks.quality``
(the quality grid, ``make quality``) and ``benchmarks.lpips`` (the distance the grid scores with)."""
