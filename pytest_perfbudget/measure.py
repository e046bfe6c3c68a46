"""Measuring one call of a test: wall and CPU time, traced memory, RSS growth, SQL.

A :class:`Sample` is one call; a block inside a test produces samples too.
Time is taken with ``perf_counter`` and ``process_time`` (CPU of the whole
process, all threads, user + system).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .queries import QueryLog, capture


@dataclass
class Sample:
    """What one measured call (or one run of a block) cost."""

    wall: float = 0.0
    cpu: float = 0.0
    traced: bool = False  # ran under tracemalloc: its timings are not judged
    ops: int = 0
    memory: int | None = None  # peak traced bytes above the start of the call
    rss: int | None = None  # growth of resident memory, bytes
    queries: QueryLog = field(default_factory=QueryLog)

    @property
    def throughput(self) -> float | None:
        if self.ops == 0 or self.wall <= 0:
            return None
        return self.ops / self.wall


class _MemoryTrace:
    """tracemalloc around one call; leaves tracing on if someone else had started it."""

    def __init__(self) -> None:
        import tracemalloc  # here: most runs trace no memory

        self._started_here = not tracemalloc.is_tracing()
        if self._started_here:
            tracemalloc.start()
        else:
            tracemalloc.reset_peak()
        self._start, _ = tracemalloc.get_traced_memory()

    def stop(self) -> int:
        import tracemalloc

        _, peak = tracemalloc.get_traced_memory()
        if self._started_here:
            tracemalloc.stop()
        return max(peak - self._start, 0)


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
        self._cpu_start = time.process_time()
        self._wall_start = time.perf_counter()

    def stop(self) -> Sample:
        wall_end = time.perf_counter()
        cpu_end = time.process_time()
        sample = self.sample
        sample.wall = wall_end - self._wall_start
        sample.cpu = cpu_end - self._cpu_start
        if self._trace is not None:
            sample.memory = self._trace.stop()
        if self._rss_start is not None:
            sample.rss = max(_rss() - self._rss_start, 0)
        capture.log = self._previous_log
        return sample
