"""Where a statement came from: the innermost frame of the user's own code, and its callers.

Frames are walked by hand (``sys._getframe`` and ``f_back``): building a
traceback summary would cost far more than the statement itself. Each code
file is classified once (user code with its display path, SQLAlchemy, the test
runner, generated code, or anything else) and the verdict is cached, so a walk
costs a dictionary lookup per frame.

Under asyncio, SQLAlchemy's ``AsyncEngine`` runs the synchronous engine in a
child greenlet; the coroutine that awaited ``session.execute(...)`` is
suspended in the parent greenlet. When the current stack holds no user frame
the walk goes on from ``greenlet.getcurrent().parent.gr_frame``.

The walk reports three things besides the call site:

- the *entry*: the outermost frame of the run of SQLAlchemy frames the
  statement was sent from, that is the call into SQLAlchemy that it belongs to
  (see :mod:`.hooks` for how it marks one request). Each lazy load or each
  ``session.execute`` in a loop has an entry of its own, also when it is made
  from a library (a serializer that reads relationships) or from excluded
  code. Generated code (SQLAlchemy's decorators compiled at import, file names
  in angle brackets) does not break a run: one ``MetaData.reflect()`` is one
  entry;
- the *callers*: the call sites of the user frames further out, up to the test
  runner (pytest's and pluggy's frames) or :data:`MAX_CALLERS` of them, with
  direct recursion folded. A helper called from three lines of a test has
  three different callers; one called in a loop has the same each time. The
  N+1 analysis counts repeats per call site *and* callers.

Under asyncio, a coroutine run in a task of its own (``gather``, ``create_task``,
graphql-core's resolvers) has the event loop under it, not the code that created
the task. Where the walk meets the loop (asyncio's ``events.py``, which runs every
task step) it goes on from the task's origin, recorded when a measured test
created it (:data:`TASK_ORIGIN`).
"""

from __future__ import annotations

import contextlib
import contextvars
import fnmatch
import os
import site
import sys
import sysconfig
from collections.abc import Sequence
from pathlib import Path
from types import CodeType, FrameType

_PACKAGE_DIR = str(Path(__file__).resolve().parent.parent)  # pytest_perfbudget itself


Site = tuple[str | None, str | None, FrameType | None, tuple[str, ...], "FrameType | int | None"]
"""Where in the user's code: ``path:line`` relative to rootdir, the function there, the entry
frame (the call into SQLAlchemy made from that line, see :mod:`.hooks`), the callers' call
sites, innermost first, and the test's call (see :meth:`CallSiteLocator.locate`). A plain
tuple because one is built for every statement. Frames are only lent: whoever receives them
must not keep them. A statement sent from no frame of the user's code (from a thread or a
task that only runs library code) has no call site, but still its entry: its statements are
one request, as any call into SQLAlchemy's."""

Walk = tuple[
    str | None, str | None, FrameType | None, tuple[str, ...], "FrameType | int | None", FrameType | None
]
"""A :data:`Site`, and the user frame it was found in (None when there is none): see
:meth:`CallSiteLocator.walk`."""

_NOWHERE: Walk = (None, None, None, (), None, None)

MAX_CALLERS = 16
"""Callers kept per statement: enough to tell the lines of a test apart through helpers."""

Origin = tuple[str | None, str | None, tuple[str, ...], int | None]
"""Where an asyncio task was created: the call site, function and callers the walk found from
the frame that created it, and the test's call it belongs to (see :data:`TASK_ORIGIN`)."""

TASK_ORIGIN: contextvars.ContextVar[Origin | None] = contextvars.ContextVar(
    "perfbudget_task_origin", default=None
)
"""The origin of the asyncio task running now, set in the task's own context when a measured
test creates it (see :mod:`.hooks`). A coroutine run in a task has the event loop under it,
not the code that awaited it: where the walk meets the loop, it goes on from here."""


