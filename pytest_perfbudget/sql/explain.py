"""``--perf-explain``: the query plans of a test's slowest SELECT shapes, taken after its call.

While a test is measured, the :class:`Explainer` is shown each query (see
:attr:`.hooks.Recorder.observer`) and keeps, for the first statement of each SELECT shape, what
EXPLAIN needs: the statement's text, one set of its parameter values and a weak reference to its
engine. That stays in memory, for the test's length only; no parameter value is ever written
anywhere, and plans have their literals masked (:func:`.plans.mask`).

After the test's call, while its fixtures still hold the database, :meth:`Explainer.explain` runs
the dialect's EXPLAIN on a connection of its own from the same engine, read-only: PostgreSQL in
a ``READ ONLY`` transaction with lock and statement timeouts, MySQL and MariaDB in a ``START
TRANSACTION READ ONLY``, each rolled back. EXPLAIN without ANALYZE plans a query and never runs
it. Shapes that lock rows or write are never explained (:func:`.plans.refusal`). Whatever goes
wrong (the engine gone, a table dropped, a lock held) gives a plan "not taken" with the reason,
and the test's verdict stays what it was.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..queries import capture
from . import plans

REASON_WIDTH = 200  # characters of an error kept as the reason a plan was not taken

# Run first on the connection EXPLAIN uses: nothing it does can write, wait long or last.
_READ_ONLY = {
    "postgresql": (
        "SET TRANSACTION READ ONLY",
        "SET LOCAL lock_timeout = '2s'",
        "SET LOCAL statement_timeout = '10s'",
    ),
    "mysql": ("START TRANSACTION READ ONLY",),
    "mariadb": ("START TRANSACTION READ ONLY",),
}
_MARIADB_TIMEOUTS = "SET STATEMENT lock_wait_timeout=2, max_statement_time=10 FOR "


@dataclass(slots=True)
class _Seen:
    """What EXPLAIN needs of one statement: in memory only, never in a record."""

    sql: str
    parameters: Any  # one parameter set, as the driver was given it
    no_parameters: bool  # the driver was called without parameters at all
    engine: weakref.ref[Any]


class Explainer:
    """Keeps one statement per SELECT shape while a test runs; explains shapes after its call."""

    def __init__(self) -> None:
        self._seen: dict[str, _Seen | None] = {}

    def observe(self, shape: str, sql: str, context: Any) -> None:
        """Keep the first statement of a SELECT shape (None for any other shape: seen, not kept)."""
        if shape in self._seen:
            return
        self._seen[shape] = _seen(sql, context) if _is_select(shape) else None

    def forget(self) -> None:
        """Drop what the last test ran: parameters stay in memory no longer than their test."""
        self._seen = {}

    def explain(self, shape: str) -> dict[str, Any]:
        """The plan of ``shape``, or why it was not taken."""
        reason = plans.refusal(shape)
        if reason is not None:
            return not_taken(shape, f"never explained: the statement {reason}")
        seen = self._seen.get(shape)
        if seen is None:
            return not_taken(shape, "its statement was not seen with its parameters")
        engine = seen.engine()
        if engine is None:
            return not_taken(shape, "its engine no longer exists")
        dialect = _dialect_name(engine)
        if dialect not in plans.EXPLAIN_PREFIXES:
            return not_taken(shape, f"no EXPLAIN known for the {dialect} dialect")
        previous, capture.log = capture.log, None  # EXPLAIN is not one of the test's queries
        try:
            columns, rows = _run(engine, dialect, seen)
            lines = plans.plan_lines(dialect, columns, rows)
            scans = plans.full_scans(dialect, columns, rows, lines, shape)
        except Exception as error:  # whatever the database, driver or plan says: a reason, not a crash
            return not_taken(shape, _reason(error, seen.parameters))
        finally:
            capture.log = previous
        return {"statement": shape, "dialect": dialect, "plan": lines, "full_scans": scans}


def not_taken(shape: str, reason: str) -> dict[str, Any]:
    return {"statement": shape, "status": "not taken", "reason": reason}


def _is_select(shape: str) -> bool:
    return shape.lstrip("( ").upper().startswith(("SELECT", "WITH"))


def _seen(sql: str, context: Any) -> _Seen | None:
    """What EXPLAIN needs from SQLAlchemy's execution context (None without one, or for an executemany)."""
    if context is None or getattr(context, "executemany", False):
        return None
    try:
        engine = context.root_connection.engine
        parameters = context.parameters[0] if context.parameters else ()
        return _Seen(sql, parameters, bool(getattr(context, "no_parameters", False)), weakref.ref(engine))
    except (AttributeError, TypeError):  # a dialect's own context without these: not explained
        return None


def _dialect_name(engine: Any) -> str:
    dialect = engine.dialect
    return "mariadb" if getattr(dialect, "is_mariadb", False) else str(dialect.name)


def _run(engine: Any, dialect: str, seen: _Seen) -> tuple[list[str], list[Sequence[Any]]]:
    """EXPLAIN ``seen`` on a connection of ``engine``: the columns and rows it gives."""
    if engine.dialect.is_async:
        return _run_async(engine, dialect, seen)
    return _explain_on(engine.raw_connection(), dialect, seen)


def _run_async(engine: Any, dialect: str, seen: _Seen) -> tuple[list[str], list[Sequence[Any]]]:
    """:func:`_run` for an async engine: on a pool of its own, in an event loop of its own.

    The engine's pooled connections belong to the event loop the test ran in, which is not
    running now (and may be closed). An in-memory SQLite database is not reached this way: a new
    connection is a new, empty database.
    """
    import asyncio

    from sqlalchemy.util import greenlet_spawn

    pool = engine.pool.recreate()

    async def explain() -> tuple[list[str], list[Sequence[Any]]]:
        try:
            return await greenlet_spawn(lambda: _explain_on(pool.connect(), dialect, seen))
        finally:
            await greenlet_spawn(pool.dispose)

    loop = asyncio.new_event_loop()  # not asyncio.run(): that would unset the thread's event loop
    try:
        return loop.run_until_complete(explain())
    finally:
        loop.close()


def _explain_on(connection: Any, dialect: str, seen: _Seen) -> tuple[list[str], list[Sequence[Any]]]:
    """EXPLAIN ``seen`` on ``connection`` (a pooled DBAPI connection), then give it back."""
    sql = plans.EXPLAIN_PREFIXES[dialect] + seen.sql
    if dialect == "mariadb":
        sql = _MARIADB_TIMEOUTS + sql
    try:
        cursor = connection.cursor()
        try:
            for statement in _READ_ONLY.get(dialect, ()):
                cursor.execute(statement)
            if seen.no_parameters:
                cursor.execute(sql)
            else:
                cursor.execute(sql, seen.parameters)
            columns = [str(description[0]) for description in cursor.description or ()]
            rows = list(cursor.fetchall())
        finally:
            cursor.close()
        if dialect != "sqlite":  # SQLite's EXPLAIN opens no transaction; a shared connection may have one
            connection.rollback()
    finally:
        connection.close()
    return columns, rows


def _reason(error: Exception, parameters: Any) -> str:
    """The first line of ``error``, with no literal and none of ``parameters``' values in it."""
    lines = str(error).strip().splitlines()
    text = plans.mask(lines[0] if lines else "")
    values = parameters.values() if isinstance(parameters, dict) else parameters
    if isinstance(values, (list, tuple)) or isinstance(parameters, dict):
        for value in values:
            shown = str(value)
            if len(shown) >= 3:
                text = text.replace(shown, "?")
    text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return text if len(text) <= REASON_WIDTH else text[: REASON_WIDTH - 1] + "…"
