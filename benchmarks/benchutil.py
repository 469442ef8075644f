"""Helpers shared by the benchmark suites."""
import math
import time


def seconds(benchmark, stat: str = "median") -> float:
    """A timing statistic of a finished benchmark, in seconds; NaN when the
    suite runs with ``--benchmark-disable`` (a smoke run that only checks the
    suites still work)."""
    if benchmark.stats is None:
        return math.nan
    return getattr(benchmark.stats.stats, stat)


def best_of(fn, rounds: int):
    """``(seconds, result)``: the fastest of ``rounds`` calls of ``fn()`` and
    the last call's result."""
    best, result = math.inf, None
    for _ in range(rounds):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result
