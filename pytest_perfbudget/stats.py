"""Statistics over measured rounds."""

from __future__ import annotations

import math
from collections.abc import Sequence

STATISTICS: tuple[str, ...] = ("min", "median", "mean", "max", "p50", "p90", "p95", "p99")


def percentile(values: Sequence[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), so p50 is the median."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    position = (len(ordered) - 1) * fraction
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def statistic(values: Sequence[float], name: str) -> float:
    """One named statistic of ``values``."""
    if not values:
        raise ValueError("no values")
    if name == "min":
        return min(values)
    if name == "max":
        return max(values)
    if name == "mean":
        return math.fsum(values) / len(values)
    if name == "median":
        return percentile(values, 0.5)
    if name.startswith("p") and name[1:].isdigit():
        return percentile(values, int(name[1:]) / 100)
    raise ValueError(f"unknown statistic {name!r}")


def summarize(values: Sequence[float]) -> dict[str, float]:
    """Every statistic in :data:`STATISTICS`, keyed by name."""
    return {name: statistic(values, name) for name in STATISTICS}
