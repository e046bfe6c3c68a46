"""The dialect hooks: installed once, process-wide, recording only while a round is measured."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sql_scenarios import capturing, spy_on_walks
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, event, exc, inspect, text
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine.default import DefaultDialect

from pytest_perfbudget.queries import capture
from pytest_perfbudget.sql import hooks
from pytest_perfbudget.sql.importwatch import ImportWatcher


@pytest.fixture
def installed() -> Iterator[None]:
    with capturing():
        pass  # ensure_installed()
    yield
    hooks.install()  # whatever a test did, leave the hooks in place for the others


def test_hooks_wrap_the_dialect_classes_and_uninstall_restores_them(installed: None) -> None:
    wrapped = DefaultDialect.__dict__["do_execute"]
    assert getattr(wrapped, "__perfbudget_wrapped__", False)
    original = wrapped.__wrapped__

    hooks.uninstall()
    assert DefaultDialect.__dict__["do_execute"] is original
    assert "__init_subclass__" not in DefaultDialect.__dict__

    hooks.install()
    hooks.install()  # idempotent
    assert DefaultDialect.__dict__["do_execute"].__wrapped__ is original


def test_nothing_is_recorded_while_no_round_is_measured(installed: None) -> None:
    assert capture.log is None
    engine = create_engine("sqlite://")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT 1")).scalar() == 1
    with capturing() as log:
        pass
    assert len(log) == 0


def test_a_dialect_defined_after_installation_is_wrapped_and_counts_once(installed: None) -> None:
    calls: list[str] = []

    class LoggingDialect(SQLiteDialect_pysqlite):
        supports_statement_cache = True

        def do_execute(self, cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
            calls.append(statement)
            super().do_execute(cursor, statement, parameters, context)

    assert getattr(LoggingDialect.__dict__["do_execute"], "__perfbudget_wrapped__", False)
    engine = create_engine("sqlite://")
    engine.dialect.__class__ = LoggingDialect

    with capturing() as log, engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    assert calls == ["SELECT 1"]
    assert [statement.shape for statement in log.counted] == ["SELECT ?"]


def test_a_failing_statement_is_still_recorded(installed: None) -> None:
    engine = create_engine("sqlite://")
    with capturing() as log, engine.connect() as connection, pytest.raises(exc.OperationalError):
        connection.execute(text("SELECT * FROM no_such_table"))
    [statement] = log.counted
    assert statement.shape == "SELECT * FROM no_such_table"
    assert statement.rows is None


def test_statements_carry_call_site_kind_parameters_and_request(installed: None) -> None:
    engine = create_engine("sqlite://")
    with engine.connect() as connection:  # first connect outside: no set-up statements below
        pass
    with capturing() as log, engine.connect() as connection:
        line = sys._getframe().f_lineno + 1
        connection.execute(text("SELECT :a, :b"), {"a": 1, "b": "secret"})
        connection.commit()
    begin, query, *control = log.statements
    assert begin.sql == "BEGIN (implicit)"
    assert (query.shape, query.parameters, query.executemany, query.batch) == ("SELECT ?, ?", 2, False, 1)
    assert query.call_site == f"tests/sql/test_sql_hooks.py:{line}"
    assert query.function == "test_statements_carry_call_site_kind_parameters_and_request"
    assert query.request is not None
    assert [statement.sql for statement in control] == ["COMMIT", "ROLLBACK"]
    assert all(statement.kind == "transaction" and not statement.counted for statement in control)
    assert "secret" not in repr(log.statements)


def test_calls_from_one_line_are_requests_of_their_own_though_frames_reuse_addresses(
    installed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hooks.recorder, "_remember", lambda *arguments: None)  # a walk each time
    engine = create_engine("sqlite://")
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
        with capturing() as log:
            walked = spy_on_walks(monkeypatch)
            for _ in range(5):
                connection.execute(text("SELECT 1"))

    addresses = [address for _, address in walked]
    assert len(addresses) == 5
    assert len(set(addresses)) < len(addresses)  # CPython gave a later call an earlier one's address
    assert len({statement.request for statement in log.counted}) == 5
    assert log.suspects(5)[0].count == 5


def test_a_statement_sent_from_the_same_place_again_is_not_walked_again(
    installed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = create_engine("sqlite://")
    with engine.connect() as connection:
        connection.execute(text("SELECT 2"))  # begins the transaction: no BEGIN walked below
        with capturing() as log:
            walked = spy_on_walks(monkeypatch)
            for _ in range(5):
                connection.execute(text("SELECT 1"))
            connection.execute(text("SELECT 1"))  # another line

    assert len(walked) == 2
    first, *repeats, other = log.counted
    assert {(statement.call_site, statement.callers) for statement in repeats} == {
        (first.call_site, first.callers)
    }
    assert other.call_site != first.call_site
    assert len({statement.request for statement in log.counted}) == 6
    assert log.suspects(5)[0].count == 5


def test_one_reflect_call_is_one_request(installed: None) -> None:
    engine = create_engine("sqlite://")
    metadata = MetaData()
    for name in ("a", "b", "c"):
        Table(name, metadata, Column("id", Integer, primary_key=True))
    metadata.create_all(engine)

    reflected = MetaData()
    with capturing() as log:
        reflected.reflect(engine)  # through SQLAlchemy's generated cache() decorators
    assert sorted(reflected.tables) == ["a", "b", "c"]
    assert log.count > 9  # several statements per table, one shape of them run 9 times
    assert len({statement.request for statement in log.counted}) == 1
    assert log.suspects(3) == []

    with capturing() as log:
        inspector = inspect(engine)
        for name in ("a", "b", "c"):
            inspector.get_pk_constraint(name)  # a call each: a request each
    [suspect] = log.suspects(3)
    assert suspect.statement.startswith("SELECT sql FROM")
    assert suspect.count == 3


def test_a_request_made_inside_another_has_its_own_number_and_leaves_the_outer_one_whole(
    installed: None,
) -> None:
    """A listener of the user's code sends a statement of its own while a reflection (one request of
    many statements) runs: three requests, the outer one's statements all under one number."""
    engine = create_engine("sqlite://")
    other = create_engine("sqlite://")
    Table("t", MetaData(), Column("id", Integer, primary_key=True)).create(engine)
    inner: list[None] = []

    def listener(*args: Any) -> None:
        if not inner:
            inner.append(None)
            with other.connect() as connection:
                connection.execute(text("SELECT 'inner'"))

    with engine.connect() as connection:
        event.listen(engine, "after_cursor_execute", listener)
        with capturing() as log:
            MetaData().reflect(connection)
            connection.execute(text("SELECT 'after'"))
        event.remove(engine, "after_cursor_execute", listener)

    requests = {statement.sql: statement.request for statement in log.counted}
    inner_request, after = requests.pop("SELECT 'inner'"), requests.pop("SELECT 'after'")
    assert len(requests) > 2  # the reflection's statements, before and after the inner one
    assert len(set(requests.values())) == 1
    assert len({*requests.values(), inner_request, after}) == 3


