"""What SQL measurement costs per statement, on SQLite in memory.

Runs the same cached statement many times, once through a Core connection and
once through an ORM session (a deeper stack for the call-site walk), in five
set-ups, and prints the CPU time per statement and the cost over plain
SQLAlchemy:

- plain: the plugin's hooks not installed;
- installed, idle: hooks installed, no test being measured (``capture.log`` is None);
- counted: a round being measured, call sites off (an internal switch);
- counted + call site: what a measured test pays;
- cursor event: a ``before_cursor_execute`` listener doing nothing, for comparison.

Usage: ``python benchmarks/sql_overhead.py [--batch N] [--repeats R]``. Figures only:
timings vary with the machine, so nothing here asserts a limit. Each figure is
the best of many short interleaved batches, timed in thread CPU time, which
keeps most of the noise of a busy machine out.

A workload is called as a pluggy hook, as pytest calls a test function: the
call-site walk, which goes on past the call site to the user's frames further out
(the callers), stops at pluggy's frames here as it stops at pytest's in a test run.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pluggy
from sqlalchemy import Engine, String, create_engine, event, insert, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from pytest_perfbudget.queries import QueryLog, capture
from pytest_perfbudget.sql import SqlInstrumentation, hooks


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "items"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20))


CORE_QUERY = select(Item.__table__.c.name).where(Item.__table__.c.id == 1)
ORM_QUERY = select(Item).where(Item.id == 1)


def make_engine() -> Engine:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(insert(Item), [{"name": f"item {n}"} for n in range(10)])
    return engine


def core(session: Session, statements: int) -> float:
    """CPU seconds per Core statement. This loop's frame is the user code a call site stops at."""
    connection = session.connection()
    start = time.thread_time()
    for _ in range(statements):
        connection.execute(CORE_QUERY)
    return (time.thread_time() - start) / statements


def orm(session: Session, statements: int) -> float:
    """CPU seconds per ORM ``session.execute``, from about twice the stack depth of Core."""
    start = time.thread_time()
    for _ in range(statements):
        session.execute(ORM_QUERY).scalar_one()
    return (time.thread_time() - start) / statements


hookspec = pluggy.HookspecMarker("sqlbench")
hookimpl = pluggy.HookimplMarker("sqlbench")


class RunnerSpec:
    @hookspec(firstresult=True)
    def sqlbench_call(self, session: Session, statements: int) -> float:  # type: ignore[empty-body]
        """Run a workload, as pytest's ``pytest_pyfunc_call`` hook runs a test function."""


def runner(workload: Callable[[Session, int], float]) -> Any:
    """``workload`` as the only implementation of a pluggy hook, called by keyword.

    Its frame is then right under pluggy's, as a test function's is in a test run.
    """
    manager = pluggy.PluginManager("sqlbench")
    manager.add_hookspecs(RunnerSpec)
    manager.register(SimpleNamespace(sqlbench_call=hookimpl(workload)))
    return manager.hook.sqlbench_call


@contextmanager
def counting(call_sites: bool = True) -> Iterator[None]:
    hooks.recorder.call_sites = call_sites
    capture.log = QueryLog()
    try:
        yield
    finally:
        capture.log = None
        hooks.recorder.call_sites = True


@contextmanager
def cursor_event(engine: Engine) -> Iterator[None]:
    def listener(*args: Any) -> None:
        pass

    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def set_ups(engine: Engine) -> dict[str, tuple[bool, Callable[[], AbstractContextManager[Any]]]]:
    """Name: (hooks installed, what is in force while timing)."""
    return {
        "plain": (False, nullcontext),
        "installed, idle": (True, nullcontext),
        "counted": (True, lambda: counting(call_sites=False)),
        "counted + call site": (True, counting),
        "cursor event": (False, lambda: cursor_event(engine)),
    }


def measure(
    engine: Engine, workload: Callable[[Session, int], float], batch: int, repeats: int
) -> dict[str, float]:
    """Best of ``repeats`` batches per set-up, the set-ups interleaved so that they share the noise."""
    setups = set_ups(engine)
    results: dict[str, list[float]] = {name: [] for name in setups}
    call = runner(workload)
    with Session(engine) as session:
        hooks.install()
        with counting():
            call(session=session, statements=2000)  # warm SQLAlchemy's and the plugin's caches
        for _ in range(repeats):
            for name, (installed, in_force) in setups.items():
                if installed:
                    hooks.install()
                else:
                    hooks.uninstall()
                with in_force():
                    results[name].append(call(session=session, statements=batch))
    hooks.uninstall()
    return {name: min(values) for name, values in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch", type=int, default=200, help="statements per timed batch")
    parser.add_argument("--repeats", type=int, default=200, help="batches per set-up")
    arguments = parser.parse_args()

    engine = make_engine()
    SqlInstrumentation(Path(__file__).resolve().parent.parent).ensure_installed()
    print(f"SQLite in memory: best of {arguments.repeats} batches of {arguments.batch} statements")
    for title, workload in (("Core connection.execute", core), ("ORM session.execute", orm)):
        figures = measure(engine, workload, arguments.batch, arguments.repeats)
        plain = figures["plain"]
        print(f"\n{title:<24} {'per statement':>14} {'overhead':>10} {'relative':>9}")
        for name, value in figures.items():
            overhead = value - plain
            print(f"{name:<24} {value * 1e6:>11.2f} µs {overhead * 1e6:>+8.2f} µs {overhead / plain:>+8.1%}")


if __name__ == "__main__":
    main()
