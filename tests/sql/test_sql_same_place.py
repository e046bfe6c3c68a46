"""A statement sent again from the same place is found without walking SQLAlchemy's frames again,
and every statement gets what a walk would have given it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
from sql_scenarios import capturing, spy_on_walks
from sqlalchemy import ForeignKey, create_engine, insert, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from pytest_perfbudget.queries import QueryLog
from pytest_perfbudget.sql import hooks

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine


class Base(DeclarativeBase):
    pass


class Parent(Base):
    __tablename__ = "same_place_parents"
    id: Mapped[int] = mapped_column(primary_key=True)
    children: Mapped[list[Child]] = relationship(lazy="select")


class Child(Base):
    __tablename__ = "same_place_children"
    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("same_place_parents.id"))


@pytest.fixture
def session() -> Iterator[Session]:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(insert(Parent), [{"id": n} for n in range(1, 6)])
        connection.execute(insert(Child), [{"parent_id": n} for n in range(1, 6)])
    with Session(engine) as session:
        session.execute(text("SELECT 1"))  # begins: no BEGIN among the statements below
        yield session


def load_one(session: Session, parent_id: int) -> Parent | None:
    return session.get(Parent, parent_id, populate_existing=True)


def children_of(parent: Parent) -> int:
    return len(parent.children)


def loop_in_the_test(session: Session) -> None:
    for _ in range(4):
        session.execute(text("SELECT 1"))
    session.execute(text("SELECT 1"))  # the same SQL from another line


def helper_per_item(session: Session) -> None:
    for parent_id in range(1, 5):
        load_one(session, parent_id)  # a new frame of the helper each time: each a call of the test's


def lazy_loads(session: Session) -> None:
    parents = session.scalars(select(Parent)).all()
    for parent in parents:
        len(parent.children)
    for parent in session.scalars(select(Parent)).all():
        children_of(parent)


def values_in_the_text(session: Session) -> None:
    for number in range(4):
        session.execute(text(f"SELECT {number}"))  # one shape, four texts


def recursion(session: Session, depth: int = 3) -> None:
    session.execute(text("SELECT 2"))
    if depth:
        recursion(session, depth - 1)


SCENARIOS: dict[str, Callable[[Session], None]] = {
    "loop in the test": loop_in_the_test,
    "helper per item": helper_per_item,
    "lazy loads": lazy_loads,
    "recursion": recursion,
    "values in the text": values_in_the_text,
}


def found(log: QueryLog) -> list[tuple[Any, ...]]:
    """What each counted statement was given, with request and test's call ids as first seen."""
    requests: dict[object, int] = {}
    calls: dict[object, int] = {}
    return [
        (
            statement.shape,
            statement.call_site,
            statement.function,
            statement.callers,
            requests.setdefault(statement.request, len(requests)),
            calls.setdefault(statement.test_call, len(calls)),
        )
        for statement in log.counted
    ]


