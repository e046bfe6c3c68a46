"""From samples to metrics: the numbers budgets are judged on and reports show."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .measure import Sample
from .queries import Suspect
from .stats import statistic, summarize


@dataclass
class Measurement:
    """The samples of one test: its untraced rounds, its traced round, and its blocks."""

    rounds: list[Sample] = field(default_factory=list)
    traced: Sample | None = None
    blocks: dict[str, list[Sample]] = field(default_factory=dict)
    retries_used: int = 0
    leak: int | None = None  # bytes left allocated per call (see :mod:`.leaks`)

    @property
    def timed(self) -> list[Sample]:
        """The samples timings come from: untraced rounds, else the traced one (flagged)."""
        if self.rounds:
            return self.rounds
        return [self.traced] if self.traced is not None else []

    @property
    def all_samples(self) -> list[Sample]:
        return [*([self.traced] if self.traced else []), *self.rounds]


def significant(value: float) -> float:
    """``value`` to 6 significant digits: far finer than timing noise, and half the cost to write."""
    return float(f"{value:.6g}")


def distribution(values: Sequence[float]) -> dict[str, Any]:
    """Rounds and their statistics, as the JSON report stores a timing."""
    if len(values) == 1:
        value = values[0]
        if value.__class__ is float and 0.0 < value < math.inf:
            # One round, the usual case: every statistic is the value itself, exactly as
            # summarize() computes it for a positive finite float, rounded once, not 9 times.
            return _one_round(significant(value))
    summary = {name: significant(value) for name, value in summarize(values).items()}
    return {"rounds": [significant(value) for value in values], **summary}


def _one_round(shown: float) -> dict[str, Any]:
    # A literal: three times faster than building it from STATISTICS, whose order it keeps.
    return {
        "rounds": [shown],
        "min": shown,
        "median": shown,
        "mean": shown,
        "max": shown,
        "p50": shown,
        "p90": shown,
        "p95": shown,
        "p99": shown,
    }


@dataclass  # not frozen: built for every measured test, and a frozen one costs 3 times more
class Metrics:
    """Every metric of one test (or one block), ready to judge and to report. Read-only."""

    values: dict[str, Any]
    suspects: list[Suspect]
    slowest_statement: str | None = None
    memory_lost: bool = False  # traced, but the call broke the trace: memory is not measured
    repeated_by_test: list[Suspect] = field(default_factory=list)  # repeats the test made: not N+1
    statements_not_kept: int = 0  # SQL statements counted past the detail kept (see QueryLog)

    def actual(self, metric: str, stat: str) -> float | None:
        """The value a limit on ``metric`` is compared with, or None when not measured."""
        value = self.values.get(metric)
        if isinstance(value, dict):
            return float(value[stat]) if stat in value else None
        return None if value is None else float(value)


def compute(
    samples: Sequence[Sample], *, traced: Sample | None, stat: str, threshold: int, ignore: Sequence[str]
) -> Metrics:
    """Metrics over ``samples`` (timings) and ``traced`` (memory); counts take the worst sample.

    Runs once per measured test (and again per re-measurement): written for the usual
    case of one round, no operations counted, no RSS and no SQL, with list comprehensions
    rather than ``any()`` and ``all()`` over generators, which cost twice as much.
    """
    if traced is None and len(samples) == 1:
        only = samples[0]
        if not only.ops and only.rss is None and not only.queries.records:
            return Metrics(plain_values(only.wall, only.cpu), [])
    values: dict[str, Any] = {}
    timed = list(samples) if samples else ([traced] if traced is not None else [])
    everything = [traced, *samples] if traced is not None else timed
    if timed:
        values["time"] = distribution([sample.wall for sample in timed])
        values["cpu"] = distribution([sample.cpu for sample in timed])
        if not samples:
            values["time"]["traced"] = values["cpu"]["traced"] = True
        if 0 not in [sample.ops for sample in timed]:  # else some throughput is None: not measured
            rates = [sample.throughput for sample in timed]
            if all(rate is not None for rate in rates):
                values["throughput"] = distribution([rate for rate in rates if rate is not None])
                if not samples:
                    values["throughput"]["traced"] = True
    if traced is not None and traced.memory is not None:
        values["memory"] = traced.memory
    rss = [sample.rss for sample in everything if sample.rss is not None]
    if rss:
        values["rss"] = max(rss)
    memory_lost = traced is not None and traced.memory_lost
    suspects: list[Suspect] = []
    repeated_by_test: list[Suspect] = []
    slowest = None
    if everything and not [sample for sample in everything if sample.queries.records]:
        values["queries"] = 0  # no SQL at all, the usual case: what the general path gives
        values["sql_time"] = 0.0
        values["n_plus_one"] = 0
    elif everything:
        values["queries"] = max(sample.queries.count for sample in everything)
        sql_times = [sample.queries.total_time for sample in timed]
        values["sql_time"] = significant(statistic(sql_times, stat)) if timed else 0.0
        per_sample = [sample.queries.n_plus_one(threshold, ignore) for sample in everything]
        suspects, repeated_by_test = max(per_sample, key=lambda found: len(found[0]))
        values["n_plus_one"] = len(suspects)
        slowest_each = [
            found for sample in everything if (found := sample.queries.slowest_shape()) is not None
        ]
        if slowest_each:
            slowest = max(slowest_each)[1]
        not_kept = max(sample.queries.not_kept for sample in everything)
        return Metrics(values, suspects, slowest, memory_lost, repeated_by_test, not_kept)
    return Metrics(values, suspects, slowest, memory_lost, repeated_by_test)


def plain_values(wall: float, cpu: float) -> dict[str, Any]:
    """What :func:`compute` gives for one untraced round that ran no SQL and counted nothing."""
    if 0.0 < wall < math.inf and 0.0 < cpu < math.inf:  # what distribution() checks, inline
        time, cpu_time = _one_round(significant(wall)), _one_round(significant(cpu))
    else:
        time, cpu_time = distribution((wall,)), distribution((cpu,))
    return {"time": time, "cpu": cpu_time, "queries": 0, "sql_time": 0.0, "n_plus_one": 0}
