"""Hot spots: where a test's time went, from one more call of it under ``cProfile``.

Taken only after a verdict is final, and only for a test that broke a time or CPU limit or
regressed on one (or for every measured test under ``--perf-profile=all``): a test within its
budget pays nothing here, and this module is not even imported.

The profiled call is not timed and not judged. Its profile becomes the ``hot_spots`` entry of
the record's ``evidence``:

- ``functions``: the user's functions (code under rootdir that is neither a library, the test
  runner nor this plugin) by cumulative time, with the time of the library frames they called
  folded into their ``own`` time: ``list_orders`` owns the time ``Session.execute`` took for it;
- ``flame``: a compact call tree for a flame graph, each run of library frames called from the
  user's code shown as one node named for the entry into the library;
- and, with ``--perf-profile-dir``, a speedscope file with the whole tree.

``cProfile`` records which function called which, not whole stacks: the tree is built from those
edges, a callee's subtree shared among its callers in proportion to the time each call took (as
snakeviz and gprof2dot do). The cumulative times and call counts listed are cProfile's own.
Why cProfile and not ``sys.setprofile`` or sampling: see docs/finding-the-cause.md.
"""

from __future__ import annotations

import cProfile
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import CodeType
from typing import TYPE_CHECKING, Any

from .queries import QueryLog, capture
from .tracing import active_tracer

if TYPE_CHECKING:
    from _lsprof import profiler_entry

    from .sql.callsite import CallSiteLocator

PROFILER = "cProfile"
TOP_FUNCTIONS = 30  # in the record
MESSAGE_FUNCTIONS = 5  # in the failure message
FLAME_NODES = 150  # nodes of the record's flame tree, at most
FLAME_SHARE = 0.005  # a flame node smaller than this share of the call is left out
FILE_NODES = 20_000  # nodes of a speedscope file's tree, at most
FILE_SHARE = 0.0001
MAX_DEPTH = 64
# A profiled call this much faster than the measured one did not redo the work measured: a
# profiler only ever slows a call down.
NOT_THE_SAME_WORK = 4.0
_COMPREHENSIONS = frozenset({"<listcomp>", "<dictcomp>", "<setcomp>", "<genexpr>"})
_BUILTIN_METHOD = re.compile(r"<method '(?P<name>[^']+)' of '(?P<owner>[^']+)' objects>")
_BUILTIN = re.compile(r"<built-in method (?P<name>[^>]+)>")

Evidence = dict[str, Any]


def not_taken(reason: str) -> Evidence:
    return {"status": "not taken", "reason": reason}


@dataclass
class _Function:
    """What the profile says of one code object (or built-in)."""

    name: str
    call_site: str  # path:line; relative to rootdir for the user's code
    user: bool  # the user's own function (comprehensions are part of theirs)
    comprehension: bool  # the user's comprehension: its time belongs to the function around it
    calls: int
    cumulative: float
    inline_time: float  # in the function itself, nothing it called
    callees: list[tuple[_Function, float]] = field(default_factory=list)  # with the time of that call


@dataclass
class _Node:
    """A node of the call tree rebuilt from the profile's edges."""

    function: _Function | None  # None: the root, the whole call
    time: float
    children: list[_Node] = field(default_factory=list)

    @property
    def own(self) -> float:
        return max(self.time - sum(child.time for child in self.children), 0.0)


def profile(
    call: Callable[[], object],
    locator: CallSiteLocator,
    *,
    measured_time: float | None,
    measured_queries: int | None,
    profile_file: Path | None = None,
    title: str = "",
) -> Evidence:
    """Call ``call`` once under cProfile and describe where its time went.

    ``measured_time`` and ``measured_queries`` are the judged call's: a profiled call that ran
    another number of statements, or far faster, did not do the same work, and its profile is
    not evidence of the measured one.
    """
    tracer = active_tracer()
    if tracer is not None:
        return not_taken(f"a tracer was active ({tracer}): a profile under it would show its cost")
    profiled = _profiled_call(call)
    if not isinstance(profiled, tuple):
        return profiled
    profiler, duration, log = profiled
    different = _different_work(duration, log.count, measured_time, measured_queries)
    if different is not None:
        return not_taken(different)
    functions = _functions(profiler.getstats(), locator)
    whole = _tree(functions, duration, FILE_SHARE * duration, FILE_NODES)
    evidence: Evidence = {
        "status": "taken",
        "profiler": PROFILER,
        "duration": round(duration, 6),
        "functions": _top_functions(functions, whole, duration),
        "flame": _flame(_tree(functions, duration, FLAME_SHARE * duration, FLAME_NODES)),
    }
    if profile_file is not None:
        try:
            evidence["file"] = _write_speedscope(profile_file, whole, title)
        except OSError as error:
            evidence["file_error"] = f"could not write {profile_file}: {error.strerror or error}"
    return evidence