def both_ways(
    run: Callable[[], object], monkeypatch: pytest.MonkeyPatch
) -> dict[bool, tuple[QueryLog, list[tuple[str | None, int]]]]:
    """The log and the walks of ``run``, with the recorder remembering places (True) and
    walking every statement (False), both from this one line."""
    done = {}
    for remembering in (True, False):
        with monkeypatch.context() as patch, capturing() as log:
            if not remembering:
                patch.setattr(hooks.recorder, "_remember", lambda *arguments: None)
            walked = spy_on_walks(patch)
            run()
        done[remembering] = (log, walked)
    return done


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_what_a_statement_is_given_does_not_depend_on_walking_again(
    scenario: str, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = SCENARIOS[scenario]
    (remembered, walked), (walked_each_time, _) = both_ways(lambda: run(session), monkeypatch).values()

    assert found(remembered) == found(walked_each_time)
    assert remembered.suspects(2) == walked_each_time.suspects(2)
    assert remembered.repeated_by_test(2) == walked_each_time.repeated_by_test(2)
    assert len(walked) < len(remembered.counted)  # statements sent again were not walked again


def test_a_helper_called_from_the_test_per_item_is_a_call_of_the_test_each_time(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    with capturing() as log:
        walked = spy_on_walks(monkeypatch)
        for parent_id in range(1, 5):
            load_one(session, parent_id)  # a new frame of the helper each time

    assert len(walked) == 1
    assert len({statement.test_call for statement in log.counted}) == 4
    assert len({statement.request for statement in log.counted}) == 4


def test_statements_of_one_shape_from_one_place_are_walked_once(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    with capturing() as log:
        walked = spy_on_walks(monkeypatch)
        values_in_the_text(session)

    assert len({statement.sql for statement in log.counted}) == 4
    assert len(walked) == 1


async def tables_on_aiosqlite() -> AsyncEngine:
    """An engine on aiosqlite in memory, with this module's tables."""
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine("sqlite+aiosqlite://")
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    return engine


def test_statements_from_an_async_session_are_found_again_through_the_greenlet(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("aiosqlite")
    from sqlalchemy.ext.asyncio import AsyncSession

    async def load(session: AsyncSession) -> None:
        await session.execute(select(Parent).where(Parent.id == 1))

    async def run() -> None:
        engine = await tables_on_aiosqlite()
        async with AsyncSession(engine) as session:
            await session.execute(text("SELECT 1"))
            for _ in range(4):
                await load(session)
            for _ in range(3):
                await session.execute(select(Parent).where(Parent.id == 1))
        await engine.dispose()

    (remembered, walked), (walked_each_time, walked_every_time) = both_ways(
        lambda: asyncio.run(run()), monkeypatch
    ).values()

    assert found(remembered) == found(walked_each_time)
    suspects = remembered.suspects(3)
    assert [(suspect.count, suspect.function) for suspect in suspects] == [(4, "load"), (3, "run")]
    assert len(walked) == len(walked_every_time) - 5  # the SELECTs sent again were not walked again


DEEPER = 30
"""Up to how many calls deep a function run in a greenlet sends its statement: at one of those
depths, the greenlet's stack is as deep as when the session sends it."""


@pytest.mark.parametrize("through", ["session", "connection"])
def test_a_statement_sent_from_run_sync_is_not_taken_for_one_of_the_awaiting_line(
    through: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same SELECT, awaited from one line, in turn directly and through ``run_sync``: the
    user frame is the awaiting line's, then the function run in the greenlet.

    The function sends it through the session (the session's own calls, one of them where the
    greenlet's stack would start) or on its connection (other calls), from ever more calls of its
    own: at one of those depths the greenlet's stack is as deep as the session's."""
    pytest.importorskip("aiosqlite")
    from sqlalchemy.ext.asyncio import AsyncSession

    query = select(Parent).where(Parent.id == 1)

    def load_in_the_greenlet(session: Session, calls: int) -> None:
        if calls:
            load_in_the_greenlet(session, calls - 1)
        elif through == "session":
            session.execute(query)
        else:
            session.connection().execute(query)

    async def run() -> None:
        engine = await tables_on_aiosqlite()
        async with AsyncSession(engine) as session:
            await session.execute(text("SELECT 1"))
            for number in range(2 * DEEPER):
                sent = (
                    session.run_sync(load_in_the_greenlet, number // 2)
                    if number % 2
                    else session.execute(query)
                )
                await sent
        await engine.dispose()

    (remembered, _), (walked_each_time, _) = both_ways(lambda: asyncio.run(run()), monkeypatch).values()

    assert found(remembered) == found(walked_each_time)
    loads = [
        statement for statement in remembered.counted if statement.sql.startswith("SELECT same_place_parents")
    ]
    functions = [statement.function for statement in loads]
    assert functions == ["run", "load_in_the_greenlet"] * DEEPER
