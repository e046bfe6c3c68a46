"""Where memory was allocated: tracemalloc snapshots grouped by the line of the user's code.

Evidence for a broken ``memory`` limit (a budget or a regression) and for a broken ``leak`` limit
(the metric is :mod:`.leaks`), gathered only once the verdict says so: the test is called again
under tracemalloc with :data:`FRAMES` frames per allocation, enough to reach the user's own frame
from deep inside a library (the measured call traces one frame, the cheapest). These extra calls
are neither timed nor judged.

- ``memory``: one extra call, snapshotted near its peak (see :class:`_PeakWatcher`);
- ``leak``: :data:`~.leaks.LEAK_CALLS` + 1 extra calls with a snapshot after each; a traceback's
  growth is the median of its growth over the last calls, as the metric is.

Each allocation is attributed to the innermost frame of the user's code (a file under rootdir that
is not a library, as for SQL call sites, see :mod:`.sql.callsite`) and, when it was made inside a
library called from there, to the library line too. A site is one line of the user's code with
the bytes and blocks allocated from it, and the library line that allocated most of them.

Evidence is a JSON-ready dict, ``{"status": "taken", "sites": [...]}`` or ``{"status": "not
taken", "reason": "..."}``: a test whose extra call raises keeps its verdict, and the evidence
says why there is none.
"""

from __future__ import annotations

import ast
import gc
import linecache
import os
import sys
import tracemalloc
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from .leaks import CALL_FAILURES, LEAK_CALLS, NOT_CALLABLE, Leak, Tracing, failure_reason
from .sql.callsite import RUNNER, CallSiteLocator
from .units import format_size

if TYPE_CHECKING:
    from .enforce import Violation

FRAMES = 64  # frames tracemalloc keeps per allocation in an extra call: enough to leave a library
SHOWN = 5  # sites in a failure message
KEPT = 20  # sites in a record
SNAPSHOT_FROM = 0.85  # share of the measured peak from which the extra call is snapshotted
SNAPSHOT_STEP = 0.1  # a later snapshot replaces it once memory has grown by this share again
MIN_STEP = 10_000  # ... and by at least this many bytes: a snapshot costs as much as the traces it copies

Traceback = tuple[tuple[str, int], ...]  # tracemalloc's raw traceback, innermost frame first
Evidence = dict[str, Any]

_PACKAGE_DIR = os.path.normcase(str(Path(__file__).resolve().parent)) + os.sep
_TRACEMALLOC_FILE = os.path.normcase(tracemalloc.__file__)


@dataclass(frozen=True)
class AllocationSite:
    """Memory allocated from one line of the user's code (None: from no user frame at all)."""

    call_site: str | None
    function: str | None
    library_site: str | None  # the library line that allocated most of it; None: the line itself
    size: int
    count: int

    def to_json(self) -> dict[str, Any]:
        return {
            "call_site": self.call_site,
            "function": self.function,
            "library_site": self.library_site,
            "size": self.size,
            "count": self.count,
        }


def taken(sites: Sequence[AllocationSite], **details: Any) -> Evidence:
    return {"status": "taken", **details, "sites": [site.to_json() for site in sites[:KEPT]]}


def not_taken(reason: str) -> Evidence:
    return {"status": "not taken", "reason": reason}


# --- sites --------------------------------------------------------------------------------------


def by_traceback(snapshot: tracemalloc.Snapshot) -> dict[Traceback, list[int]]:
    """Bytes and blocks per traceback, leaving out what tracemalloc and this plugin allocated
    (an earlier snapshot is itself traced memory). Called with tracing stopped: the loop over
    every block would otherwise be traced, 64 frames per allocation."""
    # A snapshot's traces are raw tuples (domain, size, traceback, total frames); reading them
    # as Trace objects costs several times more. Equal tracebacks share one tuple: grouped by
    # identity first, a traceback of 64 frames is hashed once, not once per block.
    raw: Sequence[tuple[Any, ...]] = getattr(snapshot.traces, "_traces", None) or [
        (
            trace.domain,
            trace.size,
            tuple((frame.filename, frame.lineno) for frame in reversed(trace.traceback)),
        )
        for trace in snapshot.traces
    ]
    by_identity: dict[int, list[Any]] = {}
    for trace in raw:
        found = by_identity.get(id(trace[2]))
        if found is None:
            by_identity[id(trace[2])] = [trace[2], trace[1], 1]
        else:
            found[1] += trace[1]
            found[2] += 1
    grouped: dict[Traceback, list[int]] = {}
    for traceback, size, count in by_identity.values():
        if not traceback or _is_own(traceback[0][0]):
            continue
        known = grouped.setdefault(tuple(traceback), [0, 0])
        known[0] += size
        known[1] += count
    return grouped


