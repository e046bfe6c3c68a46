"""Running a measured test's rounds and judging them, re-measuring before failing on time.

Everything that makes a time budget robust to noise runs only once a noisy limit is broken, so a
test within its budget pays nothing for it: before each re-measurement a full garbage collection
(outside the timing, so the retry confirms on a clean heap) and, unless the ``calibration`` setting
turns it off, the calibration loop around it (see :mod:`.calibration`). The stability of a test's
rounds is checked only when it has enough rounds for that, and reported only where it could
change a verdict (see :func:`_unstable`).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .enforce import Violation, evaluate, failure_message, regressions
from .measure import Sample
from .metrics import Metrics, compute
from .queries import QueryLog
from .recorder import Perf, Plan
from .tracing import active_tracer

if TYPE_CHECKING:
    from .calibration import Calibration
    from .compare import Change
    from .significance import Stability
    from .sql.callsite import CallSiteLocator

STABILITY_ROUNDS = 3  # fewer rounds show no spread to judge
PROFILED_METRICS = ("time", "cpu")  # a broken limit on these gets hot spots


@dataclass(frozen=True)
class Unstable:
    """A judged timing whose rounds vary too much to trust a verdict on them."""

    metric: str
    stability: Stability

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "stable": False,
            "rsd": round(self.stability.rsd, 3),
            "spread": round(self.stability.spread, 3),
            "message": self.stability.message,
        }


@dataclass  # not frozen: built for every measured test, and a frozen one costs 3 times more
class Verdict:
    """The metrics of a test and the limits it broke. Read-only."""

    metrics: Metrics
    violations: list[Violation]
    block_metrics: dict[str, Metrics] = field(default_factory=dict)
    retries_used: int = 0
    changes: list[Change] = field(default_factory=list)  # against the baseline
    tracer: str | None = None  # timings were not judged because this tracer was active
    calibration: Calibration | None = None  # measured around the last re-measurement
    unstable: Unstable | None = None
    evidence: dict[str, Any] = field(default_factory=dict)  # where the cost is, by kind

    @property
    def failing(self) -> bool:
        return bool(self.violations) and any(violation.level == "error" for violation in self.violations)

    @property
    def over_time(self) -> bool:
        """A time or CPU limit broken, or a regression on one: what hot spots explain."""
        return any(violation.metric in PROFILED_METRICS for violation in self.violations)

    def message(self, nodeid: str, heading: str = "perf budget exceeded in") -> str:
        notes = []
        stretched = None
        if self.calibration is not None:
            limited = {violation.metric for violation in self.violations if violation.kind == "budget"}
            regressed = {violation.metric for violation in self.violations if violation.kind == "regression"}
            stretched = self.calibration.describe(limited, regressed)
        if stretched is not None:
            notes.append(stretched)
        if self.unstable is not None and any(v.metric == self.unstable.metric for v in self.violations):
            notes.append(f"{self.unstable.metric} {self.unstable.stability.message}")
        message = failure_message(
            nodeid,
            self.violations,
            self.metrics.suspects,
            block_suspects={name: metrics.suspects for name, metrics in self.block_metrics.items()},
            retries_used=self.retries_used,
            heading=heading,
            notes=notes,
            details=self._details(),
        )
        if "hot_spots" in self.evidence:
            from .hot_spots import message_lines

            message += "\n" + "\n".join(message_lines(self.evidence["hot_spots"]))
        if "slow_queries" in self.evidence:
            from .query_evidence import describe_slow_queries

            message = "\n".join([message, *describe_slow_queries(self.evidence, self.violations)])
        return message

    def _details(self) -> dict[str, list[str]]:
        """Lines under a metric's violation: the allocation sites behind ``memory`` and ``leak``."""
        evidence = self.evidence
        if "allocations" not in evidence and "leak" not in evidence:
            return {}
        from .allocations import describe_sites

        details = {}
        if "allocations" in evidence:
            details["memory"] = describe_sites(evidence["allocations"], "allocated at the peak")
        if "leak" in evidence:
            details["leak"] = describe_sites(evidence["leak"], "still allocated after each call")
        return details


