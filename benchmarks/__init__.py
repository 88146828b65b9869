"""Benchmarks: ``python -m benchmarks.compare`` (the paper's tables), ``benchmarks.throughput``
(env speed) and ``benchmarks.calibrate`` (the load calibration in the README)."""
