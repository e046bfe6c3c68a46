"""Measuring one call of a test: wall and CPU time, traced memory, RSS growth, SQL.

A :class:`Sample` is one call; a block inside a test produces samples too.
Time is taken with ``perf_counter`` and ``process_time`` (CPU of the whole
process, all threads, user + system).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from time import perf_counter, process_time  # bound now: tests may patch the time module

from .queries import QueryLog, capture


@dataclass
class Sample:
    """What one measured call (or one run of a block) cost."""

    wall: float = 0.0
    cpu: float = 0.0
    traced: bool = False  # ran under tracemalloc: its timings are not judged
    ops: int = 0
    memory: int | None = None  # peak traced bytes above the start of the call
    memory_lost: bool = False  # traced, but the call broke the trace (see _MemoryTrace)
    rss: int | None = None  # growth of resident memory, bytes
    queries: QueryLog = field(default_factory=QueryLog)

    @property
    def throughput(self) -> float | None:
        if self.ops == 0 or self.wall <= 0:
            return None
        return self.ops / self.wall


MEMORY_LOST = "tracemalloc was stopped, restarted or cleared during the call"


class _MemoryTrace:
    """tracemalloc around one call; leaves tracing on if someone else had started it.

    The call may stop, restart or clear tracemalloc itself (a test measuring its own memory):
    the peak read afterwards then says nothing about the call. An object allocated once
    tracing runs marks the trace: when tracemalloc no longer knows where it was allocated,
    the trace was broken, and the memory is not measured (None), rather than a false 0.
    """

    def __init__(self) -> None:
        import tracemalloc  # here: most runs trace no memory

        self._started_here = not tracemalloc.is_tracing()
        if self._started_here:
            tracemalloc.start()
        else:
            tracemalloc.reset_peak()
        self._marker = object()
        self._start, _ = tracemalloc.get_traced_memory()

    def stop(self) -> int | None:
        import tracemalloc

        _, peak = tracemalloc.get_traced_memory()
        intact = tracemalloc.get_object_traceback(self._marker) is not None
        if self._started_here:
            tracemalloc.stop()
        return max(peak - self._start, 0) if intact else None


def _rss() -> int:
    import psutil  # imported only when RSS is measured

    return int(psutil.Process().memory_info().rss)


class Meter:
    """Starts and stops the measurement of one call; ``stop`` returns its :class:`Sample`."""

    def __init__(self, *, traced: bool, rss: bool) -> None:
        self.sample = Sample(traced=traced)
        self._previous_log = capture.log
        capture.log = self.sample.queries
        self._rss_start = _rss() if rss else None
        self._trace = _MemoryTrace() if traced else None
        self._cpu_start = process_time()
        self._wall_start = perf_counter()

    def stop(self) -> Sample:
        wall_end = perf_counter()
        cpu_end = process_time()
        sample = self.sample
        sample.wall = wall_end - self._wall_start
        sample.cpu = cpu_end - self._cpu_start
        if self._trace is not None:
            sample.memory = self._trace.stop()
            sample.memory_lost = sample.memory is None
        if self._rss_start is not None:
            sample.rss = max(_rss() - self._rss_start, 0)
        capture.log = self._previous_log
        return sample
