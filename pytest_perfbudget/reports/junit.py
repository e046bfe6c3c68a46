"""Performance figures as JUnit XML properties.

The session appends :func:`properties` to ``item.user_properties``, and
pytest's ``--junitxml`` writes them as ``<property name=... value=...>`` in
each test case, where CI dashboards that read JUnit can show them. Values
are plain numbers in base units (seconds, bytes, operations per second).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ..enforce import violation_text

TIMINGS = ("time", "cpu", "throughput")
SCALARS = ("memory", "rss", "leak", "queries", "sql_time", "n_plus_one")
# Statistics of a timing given as properties; p95 and max only with two rounds or more.
STATISTICS = ("median", "p95", "max")


def number(value: float) -> str:
    """``0.0123``, ``3``, ``1048576``: short, exact enough, never in exponent form."""
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    text = f"{value:.6g}"
    return format(Decimal(text), "f") if "e" in text else text


def _metric_properties(metrics: Mapping[str, Any]) -> list[tuple[str, str]]:
    found = []
    for metric in TIMINGS:
        value = metrics.get(metric)
        if not isinstance(value, Mapping):
            continue
        rounds = value.get("rounds")
        count = len(rounds) if isinstance(rounds, list) else 1
        for statistic in STATISTICS if count >= 2 else STATISTICS[:1]:
            if isinstance(value.get(statistic), (int, float)):
                found.append((f"perf.{metric}.{statistic}", number(value[statistic])))
        if metric == "time":
            found.append(("perf.time.rounds", str(count)))
    for metric in SCALARS:
        value = metrics.get(metric)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            found.append((f"perf.{metric}", number(value)))
    return found


def properties(record: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``("perf.time.median", "0.0123")``, ``("perf.budget.queries", "3")``, ``("perf.violation", "queries 52 > 3")``."""
    found = _metric_properties(record.get("metrics", {}))
    for key, budget in record.get("budgets", {}).items():
        if isinstance(budget, Mapping) and isinstance(budget.get("limit"), (int, float)):
            found.append((f"perf.budget.{key}", number(budget["limit"])))
    for violation in record.get("violations", []):
        name = "perf.regression" if violation.get("kind") == "regression" else "perf.violation"
        found.append((name, violation_text(violation)))
    return found