def _is_own(filename: str) -> bool:
    path = os.path.normcase(filename)
    return path == _TRACEMALLOC_FILE or path.startswith(_PACKAGE_DIR)


Allocations = list[tuple[Traceback, int, int]]  # traceback, bytes, blocks


def growth(
    before: Mapping[Traceback, Sequence[int]], after: Mapping[Traceback, Sequence[int]]
) -> Allocations:
    """Bytes and blocks each traceback holds in ``after`` beyond ``before`` (growth only)."""
    grown = []
    for traceback, (size, count) in after.items():
        old_size, old_count = before.get(traceback, (0, 0))
        if size > old_size:
            grown.append((traceback, size - old_size, max(count - old_count, 0)))
    return grown


def repeated_growth(states: Sequence[Mapping[Traceback, Sequence[int]]]) -> Allocations:
    """Per traceback, the median of its growth from each state to the next: what each call adds
    again, not what one call added once (a dictionary that doubled its table)."""
    steps = [
        {traceback: (size, count) for traceback, size, count in growth(a, b)} for a, b in pairwise(states)
    ]
    repeated = []
    for traceback in {traceback for step in steps for traceback in step}:
        sizes = sorted(step.get(traceback, (0, 0)) for step in steps)
        size, count = sizes[len(sizes) // 2]
        if size > 0:
            repeated.append((traceback, size, count))
    return repeated


class SiteFinder:
    """Groups tracebacks into :class:`AllocationSite` by the innermost user frame."""

    def __init__(self, locator: CallSiteLocator) -> None:
        self._locator = locator
        self._functions = FunctionNames()
        self._library_prefixes = sorted(
            {os.path.normcase(os.path.abspath(entry)) + os.sep for entry in sys.path if entry},
            key=len,
            reverse=True,
        )

    def sites(self, allocations: Iterable[tuple[Traceback, int, int]]) -> list[AllocationSite]:
        """Sites by size, largest first."""
        totals: dict[
            str | None, list[Any]
        ] = {}  # site -> [call site, function, size, count, {library: size}]
        for traceback, size, count in allocations:
            place = self._place(traceback)
            if place is None:
                continue
            call_site, function, library_site = place
            key = call_site if call_site is not None else library_site
            entry = totals.get(key)
            if entry is None:
                entry = totals[key] = [call_site, function, 0, 0, {}]
            entry[2] += size
            entry[3] += count
            entry[4][library_site] = entry[4].get(library_site, 0) + size
        found = []
        for call_site, function, size, count, libraries in totals.values():
            library = max(libraries.items(), key=lambda item: item[1])[0]
            found.append(
                AllocationSite(
                    call_site,
                    function,
                    None if call_site is not None and library == call_site else library,
                    size,
                    count,
                )
            )
        found.sort(key=lambda site: (-site.size, site.call_site or "", site.library_site or ""))
        return found

    def _place(self, traceback: Traceback) -> tuple[str | None, str | None, str] | None:
        """The innermost user frame (``path:line``, function) and the innermost frame of all;
        None for what the test runner allocated around the test (no user frame, pytest's frames)."""
        innermost = traceback[0]
        runner = False
        for filename, line in traceback:
            shown = self._locator.classify(filename)
            if isinstance(shown, str):
                site = f"{shown}:{line}"
                own_line = (filename, line) == innermost
                return (
                    site,
                    self._functions.at(filename, line),
                    site if own_line else self._library(innermost),
                )
            runner = runner or shown is RUNNER
        return None if runner else (None, None, self._library(innermost))

    def _library(self, frame: tuple[str, int]) -> str:
        """A library line as ``package/module.py:line``: relative to its entry of ``sys.path``."""
        filename, line = frame
        path = os.path.normcase(os.path.abspath(filename)) if not filename.startswith("<") else filename
        for prefix in self._library_prefixes:
            if path.startswith(prefix):
                path = path[len(prefix) :]
                break
        return f"{path.replace(os.sep, '/')}:{line}"


class FunctionNames:
    """The function around a line of a source file, read with :mod:`ast` (tracemalloc keeps file
    names and lines only)."""

    def __init__(self) -> None:
        self._spans: dict[str, list[tuple[int, int, str]]] = {}

    def at(self, filename: str, line: int) -> str:
        spans = self._spans.get(filename)
        if spans is None:
            spans = self._spans[filename] = _function_spans(filename)
        inner = [span for span in spans if span[0] <= line <= span[1]]
        return max(inner)[2] if inner else "<module>"


def _function_spans(filename: str) -> list[tuple[int, int, str]]:
    try:
        tree = ast.parse("".join(linecache.getlines(filename)))
    except (SyntaxError, ValueError):
        return []
    return [
        (node.lineno, node.end_lineno or node.lineno, node.name)
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    ]


def describe_sites(evidence: Mapping[str, Any], heading: str) -> list[str]:
    """Lines of a failure message: the first :data:`SHOWN` sites under ``heading``, or why none.

    Sites under 1% of the total (a frame object, a hook's list) are left to the report.
    """
    if evidence.get("status") != "taken":
        return [f"    ({heading}: not taken, {evidence.get('reason', 'no reason given')})"]
    sites = evidence.get("sites") or []
    if not sites:
        return [f"    ({heading}: no site found)"]
    total = sum(site["size"] for site in sites)
    shown = [site for site in sites[:SHOWN] if site["size"] >= total / 100] or sites[:1]
    snapshot, peak = evidence.get("snapshot"), evidence.get("peak")
    if isinstance(snapshot, int) and isinstance(peak, int) and snapshot < 0.95 * peak:
        heading += f" (snapshot at {format_size(snapshot)} of {format_size(peak)})"
    lines = [f"    {heading}:"]
    for site in shown:
        where = site["call_site"] or site["library_site"] or "an unknown site"
        function = f" in {site['function']}" if site.get("function") else ""
        blocks = f"{site['count']:,} block{'s' * (site['count'] != 1)}"
        lines.append(f"      {format_size(site['size']):>7}  {blocks:<15}{where}{function}")
        if site["call_site"] and site.get("library_site"):
            lines.append(f"      {'':>7}  {'':<15}  allocated in {site['library_site']}")
    if len(shown) < len(sites):
        rest = sites[len(shown) :]
        size = format_size(sum(site["size"] for site in rest))
        lines.append(f"      ({len(rest)} more site{'s' * (len(rest) != 1)}, {size} in all)")
    return lines


# --- memory: the sites at the peak ---------------------------------------------------------------


class _PeakWatcher:
    """Snapshots tracemalloc once traced memory reaches a threshold, and again each time it has
    grown past the last snapshot by :data:`SNAPSHOT_STEP` of the expected peak.

    It looks at every call and return, C functions too (as a profile function): a list built on
    one line is still alive at the call that reads it, or at the return of the function that built
    it. With ``lines`` it also looks at every line of the user's code (as a trace function): a
    block allocated and freed with no call in between is still alive at the next line. Lines cost
    much more, and only a call whose peak came and went unseen is watched again with them.
    """

    def __init__(self, expected_peak: int, is_user_file: Callable[[str], bool]) -> None:
        self.start = tracemalloc.get_traced_memory()[0]
        self.step = max(int(expected_peak * SNAPSHOT_STEP), MIN_STEP)
        self.target = self.start + max(int(expected_peak * SNAPSHOT_FROM), 1)
        self.threshold = self.target
        self.snapshot: tracemalloc.Snapshot | None = None
        self.level = 0  # traced bytes above the start when the snapshot was taken
        self.peak = 0  # the call's peak above the start, once it has returned
        self._footprint = 0  # traced bytes of the snapshot itself
        self._peak_before = 0  # the peak before the snapshot was taken
        self._is_user_file = is_user_file

    @property
    def reached(self) -> bool:
        """The call's peak got to the threshold (seen or not)."""
        return self.start + self.peak >= self.target

    def look(self, frame: FrameType, event: str, arg: object) -> None:
        current = tracemalloc.get_traced_memory()[0]
        if current < self.threshold:
            return
        self.snapshot = None  # not traced into the next one
        self._peak_before = tracemalloc.get_traced_memory()[1]
        self.snapshot = tracemalloc.take_snapshot()
        self.level = current - self.start
        after = tracemalloc.get_traced_memory()[0]
        self._footprint = after - current
        self.threshold = after + self.step

    def _trace_call(self, frame: FrameType, event: str, arg: object) -> Callable[..., Any] | None:
        self.look(frame, event, arg)
        return self._trace_line if self._is_user_file(frame.f_code.co_filename) else None

    def _trace_line(self, frame: FrameType, event: str, arg: object) -> Callable[..., Any]:
        self.look(frame, event, arg)
        return self._trace_line

    def watch(self, call: Callable[[], object], *, lines: bool = False) -> None:
        tracemalloc.reset_peak()
        sys.setprofile(self.look)
        if lines:
            sys.settrace(self._trace_call)
        try:
            call()
        finally:
            if lines:
                sys.settrace(None)
            sys.setprofile(None)
            # The snapshot is traced memory too: not the call's.
            peak = max(self._peak_before, tracemalloc.get_traced_memory()[1] - self._footprint)
            self.peak = peak - self.start


def peak_allocations(
    call: Callable[[], object] | None, expected_peak: int, locator: CallSiteLocator
) -> Evidence:
    """Call the test once more and give the sites of what was allocated at (about) its peak.

    ``expected_peak`` is the measured call's ``memory``: snapshots start at :data:`SNAPSHOT_FROM`
    of it. When the extra call never gets that far (the measured call imported modules or
    filled caches), it is called once more with its own peak as the target; when its peak came and
    went between two calls, once more watching the lines of the user's code too (unless a tracer
    such as coverage is active).
    """
    if call is None:
        return not_taken(NOT_CALLABLE)
    profiler = sys.getprofile()
    if profiler is not None:
        return not_taken(f"a profiler is active ({getattr(profiler, '__module__', None) or 'unknown'})")

    def is_user_file(filename: str) -> bool:
        return isinstance(locator.classify(filename), str)

    with Tracing(FRAMES):
        frames = tracemalloc.get_traceback_limit()
        try:
            gc.collect()
            before = tracemalloc.take_snapshot()
            watcher = _PeakWatcher(expected_peak, is_user_file)
            watcher.watch(call)
            if not watcher.reached and watcher.peak > 0:
                gc.collect()
                watcher = _PeakWatcher(watcher.peak, is_user_file)
                watcher.watch(call)
            if watcher.snapshot is None and watcher.reached and sys.gettrace() is None:
                gc.collect()
                watcher = _PeakWatcher(watcher.peak, is_user_file)
                watcher.watch(call, lines=True)
        except CALL_FAILURES as error:
            return not_taken(failure_reason(error))
    if watcher.snapshot is None:
        if watcher.reached:
            return not_taken(
                f"the extra call's peak ({format_size(watcher.peak)}) came and went within one line "
                "of code, between two points where memory can be read"
            )
        return not_taken(
            f"the extra call's peak ({format_size(watcher.peak)}) stayed far below the measured "
            f"one ({format_size(expected_peak)})"
        )
    allocated = growth(by_traceback(before), by_traceback(watcher.snapshot))
    sites = SiteFinder(locator).sites(allocated)
    return taken(sites, snapshot=watcher.level, peak=watcher.peak, frames=frames)


# --- leak: the sites of what stayed ---------------------------------------------------------------


def leak_allocations(call: Callable[[], object] | None, calls: int, locator: CallSiteLocator) -> Evidence:
    """Call the test ``calls`` + 1 times more, as the ``leak`` metric does, and give the sites of
    what each of the last ``calls`` left allocated (the median per traceback)."""
    if call is None:
        return not_taken(NOT_CALLABLE)
    snapshots = []
    with Tracing(FRAMES):
        frames = tracemalloc.get_traceback_limit()
        try:
            for _ in range(calls + 1):
                call()
                gc.collect()
                snapshots.append(tracemalloc.take_snapshot())
        except CALL_FAILURES as error:
            return not_taken(failure_reason(error))
    states = [by_traceback(snapshot) for snapshot in snapshots]
    return taken(SiteFinder(locator).sites(repeated_growth(states)), calls=calls, frames=frames)


def gather(
    violations: Sequence[Violation],
    *,
    memory: int | None,
    leak: Leak | None,
    call: Callable[[], object] | None,
    locator: Callable[[], CallSiteLocator],
) -> Evidence:
    """The record's memory evidence: allocation sites for a broken ``memory`` limit (budget or
    regression) and for a broken ``leak`` limit, and why a leak could not be measured."""
    evidence: Evidence = {}
    broken = {violation.metric for violation in violations if violation.block is None}
    if "memory" in broken and memory is not None:
        evidence["allocations"] = peak_allocations(call, memory, locator())
    if leak is not None and leak.per_call is None:
        evidence["leak"] = not_taken(leak.reason or "not measured")
    elif "leak" in broken:
        evidence["leak"] = leak_allocations(call, LEAK_CALLS, locator())
    return evidence