def test_requests_are_told_apart_under_a_tracer(installed: None) -> None:
    def tracer(frame: Any, event: str, arg: Any) -> Any:
        return tracer  # traces every line: every frame's f_trace is the tracer's

    engine = create_engine("sqlite://")
    Table("t", MetaData(), Column("id", Integer, primary_key=True)).create(engine)
    with engine.connect() as connection:
        previous = sys.gettrace()
        sys.settrace(tracer)
        try:
            with capturing() as log:
                MetaData().reflect(connection)
                for _ in range(3):
                    connection.execute(text("SELECT 1"))
        finally:
            sys.settrace(previous)

    requests = [statement.request for statement in log.counted]
    assert len(requests) > 4  # the reflection's statements, then the loop's three
    assert len(set(requests)) == 4
    assert all(statement.callers == () for statement in log.counted)  # none above this test


def test_a_tracer_started_during_a_request_is_not_disturbed_by_its_marker(installed: None) -> None:
    """The marker left on a frame traces nothing, and keeps its request's number."""
    lines: list[int] = []

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        lines.append(frame.f_lineno)
        return None  # leaves frames' f_trace alone: markers are called for their lines

    def listener(*args: Any) -> None:  # runs inside the request, under its entry frame
        sys.settrace(tracer)

    engine = create_engine("sqlite://")
    event.listen(engine, "after_cursor_execute", listener)
    previous = sys.gettrace()
    try:
        with capturing() as log, engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            connection.execute(text("SELECT 2"))
    finally:
        sys.settrace(previous)
    assert lines  # the tracer ran, and the statements went on
    assert [statement.sql for statement in log.counted] == ["SELECT 1", "SELECT 2"]
    assert all(isinstance(statement.request, int) for statement in log.counted)


