"""Engines for the shop: SQLite by default, any SQLAlchemy URL (PostgreSQL, ...) when given."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

# Drivers with an asyncio counterpart, for the async engine of the same database.
ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+pysqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+psycopg",
    "postgresql+psycopg": "postgresql+psycopg",  # psycopg 3 speaks both
    "postgresql+psycopg2": "postgresql+asyncpg",
    "mysql+pymysql": "mysql+aiomysql",
}


def async_url(url: str) -> str:
    """The URL of the same database for an asyncio driver."""
    parsed = make_url(url)
    driver = ASYNC_DRIVERS.get(parsed.drivername, parsed.drivername)
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def _sqlite_savepoints(engine: Engine) -> None:
    """Let SQLAlchemy, not the sqlite3 module, begin transactions, so that SAVEPOINT works.

    The recipe of SQLAlchemy's SQLite documentation ("Serializable isolation /
    Savepoints / Transactional DDL"); the tests roll every test back with it.
    """

    @event.listens_for(engine, "connect")
    def _no_implicit_begin(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN")


def make_engine(url: str) -> Engine:
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        _sqlite_savepoints(engine)
    return engine


def make_async_engine(url: str) -> AsyncEngine:
    engine = create_async_engine(async_url(url))
    if engine.dialect.name == "sqlite":
        _sqlite_savepoints(engine.sync_engine)
    return engine