def _profiled_call(call: Callable[[], object]) -> tuple[cProfile.Profile, float, QueryLog] | Evidence:
    """The profiler after one call of ``call``, the call's duration and its statements; or the
    evidence that it could not be taken."""
    profiler = cProfile.Profile()
    log = QueryLog()
    previous_log, capture.log = capture.log, log
    start = time.perf_counter()
    try:
        profiler.enable()
    except ValueError as error:  # another profiler holds the hook (Python 3.12+)
        capture.log = previous_log
        return not_taken(f"the profiler could not start: {error}")
    try:
        call()
    except (KeyboardInterrupt, SystemExit):
        raise  # not the test's doing
    except BaseException as error:  # pytest.fail() and pytest.skip() raise BaseExceptions too
        return not_taken(f"the extra call raised {type(error).__name__}: {_first_line(error)}")
    finally:
        profiler.disable()
        capture.log = previous_log
    return profiler, time.perf_counter() - start, log


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else "(no message)"


def _different_work(
    duration: float, queries: int, measured_time: float | None, measured_queries: int | None
) -> str | None:
    """Why the profiled call is not the measured one, or None when nothing says so."""
    if measured_queries is not None and queries != measured_queries:
        return (
            f"the extra call ran {queries} SQL statement{'s' * (queries != 1)} where the measured call "
            f"ran {measured_queries}: the test does not repeat itself (not idempotent)"
        )
    if measured_time is not None and duration * NOT_THE_SAME_WORK < measured_time:
        from .units import format_duration

        return (
            f"the extra call took {format_duration(duration)} where the measured call took "
            f"{format_duration(measured_time)}: it did not redo the work measured "
            "(not idempotent, or a cache filled by the first call)"
        )
    return None


# --- reading the profile ------------------------------------------------------------------


def _functions(stats: Sequence[profiler_entry], locator: CallSiteLocator) -> dict[object, _Function]:
    """Every code object (and built-in) the profile saw, with its callees and their times."""
    functions: dict[object, _Function] = {entry.code: _describe(entry, locator) for entry in stats}
    for entry in stats:
        caller = functions[entry.code]
        for call in entry.calls or ():
            callee = functions.get(call.code)
            if callee is not None:
                caller.callees.append((callee, call.totaltime))
    return functions


def _describe(entry: profiler_entry, locator: CallSiteLocator) -> _Function:
    code = entry.code
    if not isinstance(code, CodeType):
        return _Function(
            _builtin_name(str(code)), "", False, False, entry.callcount, entry.totaltime, entry.inlinetime
        )
    verdict = locator.classify(code.co_filename)
    user = isinstance(verdict, str)
    name = getattr(code, "co_qualname", code.co_name)
    path = verdict if isinstance(verdict, str) else _library_path(code.co_filename)
    return _Function(
        name,
        f"{path}:{code.co_firstlineno}",
        user and code.co_name not in _COMPREHENSIONS,
        user and code.co_name in _COMPREHENSIONS,
        entry.callcount,
        entry.totaltime,
        entry.inlinetime,
    )


def _builtin_name(text: str) -> str:
    """``<method 'execute' of 'sqlite3.Cursor' objects>`` -> ``sqlite3.Cursor.execute``."""
    found = _BUILTIN_METHOD.fullmatch(text)
    if found is not None:
        return f"{found['owner']}.{found['name']}"
    found = _BUILTIN.fullmatch(text)
    return found["name"] if found is not None else text