def test_call_sites_can_be_switched_off(installed: None) -> None:
    engine = create_engine("sqlite://")
    hooks.recorder.call_sites = False
    try:
        with capturing() as log, engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    finally:
        hooks.recorder.call_sites = True
    [statement] = log.counted
    assert (statement.call_site, statement.function, statement.request) == (None, None, None)


def test_the_import_watcher_runs_its_callback_after_the_first_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "perfbudget_watched.py").write_text("VALUE = 1\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    seen: list[int] = []
    watcher = ImportWatcher(
        "perfbudget_watched", lambda: seen.append(sys.modules["perfbudget_watched"].VALUE)
    )
    watcher.start()
    try:
        import perfbudget_watched  # type: ignore[import-not-found]  # noqa: F401
    finally:
        watcher.stop()
        sys.modules.pop("perfbudget_watched", None)

    assert seen == [1]
    assert watcher not in sys.meta_path


def test_a_failing_callback_does_not_break_the_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "perfbudget_watched2.py").write_text("VALUE = 2\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))

    def fail() -> None:
        raise RuntimeError("boom")

    watcher = ImportWatcher("perfbudget_watched2", fail)
    watcher.start()
    try:
        with pytest.warns(UserWarning, match="SQL measurement not installed: boom"):
            import perfbudget_watched2  # type: ignore[import-not-found]
    finally:
        watcher.stop()
        sys.modules.pop("perfbudget_watched2", None)
    assert perfbudget_watched2.VALUE == 2


@pytest.mark.skipif(sys.version_info < (3, 11), reason="a task takes a context from Python 3.11")
def test_task_creation_is_followed_only_while_measured_and_leaves_what_the_user_gave_alone(
    installed: None,
) -> None:
    import asyncio
    import contextvars

    from pytest_perfbudget.sql.callsite import TASK_ORIGIN

    mine = contextvars.ContextVar("mine", default="not given")

    async def origin() -> object:
        return TASK_ORIGIN.get()

    async def read_mine() -> str:
        return mine.get()

    async def main() -> tuple[object, ...]:
        loop = asyncio.get_running_loop()
        followed = await loop.create_task(origin())
        given = contextvars.copy_context()
        given.run(mine.set, "given")
        in_given = await loop.create_task(read_mine(), context=given)
        loop.set_task_factory(lambda loop, coro: asyncio.Task(coro, loop=loop))  # takes no context
        from_factory = await loop.create_task(origin())
        return followed, in_given, from_factory

    assert asyncio.run(main()) == (None, "given", None)  # not measured: nothing recorded
    with capturing():
        followed, in_given, from_factory = asyncio.run(main())
    assert isinstance(followed, tuple)
    assert followed[1] == "main"
    assert (in_given, from_factory) == ("given", None)
    assert asyncio.BaseEventLoop.create_task.__wrapped__.__module__ == "asyncio.base_events"
