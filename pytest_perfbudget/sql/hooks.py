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

A wrapper records only while :data:`~pytest_perfbudget.queries.capture` has a
log (a test's round is being measured); otherwise it costs one attribute read
and a call. Dialect classes defined after installation (SQLAlchemy imports a
driver's dialect on the first ``create_engine``) are wrapped as they are
created, through ``DefaultDialect.__init_subclass__``.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import sys
from collections.abc import Callable, Sequence
from time import perf_counter
from types import FrameType
from typing import Any

from ..queries import QueryLog, Statement, StatementKind, capture
from .callsite import CallSiteLocator
from .fingerprint import SHAPES, fingerprint

EXECUTE_METHODS = ("do_execute", "do_executemany", "do_execute_no_params")
TRANSACTION_METHODS = {"do_begin": "BEGIN", "do_commit": "COMMIT", "do_rollback": "ROLLBACK"}
SAVEPOINT_METHODS = {
    "do_savepoint": "SAVEPOINT",
    "do_rollback_to_savepoint": "ROLLBACK TO SAVEPOINT",
    "do_release_savepoint": "RELEASE SAVEPOINT",
}
SETUP_METHODS = ("initialize",)
_MARK = "__perfbudget_wrapped__"

AnyFunction = Callable[..., Any]


class Request(int):
    """Marks one call into SQLAlchemy: put on its entry frame, so it lives exactly as long as the call.

    A frame cannot be weakly referenced, and holding it would keep its locals (and,
    through ``f_back``, the user's frames and theirs) alive for as long as it is held:
    objects a test let go would not be collected while it is measured. So the
    recorder keeps no frame. It sets this marker as the entry frame's ``f_trace``, a
    slot every frame has and that is cleared with it: a statement whose entry frame
    carries a marker belongs to that marker's request. A new call into SQLAlchemy
    has a new frame without one, even when CPython reuses the address of the last.

    While a tracer is active (a debugger, coverage), ``f_trace`` is the tracer's: the
    marker goes into the frame's locals instead, under :data:`LOCALS_KEY`, which
    costs more. The marker is the request's id (an ``int``: made without a Python
    ``__init__``) and holds nothing else. Should a tracer call it, it traces nothing.
    """

    __slots__ = ()

    def __call__(self, frame: object, event: str, arg: object) -> None:
        return None


LOCALS_KEY = "__perfbudget_request__"


class Recorder:
    """Turns one driver call into a :class:`Statement` in the log being measured."""

    def __init__(self) -> None:
        self.locator: CallSiteLocator | None = None
        self.call_sites = True  # the benchmark switches it off to price the walk
        self.setup: set[int] = set()  # SQLAlchemy connections inside dialect.initialize()
        self.adhoc_connection: type | None = None  # the connection class of a first connect
        self._ids = itertools.count(1)

    def configure(self, locator: CallSiteLocator) -> None:
        """Use ``locator`` from now on."""
        self.locator = locator

    def execution(
        self,
        log: QueryLog,
        sql: str,
        duration: float,
        cursor: Any,
        context: Any,
        parameters: int,
        batch: int,
        executemany: bool,
    ) -> None:
        """Record one cursor execution. Written flat: it runs for every statement measured."""
        known = SHAPES.get(sql)
        shape, kind = known if known is not None else fingerprint(sql)
        if self.setup and (context is None or id(getattr(context, "root_connection", None)) in self.setup):
            kind = "setup"
        try:
            rows = cursor.rowcount
        except Exception:  # a driver may refuse once the cursor is spent; the count is optional
            rows = None
        if rows is not None and (rows.__class__ is not int or rows < 0):
            rows = None
        call_site = function = None
        request: Any = None  # a Request, or None: a statement outside any call into SQLAlchemy
        callers: tuple[str, ...] = ()
        locator = self.locator
        if locator is not None and self.call_sites:
            site = locator.locate(sys._getframe(2))  # the wrapper's caller
            if site is not None:
                call_site, function, entry, callers = site
                if entry is not None:
                    request = entry.f_trace
                    if request.__class__ is not Request:
                        if request is None and sys.gettrace() is None:
                            request = entry.f_trace = Request(next(self._ids))
                        else:
                            request = self._request_in_locals(entry)
        log.statements.append(
            Statement(
                sql,
                shape,
                duration,
                parameters,
                executemany,
                call_site,
                function,
                kind,
                rows,
                request,
                batch,
                callers,
            )
        )

    def _request_in_locals(self, entry: FrameType) -> Request:
        """The request marked in ``entry``'s locals, marked now if new (see :class:`Request`)."""
        namespace = entry.f_locals
        request = namespace.get(LOCALS_KEY)
        if request.__class__ is not Request:
            request = namespace[LOCALS_KEY] = Request(next(self._ids))
        return request

    def control(self, log: QueryLog, sql: str, duration: float, kind: StatementKind) -> None:
        """Record transaction control (``BEGIN``, ``COMMIT``, savepoints), shown and not counted."""
        call_site = function = None
        callers: tuple[str, ...] = ()
        locator = self.locator
        if locator is not None and self.call_sites:
            site = locator.locate(sys._getframe(2))
            if site is not None:
                call_site, function, _, callers = site
        log.statements.append(
            Statement(sql, sql, duration, 0, False, call_site, function, kind, callers=callers)
        )


recorder = Recorder()


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
# class resolves the name to (or what it resolves to was never wrapped): one attribute lookup.


def _is_inner(resolved: object, wrapper: object) -> bool:
    return resolved is not wrapper and getattr(resolved, _MARK, False) is True


def _wrap_execute(original: AnyFunction) -> AnyFunction:
    @functools.wraps(original)
    def do_execute(self: Any, cursor: Any, statement: str, parameters: Any, context: Any = None) -> Any:
        log = capture.log
        if log is None:
            return original(self, cursor, statement, parameters, context)
        resolved = type(self).do_execute
        if resolved is not do_execute and getattr(resolved, _MARK, False) is True:  # an inner wrapper
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
            recorder.execution(log, statement, duration, cursor, context, size, 1, False)

    return do_execute


def _wrap_executemany(original: AnyFunction) -> AnyFunction:
    @functools.wraps(original)
    def do_executemany(self: Any, cursor: Any, statement: str, parameters: Any, context: Any = None) -> Any:
        log = capture.log
        if log is None:
            return original(self, cursor, statement, parameters, context)
        resolved = type(self).do_executemany
        if resolved is not do_executemany and getattr(resolved, _MARK, False) is True:  # an inner wrapper
            return original(self, cursor, statement, parameters, context)
        start = perf_counter()
        try:
            return original(self, cursor, statement, parameters, context)
        finally:
            duration = perf_counter() - start
            per_set, batch = _parameter_sets(parameters)
            recorder.execution(log, statement, duration, cursor, context, per_set, batch, True)

    return do_executemany


def _wrap_execute_no_params(original: AnyFunction) -> AnyFunction:
    @functools.wraps(original)
    def do_execute_no_params(self: Any, cursor: Any, statement: str, context: Any = None) -> Any:
        log = capture.log
        if log is None:
            return original(self, cursor, statement, context)
        resolved = type(self).do_execute_no_params
        if (
            resolved is not do_execute_no_params and getattr(resolved, _MARK, False) is True
        ):  # an inner wrapper
            return original(self, cursor, statement, context)
        start = perf_counter()
        try:
            return original(self, cursor, statement, context)
        finally:
            duration = perf_counter() - start
            recorder.execution(log, statement, duration, cursor, context, 0, 1, False)

    return do_execute_no_params


def _wrap_transaction(original: AnyFunction, name: str) -> AnyFunction:
    """``do_begin``/``do_commit``/``do_rollback(dbapi_connection)``."""
    sql = TRANSACTION_METHODS[name]
    if name == "do_begin" and original.__qualname__ == "DefaultDialect.do_begin":
        sql = "BEGIN (implicit)"  # the DBAPI begins by itself; SQLAlchemy's echo says the same

    @functools.wraps(original)
    def wrapper(self: Any, dbapi_connection: Any) -> Any:
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
        log = capture.log
        if log is None or _is_inner(getattr(type(self), name), wrapper):
            return original(self, connection, savepoint, *args, **kwargs)
        recorded = len(log.statements)
        start = perf_counter()
        try:
            return original(self, connection, savepoint, *args, **kwargs)
        finally:
            duration = perf_counter() - start
            if len(log.statements) == recorded:
                recorder.control(log, f"{verb} {savepoint}", duration, "transaction")

    return wrapper


def _wrap_initialize(original: AnyFunction) -> AnyFunction:
    """``initialize(connection)``: statements on ``connection`` meanwhile are set-up queries."""

    @functools.wraps(original)
    def initialize(self: Any, connection: Any) -> Any:
        key = id(connection)
        if key in recorder.setup:
            return original(self, connection)  # a subclass calling super().initialize()
        recorder.setup.add(key)
        try:
            return original(self, connection)
        finally:
            recorder.setup.discard(key)

    return initialize


def _wrapper_for(name: str, original: AnyFunction) -> AnyFunction:
    if name == "do_execute":
        return _wrap_execute(original)
    if name == "do_executemany":
        return _wrap_executemany(original)
    if name == "do_execute_no_params":
        return _wrap_execute_no_params(original)
    if name in TRANSACTION_METHODS:
        return _wrap_transaction(original, name)
    if name in SAVEPOINT_METHODS:
        return _wrap_savepoint(original, name)
    return _wrap_initialize(original)


HOOKED = (*EXECUTE_METHODS, *TRANSACTION_METHODS, *SAVEPOINT_METHODS, *SETUP_METHODS)

# --- installing -----------------------------------------------------------------------

_originals: list[tuple[type, str, AnyFunction]] = []
_state: dict[str, Any] = {"installed": False, "skip": ()}


def is_installed() -> bool:
    return bool(_state["installed"])


def instrument_class(cls: type) -> None:
    """Wrap the hooked methods that ``cls`` or a class in its MRO defines itself, once each."""
    for klass in cls.__mro__:
        if klass is object or klass in _state["skip"]:
            continue
        for name in HOOKED:
            original = klass.__dict__.get(name)
            if original is None or not inspect.isfunction(original) or getattr(original, _MARK, False):
                continue
            wrapper = _wrapper_for(name, original)
            setattr(wrapper, _MARK, True)
            setattr(klass, name, wrapper)
            _originals.append((klass, name, original))


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
    _state["installed"] = True


def uninstall() -> None:
    """Restore every wrapped method (for tests and the benchmark)."""
    if not _state["installed"]:
        return
    from sqlalchemy.engine.default import DefaultDialect

    while _originals:
        klass, name, original = _originals.pop()
        setattr(klass, name, original)
    if "__init_subclass__" in DefaultDialect.__dict__:
        delattr(DefaultDialect, "__init_subclass__")
    _state["installed"] = False
