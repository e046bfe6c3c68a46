"""Process-wide hooks on SQLAlchemy's dialect classes.

Every statement SQLAlchemy sends goes through three methods of the engine's
dialect: ``do_execute``, ``do_executemany`` and ``do_execute_no_params``, the
last calls before the driver's cursor. Wrapping them on the dialect *classes*
reaches every engine, sync or async (``AsyncEngine.sync_engine`` has the same
dialect), created before or after the wrapping, in any thread, and costs far
less than a cursor event listener, which would also take SQLAlchemy off its
fast path. Transaction control never reaches those methods, so ``do_begin``,
``do_commit``, ``do_rollback`` and the savepoint methods are wrapped too, and
``initialize`` marks the dialect's own set-up queries on a first connect.
``asyncio.BaseEventLoop.create_task`` is wrapped as well, so that a statement
sent from a task has callers out to the line that created the task.

A wrapper records only while :data:`~pytest_perfbudget.queries.capture` has a
log (a test's round is being measured); otherwise it costs one attribute read
and a call. Dialect classes defined after installation (SQLAlchemy imports a
driver's dialect on the first ``create_engine``) are wrapped as they are
created, through ``DefaultDialect.__init_subclass__``.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import itertools
import sys
from collections.abc import Callable, Sequence
from time import perf_counter
from types import CodeType, FrameType, MethodType
from typing import Any, cast

from ..queries import DETAIL_LIMIT, QueryLog, StatementKind, capture, place_of
from .callsite import TASK_ORIGIN, CallSiteLocator, Origin
from .fingerprint import Quoting, quoting_of, shapes_for

EXECUTE_METHODS = ("do_execute", "do_executemany", "do_execute_no_params")
TRANSACTION_METHODS = {"do_begin": "BEGIN", "do_commit": "COMMIT", "do_rollback": "ROLLBACK"}
SAVEPOINT_METHODS = {
    "do_savepoint": "SAVEPOINT",
    "do_rollback_to_savepoint": "ROLLBACK TO SAVEPOINT",
    "do_release_savepoint": "RELEASE SAVEPOINT",
}
SETUP_METHODS = ("initialize",)
_MARK = "__perfbudget_wrapped__"

# Read on every statement: module globals, one lookup each.
_getframe = sys._getframe
_gettrace = sys.gettrace
_intern = sys.intern
"""A place found again (a new frame of the same code, another walk) is the same string object as
before, so the N+1 analysis, which counts and finds places in the list of a log's places, compares
them by identity (see :func:`~pytest_perfbudget.queries.place_of`)."""

AnyFunction = Callable[..., Any]


def _traces_nothing(request: int, frame: object, event: str, arg: object) -> None:
    """The marker of one call into SQLAlchemy, bound to its request's number: put on the call's
    entry frame, so it lives exactly as long as the call.

    A frame cannot be weakly referenced, and holding it would keep its locals (and,
    through ``f_back``, the user's frames and theirs) alive for as long as it is held:
    objects a test let go would not be collected while it is measured. So the
    recorder keeps no frame. It sets a marker (this function bound to a number,
    :func:`_marker_for`) as the entry frame's ``f_trace``, a slot every frame has and that
    is cleared with it: a statement whose entry frame carries a marker belongs to that
    marker's request. A new call into SQLAlchemy has a new frame without one, even when
    CPython reuses the address of the last.

    The same marker, with a number of its own, tells a test's call apart from the next,
    and a frame of the user's code whose callers the recorder keeps (see :data:`Holder`)
    from another frame of the same code.

    While a tracer is active (a debugger, coverage), ``f_trace`` is the tracer's: the
    number goes into the frame's locals instead, under :data:`LOCALS_KEY`, which costs
    more. A bound method because it is callable, as ``f_trace`` should be, made and freed
    in C, and holds nothing but the number: should a tracer call it, it traces nothing.
    The records keep the plain number.
    """
    return None


_marker_for = _traces_nothing.__get__
"""The marker of request ``number`` (see :func:`_traces_nothing`)."""

_next_request = itertools.count(1).__next__
"""A new request's number; they grow from one to the next."""

LOCALS_KEY = "__perfbudget_request__"


def _marked(marker: object) -> int | None:
    """The request a frame's ``f_trace`` marks, if it is a marker (see :func:`_traces_nothing`)."""
    if type(marker) is MethodType and marker.__func__ is _traces_nothing:
        return cast(int, marker.__self__)
    return None


NOT_REUSED = object()
"""The mark of a place's site that may not be reused: no frame's ``f_trace`` is ever this (see
:meth:`Recorder._mark_running`)."""

TEXTS_KEPT = 4096
"""Statement texts whose shape and place a recorder keeps per quoting; past that, they start over."""

PLACES_KEPT = 10_000
"""Statement shapes whose last place is kept (see :data:`Holder`); past that, they start over."""

Holder = list[Any]
"""Where statements of one shape were last sent from, to tell the same place the next time:
``[user depth, user code, user instruction, entry depth, parent place, mark, test's call, place]``,
read and replaced whole (one bytecode each way: another thread may replace it meanwhile), and
flat, so that one unpacking reads it.

All None but the last three before the first walk. On the recorder's own stack, the first four
tell the user frame by its depth (counted from :meth:`Recorder.execution`), code and instruction,
and the entry by its depth; from a greenlet's stack (``AsyncSession``), the parent place is a
:data:`ParentPlace` and the first four are None. The test's call and ``place``
(:func:`~pytest_perfbudget.queries.place_of` the shape and the site) are what was found out from
the user frame, reused while that very frame runs: the frame whose ``f_trace`` is ``mark`` (see
:func:`_traces_nothing`)."""


ParentPlace = tuple[int, CodeType, Callable[[], Any], int, int, CodeType, int]
"""Where on a greenlet's stack (``AsyncSession``) a statement was sent from: ``(root depth, root
code, getcurrent, entry steps, user steps, user code, user instruction)``.

The root of the greenlet's own stack is told by its depth from :meth:`Recorder.execution` and its
code (SQLAlchemy's method that the greenlet runs, not the user's function of a ``run_sync``); the
entry by its steps out from the parent greenlet's innermost frame, and the user frame by its steps
on from the entry, code and instruction; ``getcurrent`` is greenlet's, which the parent is found
from (see :func:`_place`). As on the recorder's own stack, the user frame is what is checked: the
frames between it and the parent's innermost frame are those of the call it is making (the entry
among them). A plain tuple: one unpacking reads it (a named tuple would be unpacked through an
iterator)."""


_RESUMED_ANYWHERE = inspect.CO_GENERATOR | inspect.CO_ASYNC_GENERATOR | inspect.CO_ITERABLE_COROUTINE


class Recorder:
    """Turns one driver call into a :data:`~pytest_perfbudget.queries.Record` in the log being measured."""

    def __init__(self) -> None:
        self.locator: CallSiteLocator | None = None
        # The locator while call sites are wanted (see call_sites), read once per statement.
        self.locating: CallSiteLocator | None = None
        self._call_sites = True
        self.setup: set[int] = set()  # SQLAlchemy connections inside dialect.initialize()
        self.adhoc_connection: type | None = None  # the connection class of a first connect
        # Under --perf-explain: shown each query's shape, text and execution context (see .explain).
        self.observer: Callable[[str, str, Any], None] | None = None
        # Per quoting, statement text to (shape, kind, holder): one lookup per statement. The
        # holder is per shape, not per text: a statement with its values written into it is
        # the same place each time.
        self._texts: dict[Quoting, dict[str, tuple[str, StatementKind, Holder]]] = {}
        self._holders: dict[str, Holder] = {}

    def configure(self, locator: CallSiteLocator) -> None:
        """Use ``locator`` from now on."""
        self.locator = locator
        self.locating = locator if self._call_sites else None
        self._forget_places()

    @property
    def call_sites(self) -> bool:
        """Whether statements get call sites (the benchmark switches them off to price the walk)."""
        return self._call_sites

    @call_sites.setter
    def call_sites(self, wanted: bool) -> None:
        self._call_sites = wanted
        self.locating = self.locator if wanted else None

    def execution(
        self,
        log: QueryLog,
        dialect: Any,
        sql: str,
        duration: float,
        cursor: Any,
        context: Any,
        parameters: int,
        batch: int,
        executemany: bool,
    ) -> None:
        """Record one cursor execution.

        Written flat, and every bytecode counted: it runs for every statement measured, and
        it is most of what the plugin adds to a statement. The usual statement comes from a
        place seen before (see :data:`Holder`): one lookup finds its shape and that place,
        one frame looked up by depth tells it is the same, and the site found the last time
        is reused while the same user frame runs.
        """
        try:
            shape, kind, holder = dialect._perfbudget_texts[sql]
        except (AttributeError, KeyError):
            shape, kind, holder = self._text(dialect, sql)
        if self.setup and (context is None or id(getattr(context, "root_connection", None)) in self.setup):
            kind = "setup"
        try:
            rows = cursor.rowcount  # kept as the driver says it: see Statement
        except Exception:  # a driver may refuse once the cursor is spent; the count is optional
            rows = None
        request: int | None  # None: a statement outside any call into SQLAlchemy
        entry: FrameType | None  # the call into SQLAlchemy this statement belongs to (see _traces_nothing)
        locator = self.locating
        if locator is None:
            test_call, place, request = None, shape, None  # each statement a request of its own
        else:
            user_depth, user_code, user_lasti, entry_depth, parent, mark, test_call, place = holder
            user = None
            if user_depth is not None:  # on this stack: the same code at the same instruction?
                try:
                    user = _getframe(user_depth)
                except ValueError:  # a shallower stack
                    user = None
                else:
                    if user.f_trace is mark:  # the very frame found the last time
                        if user.f_lasti == user_lasti:
                            entry = _getframe(entry_depth)
                        else:
                            user = None
                    elif user.f_code is user_code and user.f_lasti == user_lasti:  # another frame of it
                        entry = _getframe(entry_depth)
                        test_call, place = self._outward(holder, user, None, shape)
                    else:
                        user = None
            elif parent is not None:  # on the parent greenlet's stack (see ParentPlace)
                root_depth, root_code, getcurrent, entry_steps, user_steps, user_code, user_lasti = parent
                try:  # a shallower stack: ValueError
                    root = _getframe(root_depth)
                    if root.f_back is None and root.f_code is root_code:
                        glet = getcurrent().parent
                        frame: Any = glet.gr_frame  # None on the way out has no f_back: AttributeError
                        while entry_steps > 0:  # not range(): making one costs more than the steps it counts
                            frame = frame.f_back
                            entry_steps -= 1
                        entry = frame
                        while user_steps > 0:
                            frame = frame.f_back
                            user_steps -= 1
                        if frame.f_code is user_code and frame.f_lasti == user_lasti:
                            user = frame
                except (ValueError, AttributeError):
                    user = None
                if user is not None and user.f_trace is not mark:  # another frame of that code
                    test_call, place = self._outward(holder, user, glet, shape)
            if user is None:
                test_call, entry, place = self._walk(holder, shape)
            if entry is None:
                request = None  # a statement of no request: a request of its own
            else:
                marker = entry.f_trace
                if marker is None and _gettrace() is None:
                    request = _next_request()
                    entry.f_trace = _marker_for(request)
                else:  # a request seen before, or maybe (see QueryLog)
                    request = _marked(marker)
                    if request is None:
                        request = self._request_in_locals(entry)
                    repeated = log.repeated_requests
                    if repeated is not None:
                        repeated.add(request)
        observer = self.observer
        if observer is not None and kind == "query":
            observer(shape, sql, context)
        record = (sql, shape, duration, parameters, executemany, kind, rows, request, batch, test_call, place)
        records = log.records
        if kind == "query" and len(records) < DETAIL_LIMIT:
            records.append(record)
        else:
            log.add(record)

    def _text(self, dialect: Any, sql: str) -> tuple[str, StatementKind, Holder]:
        """The shape, kind and place holder of ``sql``, kept for the next time in the dialect's
        table of texts (one per quoting: see :func:`~.fingerprint.quoting_of`; the dialect drops
        it on its next ``initialize``, which may find another SQL mode)."""
        quoting = quoting_of(dialect)
        texts = dialect.__dict__.get("_perfbudget_texts")
        if texts is None:
            texts = dialect._perfbudget_texts = self._texts.setdefault(quoting, {})
        shape, kind = shapes_for(quoting).fingerprint(sql)
        holder = self._holders.get(shape)
        if holder is None:
            if len(self._holders) >= PLACES_KEPT:
                self._forget_places()
            holder = self._holders[shape] = [None, None, None, None, None, NOT_REUSED, None, shape]
        if len(texts) >= TEXTS_KEPT:
            texts.clear()  # statements with inlined values would otherwise grow it without bound
        known = texts[sql] = (shape, kind, holder)
        return known

    def _forget_places(self) -> None:
        """Start over: every text is looked up again, and every place found again."""
        for texts in self._texts.values():
            texts.clear()  # the dialects hold these very tables
        self._holders.clear()

    def _walk(self, holder: Holder, shape: str) -> tuple[Any, FrameType | None, str]:
        """The test's call, entry and place of the statement being recorded, found by walking the
        stack out from the wrapper's caller; where it was found is kept for the next statement of
        its shape (see :meth:`_remember`)."""
        locator = self.locating
        assert locator is not None  # called from execution() when it is set
        test_call: Any  # a frame, marked here, or the number of one (see _traces_nothing)
        call_site, function, entry, callers, test_call, user = locator.walk(_getframe(3))
        if test_call is not None and type(test_call) is not int:  # a frame
            test_call = self._mark_test_call(test_call)
        place = _intern(place_of(shape, (call_site, function, callers)))  # see place_of
        if user is not None and entry is not None:
            self._remember(holder, user, entry, test_call, place)
        return test_call, entry, place

    def _outward(self, holder: Holder, user: FrameType, glet: object, shape: str) -> tuple[Any, str]:
        """The test's call and place of a statement sent from the place ``holder`` keeps, from
        another frame of the same code (a helper called per item): only the frames out from
        ``user`` are walked."""
        locator = self.locating
        assert locator is not None  # called from execution() when it is set
        test_call: Any  # a frame, marked here, or the number of one (see _traces_nothing)
        call_site, function, callers, test_call = locator.outward(user, glet)
        if test_call is not None and type(test_call) is not int:  # a frame
            test_call = self._mark_test_call(test_call)
        place = _intern(place_of(shape, (call_site, function, callers)))  # see place_of
        holder[5:] = (self._mark_running(user), test_call, place)
        return test_call, place

    def _remember(
        self, holder: Holder, user: FrameType, entry: FrameType, test_call: Any, place: str
    ) -> None:
        """Keep in ``holder`` where a statement was sent from, found by walking the stack, so
        that the next statement of its shape from the same place is known by a frame looked up
        by depth (see :func:`_place`). From there, only the frames out from the user's are
        walked again, and not even those while the very same user frame runs. A loop over
        lazy loads walks SQLAlchemy's frames once, not once per load."""
        where = _place(_getframe(2), user, entry)  # depths count from execution()
        if where is None:
            return
        if len(where) == 4:  # on this stack
            holder[:] = (*where, None, self._mark_running(user), test_call, place)
        else:
            holder[:] = (None, None, None, None, where, self._mark_running(user), test_call, place)

    def _mark_running(self, frame: FrameType) -> object:
        """``frame``'s own marker (see :func:`_traces_nothing`), if what lies out from it stays the
        same for as long as it runs: not for a generator, which whoever iterates it next resumes
        under other callers. A coroutine is resumed by what awaits it, or by its task's step. Else
        (or under a tracer, which owns ``f_trace``) :data:`NOT_REUSED`."""
        if frame.f_code.co_flags & _RESUMED_ANYWHERE or self._mark_test_call(frame) is None:
            return NOT_REUSED
        return frame.f_trace

    def task_origin(self, creator: FrameType) -> Origin | None:
        """Where a task created from ``creator`` comes from, for the callers of its statements."""
        locator = self.locating
        if locator is None:
            return None
        call_site, function, _, callers, test_call = locator.locate(creator)
        if test_call is None or isinstance(test_call, int):
            return call_site, function, callers, test_call
        return call_site, function, callers, self._mark_test_call(test_call)

    def _mark_test_call(self, frame: FrameType) -> int | None:
        """The test's call ``frame`` is, marked as an entry is (see :func:`_traces_nothing`).

        Not in the locals under a tracer: they are the user's, and ``locals()`` would show it.
        Such statements have no test's call, and their repeats are taken for loops.
        """
        marker = frame.f_trace
        if marker is None:
            if _gettrace() is not None:
                return None
            number = _next_request()
            frame.f_trace = _marker_for(number)
            return number
        return _marked(marker)

    @staticmethod
    def _request_in_locals(entry: FrameType) -> int:
        """The request marked in ``entry``'s locals, marked now if new (see :func:`_traces_nothing`)."""
        namespace = entry.f_locals
        request = namespace.get(LOCALS_KEY)
        if type(request) is not int:
            request = namespace[LOCALS_KEY] = _next_request()
        return request

    def control(self, log: QueryLog, sql: str, duration: float, kind: StatementKind) -> None:
        """Record transaction control (``BEGIN``, ``COMMIT``, savepoints), shown and not counted."""
        place = sql
        locator = self.locating
        if locator is not None:
            call_site, function, _, callers, _ = locator.locate(_getframe(2))
            place = place_of(sql, (call_site, function, callers))
        log.add((sql, sql, duration, 0, False, kind, None, None, 1, None, place))


recorder = Recorder()


def _place(
    start: FrameType, user: FrameType, entry: FrameType
) -> tuple[int, CodeType, int, int] | ParentPlace | None:
    """How to tell that a later statement comes from the same place (see :data:`Holder`):
    ``user`` by its depth from ``start`` (the recorder's frame), with its code and
    instruction, and ``entry`` by its depth; on a greenlet's stack (``AsyncSession``), a
    :data:`ParentPlace`.

    The frames between the statement and the user frame held no user code when the stack was
    walked (``user`` is the first found), and they are not looked at again: the same code at
    the same instruction in the user frame, at the same depth, is taken for the same place.
    Every frame deeper than the user frame belongs to the call that frame is making, so the
    frame at the entry's depth is one of this call's, whichever it is. None when the entry is
    not where this can find it again.
    """
    frame: FrameType | None = start
    root = start
    depth = 0
    entry_depth = None
    while frame is not None and frame is not user:
        if frame is entry:
            entry_depth = depth
        root = frame
        frame = frame.f_back
        depth += 1
    if frame is not None:
        if entry_depth is None:
            return None
        return (depth, user.f_code, user.f_lasti, entry_depth)
    if entry_depth is not None:  # the entry on the greenlet's own stack, the user frame beyond it
        return None
    module = sys.modules.get("greenlet")
    if module is None:
        return None
    getcurrent = module.getcurrent
    frame = getattr(getcurrent().parent, "gr_frame", None)
    steps = 0
    entry_steps = None
    while frame is not None and frame is not user:
        if frame is entry:
            entry_steps = steps
        frame = frame.f_back
        steps += 1
    if frame is None or entry_steps is None:
        return None
    return (
        depth - 1,
        root.f_code,
        getcurrent,
        entry_steps,
        steps - entry_steps,
        user.f_code,
        user.f_lasti,
    )


def _size(parameters: Any) -> int:
    try:
        return len(parameters)
    except TypeError:  # None, or a driver-specific object
        return 0


def _parameter_sets(parameters: object) -> tuple[int, int]:
    """Bind values per set and number of sets of an executemany."""
    if not isinstance(parameters, Sequence) or not parameters:
        return 0, _size(parameters)
    return _size(parameters[0]), len(parameters)


# --- the wrappers -------------------------------------------------------------------
#
# A dialect that overrides a hooked method and calls super() has both methods wrapped; only
# the outermost wrapper records. A wrapper is the outermost when it is what the instance's
# class resolves the name to (or what it resolves to was never wrapped). Only a wrapper whose
# method a subclass overrides needs to look: the execute wrappers are told so by a flag, set
# when the overriding subclass is wrapped (see Overridden), and look up nothing otherwise.


class Overridden:
    """Whether a subclass overrides the method an execute wrapper wraps (see :func:`instrument_class`)."""

    __slots__ = ("flag",)

    def __init__(self) -> None:
        self.flag = False


def _is_inner(resolved: object, wrapper: object) -> bool:
    return resolved is not wrapper and getattr(resolved, _MARK, False) is True


def _wrap_execute(original: AnyFunction, overridden: Overridden) -> AnyFunction:
    @functools.wraps(original)
    def do_execute(self: Any, cursor: Any, statement: str, parameters: Any, context: Any = None) -> Any:
        __tracebackhide__ = True  # a local assignment: free, and pytest shows the user no plugin frame
        log = capture.log
        if log is None:
            return original(self, cursor, statement, parameters, context)
        if overridden.flag and _is_inner(type(self).do_execute, do_execute):
            return original(self, cursor, statement, parameters, context)
        start = perf_counter()
        try:
            return original(self, cursor, statement, parameters, context)
        finally:
            duration = perf_counter() - start
            try:  # _size(), inline
                size = len(parameters)
            except TypeError:
                size = 0
            recorder.execution(log, self, statement, duration, cursor, context, size, 1, False)

    return do_execute


def _wrap_executemany(original: AnyFunction, overridden: Overridden) -> AnyFunction:
    @functools.wraps(original)
    def do_executemany(self: Any, cursor: Any, statement: str, parameters: Any, context: Any = None) -> Any:
        __tracebackhide__ = True
        log = capture.log
        if log is None:
            return original(self, cursor, statement, parameters, context)
        if overridden.flag and _is_inner(type(self).do_executemany, do_executemany):
            return original(self, cursor, statement, parameters, context)
        start = perf_counter()
        try:
            return original(self, cursor, statement, parameters, context)
        finally:
            duration = perf_counter() - start
            per_set, batch = _parameter_sets(parameters)
            recorder.execution(log, self, statement, duration, cursor, context, per_set, batch, True)

    return do_executemany


def _wrap_execute_no_params(original: AnyFunction, overridden: Overridden) -> AnyFunction:
    @functools.wraps(original)
    def do_execute_no_params(self: Any, cursor: Any, statement: str, context: Any = None) -> Any:
        __tracebackhide__ = True
        log = capture.log
        if log is None:
            return original(self, cursor, statement, context)
        if overridden.flag and _is_inner(type(self).do_execute_no_params, do_execute_no_params):
            return original(self, cursor, statement, context)
        start = perf_counter()
        try:
            return original(self, cursor, statement, context)
        finally:
            duration = perf_counter() - start
            recorder.execution(log, self, statement, duration, cursor, context, 0, 1, False)

    return do_execute_no_params


def _wrap_transaction(original: AnyFunction, name: str) -> AnyFunction:
    """``do_begin``/``do_commit``/``do_rollback(dbapi_connection)``."""
    sql = TRANSACTION_METHODS[name]
    if name == "do_begin" and original.__qualname__ == "DefaultDialect.do_begin":
        sql = "BEGIN (implicit)"  # the DBAPI begins by itself; SQLAlchemy's echo says the same

    @functools.wraps(original)
    def wrapper(self: Any, dbapi_connection: Any) -> Any:
        __tracebackhide__ = True
        log = capture.log
        if log is None or _is_inner(getattr(type(self), name), wrapper):
            return original(self, dbapi_connection)
        start = perf_counter()
        try:
            return original(self, dbapi_connection)
        finally:
            duration = perf_counter() - start
            # The rollback that ends a first connect's initialize() runs on an ad-hoc connection.
            adhoc = recorder.adhoc_connection
            setup = adhoc is not None and type(dbapi_connection) is adhoc
            recorder.control(log, sql, duration, "setup" if setup else "transaction")

    return wrapper


def _wrap_savepoint(original: AnyFunction, name: str) -> AnyFunction:
    """``do_savepoint(connection, name)`` and friends.

    The default implementation executes the savepoint as a statement, which the
    execute wrappers already record; only a dialect that goes around them is
    recorded here.
    """
    verb = SAVEPOINT_METHODS[name]

    @functools.wraps(original)
    def wrapper(self: Any, connection: Any, savepoint: str, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        log = capture.log
        if log is None or _is_inner(getattr(type(self), name), wrapper):
            return original(self, connection, savepoint, *args, **kwargs)
        recorded = len(log)
        start = perf_counter()
        try:
            return original(self, connection, savepoint, *args, **kwargs)
        finally:
            duration = perf_counter() - start
            if len(log) == recorded:
                recorder.control(log, f"{verb} {savepoint}", duration, "transaction")

    return wrapper


def _wrap_initialize(original: AnyFunction) -> AnyFunction:
    """``initialize(connection)``: statements on ``connection`` meanwhile are set-up queries."""

    @functools.wraps(original)
    def initialize(self: Any, connection: Any) -> Any:
        __tracebackhide__ = True
        key = id(connection)
        if key in recorder.setup:
            return original(self, connection)  # a subclass calling super().initialize()
        recorder.setup.add(key)
        try:
            return original(self, connection)
        finally:
            recorder.setup.discard(key)
            self.__dict__.pop("_perfbudget_texts", None)  # quoting as the SQL mode just detected says

    return initialize


def _wrap_create_task(original: AnyFunction) -> AnyFunction:
    """``BaseEventLoop.create_task``: while a round is measured, the new task's context records
    where it was created (:data:`~.callsite.TASK_ORIGIN`), so that its statements' callers go
    on to the test's line. A task given its own context, or made by a loop's task factory
    (which may not take one), is left as it is."""

    @functools.wraps(original)
    def create_task(self: Any, coro: Any, *, name: str | None = None, context: Any = None) -> Any:
        __tracebackhide__ = True
        if capture.log is None or context is not None or self.get_task_factory() is not None:
            return original(self, coro, name=name, context=context)
        origin = recorder.task_origin(_getframe(1))
        context = contextvars.copy_context()  # what the task would copy itself
        context.run(TASK_ORIGIN.set, origin)
        return original(self, coro, name=name, context=context)

    return create_task


def _install_task_hook() -> None:
    """Wrap ``asyncio.BaseEventLoop.create_task`` (Python 3.11+: a task takes a context)."""
    if sys.version_info < (3, 11):
        return
    import asyncio

    original = asyncio.BaseEventLoop.__dict__["create_task"]
    asyncio.BaseEventLoop.create_task = _wrap_create_task(original)
    _originals.append((asyncio.BaseEventLoop, "create_task", original))


def _wrapper_for(name: str, original: AnyFunction, overridden: Overridden) -> AnyFunction:
    if name == "do_execute":
        return _wrap_execute(original, overridden)
    if name == "do_executemany":
        return _wrap_executemany(original, overridden)
    if name == "do_execute_no_params":
        return _wrap_execute_no_params(original, overridden)
    if name in TRANSACTION_METHODS:
        return _wrap_transaction(original, name)
    if name in SAVEPOINT_METHODS:
        return _wrap_savepoint(original, name)
    return _wrap_initialize(original)


HOOKED = (*EXECUTE_METHODS, *TRANSACTION_METHODS, *SAVEPOINT_METHODS, *SETUP_METHODS)

# --- installing -----------------------------------------------------------------------

_originals: list[tuple[type, str, AnyFunction]] = []
_overridden: dict[tuple[type, str], Overridden] = {}  # per class and method wrapped
_state: dict[str, Any] = {"installed": False, "skip": ()}


def is_installed() -> bool:
    return bool(_state["installed"])


def instrument_class(cls: type) -> None:
    """Wrap the hooked methods that ``cls`` or a class in its MRO defines itself, once each, and
    flag the wrappers of methods that a subclass overrides (see :class:`Overridden`)."""
    for klass in cls.__mro__:
        if klass is object or klass in _state["skip"]:
            continue
        for name in HOOKED:
            original = klass.__dict__.get(name)
            if original is None or not inspect.isfunction(original) or getattr(original, _MARK, False):
                continue
            overridden = _overridden[klass, name] = Overridden()
            wrapper = _wrapper_for(name, original, overridden)
            setattr(wrapper, _MARK, True)
            setattr(klass, name, wrapper)
            _originals.append((klass, name, original))
    for klass in cls.__mro__:
        for name in HOOKED:
            if name in klass.__dict__:
                for base in klass.__mro__[1:]:
                    if (base, name) in _overridden:
                        _overridden[base, name].flag = True


def _subclasses(cls: type) -> list[type]:
    found: list[type] = []
    pending = [cls]
    while pending:
        current = pending.pop()
        found.append(current)
        pending.extend(current.__subclasses__())
    return found


def install() -> None:
    """Wrap every dialect class, present and future. Needs SQLAlchemy imported; idempotent."""
    if _state["installed"]:
        return
    from sqlalchemy import pool
    from sqlalchemy.engine.default import DefaultDialect

    recorder.adhoc_connection = getattr(pool, "_AdhocProxiedConnection", None)
    _state["skip"] = DefaultDialect.__mro__[1:]  # the Dialect interface: documentation only
    for cls in _subclasses(DefaultDialect):
        instrument_class(cls)

    def init_subclass(cls: Any, /, **kwargs: Any) -> None:
        super(DefaultDialect, cls).__init_subclass__(**kwargs)
        instrument_class(cls)

    DefaultDialect.__init_subclass__ = classmethod(init_subclass)  # type: ignore[method-assign,assignment]
    _install_task_hook()
    _state["installed"] = True


def uninstall() -> None:
    """Restore every wrapped method (for tests and the benchmark)."""
    if not _state["installed"]:
        return
    from sqlalchemy.engine.default import DefaultDialect

    while _originals:
        klass, name, original = _originals.pop()
        setattr(klass, name, original)
    _overridden.clear()
    if "__init_subclass__" in DefaultDialect.__dict__:
        delattr(DefaultDialect, "__init_subclass__")
    _state["installed"] = False
