"""Judging metrics against limits, and the failure message a user reads."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .budgets import NOISY_METRICS, Limit
from .measure import MEMORY_LOST
from .metrics import Metrics
from .queries import Suspect
from .units import format_duration, format_rate, format_size

if TYPE_CHECKING:
    from .compare import Change

_FORMATTERS = {
    "time": format_duration,
    "cpu": format_duration,
    "sql_time": format_duration,
    "memory": format_size,
    "rss": format_size,
    "leak": format_size,
    "throughput": format_rate,
}


def format_value(metric: str, value: float) -> str:
    formatter = _FORMATTERS.get(metric)
    return formatter(value) if formatter else f"{value:.0f}"


@dataclass(frozen=True)
class Violation:
    """A limit a test broke. ``actual`` is None when the metric could not be measured."""

    limit: Limit
    statistic: str | None
    actual: float | None
    level: str
    block: str | None = None
    kind: str = "budget"  # or "regression" against the baseline
    before: float | None = None  # the baseline's value, for a regression
    scale: float = 1.0  # the limit was stretched by calibration to this many times its value

    @property
    def metric(self) -> str:
        return self.limit.metric

    @property
    def noisy(self) -> bool:
        """Worth measuring again: a timing over its limit. A metric not measured stays so."""
        return self.metric in NOISY_METRICS and self.actual is not None

    @property
    def label(self) -> str:
        return violation_label(self.metric, self.statistic, self.block)

    @property
    def comparison(self) -> str:
        return violation_comparison(self.metric, self.actual, self.limit.value, self.before, self.scale)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "metric": self.metric,
            "kind": self.kind,
            "limit": self.limit.value,
            "actual": self.actual,
            "level": self.level,
            "source": self.limit.source,
        }
        if self.statistic is not None:
            data["statistic"] = self.statistic
        if self.block is not None:
            data["block"] = self.block
        if self.before is not None:
            data["before"] = self.before
        if self.scale != 1.0:
            data["scale"] = round(self.scale, 3)
        return data


def violation_label(metric: str, statistic: str | None, block: str | None) -> str:
    """``time p95 in 'load cart'``; the usual statistic, the median, goes without saying."""
    label = metric if statistic in (None, "median") else f"{metric} {statistic}"
    return label if block is None else f"{label} in '{block}'"


def violation_comparison(
    metric: str, actual: float | None, limit: float, before: float | None = None, scale: float = 1.0
) -> str:
    """``52 > 3``; throughput is a floor, so ``1.2k/s < 5000/s``; a regression names its baseline.

    A limit stretched by calibration shows both: ``310ms > 280ms (200ms x 1.40)``, and a
    regression its baseline too: ``310ms > 288ms (240ms x 1.20; baseline 200ms, +55%)``.
    """
    shown_limit = format_value(metric, limit)
    if actual is None:
        why = (
            MEMORY_LOST
            if metric == "memory"
            else "no operations counted: call perf.ops(n) with the perf fixture"
        )
        return f"not measured (limit {shown_limit}; {why})"
    floor = metric == "throughput"
    sign = "<" if floor else ">"
    notes = []
    if scale != 1.0:
        notes.append(f"{shown_limit} {'/' if floor else 'x'} {scale:.2f}")
        shown_limit = format_value(metric, limit / scale if floor else limit * scale)
    if before is not None:
        change = f", {(actual - before) / before:+.0%}" if before else ""
        notes.append(f"baseline {format_value(metric, before)}{change}")
    comparison = f"{format_value(metric, actual)} {sign} {shown_limit}"
    return f"{comparison} ({'; '.join(notes)})" if notes else comparison


def violation_text(violation: dict[str, Any]) -> str:
    """One violation of a JSON record, on one line (for the terminal summary)."""
    label = violation_label(violation["metric"], violation.get("statistic"), violation.get("block"))
    comparison = violation_comparison(
        violation["metric"],
        violation["actual"],
        violation["limit"],
        violation.get("before"),
        violation.get("scale", 1.0),
    )
    return f"{label} {comparison}"


def regressions(changes: Iterable[Change], *, level: str, source: str) -> list[Violation]:
    """A violation of kind ``regression`` for each change beyond its tolerance."""
    return [
        Violation(
            Limit(change.metric, change.limit, change.statistic, source),
            change.statistic,
            change.after,
            level,
            kind="regression",
            before=change.before,
            scale=change.scale,
        )
        for change in changes
        if change.regressed
    ]


def _broken(limit: Limit, actual: float | None, scale: float) -> bool:
    if actual is None:
        return limit.metric == "throughput"
    return actual < limit.value / scale if limit.is_floor else actual > limit.value * scale


def evaluate(
    limits: Iterable[Limit],
    metrics: Metrics,
    *,
    default_statistic: str,
    level: str,
    block: str | None = None,
    scales: Mapping[str, float] | None = None,
) -> list[Violation]:
    """Every limit ``metrics`` break, timings flagged as traced included: over there, they are
    measured again untraced before anything fails (:func:`~pytest_perfbudget.runner.judge`).

    ``scales`` stretches the limits of some metrics (calibration on a re-measurement): a maximum
    is multiplied by its metric's factor, a floor (throughput) divided.
    """
    violations = []
    for limit in limits:
        scale = scales.get(limit.metric, 1.0) if scales else 1.0
        stat = limit.statistic or default_statistic
        value = metrics.values.get(limit.metric)
        actual = metrics.actual(limit.metric, stat)
        if actual is None and limit.metric not in ("throughput",):
            if limit.metric == "memory" and metrics.memory_lost:  # said, never failed: not known
                violations.append(Violation(limit, None, None, "warn", block, scale=scale))
            continue  # not measured (memory outside a traced round): nothing to judge
        if _broken(limit, actual, scale):
            uses_statistic = isinstance(value, dict) or limit.metric == "throughput"
            violations.append(
                Violation(limit, stat if uses_statistic else None, actual, level, block, scale=scale)
            )
    return violations


LABEL_WIDTH = 11  # the columns of a failure message: `queries     52 > 3        (source)`
COMPARISON_WIDTH = 13
ALIGNED_COMPARISON = 24  # a longer comparison (a calibrated limit, a baseline) is not padded up to


def failure_message(
    nodeid: str,
    violations: Sequence[Violation],
    suspects: Sequence[Suspect],
    *,
    block_suspects: Mapping[str, Sequence[Suspect]] | None = None,
    retries_used: int = 0,
    heading: str = "perf budget exceeded in",
    notes: Sequence[str] = (),
    details: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """The short, complete message of SPEC: one line per broken limit, suspects under n_plus_one
    (a block's own under the block's), in columns as wide as the longest label and short comparison.

    ``details`` go under the first violation of their metric (allocation sites under ``memory``).
    ``notes`` end it, one per line in parentheses: calibration, unstable rounds.
    """
    lines = [f"{heading} {nodeid}"]
    label_width = max([LABEL_WIDTH, *[len(violation.label) for violation in violations]])
    comparisons = [violation.comparison for violation in violations]
    aligned = [len(comparison) for comparison in comparisons if len(comparison) <= ALIGNED_COMPARISON]
    comparison_width = max([COMPARISON_WIDTH, *aligned])
    pending = dict(details or {})
    for violation, comparison in zip(violations, comparisons, strict=True):
        origin = (
            f"baseline: {violation.limit.source}"
            if violation.kind == "regression"
            else violation.limit.origin
        )
        lines.append(f"  {violation.label:<{label_width}} {comparison:<{comparison_width}} ({origin})")
        if violation.metric == "n_plus_one":
            if violation.block is None:
                lines.extend(describe_suspects(suspects))
            elif block_suspects:
                lines.extend(describe_suspects(block_suspects.get(violation.block, ())))
        if violation.block is None:
            lines.extend(pending.pop(violation.metric, ()))
    if retries_used:
        lines.append(f"  (still over budget after {retries_used} re-measurement{'s' * (retries_used > 1)})")
    lines.extend(f"  ({note})" for note in notes)
    return "\n".join(lines)


def describe_suspects(suspects: Sequence[Suspect], width: int = 160) -> list[str]:
    lines = []
    for suspect in suspects:
        statement = (
            suspect.statement if len(suspect.statement) <= width else suspect.statement[: width - 1] + "…"
        )
        where = f" from {suspect.call_site}" if suspect.call_site else ""
        function = f" in {suspect.function}" if suspect.function else ""
        lines.append(f"    {statement}")
        lines.append(f"      ran {suspect.count} times{where}{function}")
    return lines
