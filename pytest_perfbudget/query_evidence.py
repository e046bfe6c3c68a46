"""The SQL evidence of a test that broke a limit: its slowest statement shapes, and their plans.

Gathered only for a test whose verdict has a violation (a budget or a regression, at any level):
a test within its budget pays nothing for it. The statements come from the test's call with the
most time in SQL (with several rounds, counts are per call, as ``queries`` is); the plans, under
``--perf-explain``, from :mod:`.sql.explain`. The record gets ``evidence.slow_queries`` and
``evidence.plans``, which the reports render.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .metrics import Measurement, significant
from .queries import QueryLog, Statement

if TYPE_CHECKING:
    from .enforce import Violation
    from .sql.explain import Explainer

SLOW_SHAPES = 5  # statement shapes a record lists, slowest first
MESSAGE_SHAPES = 3  # of which a failure message names
MESSAGE_WIDTH = 160  # characters of a statement in a failure message
SQL_METRICS = ("time", "sql_time", "queries")  # a limit on these makes a message name the statements
EXPLAINED_SHAPES = 3  # SELECT shapes whose plans --perf-explain takes


@dataclass(slots=True)
class ShapeTime:
    """The time one statement shape took in one call."""

    shape: str
    select: bool
    count: int = 0
    total: float = 0.0
    max: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "statement": self.shape,
            "count": self.count,
            "total": significant(self.total),
            "max": significant(self.max),
        }


def slowest_shapes(statements: Iterable[Statement]) -> list[ShapeTime]:
    """Every shape of the counted statements, by total time, the slowest first."""
    shapes: dict[str, ShapeTime] = {}
    for statement in statements:
        if not statement.counted:
            continue
        found = shapes.get(statement.shape)
        if found is None:
            found = shapes[statement.shape] = ShapeTime(statement.shape, statement.is_select)
        found.count += 1
        found.total += statement.duration
        found.max = max(found.max, statement.duration)
    return sorted(shapes.values(), key=lambda shape: -shape.total)


def _busiest_call(measurement: Measurement) -> QueryLog | None:
    """The statements of the call that spent the most time in SQL, if any ran SQL."""
    logs = [sample.queries for sample in measurement.all_samples if sample.queries.records]
    return max(logs, key=lambda log: log.total_time) if logs else None


def sql_evidence(measurement: Measurement, explainer: Explainer | None) -> dict[str, Any]:
    """``slow_queries`` (and, with an explainer, ``plans``) of a test that broke a limit; empty
    when it ran no SQL."""
    log = _busiest_call(measurement)
    if log is None:
        return {}
    shapes = slowest_shapes(log)
    if not shapes:
        return {}
    evidence: dict[str, Any] = {"slow_queries": [shape.to_json() for shape in shapes[:SLOW_SHAPES]]}
    if explainer is not None:
        selects = [shape.shape for shape in shapes if shape.select][:EXPLAINED_SHAPES]
        if selects:
            evidence["plans"] = [explainer.explain(shape) for shape in selects]
    return evidence


def describe_slow_queries(evidence: Mapping[str, Any], violations: Sequence[Violation]) -> list[str]:
    """Lines for a failure message over a limit on time, SQL time or queries: the slowest
    statements, and the full scans their plans show."""
    if not [violation for violation in violations if violation.metric in SQL_METRICS]:
        return []
    from .units import format_duration

    lines = ["  slowest statements:"]
    for shape in evidence["slow_queries"][:MESSAGE_SHAPES]:
        statement = shape["statement"]
        if len(statement) > MESSAGE_WIDTH:
            statement = statement[: MESSAGE_WIDTH - 1] + "…"
        runs = f"{shape['count']} run{'s' * (shape['count'] != 1)}"
        lines.append(f"    {format_duration(shape['total'])} in {runs}: {statement}")
        for plan in evidence.get("plans", ()):
            if plan["statement"] == shape["statement"]:
                lines.extend(
                    f"      plan: full scan of {full_scan_text(scan)}" for scan in plan.get("full_scans", ())
                )
    return lines


def full_scan_text(scan: Mapping[str, Any]) -> str:
    """``orders`` (or ``orders on email``): a table a plan reads in full to filter it."""
    columns = scan.get("columns") or []
    return str(scan.get("table", "")) + (f" on {', '.join(map(str, columns))}" if columns else "")