def run_rounds(
    perf: Perf, plan: Plan, call: Callable[[], Any], first_round_done: bool, minimum: int = 0
) -> None:
    """Complete the untraced rounds (at least ``minimum``); the call pytest made itself may
    already be one of them."""
    remaining = max(plan.timed_rounds, minimum) - (1 if first_round_done else 0)
    for _ in range(remaining):
        perf.run_round(call, rss=plan.measure_rss and not perf.measurement.rounds)


def judge(
    perf: Perf,
    plan: Plan,
    call: Callable[[], Any] | None,
    locator: Callable[[], CallSiteLocator] | None = None,
) -> Verdict:
    """Judge the test; while a noisy limit is broken, re-measure up to ``retries`` times.

    ``call`` runs the test again; without one (a unittest or doctest item) nothing is re-measured.
    ``locator`` tells the user's code from libraries in the memory evidence a broken ``memory``
    or ``leak`` limit takes (see :mod:`.allocations`); without one no evidence is taken.
    """
    leak = None
    if plan.measures_leak:
        from .leaks import measure_leak  # here: only a leak budget calls the test again for it

        leak = measure_leak(call)
        perf.measurement.leak = leak.per_call
    tracer = active_tracer()
    verdict = _evaluate(perf, plan, tracer)
    settings = plan.budget.settings
    if not perf.measurement.rounds and _noisy(verdict):  # timings of the traced call alone
        if call is None:  # cannot be called again untraced: such timings are not judged
            verdict.violations = [violation for violation in verdict.violations if not violation.noisy]
        else:
            verdict = _evaluate(perf, plan, tracer, _remeasure(perf, plan, call))
    while call is not None and _noisy(verdict) and perf.measurement.retries_used < settings.retries:
        calibration = _remeasure(perf, plan, call)
        verdict = _evaluate(perf, plan, tracer, calibration)
    if settings.rounds >= STABILITY_ROUNDS and tracer is None:
        verdict.unstable = _unstable(verdict, plan)
    if locator is not None and (verdict.violations or leak is not None):
        from .allocations import gather

        memory = verdict.metrics.values.get("memory")
        verdict.evidence.update(
            gather(verdict.violations, memory=memory, leak=leak, call=call, locator=locator)
        )
    return verdict


def plain_call_within_budget(wall: float, cpu: float, log: QueryLog, plan: Plan) -> bool:
    """Whether one plain call of a :attr:`~.recorder.Plan.single_call` test ran no SQL and kept
    within its limits, so that :func:`~.metrics.plain_values` are its metrics and nothing is left
    to judge. Otherwise :func:`judge` decides, with what it takes (the statements to analyse, a
    limit to confirm by measuring again).

    With one round every statistic is the call's own time, so the only limits such a call can
    break are the smallest on time and on CPU (:attr:`~.recorder.Plan.ceilings`): it ran no SQL,
    and a test without the ``perf`` fixture counts no operations. The times are compared as
    measured, not rounded as a record holds them: a call within a rounding of a limit is left to
    :func:`judge`, which gives the verdict on the rounded value.
    """
    if log.records or active_tracer() is not None:
        return False
    time_ceiling, cpu_ceiling = plan.ceilings
    return wall <= time_ceiling and cpu <= cpu_ceiling


def _noisy(verdict: Verdict) -> bool:
    """A limit on a timing is broken: worth measuring again before failing."""
    return bool(verdict.violations) and any(violation.noisy for violation in verdict.violations)


