"""Timing shared by the benchmarks: round-robin throughput and the CPU's matmul rate."""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable


def round_robin(functions: dict[str, Callable[[], Any]], count: int | dict[str, int], repeats: int,
                min_seconds: float) -> tuple[dict[str, float], dict[str, Any]]:
    """Sequences per second of each ``functions[name]()`` (each call explains ``count``
    sequences, or ``count[name]``), median of ``repeats`` samples, and each function's first
    result.

    Each is warmed up (tracing, kernel set-up), then a warm call sets how many back-to-back
    calls make a sample of at least ``min_seconds`` (steady throughput, as when attributing many
    sequences; a lone 0.1 s call pays for caches and threads left cold by the previous
    contender). Samples go round-robin, so a slow phase of the machine touches all alike."""
    results, calls, samples = {}, {}, {name: [] for name in functions}
    for name, function in functions.items():
        results[name] = function()
        start = time.perf_counter()
        function()
        calls[name] = max(1, round(min_seconds / (time.perf_counter() - start)))
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            for _ in range(calls[name]):
                function()
            sequences = count[name] if isinstance(count, dict) else count
            samples[name].append(calls[name] * sequences / (time.perf_counter() - start))
    return {name: statistics.median(values) for name, values in samples.items()}, results


def matmul_rate() -> float:
    """Sustained float32 matmul rate of this CPU in FLOP/s (TensorFlow, all cores)."""
    import tensorflow as tf

    a = tf.random.normal((2048, 2048))
    f = tf.function(lambda m: tf.linalg.matmul(m, m))
    f(a).numpy()
    start, count = time.perf_counter(), 20
    for _ in range(count):
        f(a).numpy()
    return 2 * 2048**3 * count / (time.perf_counter() - start)


def summarize_rates(rates: list[float]) -> tuple[float, str]:
    """The median of matmul readings (the limit) and a line stating min / median / max."""
    median = statistics.median(rates)
    return median, (f"sustained float32 matmul: min {min(rates) / 1e9:.1f}, median {median / 1e9:.1f}, max "
                    f"{max(rates) / 1e9:.1f} GFLOP/s ({len(rates)} readings, before every measurement and at the end)")