def _library_path(filename: str) -> str:
    """A library file by its package path: ``sqlalchemy/orm/session.py``."""
    parts = Path(filename).parts
    for marker in ("site-packages", "dist-packages"):
        if marker in parts:
            return "/".join(parts[parts.index(marker) + 1 :])
    return "/".join(parts[-2:])


def _roots(functions: dict[object, _Function]) -> list[_Function]:
    """Functions nothing in the profile called: where the profiled call starts."""
    called = {id(callee) for function in functions.values() for callee, _ in function.callees}
    return [function for function in functions.values() if id(function) not in called]


def _tree(functions: dict[object, _Function], duration: float, smallest: float, most: int) -> _Node:
    """The call tree, breadth first up to ``most`` nodes; calls under ``smallest`` left out.

    A function called from several places shares its callees' time among them in proportion
    to the time of each call; recursion is cut where a function is already on the path.
    """
    roots = sorted(_roots(functions), key=lambda function: -function.cumulative)
    root = _Node(None, duration)
    frontier: list[tuple[_Node, tuple[int, ...], float]] = []
    for function in roots:
        if function.cumulative >= smallest and not function.name.startswith("_lsprof."):
            node = _Node(function, function.cumulative)
            root.children.append(node)
            frontier.append((node, (id(function),), 1.0))
    count = len(root.children)
    while frontier and count < most:
        following = []
        for node, path, scale in frontier:
            caller = node.function
            assert caller is not None
            if len(path) >= MAX_DEPTH or caller.cumulative <= 0:
                continue
            for callee, spent in sorted(caller.callees, key=lambda edge: -edge[1]):
                share = spent * scale
                if share < smallest or id(callee) in path or count >= most:
                    continue
                child = _Node(callee, share)
                node.children.append(child)
                count += 1
                following.append(
                    (child, (*path, id(callee)), share / callee.cumulative if callee.cumulative else 0.0)
                )
        frontier = following
    return root


def _walk(node: _Node, user: _Function | None = None) -> Iterator[tuple[_Node, _Function | None]]:
    """Every node with the innermost user function above it (itself, when it is one)."""
    function = node.function
    if function is not None and function.user:
        user = function
    yield node, user
    for child in node.children:
        yield from _walk(child, user)


def _top_functions(functions: dict[object, _Function], root: _Node, duration: float) -> list[dict[str, Any]]:
    """The user's functions by cumulative time, with what they called in libraries folded in."""
    own: dict[int, float] = {}
    for node, user in _walk(root):
        if user is not None:
            own[id(user)] = own.get(id(user), 0.0) + node.own
    for function in functions.values():  # too small to be in the tree: what it called directly
        if function.user and id(function) not in own:
            own[id(function)] = function.inline_time + sum(
                spent for callee, spent in function.callees if not (callee.user or callee.comprehension)
            )
    user_functions = [function for function in functions.values() if function.user]
    user_functions.sort(key=lambda function: (-function.cumulative, function.call_site))
    return [
        {
            "function": function.name,
            "call_site": function.call_site,
            # at most its cumulative time: the tree shares a callee's time out by proportion
            "own": round(min(own.get(id(function), 0.0), function.cumulative), 6),
            "cumulative": round(function.cumulative, 6),
            "calls": function.calls,
            "share": round(min(function.cumulative / duration, 1.0), 4) if duration > 0 else 0.0,
        }
        for function in user_functions[:TOP_FUNCTIONS]
    ]


def _flame(root: _Node) -> dict[str, Any]:
    """The tree as the HTML flame graph draws it: the user's frames, and one node for each call
    from them into a library (the user's frames it called back kept under it); the frames of
    the test runner above the test are left out."""
    return {
        "function": "(the test call)",
        "call_site": "",
        "time": round(root.time, 6),
        "children": _flame_children(root, in_user=False),
    }