class _Marker:
    """A verdict on code that is not the user's; the name says which."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


OTHER = _Marker("OTHER")  # stdlib, site-packages, this plugin, excluded code
SQLALCHEMY = _Marker("SQLALCHEMY")
RUNNER = _Marker("RUNNER")  # pytest and pluggy: the callers stop there
GENERATED = _Marker("GENERATED")  # compiled from a string: file name in angle brackets
TASK = _Marker("TASK")  # asyncio's events.py: a task's (or callback's) frames start there
_Verdict = str | _Marker  # user code: its display path
_CACHE_LIMIT = 10_000


def _module_file(name: str) -> str | None:
    """The normalized path of an imported module's file."""
    filename: str | None = getattr(sys.modules.get(name), "__file__", None)
    return os.path.normcase(os.path.abspath(filename)) if filename else None


def _package_prefix(name: str) -> str | None:
    """The directory of an imported package, normalized and ending in a separator."""
    module = sys.modules.get(name)
    filename: str | None = getattr(module, "__file__", None)
    if not filename:
        return None
    return os.path.normcase(os.path.dirname(os.path.abspath(filename))) + os.sep


def _library_prefixes() -> tuple[str, ...]:
    """Directories of the standard library, installed packages and their scripts, and the venv."""
    paths = sysconfig.get_paths()
    keys = ("stdlib", "platstdlib", "purelib", "platlib", "scripts")
    prefixes = {paths[key] for key in keys if key in paths}
    with contextlib.suppress(AttributeError):  # some embedded or virtualenv builds lack it
        prefixes.update(site.getsitepackages())
    user_site = getattr(site, "USER_SITE", None)
    if user_site:
        prefixes.add(user_site)
    if sys.prefix != sys.base_prefix:
        prefixes.add(sys.prefix)  # a virtual environment holds no user code, even inside rootdir
    return tuple(sorted({os.path.normcase(os.path.abspath(prefix)) + os.sep for prefix in prefixes}))


