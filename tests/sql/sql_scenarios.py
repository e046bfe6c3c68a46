"""ORM scenarios run on every database, and the databases to run them on.

Each scenario is plain synchronous ORM code taking a ``Session`` and the
models; on an async backend it runs through ``AsyncSession.run_sync`` (so in
SQLAlchemy's child greenlet). Lines the tests expect as call sites carry a
``# site: NAME`` comment, found with :func:`line_of`.

Tables get a per-run suffix, so parallel runs on one server do not collide.
"""

from __future__ import annotations

import asyncio
import importlib.util
import socket
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, ForeignKey, String, create_engine, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, selectinload

from pytest_perfbudget.queries import QueryLog, capture
from pytest_perfbudget.sql import SqlInstrumentation

ROOT = Path(__file__).resolve().parents[2]
HERE = "tests/sql/sql_scenarios.py"
ROWS = 30


def line_of(name: str, path: Path = Path(__file__)) -> int:
    """The line carrying ``# site: name``."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.rstrip().endswith(f"# site: {name}"):
            return number
    raise LookupError(name)


def site(name: str) -> str:
    return f"{HERE}:{line_of(name)}"


@contextmanager
def capturing(rootdir: Path = ROOT, exclude: tuple[str, ...] = ()) -> Iterator[QueryLog]:
    """Record statements as a measured round would, with call sites relative to ``rootdir``."""
    SqlInstrumentation(rootdir, exclude).ensure_installed()
    log = QueryLog()
    previous, capture.log = capture.log, log
    try:
        yield log
    finally:
        capture.log = previous


def spy_on_walks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str | None, int]]:
    """The call site and the entry frame's address of each statement whose stack is walked from
    now on (only the address: a frame kept here would keep its locals alive)."""
    from pytest_perfbudget.sql import hooks

    locator = hooks.recorder.locator
    assert locator is not None
    walk = locator.walk
    walked: list[tuple[str | None, int]] = []

    def spy(frame: Any) -> Any:
        found = walk(frame)
        walked.append((found[0], id(found[2])))
        return found

    monkeypatch.setattr(locator, "walk", spy)
    return walked


# --- models ---------------------------------------------------------------------------


@dataclass
class Models:
    base: type[DeclarativeBase]
    User: Any
    Address: Any


def make_models(suffix: str) -> Models:
    """Users with addresses, in tables named with ``suffix``."""

    class Base(DeclarativeBase):
        pass

    class User(Base):
        __tablename__ = f"pb_users_{suffix}"
        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str] = mapped_column(String(50))
        addresses: Mapped[list[Address]] = relationship(back_populates="user", order_by="Address.id")

    class Address(Base):
        __tablename__ = f"pb_addresses_{suffix}"
        id: Mapped[int] = mapped_column(primary_key=True)
        email: Mapped[str] = mapped_column(String(100))
        user_id: Mapped[int] = mapped_column(ForeignKey(f"{User.__tablename__}.id"))
        user: Mapped[User] = relationship(back_populates="addresses")

    return Models(Base, User, Address)


# --- scenarios (the lines marked "site" are the call sites tests expect) --------------------


def lazy_load_loop(session: Session, models: Models) -> int:
    """The classic N+1: one query for the users, one lazy load per user."""
    users = session.scalars(select(models.User).order_by(models.User.id)).all()
    total = 0
    for user in users:
        total += len(user.addresses)  # site: lazy
    return total


def selectin_fix(session: Session, models: Models) -> int:
    """The same data with ``selectinload``: two queries."""
    statement = select(models.User).options(selectinload(models.User.addresses)).order_by(models.User.id)
    users = session.scalars(statement).all()  # site: selectin
    return sum(len(user.addresses) for user in users)


def per_row_loop(session: Session, models: Models) -> int:
    """A query per row, written by hand."""
    ids = session.scalars(select(models.User.id).order_by(models.User.id)).all()
    found = 0
    for user_id in ids:
        statement = select(models.Address).where(models.Address.user_id == user_id)
        found += len(session.scalars(statement).all())  # site: loop
    return found


def executemany_insert(session: Session, models: Models) -> int:
    """Thirty rows in one Core executemany."""
    rows = [{"email": f"bulk-{n}@example.com", "user_id": 1} for n in range(ROWS)]
    session.connection().execute(insert(models.Address.__table__), rows)  # site: executemany
    return len(rows)


def savepoints(session: Session, models: Models) -> int:
    """A released savepoint and a rolled-back one around single inserts."""
    with session.begin_nested():  # site: savepoint
        session.add(models.User(name="kept"))
    nested = session.begin_nested()
    session.add(models.User(name="dropped"))
    session.flush()
    nested.rollback()
    return 2


def wide_selectin(session: Session, models: Models) -> int:
    """``selectinload`` over more parents than one IN-list holds (SQLAlchemy batches by 500)."""
    statement = select(models.User).options(selectinload(models.User.addresses))
    users = session.scalars(statement).all()  # site: wide
    return len(users)


async def async_row_loop(session: AsyncSession, models: Models) -> int:
    """A query per row from a coroutine: the call site is the ``await`` line."""
    ids = (await session.scalars(select(models.User.id).order_by(models.User.id))).all()
    found = 0
    for user_id in ids:
        statement = select(models.Address).where(models.Address.user_id == user_id)
        result = await session.scalars(statement)  # site: await
        found += len(result.all())
    return found


# --- backends ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Backend:
    name: str
    driver: str  # the module that must be importable
    url: str  # with {user}
    is_async: bool
    port: int | None = None  # a server to reach on 127.0.0.1
    users: tuple[str, ...] = ("",)


BACKENDS = {
    backend.name: backend
    for backend in (
        Backend("sqlite", "sqlite3", "sqlite://", is_async=False),
        Backend("aiosqlite", "aiosqlite", "sqlite+aiosqlite://", is_async=True),
        Backend(
            "psycopg",
            "psycopg",
            "postgresql+psycopg://{user}@127.0.0.1:5432/test",
            False,
            5432,
            ("postgres", "root"),
        ),
        Backend(
            "asyncpg",
            "asyncpg",
            "postgresql+asyncpg://{user}@127.0.0.1:5432/test",
            True,
            5432,
            ("postgres", "root"),
        ),
        Backend("pymysql", "pymysql", "mysql+pymysql://{user}@127.0.0.1:3306/test", False, 3306, ("root",)),
    )
}
SYNC_BACKENDS = [name for name, backend in BACKENDS.items() if not backend.is_async]
ASYNC_BACKENDS = [name for name, backend in BACKENDS.items() if backend.is_async]

_reachable_urls: dict[str, str | None] = {}


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _first_working_url(backend: Backend) -> str | None:
    """The URL with the first user the server accepts (checked with a sync engine)."""
    for user in backend.users:
        url = backend.url.format(user=user)
        sync_url = url.replace("+asyncpg", "+psycopg") if importlib.util.find_spec("psycopg") else url
        if "+asyncpg" in sync_url:
            return url  # cannot check without a sync PostgreSQL driver; try it as it is
        engine = create_engine(sync_url)
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return url
        except Exception:
            continue
        finally:
            engine.dispose()
    return None


def url_for(backend: Backend) -> str:
    """The backend's URL, or skip the test with the reason."""
    if importlib.util.find_spec(backend.driver) is None:
        pytest.skip(f"{backend.name}: driver '{backend.driver}' is not installed")
    if backend.port is None:
        return backend.url
    if backend.name not in _reachable_urls:
        _reachable_urls[backend.name] = _first_working_url(backend) if _port_open(backend.port) else None
    url = _reachable_urls[backend.name]
    if url is None:
        pytest.skip(
            f"{backend.name}: no server accepting users {', '.join(backend.users)} "
            f"at 127.0.0.1:{backend.port} (database 'test')"
        )
    return url


