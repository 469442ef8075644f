"""Helpers shared by the benchmark suites."""
import math


def seconds(benchmark, stat: str = "median") -> float:
    """A timing statistic of a finished benchmark, in seconds; NaN when the
    suite runs with ``--benchmark-disable`` (a smoke run that only checks the
    suites still work)."""
    if benchmark.stats is None:
        return math.nan
    return getattr(benchmark.stats.stats, stat)