class CallSiteLocator:
    """Finds the user's frame for the statement being executed now."""

    def __init__(self, rootdir: Path, exclude: Sequence[str] = ()) -> None:
        self.rootdir = os.path.normcase(os.path.abspath(rootdir))
        self.exclude = tuple(exclude)
        self._libraries = _library_prefixes()
        self._plugin = os.path.normcase(_PACKAGE_DIR) + os.sep
        self._sqlalchemy = _package_prefix("sqlalchemy")
        self._runner = tuple(prefix for prefix in map(_package_prefix, ("_pytest", "pluggy")) if prefix)
        self._events: str | None = None  # asyncio/events.py, once asyncio is imported
        # Keyed on the code's file name: a string hashes once, and the verdict is the file's.
        self._verdicts: dict[str, _Verdict] = {}
        # The call site of a user frame by position (see _site()): the same string each time,
        # with its hash cached, and no line table read per statement. The code is kept beside
        # it, so that the id stays its own.
        self._sites: dict[int, tuple[CodeType, str, str]] = {}

    def classify(self, filename: str) -> _Verdict:
        """The cached verdict on a code file: its display path if it is user code, else a marker."""
        verdict = self._verdicts.get(filename)
        if verdict is None:
            verdict = self._classify_file(filename)
            if len(self._verdicts) >= _CACHE_LIMIT:
                self._verdicts.clear()
            self._verdicts[filename] = verdict
        return verdict

    def _classify_file(self, filename: str) -> _Verdict:
        if not filename or filename.startswith("<"):
            return GENERATED  # SQLAlchemy's generated decorators, frozen importlib, exec'd strings
        path = os.path.normcase(os.path.abspath(filename))
        if self._sqlalchemy is None:
            self._sqlalchemy = _package_prefix("sqlalchemy")
        if self._sqlalchemy is not None and path.startswith(self._sqlalchemy):
            return SQLALCHEMY
        if self._runner and path.startswith(self._runner):
            return RUNNER
        if self._events is None:
            self._events = _module_file("asyncio.events")
        if path == self._events:
            return TASK
        if path.startswith(self._plugin) or path.startswith(self._libraries):
            return OTHER
        parts = path.split(os.sep)
        if "site-packages" in parts or "dist-packages" in parts:
            return OTHER
        shown = self.display_path(path)
        if any(fnmatch.fnmatch(shown, pattern) for pattern in self.exclude):
            return OTHER
        return shown

    def display_path(self, path: str) -> str:
        """``path`` relative to rootdir with ``/`` separators; absolute when outside rootdir."""
        if path.startswith(self.rootdir + os.sep):
            path = path[len(self.rootdir) + 1 :]
        return path.replace(os.sep, "/")

    def locate(self, frame: FrameType | None) -> Site:
        """Walk out from ``frame`` (then up the greenlet parents) to the first user frame: see :meth:`walk`."""
        call_site, function, entry, callers, test_call, _ = self.walk(frame)
        return call_site, function, entry, callers, test_call

    def walk(self, frame: FrameType | None) -> Walk:
        """Walk out from ``frame`` (then up the greenlet parents) to the first user frame.

        The *test's call* is the frame of the user's code that the test function called
        (directly, or through code that is not the user's, such as a benchmark fixture's
        loop): the call of the code under test that this statement belongs to. It is known
        only when the walk reaches the test runner with two user frames or more (else
        None), and is an ``int`` when it comes from a task's origin (an id already marked).

        The entry is the outermost frame of the first run of SQLAlchemy frames met on
        the way (generated code inside the run does not end it; other code does): the
        call into SQLAlchemy that this statement belongs to. The callers are the call
        sites of the user frames further out, up to the test runner; direct recursion
        is folded (a site equal to the one before it is left out), so that a recursive
        loader repeats with the same callers at every depth.

        Last comes the user frame itself (None when there is none), from which
        :meth:`outward` found the rest.

        Written flat and lean: it runs for every frame between a statement and the
        test function, for every statement measured. A frame costs its ``f_back`` (on
        CPython 3.11+, that makes its frame object), its code's file name and a
        subscript (a file not seen yet raises ``KeyError``, once); the run of SQLAlchemy
        frames, most of a walk, has a loop of its own that does nothing else.
        """
        verdicts = self._verdicts
        sqlalchemy, generated, task = SQLALCHEMY, GENERATED, TASK
        entry: FrameType | None = None
        glet: object = None
        # Out to the first user frame, through the first run of SQLAlchemy frames.
        while True:
            if frame is None:
                frame, glet = next_stack(glet)
                if frame is None:
                    return _NOWHERE if entry is None else (None, None, entry, (), None, None)
            try:
                verdict = verdicts[frame.f_code.co_filename]
            except KeyError:
                verdict = self.classify(frame.f_code.co_filename)
            if verdict is sqlalchemy and entry is None:  # the run, to its end
                while True:
                    if verdict is sqlalchemy:
                        entry = frame
                    elif verdict is not generated:
                        break
                    frame = frame.f_back
                    if frame is None:
                        frame, glet = next_stack(glet)
                        if frame is None:
                            return None, None, entry, (), None, None
                    try:
                        verdict = verdicts[frame.f_code.co_filename]
                    except KeyError:
                        verdict = self.classify(frame.f_code.co_filename)
            if verdict.__class__ is str:
                break
            if verdict is task:
                origin = TASK_ORIGIN.get()
                if origin is not None:  # the task's own frames hold no user code: its creator's
                    return origin[0], origin[1], entry, origin[2], origin[3], None
            frame = frame.f_back
        call_site, function, callers, test_call = self.outward(frame, glet)
        return call_site, function, entry, callers, test_call, frame

    def outward(
        self, user: FrameType, glet: object = None
    ) -> tuple[str | None, str | None, tuple[str, ...], FrameType | int | None]:
        """Out from ``user``, a frame of the user's code on the stack of greenlet ``glet`` (None:
        this thread's own), to the test runner: the frame's call site and function, the
        callers, and the test's call (see :meth:`walk`)."""
        verdicts, sites = self._verdicts, self._sites
        runner, task = RUNNER, TASK
        code = user.f_code
        found = sites.get(id(code) + user.f_lasti)
        if found is None or found[0] is not code:
            found = self._site(user, code, self.classify(code.co_filename))
        # The user frames outermost (the test function, once the runner is reached) and next
        # to it (the test's call).
        callers: tuple[str, ...] = ()
        outer = user
        inner: FrameType | None = None
        test_call: FrameType | int | None = None
        frame = user
        while True:
            back = frame.f_back
            if back is None:
                back, glet = next_stack(glet)
                if back is None:
                    break
            frame = back
            code = frame.f_code
            try:
                verdict = verdicts[code.co_filename]
            except KeyError:
                verdict = self.classify(code.co_filename)
            if verdict.__class__ is str:
                inner, outer = outer, frame
                known = sites.get(id(code) + frame.f_lasti)
                if known is None or known[0] is not code:
                    known = self._site(frame, code, verdict)
                if not callers or callers[-1] != known[1]:
                    callers += (known[1],)
                    if len(callers) == MAX_CALLERS:
                        break
            elif verdict is runner:
                test_call = inner
                break
            elif verdict is task:
                origin = TASK_ORIGIN.get()
                if origin is not None:
                    callers = _followed(callers, origin)
                    if origin[3] is not None:
                        test_call = origin[3]
                    else:  # the test function is the creator's only user frame, or there is none
                        test_call = outer if origin[0] is not None else inner
                    break
        return found[1], found[2], callers, test_call

    def _site(self, frame: FrameType, code: CodeType, verdict: _Verdict) -> tuple[CodeType, str, str]:
        """Where ``frame`` of user code is (code, ``path:line``, function), cached by position.

        The cache key, the code's id plus the frame's last instruction, may be shared by
        two positions of different code objects: the code kept in the value tells them
        apart (the later one replaces the earlier).
        """
        known = (code, f"{verdict}:{frame.f_lineno}", _function_name(frame))
        if code.co_name not in _COMPREHENSIONS:  # else the function's name depends on the caller
            if len(self._sites) >= _CACHE_LIMIT:
                self._sites.clear()
            self._sites[id(code) + frame.f_lasti] = known
        return known


