"""Fixtures of the shop's suite: one seeded database per run, one rolled-back transaction per test.

The database is SQLite in a temporary file unless ``SHOP_DATABASE_URL`` names
another, such as ``postgresql+psycopg://postgres@127.0.0.1:5432/test``. Its
tables are dropped and created again at the start of the run, so give it a
database you can throw away.

``--shop-services naive`` runs the suite against ``shop.services`` (with the
N+1 in ``list_orders``) instead of ``shop.services_fixed``.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import os
from collections.abc import Callable, Coroutine, Iterator
from types import ModuleType
from typing import Any, TypeVar

import pytest
from sqlalchemy import Connection, Engine, select
from sqlalchemy.orm import Session, sessionmaker

from shop.db import make_async_engine, make_engine
from shop.models import Base, Customer, Order
from shop.seed import seed

T = TypeVar("T")

SERVICES = {"fixed": "shop.services_fixed", "naive": "shop.services"}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--shop-services",
        choices=sorted(SERVICES),
        default="fixed",
        help="the shop's service layer under test: fixed (default) or naive (with the N+1)",
    )


@pytest.fixture(scope="session")
def services(pytestconfig: pytest.Config) -> ModuleType:
    """``shop.services_fixed``, or ``shop.services`` under ``--shop-services naive``."""
    return importlib.import_module(SERVICES[pytestconfig.getoption("shop_services")])


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("SHOP_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('shop') / 'shop.db'}"


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    """The database, with fresh tables and the sample data (fixtures are never measured)."""
    engine = make_engine(database_url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        seed(session)
    yield engine
    Base.metadata.drop_all(engine)
    engine.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that is rolled back after the test: every test sees the seed."""
    with engine.connect() as connection:
        transaction = connection.begin()
        yield connection
        transaction.rollback()


@pytest.fixture
def new_session(connection: Connection) -> sessionmaker[Session]:
    """Sessions as the app opens them, one per request; each ``commit()`` releases a savepoint."""
    return sessionmaker(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)


@pytest.fixture(scope="session")
def customer_id(engine: Engine) -> int:
    """The first customer, who has 3 orders."""
    with Session(engine) as session:
        return session.scalars(select(Customer.id).where(Customer.email == "customer1@example.com")).one()


@pytest.fixture(scope="session")
def order_id(engine: Engine) -> int:
    with Session(engine) as session:
        return session.scalars(select(Order.id).order_by(Order.id).limit(1)).one()


# --- asyncio ---------------------------------------------------------------------------
# No pytest-asyncio: one event loop for the run, and ``run(coroutine)`` in the tests.


@pytest.fixture(scope="session")
def event_loop_for_shop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="session")
def run(event_loop_for_shop: asyncio.AbstractEventLoop) -> Callable[[Coroutine[Any, Any, T]], T]:
    """Run a coroutine to its end on the suite's event loop."""
    return event_loop_for_shop.run_until_complete


@pytest.fixture(scope="session")
def async_engine(engine: Engine, database_url: str, run: Callable[..., Any]) -> Iterator[Any]:
    """The same database through an asyncio driver (aiosqlite for SQLite)."""
    needed = ["greenlet"] + (["aiosqlite"] if engine.dialect.name == "sqlite" else [])
    for module in needed:
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (pip install {' '.join(needed)})")
    async_engine = make_async_engine(database_url)
    yield async_engine
    run(async_engine.dispose())


@pytest.fixture
def async_connection(async_engine: Any, run: Callable[..., Any]) -> Iterator[Any]:
    connection = run(async_engine.connect())
    transaction = run(connection.begin())
    yield connection
    run(transaction.rollback())
    run(connection.close())


@pytest.fixture
def new_async_session(async_connection: Any) -> Any:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    return async_sessionmaker(
        bind=async_connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
