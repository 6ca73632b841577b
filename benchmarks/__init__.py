"""Measurement tools, kept out of the engine and the grader: ``python -m benchmarks.engine`` (speed and
memory, ``make bench``), ``benchmarks.grading`` (grading throughput, ``make bench``), ``benchmarks.clusters``
(the report's clusters of mistakes, ``make bench``), ``benchmarks.quality`` (the quality grid, ``make
quality``), ``benchmarks.lpips`` (the distance the grid scores with), and ``benchmarks.outputs`` (what
each bench writes, and its headline record into ``docs/bench/``, ``make bench-publish``)."""
