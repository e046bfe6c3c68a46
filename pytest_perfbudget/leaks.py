"""The ``leak`` metric: memory that each call of a test leaves allocated once its caches are warm.

Measured only for a test with a ``leak`` budget, after its measured call (and rounds), which warmed
its caches: the test is called :data:`LEAK_CALLS` + 1 more times under tracemalloc (one frame per
allocation, the cheapest), each call followed by a full garbage collection. The growth of traced
memory across each of the last :data:`LEAK_CALLS` calls is what that call left allocated, and the
leak is their median:

- a cache filled by the first calls costs nothing, nor does a value replaced at each call (the
  last result kept in a global): the one it replaced was freed;
- a list that keeps 1kB more at each call leaks 1kB;
- growth that one call makes once (a dictionary doubling its table, a lazy set-up on the second
  call) is not a leak: the median of three calls leaves it out. These calls are not timed and their SQL is not counted.

The helpers for such extra calls (:class:`Tracing`, :data:`CALL_FAILURES`) serve the allocation
sites of :mod:`.allocations` too.

A test whose extra calls raise (one that inserts a unique row, say) keeps its verdict: its leak is
not measured, and the record's evidence says why.
"""

from __future__ import annotations

import gc
import tracemalloc
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

import pytest

LEAK_CALLS = 3  # calls whose growth is measured, after one more to warm up
NOT_CALLABLE = "a unittest or doctest item cannot be called again"

# What the test raising in an extra call looks like; anything else (KeyboardInterrupt, pytest.exit)
# goes on up.
CALL_FAILURES: tuple[type[BaseException], ...] = (
    Exception,
    pytest.fail.Exception,
    pytest.skip.Exception,
)


def failure_reason(error: BaseException) -> str:
    """``an extra call raised ValueError: unique constraint`` (on one line, shortened)."""
    text = " ".join(str(error).split())
    if len(text) > 200:
        text = text[:199] + "…"
    return f"an extra call raised {type(error).__name__}{': ' + text if text else ''}"


class Tracing:
    """tracemalloc for extra calls: started with ``frames`` frames unless someone else runs it
    (then it is left as it is, and on), stopped again if started here."""

    def __init__(self, frames: int) -> None:
        self.frames = frames
        self.started_here = False

    def __enter__(self) -> Tracing:
        self.started_here = not tracemalloc.is_tracing()
        if self.started_here:
            tracemalloc.start(self.frames)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.started_here:
            tracemalloc.stop()


@dataclass(frozen=True)
class Leak:
    """Bytes left allocated per call, or None with the reason it could not be measured."""

    per_call: int | None
    reason: str | None = None


def measure_leak(call: Callable[[], object] | None) -> Leak:
    """Call the test :data:`LEAK_CALLS` + 1 times; the leak is the median growth of the last ones."""
    if call is None:
        return Leak(None, NOT_CALLABLE)
    # Readings go into an array of machine integers: a list would keep an int object (32 bytes)
    # per reading, and each reading would count the one before as a leak.
    readings = array("q", bytes(8 * (LEAK_CALLS + 1)))
    with Tracing(1):
        try:
            for index in range(LEAK_CALLS + 1):
                call()
                gc.collect()
                readings[index] = tracemalloc.get_traced_memory()[0]
        except CALL_FAILURES as error:
            return Leak(None, failure_reason(error))
    growths = sorted(after - before for before, after in pairwise(readings))
    return Leak(max(growths[len(growths) // 2], 0))