def _remeasure(perf: Perf, plan: Plan, call: Callable[[], Any]) -> Calibration | None:
    """Run the rounds again on a clean heap; with ``calibration`` set, between two runs of its loop."""
    perf.restart_timing()
    gc.collect()  # outside the timing: a full collection inside a short call can cost 20x its time
    setting = plan.budget.settings.calibration
    if setting is None:
        run_rounds(perf, plan, call, first_round_done=False, minimum=1)
        return None
    from .calibration import Calibration, fastest_loop, loop_time, note_loop  # only a re-measurement

    reference = fastest_loop() if setting == "auto" else setting
    before = loop_time()
    run_rounds(perf, plan, call, first_round_done=False, minimum=1)
    after = loop_time()
    note_loop(min(before[0], after[0]))
    rounds = perf.measurement.rounds
    spent = (
        sum(sample.wall for sample in rounds),
        sum(sample.cpu for sample in rounds),
        sum(sample.queries.total_time for sample in rounds),
    )
    return Calibration.around(reference, before, after, spent, plan.baseline_calibration)


def _thresholds(metric: str, verdict: Verdict, plan: Plan) -> list[float]:
    """The values ``metric`` is judged against: its (calibrated) limits and the baseline's allowance."""
    scale = verdict.calibration.scales()[metric] if verdict.calibration is not None else 1.0
    found = [limit.value * scale for limit in plan.budget.limits.get(metric, ())]
    for change in verdict.changes:
        threshold = change.threshold if change.metric == metric else None
        if threshold is not None:
            found.append(threshold)
    return found


def _unstable(verdict: Verdict, plan: Plan) -> Unstable | None:
    """The first judged timing whose rounds are unstable *and* straddle what they are judged against.

    Rounds that vary by 15% say nothing about a limit twice their median, nor about one they all
    exceed: the warning is kept for rounds that land on both sides of a threshold, where another
    draw of the same rounds could change the verdict.
    """
    from .significance import ADVICE, CPU_ADVICE, stability  # here: only runs with rounds get this far

    for metric in ("time", "cpu"):
        value = verdict.metrics.values.get(metric)
        if not isinstance(value, dict) or value.get("traced") or len(value["rounds"]) < STABILITY_ROUNDS:
            continue
        rounds = value["rounds"]
        if not [t for t in _thresholds(metric, verdict, plan) if min(rounds) <= t <= max(rounds)]:
            continue
        found = stability(rounds, advice=CPU_ADVICE if metric == "cpu" else ADVICE)
        if not found.stable:
            return Unstable(metric, found)
    return None


def _evaluate(perf: Perf, plan: Plan, tracer: str | None, calibration: Calibration | None = None) -> Verdict:
    """Every broken limit; under a tracer, timings are slowed down and never judged.

    ``calibration`` stretches time limits on a re-measurement, and the baseline's times when the
    baseline run recorded its loop.
    """
    scales: Mapping[str, float] | None = calibration.scales() if calibration is not None else None
    settings = plan.budget.settings
    measurement = perf.measurement
    metrics = _metrics(measurement.rounds, measurement.traced, plan, settings.statistic)
    if measurement.leak is not None:
        metrics.values["leak"] = measurement.leak
    violations = evaluate(
        plan.budget.all_limits(),
        metrics,
        default_statistic=settings.statistic,
        level=settings.level,
        scales=scales,
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
            scales=calibration.baseline_scales() if calibration is not None else None,
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
            limits, block_metrics[name], default_statistic=statistic, level=level, block=name, scales=scales
        )
    if tracer is not None:
        violations = [violation for violation in violations if not violation.noisy]
    return Verdict(metrics, violations, block_metrics, measurement.retries_used, changes, tracer, calibration)


def _metrics(rounds: list[Sample], traced: Sample | None, plan: Plan, statistic: str) -> Metrics:
    settings = plan.budget.settings
    return compute(
        rounds,
        traced=traced,
        stat=statistic,
        threshold=settings.n_plus_one_threshold,
        ignore=settings.n_plus_one_ignore,
    )
