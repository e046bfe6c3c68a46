"""How much slower the machine is now than where the budgets were set, from a fixed loop.

The loop is a fixed piece of pure-Python work (5-9 ms on a 2-core AMD EPYC VM). The
``calibration`` setting holds its time on the machine where the budgets were measured (``perfbudget
init`` copies it from the run report's ``environment.calibration``). When a test is over a time
budget and is measured again, the loop runs just before and just after the re-measurement: if it is
slower than the reference, the machine is busy or slower, and the time limits of that
re-measurement stretch by the same factor, never by more than :data:`MAX_FACTOR` and never below
1 (a faster machine does not tighten a budget). Against a baseline, the reference is the loop's time
in the baseline run (its report's ``environment.calibration``): what regresses is the baseline's
value stretched by that factor. Nothing of this runs for a test within its budget.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

LOOP_ITERATIONS = 70_000
# A machine more than twice as slow as the reference is not noise the budget should absorb: a
# 3x slowdown against a budget with 1.5x headroom must still fail.
MAX_FACTOR = 2.0
REFERENCE_REPEAT = 3  # loops behind the run report's reference: its median


def _spin(iterations: int) -> int:
    total = 0
    for i in range(iterations):
        total += i * i % 7
    return total


def loop_time() -> tuple[float, float]:
    """Wall and CPU time of one run of the calibration loop, in seconds."""
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    _spin(LOOP_ITERATIONS)
    return time.perf_counter() - wall_start, time.process_time() - cpu_start


def reference_time(repeat: int = REFERENCE_REPEAT) -> float:
    """The loop's wall time on this machine now, as ``environment.calibration`` records it."""
    return statistics.median(loop_time()[0] for _ in range(repeat))


def factor(loop: float, reference: float) -> float:
    """``loop / reference``, kept between 1 and :data:`MAX_FACTOR`."""
    return min(max(loop / reference, 1.0), MAX_FACTOR)


@dataclass(frozen=True)
class Calibration:
    """The loop around one re-measurement, against the reference: how far limits stretch."""

    reference: float  # the ``calibration`` setting, seconds
    wall: float  # the loop's wall time around the re-measurement (mean of before and after)
    cpu: float  # its CPU time, for ``cpu`` limits: waiting for a busy core costs no CPU time
    baseline_reference: float | None = None  # the loop's time in the baseline run, when it has one

    @classmethod
    def around(
        cls,
        reference: float,
        before: tuple[float, float],
        after: tuple[float, float],
        baseline_reference: float | None = None,
    ) -> Calibration:
        return cls(reference, (before[0] + after[0]) / 2, (before[1] + after[1]) / 2, baseline_reference)

    @property
    def time_factor(self) -> float:
        """For ``time``, ``sql_time`` and ``throughput``: all are wall-clock measurements."""
        return factor(self.wall, self.reference)

    @property
    def cpu_factor(self) -> float:
        return factor(self.cpu, self.reference)

    def scales(self) -> dict[str, float]:
        """The factor for each metric it applies to."""
        return _scales(self.time_factor, self.cpu_factor)

    def baseline_scales(self) -> dict[str, float] | None:
        """The factors for the baseline's values; None when the baseline run has no loop time."""
        against = self._against_baseline()
        return None if against is None else _scales(against[1], against[2])

    def _against_baseline(self) -> tuple[float, float, float] | None:
        """The baseline run's loop time, and the wall and CPU factors against it."""
        reference = self.baseline_reference
        if reference is None:
            return None
        return reference, factor(self.wall, reference), factor(self.cpu, reference)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "reference": self.reference,
            "loop": round(self.wall, 6),
            "loop_cpu": round(self.cpu, 6),
            "time_factor": round(self.time_factor, 3),
            "cpu_factor": round(self.cpu_factor, 3),
        }
        against = self._against_baseline()
        if against is not None:
            reference, wall, cpu = against
            data["baseline_reference"] = reference
            data["baseline_time_factor"] = round(wall, 3)
            data["baseline_cpu_factor"] = round(cpu, 3)
        return data

    def describe(self) -> str:
        """``calibration loop 16.8ms against 12ms: time limits x 1.40, cpu limits x 1.00``, and
        with a baseline ``; against the baseline's 14ms: its times x 1.20, CPU times x 1.00``."""
        from .units import format_duration

        text = (
            f"calibration loop {format_duration(self.wall)} against {format_duration(self.reference)}: "
            f"time limits x {self.time_factor:.2f}, cpu limits x {self.cpu_factor:.2f}"
        )
        against = self._against_baseline()
        if against is not None:
            reference, wall, cpu = against
            text += (
                f"; against the baseline's {format_duration(reference)}: "
                f"its times x {wall:.2f}, CPU times x {cpu:.2f}"
            )
        return text


def _scales(wall: float, cpu: float) -> dict[str, float]:
    return {"time": wall, "sql_time": wall, "throughput": wall, "cpu": cpu}
