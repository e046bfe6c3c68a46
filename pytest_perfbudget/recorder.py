"""The ``perf`` fixture and the per-test recorder that runs a test's rounds.

One :class:`Perf` exists per measured test (or per test that asks for the
fixture). The plugin drives it through rounds; the test uses it to put a
budget on a block, to count operations and to read what was measured.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from functools import cached_property
from time import perf_counter, process_time  # bound now: tests may patch the time module
from typing import Any

from .budgets import BudgetError, Fields, TestBudget, located, parse_fields
from .measure import Meter, Sample
from .metrics import Measurement
from .queries import QueryLog

# What a block may limit: what one stretch of a call can be measured for without
# changing how the whole call is measured (memory would need its own tracing).
BLOCK_METRICS = ("time", "cpu", "queries", "n_plus_one", "sql_time")
BLOCK_SETTINGS = ("statistic", "level")


class BlockUsageError(Exception):
    """``perf.block`` called with budgets it cannot take."""


@dataclass(frozen=True)
class Plan:
    """How one test is measured, decided from its budget and the options."""

    budget: TestBudget
    trace_memory: bool
    measure_rss: bool
    baseline: Mapping[str, Any] | None = None  # the test's metrics in the baseline run
    baseline_source: str = ""
    baseline_calibration: float | None = None  # the calibration loop's time in the baseline run
    records_sql: bool = True  # a SQL limit, a report or a baseline reads the statements
    profile_all: bool = False  # --perf-profile=all: every call is profiled again after its verdict

    @property
    def timed_rounds(self) -> int:
        """Untraced rounds. With one round and memory traced, the traced call is the only call.

        Tracing slows a call down and never speeds it up: a timing within its limit on the
        traced call is within it untraced too. The test is called again only when a timing
        looks over its limit there (:func:`~pytest_perfbudget.runner.judge`): most tests are
        not written to run twice within one set-up of their fixtures.
        """
        settings = self.budget.settings
        return 0 if self.trace_memory and settings.rounds == 1 else settings.rounds

    @cached_property
    def single_call(self) -> bool:
        """Measured over one plain call: no warm-up, one round, no memory, no baseline, no
        throughput limit (a test without the ``perf`` fixture counts no operations), no leak
        limit, and no profile of every test."""
        settings = self.budget.settings
        return (
            settings.rounds == 1
            and settings.warmup == 0
            and not (self.trace_memory or self.measure_rss)
            and self.baseline is None
            and not self.budget.has_any(("throughput", "leak"))
            and not self.profile_all
        )

    @cached_property
    def measures_leak(self) -> bool:
        """A ``leak`` limit applies: the test is called again to measure it (see :mod:`.leaks`)."""
        return self.budget.has_any(("leak",))

    @cached_property
    def ceilings(self) -> tuple[float, float]:
        """The smallest time and CPU limits (infinite when there is none): what one call is held to."""
        limits = self.budget.limits
        return (
            min((limit.value for limit in limits.get("time", ())), default=math.inf),
            min((limit.value for limit in limits.get("cpu", ())), default=math.inf),
        )


class Perf:
    """The ``perf`` fixture: ``block``, ``ops`` and read access to the measurement so far."""

    def __init__(self, nodeid: str, plan: Plan | None = None) -> None:
        self.nodeid = nodeid
        self.plan = plan
        self.measurement = Measurement()
        self.block_budgets: dict[str, Fields] = {}
        self._current: Sample | None = None
        self._idle_log: QueryLog | None = None  # made when read: most tests never look
        self._idle_ops = 0
        self.busy = False  # running the rounds: nested calls of the test are not measured again
        self.warmup = False  # True during a warm-up call, whose measurements are thrown away

    # --- what tests use ---------------------------------------------------------

    @property
    def queries(self) -> QueryLog:
        """Statements of the call running now, warm-up calls included (empty when nothing is measured)."""
        if self._current is not None:
            return self._current.queries
        if self._idle_log is None:
            self._idle_log = QueryLog()
        return self._idle_log

    @property
    def rounds(self) -> list[Sample]:
        """Completed untraced rounds of the current attempt."""
        return list(self.measurement.rounds)

    @property
    def ops_counted(self) -> int:
        return self._current.ops if self._current is not None else self._idle_ops

    def ops(self, count: int = 1) -> None:
        """Count ``count`` operations done in this call, for the ``throughput`` metric."""
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise TypeError(f"perf.ops() takes a non-negative whole number, got {count!r}")
        if self._current is not None:
            self._current.ops += count
        else:
            self._idle_ops += count

    def block(self, name: str, **budgets: Any) -> AbstractContextManager[Sample]:
        """Measure part of a test and hold it to ``budgets`` (keywords as in the marker).

        The budgets are checked here, before the ``with`` enters the block, and a bad one is
        raised from this call, hidden from the traceback: the test's own line is the last shown.
        """
        __tracebackhide__ = True
        self._block_fields(name, budgets)
        return self._measured_block(name)

    @contextmanager
    def _measured_block(self, name: str) -> Iterator[Sample]:
        sample = Sample(traced=self._current.traced if self._current else False)
        log = self.queries
        start = log.mark()
        cpu_start, wall_start = process_time(), perf_counter()
        try:
            yield sample
        finally:
            sample.wall = perf_counter() - wall_start
            sample.cpu = process_time() - cpu_start
            sample.queries = log.since(start)
        if self._current is not None and not self.warmup:
            self.measurement.blocks.setdefault(name, []).append(sample)

    def _block_fields(self, name: str, budgets: dict[str, Any]) -> Fields:
        __tracebackhide__ = True
        known = self.block_budgets.get(name)
        if known is not None:
            return known
        for key in budgets:
            if key not in (*BLOCK_METRICS, *BLOCK_SETTINGS):
                raise BlockUsageError(
                    f"{self.nodeid}: perf.block({name!r}) does not take '{key}'; "
                    f"a block takes {', '.join(BLOCK_METRICS + BLOCK_SETTINGS)}"
                )
        try:
            fields = parse_fields(located(budgets), source=f"block '{name}'", allowed_settings=BLOCK_SETTINGS)
        except BudgetError as error:
            raise BlockUsageError(f"{self.nodeid}: perf.block({name!r}): {error.message}") from None
        self.block_budgets[name] = fields
        return fields

    # --- what the plugin uses ---------------------------------------------------

    def start(self, *, traced: bool, rss: bool) -> Meter:
        meter = Meter(traced=traced, rss=rss)
        self._current = meter.sample
        return meter

    def finish(self, meter: Meter) -> None:
        sample = meter.stop()
        self._current = None
        if sample.traced:
            self.measurement.traced = sample
        else:
            self.measurement.rounds.append(sample)

    def abandon(self, meter: Meter) -> None:
        """The call raised: stop measuring and keep nothing of it."""
        meter.stop()
        self._current = None

    def run_round(self, call: Callable[[], Any], *, traced: bool = False, rss: bool = False) -> None:
        meter = self.start(traced=traced, rss=rss)
        try:
            call()
        except BaseException:
            self.abandon(meter)
            raise
        self.finish(meter)

    def run_unmeasured(self, call: Callable[[], Any]) -> None:
        """A warm-up call: the test sees its statements and operations, and then they are dropped."""
        meter = Meter(traced=False, rss=False)
        self._current, self.warmup = meter.sample, True
        try:
            call()
        finally:
            meter.stop()
            self._current, self.warmup = None, False

    def restart_timing(self) -> None:
        """Drop untraced rounds and blocks before a re-measurement."""
        self.measurement.rounds = []
        self.measurement.blocks = {}
        self.measurement.retries_used += 1