def _followed(callers: tuple[str, ...], origin: Origin) -> tuple[str, ...]:
    """``callers`` continued with a task's origin (its call site, then its callers), recursion folded."""
    site, _, further, _ = origin
    for caller in (site, *further) if site is not None else further:
        if len(callers) == MAX_CALLERS:
            break
        if not callers or callers[-1] != caller:
            callers += (caller,)
    return callers


_COMPREHENSIONS = frozenset({"<listcomp>", "<dictcomp>", "<setcomp>", "<genexpr>"})


def _function_name(frame: FrameType) -> str:
    """The frame's function; a comprehension's is the function around it (as Python 3.12+ says)."""
    while frame.f_code.co_name in _COMPREHENSIONS and frame.f_back is not None:
        frame = frame.f_back
    return frame.f_code.co_name


def next_stack(glet: object) -> tuple[FrameType | None, object]:
    """The innermost frame of the next greenlet out from ``glet`` (the current one when None).

    ``(None, None)`` when there is no such greenlet, or no frame in any further out.
    """
    module = sys.modules.get("greenlet")
    if module is None:
        return None, None
    if glet is None:
        glet = module.getcurrent()
    while True:
        glet = getattr(glet, "parent", None)
        if glet is None:
            return None, None
        frame: FrameType | None = getattr(glet, "gr_frame", None)
        if frame is not None:
            return frame, glet
