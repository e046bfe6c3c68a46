"""How much slower the machine is now than where the budgets were set, from a fixed loop.

The loop is a fixed piece of pure-Python work (9-30 ms on 2-core AMD EPYC VMs). The
``calibration`` setting holds its time on the machine where the budgets were measured (``perfbudget
init`` copies it from the run report's ``environment.calibration``). When a test is over a time
budget and is measured again, the loop runs just before and just after the re-measurement: if it is
slower than the reference, the machine is busy or slower, and the time limits of that
re-measurement stretch by the same factor, never by more than :data:`MAX_FACTOR` and never below
1 (a faster machine does not tighten a budget). Against a baseline, the reference is the loop's time
in the baseline run (its report's ``environment.calibration``): what regresses is the baseline's
value stretched by that factor. Nothing of this runs for a test within its budget.

A slower machine lengthens only the part of a test that computes: a test that sleeps for most of
its time is not twice as slow when the loop is. Wall-time limits stretch by Amdahl's law over the
test's busy share (:func:`busy_share`): ``1 / (1 - busy + busy / loop_factor)``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from time import perf_counter, process_time  # bound now: tests may patch the time module
from typing import Any

# Long enough to span a few scheduler ticks: a loop of one tick (3 ms on the noise study's fastest
# machine) ran alone on a core shared with another process in 30% of the re-measurements under two
# hogs, and so saw no slowdown while the test it surrounded waited half of its time.
LOOP_ITERATIONS = 210_000
# A machine more than twice as slow as the reference is not noise the budget should absorb: a
# 3x slowdown against a budget with 1.5x headroom must still fail.
MAX_FACTOR = 2.0
# On a core shared with another process the loop may still run more than its share of a few ticks
# while a longer test gets half of the core. So CPU time counts double in the busy share: a test on
# the CPU for half of its wall time is all busy, one that sleeps 90% of it is 20% busy (in the noise
# study, CPU-bound tests under two hogs measured 0.37 to 1 without it, with a 3 ms loop).
CPU_WEIGHT = 2.0


def _spin(iterations: int) -> int:
    total = 0
    for i in range(iterations):
        total += i * i % 7
    return total


def loop_time() -> tuple[float, float]:
    """Wall and CPU time of one run of the calibration loop, in seconds."""
    cpu_start, wall_start = process_time(), perf_counter()
    _spin(LOOP_ITERATIONS)
    return perf_counter() - wall_start, process_time() - cpu_start


class _FastestLoop:
    """The fastest run of the loop in this process so far: the reference of ``calibration: auto``.

    It starts with one run when a measuring session starts (:func:`note_session_start`), before the
    tests load the machine, and every loop run around a re-measurement may lower it afterwards.
    """

    seconds: float | None = None


def note_loop(wall: float) -> None:
    """Keep ``wall`` as the reference of ``calibration: auto`` if it is the fastest yet."""
    fastest = _FastestLoop.seconds
    if wall > 0:  # a clock too coarse to time the loop gives no reference
        _FastestLoop.seconds = wall if fastest is None else min(fastest, wall)


def note_session_start() -> None:
    """One run of the loop when a session that measures starts: ``auto``'s first reference, and
    none from an earlier session in this process (pytester's in-process runs)."""
    _FastestLoop.seconds = loop_time()[0]


def fastest_loop() -> float:
    """The reference of ``calibration: auto``; the loop runs now if it has not run yet."""
    if _FastestLoop.seconds is None:
        note_session_start()
    assert _FastestLoop.seconds is not None
    return _FastestLoop.seconds


def reference_time() -> float:
    """The loop's wall time on this machine now, as ``environment.calibration`` records it."""
    return loop_time()[0]


def factor(loop: float, reference: float) -> float:
    """``loop / reference``, kept between 1 and :data:`MAX_FACTOR`."""
    return min(max(loop / reference, 1.0), MAX_FACTOR)


def busy_share(spent: tuple[float, float, float], loop_wall: float, loop_cpu: float) -> float:
    """The share of a measurement's wall time that a slower machine lengthens, from 0 to 1.

    ``spent`` is the measurement's wall time, CPU time and time in the database: a database server
    on this machine is slowed like the test, so its time counts as busy (one remote is counted too,
    which errs towards stretching). CPU time is divided by the loop's own CPU share (on a core
    shared with another process a pure-CPU loop gets, say, 60% of the wall time, and so does a
    CPU-bound test) and weighs :data:`CPU_WEIGHT`. Without times to tell by, a test is all busy.
    """
    wall, cpu, database = spent
    if wall <= 0 or loop_wall <= 0 or loop_cpu <= 0:
        return 1.0
    on_cpu = cpu * max(loop_wall / loop_cpu, 1.0)
    return min((CPU_WEIGHT * on_cpu + database) / wall, 1.0)


def stretch(loop_factor: float, busy: float) -> float:
    """A wall time's factor when its ``busy`` share runs ``loop_factor`` times slower."""
    if busy >= 1.0:
        return loop_factor
    return 1.0 / (1.0 - busy + busy / loop_factor)


@dataclass(frozen=True)
class Calibration:
    """The loop around one re-measurement, against the reference: how far limits stretch."""

    reference: float  # the ``calibration`` setting, seconds
    wall: float  # the loop's wall time around the re-measurement (mean of before and after)
    cpu: float  # its CPU time, for ``cpu`` limits: waiting for a busy core costs no CPU time
    baseline_reference: float | None = None  # the loop's time in the baseline run, when it has one
    busy: float = 1.0  # the re-measurement's busy share (:func:`busy_share`)

    @classmethod
    def around(
        cls,
        reference: float,
        before: tuple[float, float],
        after: tuple[float, float],
        spent: tuple[float, float, float],
        baseline_reference: float | None = None,
    ) -> Calibration:
        """The loop run ``before`` and ``after`` a re-measurement that ``spent`` (wall, CPU and
        database time) what it did."""
        wall, cpu = (before[0] + after[0]) / 2, (before[1] + after[1]) / 2
        return cls(reference, wall, cpu, baseline_reference, busy_share(spent, wall, cpu))

    @property
    def time_factor(self) -> float:
        """For ``time`` and ``throughput``: the loop's wall time over the test's busy share."""
        return self.scales()["time"]

    @property
    def cpu_factor(self) -> float:
        return factor(self.cpu, self.reference)

    def scales(self) -> dict[str, float]:
        """The factor for each metric it applies to."""
        return self._scales(self.reference)

    def baseline_scales(self) -> dict[str, float] | None:
        """The factors for the baseline's values; None when the baseline run has no loop time."""
        reference = self.baseline_reference
        return None if reference is None else self._scales(reference)

    def _scales(self, reference: float) -> dict[str, float]:
        """``sql_time`` is all time in the database, and stretches as the loop's wall time does."""
        wall = factor(self.wall, reference)
        time = stretch(wall, self.busy)
        return {"time": time, "throughput": time, "sql_time": wall, "cpu": factor(self.cpu, reference)}

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "reference": self.reference,
            "loop": round(self.wall, 6),
            "loop_cpu": round(self.cpu, 6),
            "busy": round(self.busy, 3),
            "time_factor": round(self.time_factor, 3),
            "cpu_factor": round(self.cpu_factor, 3),
        }
        reference = self.baseline_reference
        if reference is not None:
            against = self._scales(reference)
            data["baseline_reference"] = reference
            data["baseline_time_factor"] = round(against["time"], 3)
            data["baseline_cpu_factor"] = round(against["cpu"], 3)
        return data

    def describe(self, limited: Collection[str], regressed: Collection[str] = ()) -> str | None:
        """What calibration changed for the ``limited`` metrics' limits and the ``regressed``
        metrics' baseline values, in one short sentence, or None when it stretched none of them:
        ``the machine ran 1.40x slower than its reference loop: time limits x 1.40``."""
        clauses = []
        stretched = self._stretched(limited, "time limits", "cpu limits", self.scales())
        if stretched:
            ratio = self.wall / self.reference
            clauses.append(f"the machine ran {ratio:.2f}x slower than its reference loop: {stretched}")
        reference = self.baseline_reference
        if reference is not None:
            scales = self._scales(reference)
            stretched = self._stretched(regressed, "the baseline's times", "its CPU times", scales)
            if stretched:
                ratio = self.wall / reference
                clauses.append(f"the machine ran {ratio:.2f}x slower than in the baseline run: {stretched}")
        return "; ".join(clauses) or None

    def _stretched(
        self, metrics: Collection[str], times: str, cpu_times: str, scales: dict[str, float]
    ) -> str:
        parts = []
        if "time" in metrics and scales["time"] > 1.0:
            busy = f" (the test busy {self.busy:.0%} of its time)" if self.busy < 1.0 else ""
            parts.append(f"{times} x {scales['time']:.2f}{busy}")
        if "cpu" in metrics and scales["cpu"] > 1.0:
            parts.append(f"{cpu_times} x {scales['cpu']:.2f}")
        return ", ".join(parts)
