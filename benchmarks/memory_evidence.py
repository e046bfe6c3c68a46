"""What a ``leak`` budget and the memory evidence of a failure cost, per test.

For three workloads (pure-Python calls, allocations, an SQLAlchemy ORM query on SQLite in memory)
it prints the CPU time of:

- plain: one call of the workload, untraced;
- traced call: one call under tracemalloc with one frame, as a ``memory`` budget measures it;
- leak budget: what a test within its ``leak`` budget pays on top of its measured call (the
  extra calls of :func:`pytest_perfbudget.leaks.measure_leak`, with their garbage collections);
- leak sites: what a test over its ``leak`` budget pays on top of that (:func:`leak_allocations`);
- peak sites: what a test over its ``memory`` budget pays (:func:`peak_allocations`).

Each as a multiple of the plain call. Usage: ``python benchmarks/memory_evidence.py [--repeats R]``.
Figures only: nothing here asserts a limit. Each figure is the best of ``R`` runs in process CPU
time (a busy machine inflates wall time far more).

A full garbage collection is part of the leak figures and costs with the size of the heap, not of
the test: the figures are printed with the number of objects the collector tracked.
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import ForeignKey, String, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from pytest_perfbudget.allocations import leak_allocations, peak_allocations
from pytest_perfbudget.leaks import LEAK_CALLS, measure_leak
from pytest_perfbudget.sql.callsite import CallSiteLocator


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    addresses: Mapped[list[Address]] = relationship(back_populates="user")


class Address(Base):
    __tablename__ = "addresses"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(50))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    user: Mapped[User] = relationship(back_populates="addresses")


ENGINE = create_engine("sqlite://")
Base.metadata.create_all(ENGINE)
with Session(ENGINE) as setup:
    setup.add_all([User(name=f"u{i}", addresses=[Address(email=f"e{i}")]) for i in range(200)])
    setup.commit()


def orm_query() -> None:
    with Session(ENGINE) as session:
        for user in session.scalars(select(User)).all():
            assert user.addresses


def allocations() -> None:
    rows = [{"id": i, "name": str(i) * 5} for i in range(20_000)]
    assert len(rows) == 20_000


def calls() -> None:
    def step(value: int) -> int:
        return value + 1

    total = 0
    for _ in range(50_000):
        total = step(total)
    assert total == 50_000


def best(action: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.process_time()
        action()
        times.append(time.process_time() - start)
    return min(times)


def traced(call: Callable[[], None]) -> Callable[[], None]:
    import tracemalloc

    def run() -> None:
        tracemalloc.start(1)
        try:
            call()
        finally:
            tracemalloc.stop()

    return run


def peak_of(call: Callable[[], None]) -> int:
    """The call's ``memory``, as a memory budget measures it."""
    import tracemalloc

    tracemalloc.start(1)
    try:
        start = tracemalloc.get_traced_memory()[0]
        call()
        return tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    arguments = parser.parse_args()
    locator = CallSiteLocator(Path(__file__).parent)
    print(f"leak: {LEAK_CALLS} + 1 extra calls; {len(gc.get_objects()):,} objects tracked by gc")
    print(
        f"{'workload':<12} {'plain':>9} {'traced call':>12} {'leak budget':>12} {'leak sites':>11} {'peak sites':>11}"
    )
    for name, workload in (("calls", calls), ("allocations", allocations), ("orm query", orm_query)):
        workload()
        plain = best(workload, arguments.repeats)
        peak = peak_of(workload)
        figures = [
            best(traced(workload), arguments.repeats),
            best(lambda call=workload: measure_leak(call), arguments.repeats),
            best(lambda call=workload: leak_allocations(call, LEAK_CALLS, locator), arguments.repeats),
            best(lambda call=workload, peak=peak: peak_allocations(call, peak, locator), arguments.repeats),
        ]
        shown = " ".join(f"{figure * 1e3:>7.0f}ms {figure / plain:>4.0f}x" for figure in figures)
        print(f"{name:<12} {plain * 1e3:>7.1f}ms {shown}  (peak {peak:,} bytes)")


if __name__ == "__main__":
    main()
