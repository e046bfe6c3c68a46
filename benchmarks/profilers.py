"""Which profiler the hot spots use: slowdown, and what each shows, on three kinds of test.

Three workloads, each with one planted hot spot (a function that should come out on top):

- ``cpu``: pure Python with many small calls (the worst case for a tracing profiler), where
  ``hot_loop`` does about two thirds of the work;
- ``sql``: SQLAlchemy ORM on SQLite in memory, where ``load_orders`` runs 200 queries (an N+1)
  and ``tally`` a little Python;
- ``asyncio``: coroutines under ``asyncio.run``, where ``crunch`` does CPU work between awaits
  and ``wait_for_io`` sleeps 20 ms.

Three profilers, besides none:

- ``cProfile``: deterministic, in C; what the plugin uses (through ``pytest_perfbudget.hot_spots``,
  so the share shown is what a failure message would say);
- ``setprofile``: deterministic, a Python callback on every call and return (``sys.setprofile``)
  that keeps the stack and adds up time per function;
- ``sampling``: a thread that reads the main thread's stack every millisecond
  (``sys._current_frames``), no hook in the profiled code at all.

For each, the median over interleaved repetitions of the workload's wall time and its ratio to
the unprofiled run, and the cumulative share the profiler gives the planted hot spot (with, for
sampling, how many samples it had).

Usage: ``.venv/bin/python benchmarks/profilers.py [--repeats 7]``. Figures only, nothing asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

HERE = Path(__file__).resolve().parent


# --- workloads ------------------------------------------------------------------------------


def small(value: int) -> int:
    return value * 2 + 1


def hot_loop() -> int:
    return sum(small(index) for index in range(60_000))


def cool_loop() -> int:
    return sum(small(index) for index in range(30_000))


def cpu_workload() -> None:
    hot_loop()
    cool_loop()


def sql_setup() -> Callable[[], None]:
    from sqlalchemy import Column, ForeignKey, Integer, create_engine, select
    from sqlalchemy.orm import Session, declarative_base, relationship

    base: Any = declarative_base()  # classic mapping: annotations are strings in this module

    class Customer(base):  # type: ignore[misc, valid-type]
        __tablename__ = "customers"
        id = Column(Integer, primary_key=True)
        orders = relationship("Order", back_populates="customer")

    class Order(base):  # type: ignore[misc, valid-type]
        __tablename__ = "orders"
        id = Column(Integer, primary_key=True)
        total = Column(Integer)
        customer_id = Column(Integer, ForeignKey("customers.id"))
        customer = relationship(Customer, back_populates="orders")

    engine = create_engine("sqlite://")
    base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all([Customer(id=index, orders=[Order(total=index)]) for index in range(200)])
        session.commit()

    def load_orders(session: Session) -> list[int]:
        customers = session.scalars(select(Customer)).all()
        return [order.total for customer in customers for order in customer.orders]  # lazy loads

    def tally(totals: list[int]) -> int:
        return sum(small(total) for total in totals * 20)

    def sql_workload() -> None:
        with Session(engine) as session:
            tally(load_orders(session))

    return sql_workload


async def crunch() -> int:
    total = 0
    for _ in range(20):
        total += sum(small(index) for index in range(2_000))
        await asyncio.sleep(0)
    return total


async def wait_for_io() -> None:
    await asyncio.sleep(0.02)


async def both() -> None:
    await asyncio.gather(crunch(), wait_for_io())


def asyncio_workload() -> None:
    asyncio.run(both())


# --- profilers ------------------------------------------------------------------------------


def run_plain(call: Callable[[], None], hot: str) -> tuple[float, str]:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start, ""


def run_cprofile(call: Callable[[], None], hot: str) -> tuple[float, str]:
    from pytest_perfbudget.hot_spots import profile
    from pytest_perfbudget.sql.callsite import CallSiteLocator

    start = time.perf_counter()
    evidence = profile(call, CallSiteLocator(HERE), measured_time=None, measured_queries=None)
    elapsed = time.perf_counter() - start
    shares = {
        function["function"].rsplit(".", 1)[-1]: function["share"] for function in evidence["functions"]
    }
    top = [function["function"].rsplit(".", 1)[-1] for function in evidence["functions"][:3]]
    return elapsed, f"{hot} {shares.get(hot, 0.0):.0%}; top: {', '.join(top)}"


def run_setprofile(call: Callable[[], None], hot: str) -> tuple[float, str]:
    cumulative: Counter[str] = Counter()
    stack: list[tuple[str, float]] = []
    on_stack: Counter[str] = Counter()

    def hook(frame: FrameType, event: str, argument: Any) -> None:
        if event == "call":
            name = frame.f_code.co_name
            stack.append((name, time.perf_counter()))
            on_stack[name] += 1
        elif event == "return" and stack:
            name, started = stack.pop()
            on_stack[name] -= 1
            if not on_stack[name]:  # recursion counted once
                cumulative[name] += time.perf_counter() - started

    start = time.perf_counter()
    sys.setprofile(hook)
    try:
        call()
    finally:
        sys.setprofile(None)
    elapsed = time.perf_counter() - start
    top = [name for name, _ in cumulative.most_common(6) if name not in ("<genexpr>", "both")][:3]
    return elapsed, f"{hot} {cumulative[hot] / elapsed:.0%}; top: {', '.join(top)}"


def run_sampling(call: Callable[[], None], hot: str, interval: float = 0.001) -> tuple[float, str]:
    main = threading.get_ident()
    samples: list[set[str]] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(interval):
            frame: FrameType | None = sys._current_frames().get(main)
            names = set()
            while frame is not None:
                names.add(frame.f_code.co_name)
                frame = frame.f_back
            samples.append(names)

    sampler = threading.Thread(target=sample, daemon=True)
    start = time.perf_counter()
    sampler.start()
    try:
        call()
    finally:
        done.set()
        sampler.join()
    elapsed = time.perf_counter() - start
    seen = sum(1 for names in samples if hot in names)
    share = seen / len(samples) if samples else 0.0
    return elapsed, f"{hot} {share:.0%} of {len(samples)} samples"


PROFILERS = {
    "none": run_plain,
    "cProfile": run_cprofile,
    "setprofile": run_setprofile,
    "sampling": run_sampling,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    arguments = parser.parse_args(argv)
    workloads: dict[str, tuple[Callable[[], None], str]] = {
        "cpu": (cpu_workload, "hot_loop"),
        "sql": (sql_setup(), "load_orders"),
        "asyncio": (asyncio_workload, "crunch"),
    }
    print("| test | profiler | wall (median) | slowdown | what it shows of the hot spot |")
    print("|---|---|---:|---:|---|")
    for name, (call, hot) in workloads.items():
        call()  # warm up: imports, caches, the statement cache
        times: dict[str, list[float]] = {profiler: [] for profiler in PROFILERS}
        shown: dict[str, str] = {}
        for repeat in range(arguments.repeats):
            order = list(PROFILERS)
            order = order[repeat % len(order) :] + order[: repeat % len(order)]
            for profiler in order:
                elapsed, says = PROFILERS[profiler](call, hot)
                times[profiler].append(elapsed)
                shown[profiler] = says
        plain = statistics.median(times["none"])
        for profiler in PROFILERS:
            median = statistics.median(times[profiler])
            print(
                f"| {name} | {profiler} | {median * 1000:.1f} ms | {median / plain:.2f}x | {shown[profiler] or '—'} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