class Database:
    """One backend with fresh tables of 30 users, each with one address."""

    def __init__(self, backend: Backend, rows: int = ROWS) -> None:
        self.backend = backend
        self.models = make_models(uuid.uuid4().hex[:10])
        self.url = url_for(backend)
        self.loop = asyncio.new_event_loop() if backend.is_async else None
        self.engine: Engine | AsyncEngine = (
            create_async_engine(self.url) if backend.is_async else create_engine(self.url)
        )
        self._sync(self._create, rows)

    # --- running scenarios ---

    def run(self, scenario: Callable[..., Any], *args: Any, **capture_options: Any) -> tuple[QueryLog, Any]:
        """Run a synchronous scenario in a session, its statements captured."""
        if isinstance(self.engine, AsyncEngine):
            return self._await(self._run_async(scenario, *args, **capture_options))
        with Session(self.engine) as session, capturing(**capture_options) as log:
            result = scenario(session, self.models, *args)
        return log, result

    def run_async(self, scenario: Callable[..., Awaitable[Any]]) -> tuple[QueryLog, Any]:
        """Run a coroutine scenario in an ``AsyncSession``, its statements captured."""
        assert isinstance(self.engine, AsyncEngine)

        async def go() -> tuple[QueryLog, Any]:
            async with AsyncSession(self.engine) as session:
                with capturing() as log:
                    result = await scenario(session, self.models)
            return log, result

        return self._await(go())

    async def _run_async(
        self, scenario: Callable[..., Any], *args: Any, **options: Any
    ) -> tuple[QueryLog, Any]:
        assert isinstance(self.engine, AsyncEngine)
        async with AsyncSession(self.engine) as session:
            with capturing(**options) as log:
                result = await session.run_sync(scenario, self.models, *args)
        return log, result

    # --- set-up and clean-up ---

    def _create(self, connection: Any, rows: int) -> None:
        self.models.base.metadata.create_all(connection)
        users = self.models.User.__table__
        addresses = self.models.Address.__table__
        connection.execute(insert(users), [{"name": f"user {n}"} for n in range(1, rows + 1)])  # ids 1..rows
        connection.execute(
            insert(addresses), [{"email": f"user{n}@example.com", "user_id": n} for n in range(1, rows + 1)]
        )

    def close(self) -> None:
        try:
            self._sync(lambda connection: self.models.base.metadata.drop_all(connection))
        finally:
            if isinstance(self.engine, AsyncEngine):
                self._await(self.engine.dispose())
                assert self.loop is not None
                self.loop.close()
            else:
                self.engine.dispose()

    def _sync(self, function: Callable[..., None], *args: Any) -> None:
        """Run ``function(connection, *args)`` in a committed transaction, sync or async."""
        engine = self.engine
        if isinstance(engine, AsyncEngine):

            async def go() -> None:
                async with engine.begin() as connection:
                    await connection.run_sync(function, *args)

            self._await(go())
        else:
            with engine.begin() as connection:
                function(connection, *args)

    def _await(self, awaitable: Awaitable[Any]) -> Any:
        assert self.loop is not None
        return self.loop.run_until_complete(awaitable)
