"""Running a measured test's rounds and judging them, re-measuring before failing on time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .enforce import Violation, evaluate, failure_message, regressions
from .measure import Sample
from .metrics import Metrics, compute
from .recorder import Perf, Plan
from .tracing import active_tracer

if TYPE_CHECKING:
    from .compare import Change


@dataclass  # not frozen: built for every measured test, and a frozen one costs 3 times more
class Verdict:
    """The metrics of a test and the limits it broke. Read-only."""

    metrics: Metrics
    violations: list[Violation]
    block_metrics: dict[str, Metrics] = field(default_factory=dict)
    retries_used: int = 0
    changes: list[Change] = field(default_factory=list)  # against the baseline
    tracer: str | None = None  # timings were not judged because this tracer was active

    @property
    def failing(self) -> bool:
        return bool(self.violations) and any(violation.level == "error" for violation in self.violations)

    def message(self, nodeid: str, heading: str = "perf budget exceeded in") -> str:
        return failure_message(
            nodeid, self.violations, self.metrics.suspects, retries_used=self.retries_used, heading=heading
        )


def run_rounds(perf: Perf, plan: Plan, call: Callable[[], Any], first_round_done: bool) -> None:
    """Complete the untraced rounds; the call pytest made itself may already be one of them."""
    remaining = plan.timed_rounds - (1 if first_round_done else 0)
    for _ in range(remaining):
        perf.run_round(call, rss=plan.measure_rss and not perf.measurement.rounds)


def judge(perf: Perf, plan: Plan, call: Callable[[], Any] | None) -> Verdict:
    """Judge the test; while a noisy limit is broken, re-measure up to ``retries`` times.

    ``call`` runs the test again; without one (a unittest or doctest item) nothing is re-measured.
    """
    tracer = active_tracer()
    verdict = _evaluate(perf, plan, tracer)
    settings = plan.budget.settings
    while (
        call is not None
        and verdict.violations
        and any(violation.noisy for violation in verdict.violations)
        and perf.measurement.retries_used < settings.retries
    ):
        perf.restart_timing()
        run_rounds(perf, plan, call, first_round_done=False)
        verdict = _evaluate(perf, plan, tracer)
    return verdict


def _evaluate(perf: Perf, plan: Plan, tracer: str | None) -> Verdict:
    """Every broken limit; under a tracer, timings are slowed down and never judged."""
    settings = plan.budget.settings
    measurement = perf.measurement
    metrics = _metrics(measurement.rounds, measurement.traced, plan, settings.statistic)
    violations = evaluate(
        plan.budget.all_limits(), metrics, default_statistic=settings.statistic, level=settings.level
    )
    changes = []
    if plan.baseline is not None:
        from .compare import compare_metrics  # here: most runs have no baseline

        changes = compare_metrics(
            plan.baseline,
            metrics.values,
            tolerance=settings.tolerance,
            noise_floor=settings.noise_floor,
            statistic=settings.statistic,
        )
        violations += regressions(changes, level=settings.level, source=plan.baseline_source)
    block_metrics = {}
    for name, samples in measurement.blocks.items():
        fields = perf.block_budgets[name]
        statistic = fields.settings.get("statistic", settings.statistic)
        level = "warn" if settings.level == "warn" else fields.settings.get("level", "error")
        untraced = [sample for sample in samples if not sample.traced]
        traced = None if untraced else samples[0]
        block_metrics[name] = _metrics(untraced, traced, plan, statistic)
        limits = [limit for metric_limits in fields.limits.values() for limit in metric_limits]
        violations += evaluate(
            limits, block_metrics[name], default_statistic=statistic, level=level, block=name
        )
    if tracer is not None:
        violations = [violation for violation in violations if not violation.noisy]
    return Verdict(metrics, violations, block_metrics, measurement.retries_used, changes, tracer)


def _metrics(rounds: list[Sample], traced: Sample | None, plan: Plan, statistic: str) -> Metrics:
    settings = plan.budget.settings
    return compute(
        rounds,
        traced=traced,
        stat=statistic,
        threshold=settings.n_plus_one_threshold,
        ignore=settings.n_plus_one_ignore,
    )