def _flame_children(node: _Node, *, in_user: bool) -> list[dict[str, Any]]:
    shown = []
    for child in node.children:
        function = child.function
        assert function is not None
        if function.user or (function.comprehension and in_user):
            shown.append(_flame_node(child, function, _flame_children(child, in_user=True)))
        elif in_user:  # the entry into a library: its frames dissolved, the user's under it kept
            shown.append(_flame_node(child, function, _flame_children(child, in_user=False)))
        else:
            shown.extend(_flame_children(child, in_user=False))
    return shown


def _flame_node(node: _Node, function: _Function, children: list[dict[str, Any]]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "function": function.name,
        "call_site": function.call_site,
        "time": round(node.time, 6),
    }
    if not function.user and not function.comprehension:
        entry["library"] = True
    if children:
        entry["children"] = children
    return entry


# --- describing it ------------------------------------------------------------------------


def message_lines(evidence: Evidence, count: int = MESSAGE_FUNCTIONS) -> list[str]:
    """What the failure message says: the top functions, or why there is no profile."""
    if evidence.get("status") != "taken":
        return [f"  hot spots not taken: {evidence.get('reason', 'no reason given')}"]
    lines = [f"  hot spots (one more call, under {evidence.get('profiler', PROFILER)}; share of the call):"]
    lines += ["  " + line for line in function_lines(evidence, count)]
    if evidence.get("file"):
        lines.append(f"    profile: {evidence['file']}")
    if evidence.get("file_error"):
        lines.append(f"    profile not written: {evidence['file_error']}")
    return lines


def function_lines(evidence: Evidence, count: int = MESSAGE_FUNCTIONS) -> list[str]:
    """``  cumulative  own  path:line  function`` for the top ``count`` functions, aligned."""
    functions = (evidence.get("functions") or [])[:count]
    if not functions:
        return ["  no function of your own code in the profile"]
    duration = float(evidence.get("duration") or 0.0)
    width = max(len(str(function["call_site"])) for function in functions)
    lines = ["  cumulative  own   call site".ljust(width + 22) + "function"]
    for function in functions:
        own = float(function["own"]) / duration if duration > 0 else 0.0
        lines.append(
            f"  {float(function['share']):>10.0%}  {own:>4.0%}  {function['call_site']!s:<{width}}  "
            f"{function['function']}"
        )
    return lines


def profile_file_name(nodeid: str) -> str:
    """A file name for a test's profile: readable, and unique per node id."""
    import hashlib

    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", nodeid).strip("_")[:120]
    digest = hashlib.sha1(nodeid.encode("utf-8")).hexdigest()[:8]
    return f"{readable}-{digest}.speedscope.json"


def _write_speedscope(path: Path, root: _Node, title: str) -> str:
    """The tree as a speedscope "sampled" profile: one weighted stack per node with time of its
    own. Written atomically; returns the path."""
    import json

    from .reports import write_atomically

    frames: list[dict[str, Any]] = [{"name": "(the test call)"}]
    indices: dict[int, int] = {}
    samples: list[list[int]] = []
    weights: list[float] = []

    def frame_index(function: _Function) -> int:
        known = indices.get(id(function))
        if known is None:
            frame: dict[str, Any] = {"name": function.name}
            if function.call_site:
                file, _, line = function.call_site.rpartition(":")
                frame["file"], frame["line"] = file, int(line)
            frames.append(frame)
            known = indices[id(function)] = len(frames) - 1
        return known

    def visit(node: _Node, stack: list[int]) -> None:
        if node.own > 0:
            samples.append(stack)
            weights.append(round(node.own, 9))
        for child in node.children:
            assert child.function is not None
            visit(child, [*stack, frame_index(child.function)])

    visit(root, [0])
    document = {
        "$schema": "https://www.speedscope.app/file-format-schema.json",
        "shared": {"frames": frames},
        "profiles": [
            {
                "type": "sampled",
                "name": title,
                "unit": "seconds",
                "startValue": 0,
                "endValue": round(sum(weights), 9),
                "samples": samples,
                "weights": weights,
            }
        ],
        "name": title,
        "activeProfileIndex": 0,
        "exporter": "pytest-perfbudget",
    }
    write_atomically(path, json.dumps(document, separators=(",", ":")))
    return str(path)
