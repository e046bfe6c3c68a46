"""What SQL measurement costs per statement inside a real ``pytest`` run, as a user pays it.

Each scenario is one test module whose test sends ``N`` statements (N taken from the environment)
from a loop in a helper it calls, as code under test would. Every configuration runs ``pytest`` on
it in a fresh process, once with N statements and once with none, and the plugin's cost per
statement is

    ((plugin, N) - (plugin, 0) - (plain, N) + (plain, 0)) / N

in instructions counted by ``valgrind --tool=callgrind`` (the same count whatever the machine's
load): everything the plugin does because of those statements (the hooks, call sites, the N+1
analysis after the call, the record and report) and nothing of pytest's start-up or of the test's
own set-up, which both runs share.

Two things move a count that are not the plugin's work, and the figure is taken so that they
average out:

- CPython's method cache is a table indexed by type version tags and name addresses: which lookups
  in SQLAlchemy's hot path collide there depends on every class created and every string allocated
  before the loop, so the same loop costs a few thousand instructions more or less per statement
  from one process layout to the next (five harmless classes created before the loop moved plain
  SQLAlchemy's own cost by 4,700 instructions per statement). Each figure is therefore the mean over
  several layouts (``--seeds``): each seed is a hash seed and a number of classes made before pytest
  starts, which moves every later class to other cache slots. The range across them is printed
  beside the mean. Within each run, too, the test sends its statements in blocks (``--blocks``,
  8 by default): before each block every class gets a new version tag at its next lookup, a
  different number of tags on, so one run samples several layouts. Each block starts with a few
  warm-up statements, sent alike by the run without the N statements, so that the interpreter's
  specializations, undone by the new tags, are made again outside what is counted. Even so, a
  lazy load spends about 67,000 instructions a statement in method-cache misses, and they moved
  a mean of eight layouts by up to 17,000 instructions a statement from one run to the next. So
  each run's misses are counted apart (``find_name_in_mro``, where a lookup the cache does not
  hold searches the class's MRO, with what it calls: ``callgrind_annotate --inclusive=yes``), and
  each figure is given without them, then in all: without them, four runs of the same code
  agreed within 1,300 instructions per statement (4,100 for the ``AsyncSession``, whose loop waits
  on a thread), with them within up to 23,000.
- Where the cyclic garbage collector runs its full collections moves with what the statements
  allocate, and one full collection of a big heap is tens of millions of instructions: with the
  2,000 parents of the lazy-load scenario loaded, a figure moved by 50,000 instructions per
  statement from one layout to the next, and ``gc.freeze()`` alone turned that into a bias (the
  collector's count of long-lived objects, set at the last full collection, differs between a
  run with the plugin and one without). Each test therefore starts with ``gc.collect()`` and
  ``gc.freeze()``: both runs start their loop with nothing pending, and what pytest and the
  fixtures made is left out of later collections, whose cost then follows what the loop itself
  allocates and keeps (the plugin's records among it).

Scenarios: a Core ``text("select 1")``, a Core ``select()``, an ORM ``session.execute``, an ORM
lazy load in a loop (one per parent), and an ``AsyncSession.execute`` on aiosqlite; all on SQLite
in memory, the cheapest statement there is, so the plugin's share is the largest it can be.

Configurations:

- ``plain``: ``-p no:perfbudget``, the reference;
- ``time``: a time budget on every test and nothing that needs SQL numbers (no ``queries``,
  ``n_plus_one`` or ``sql_time`` limit, no report);
- ``sql``: ``queries`` and ``n_plus_one`` limits on every test (call sites and the N+1 analysis on);
- ``report``: the time budget and a JSON report (everything recorded for the report).

Beside the count, the wall time per statement as the test itself measures it (its loop timed with
``perf_counter``, median of interleaved runs), as a ratio to plain: wall time swings on a shared
machine, the instruction count is the figure.

Usage: ``python benchmarks/sql_user_cost.py [--statements 2000] [--seeds 1,2,3,4] [--jobs 2]
[--blocks 8,60] [--scenarios ...] [--configs ...] [--wall-repeats 5]``. Figures only: nothing here
asserts a limit.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

MODELS = """
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Parent(Base):
    __tablename__ = "parents"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20))
    children: Mapped[list["Child"]] = relationship(lazy="select")


class Child(Base):
    __tablename__ = "children"
    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("parents.id"))
"""
"""The tables of every scenario, for the scripts of this benchmark and of ``sql_cost_parts.py``."""

COMMON = (
    MODELS
    + """
import gc
import itertools
import json
import os
import time

import pytest
from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.orm import Session

STATEMENTS = int(os.environ["SQL_COST_STATEMENTS"])
WALL_FILE = os.environ.get("SQL_COST_WALL_FILE")


def engine_with_rows(rows):
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(insert(Parent), [{"name": f"parent {n}"} for n in range(max(rows, 1))])
    return engine


def report_wall(seconds):
    if WALL_FILE and STATEMENTS:
        with open(WALL_FILE, "w") as file:
            json.dump({"per_statement": seconds / STATEMENTS}, file)


BLOCKS = int(os.environ["SQL_COST_BLOCKS"])
WARM_UP = int(os.environ["SQL_COST_WARM_UP"])
SPARE_CLASSES = [type(f"Spare{index}", (), {"attribute": index}) for index in range(97)]


def start_measuring():
    # What pytest and the fixtures made, collected and frozen (see the docstring); the classes
    # to give new version tags before each block.
    gc.collect()
    classes = [found for found in gc.get_objects() if isinstance(found, type)]
    gc.freeze()
    return classes


def new_layout(classes, block):
    # Every class a new version tag at its next lookup, all of them a block-dependent number of
    # tags further on: CPython's method cache maps the lookups that follow to other slots.
    for cls in classes:
        try:
            type.__setattr__(cls, "_sql_cost_layout", block)
            type.__delattr__(cls, "_sql_cost_layout")
        except (TypeError, AttributeError):  # a static or immutable type keeps its tag
            pass
    for spare in SPARE_CLASSES[: block * 41 % len(SPARE_CLASSES)]:
        spare.attribute


def blocks(classes):
    # The blocks of the test's statements: a new layout, WARM_UP statements (in the runs with
    # and without the N statements alike), then the block's share of the N, timed.
    for block in range(BLOCKS):
        if BLOCKS > 1:
            new_layout(classes, block)
        yield WARM_UP, STATEMENTS // BLOCKS


def measured(classes, send):
    seconds = 0.0
    for warm_up, share in blocks(classes):
        send(warm_up)
        start = time.perf_counter()
        send(share)
        seconds += time.perf_counter() - start
    report_wall(seconds)
"""
)

SCENARIOS = {
    "core-text": """
@pytest.fixture
def connection():
    engine = engine_with_rows(1)
    with engine.connect() as connection:
        connection.execute(text("select 1"))
        yield connection


def test_statements(connection):
    def send(count):
        for _ in range(count):
            connection.execute(text("select 1"))

    measured(start_measuring(), send)
""",
    "core-select": """
QUERY = select(Parent.__table__.c.name).where(Parent.__table__.c.id == 1)


@pytest.fixture
def connection():
    engine = engine_with_rows(1)
    with engine.connect() as connection:
        connection.execute(QUERY)
        yield connection


def test_statements(connection):
    def send(count):
        for _ in range(count):
            connection.execute(QUERY).all()

    measured(start_measuring(), send)
""",
    "orm-execute": """
QUERY = select(Parent).where(Parent.id == 1)


@pytest.fixture
def session():
    engine = engine_with_rows(1)
    with Session(engine) as session:
        session.execute(QUERY).scalar_one()
        yield session


def test_statements(session):
    def send(count):
        for _ in range(count):
            session.execute(QUERY).scalar_one()

    measured(start_measuring(), send)
""",
    "orm-lazy-load": """
@pytest.fixture
def parents():
    rows = STATEMENTS + BLOCKS * WARM_UP
    engine = engine_with_rows(rows)
    with Session(engine) as session:
        parents = session.scalars(select(Parent).limit(rows)).all()
        yield parents


def test_statements(parents):
    unloaded = iter(parents)

    def send(count):
        for parent in itertools.islice(unloaded, count):
            len(parent.children)

    measured(start_measuring(), send)
""",
    "async-execute": """
import asyncio

from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

QUERY = select(Parent).where(Parent.id == 1)


async def prepare():
    engine = create_async_engine("sqlite+aiosqlite://")
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
        await connection.execute(insert(Parent), [{"name": "parent"}])
    return engine


async def send(session, count):
    for _ in range(count):
        (await session.execute(QUERY)).scalar_one()


async def run(engine, classes):
    async with AsyncSession(engine) as session:
        (await session.execute(QUERY)).scalar_one()
        seconds = 0.0
        for warm_up, share in blocks(classes):
            await send(session, warm_up)
            start = time.perf_counter()
            await send(session, share)
            seconds += time.perf_counter() - start
        return seconds


def test_statements():
    classes = start_measuring()
    loop = asyncio.new_event_loop()
    try:
        engine = loop.run_until_complete(prepare())
        report_wall(loop.run_until_complete(run(engine, classes)))
        loop.run_until_complete(engine.dispose())
    finally:
        loop.close()
""",
}

TIME_BUDGET = 'version: 1\nbudgets:\n  "**":\n    time: 3600s\n'
SQL_BUDGET = (
    'version: 1\nbudgets:\n  "**":\n    time: 3600s\n    queries: 1000000000\n    n_plus_one: 1000000000\n'
)
CONFIGS: dict[str, tuple[str, list[str]]] = {
    "plain": ("plain SQLAlchemy (`-p no:perfbudget`)", ["-p", "no:perfbudget"]),
    "time": ("time budget only: nothing needs SQL", ["--perf-budget=time.yml"]),
    "sql": ("`queries` and `n_plus_one` budgets", ["--perf-budget=sql.yml"]),
    "report": ("time budget and a JSON report", ["--perf-budget=time.yml", "--perf-report=run.json"]),
}
PYTEST = ["-q", "-p", "no:cacheprovider", "-p", "no:randomly", "-p", "no:xdist"]
PYTEST += ["-p", "no:hypothesispytest"]  # start-up only: the same in every run, and slow under callgrind
LAYOUT = """
import runpy, sys
for index in range(int(sys.argv.pop(1))):  # each class takes the next type version tag
    type(f"Shift{index}", (), {"attribute": index})().attribute
runpy.run_module("pytest", run_name="__main__", alter_sys=True)
"""
SHIFT = 7  # classes made before pytest starts, per seed: every later class gets other cache slots


def make_suite(directory: Path) -> None:
    (directory / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (directory / "time.yml").write_text(TIME_BUDGET, encoding="utf-8")
    (directory / "sql.yml").write_text(SQL_BUDGET, encoding="utf-8")
    for name, body in SCENARIOS.items():
        module = f"test_{name.replace('-', '_')}.py"
        (directory / module).write_text(COMMON + body, encoding="utf-8")


def module_of(scenario: str) -> str:
    return f"test_{scenario.replace('-', '_')}.py"


Blocks = tuple[int, int]
"""Blocks per test and warm-up statements per block (``--blocks``): see the module's docstring."""


def environment(
    statements: int, blocks: Blocks, wall_file: Path | None = None, seed: int = 0
) -> dict[str, str]:
    """The user's environment with the bytecode cache on and hash randomization fixed to ``seed``."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env |= {"PYTHONHASHSEED": str(seed), "SQL_COST_STATEMENTS": str(statements)}
    env |= {"SQL_COST_BLOCKS": str(blocks[0]), "SQL_COST_WARM_UP": str(blocks[1])}
    if wall_file is not None:
        env["SQL_COST_WALL_FILE"] = str(wall_file)
    return env


def run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0 and "Collected" not in done.stderr:
        sys.exit(
            f"failed ({done.returncode}): {' '.join(command)}\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        )
    return done


def pytest_command(seed: int) -> list[str]:
    """``python -m pytest`` in the layout of ``seed``: its hash seed (see :func:`environment`),
    and ``seed * SHIFT`` classes made first, so that CPython's method cache maps the classes
    that follow to other slots."""
    return [sys.executable, "-c", LAYOUT, str(seed * SHIFT), *PYTEST]


Count = tuple[int, int]
"""A run's instructions in all, and those of CPython's method-cache misses among them."""

MISSES = re.compile(r"^\s*([\d,]+) .*:find_name_in_mro ", re.MULTILINE)


def counted(command: list[str], directory: Path, env: dict[str, str], expected: str) -> Count:
    """The instructions of ``command`` under callgrind, and those spent in method-cache misses:
    ``find_name_in_mro`` with what it calls, which is where a lookup the cache does not hold
    searches the class's MRO. ``expected`` is what its output must say (the run did its work)."""
    run(command, directory, env)  # writes the bytecode cache; not counted
    with tempfile.NamedTemporaryFile(prefix="callgrind.", dir=directory) as profile:
        done = run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={profile.name}", *command], directory, env
        )
        found = re.search(r"Collected : (\d+)", done.stderr)
        if found is None or expected not in done.stdout:
            sys.exit(f"callgrind run failed: {' '.join(command)}\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
        annotated = subprocess.run(
            ["callgrind_annotate", "--inclusive=yes", profile.name],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    misses = MISSES.search(annotated)
    return int(found.group(1)), int(misses.group(1).replace(",", "")) if misses else 0


def instructions(
    scenario: str, config: str, statements: int, seed: int, blocks: Blocks, directory: Path
) -> Count:
    """What one pytest run of ``scenario`` counts (see :func:`counted`)."""
    command = [*pytest_command(seed), module_of(scenario), *CONFIGS[config][1]]
    return counted(command, directory, environment(statements, blocks, seed=seed), " passed")


def wall_per_statement(
    scenario: str, configs: list[str], statements: int, repeats: int, blocks: Blocks, directory: Path
) -> dict[str, float]:
    """Median wall seconds per statement as the test times its own loop, interleaved runs."""
    wall_file = directory / "wall.json"
    samples: dict[str, list[float]] = {config: [] for config in configs}
    for repetition in range(repeats):
        shift = repetition % len(configs)
        for config in configs[shift:] + configs[:shift]:
            command = [*pytest_command(0), module_of(scenario), *CONFIGS[config][1]]
            run(command, directory, environment(statements, blocks, wall_file))
            samples[config].append(json.loads(wall_file.read_text(encoding="utf-8"))["per_statement"])
    return {config: statistics.median(values) for config, values in samples.items()}


def row(
    scenario: str,
    configs: list[str],
    seeds: list[int],
    statements: int,
    counts: dict[tuple[str, str, int, int], Count],
    walls: dict[str, float],
) -> list[str]:
    """The table's cells for ``scenario``: plain's cost per statement, then each configuration's
    extra without the method-cache misses, and in all."""

    def per_statement(config: str, seed: int, part: int) -> float:
        with_statements = counts[scenario, config, statements, seed][part]
        return (with_statements - counts[scenario, config, 0, seed][part]) / statements

    def extra(config: str, seed: int, part: int) -> float:
        return per_statement(config, seed, part) - per_statement("plain", seed, part)

    plains = [per_statement("plain", seed, 0) for seed in seeds]
    plain = statistics.mean(plains)
    misses = statistics.mean(per_statement("plain", seed, 1) for seed in seeds)
    cells = [f"{plain / 1000:,.1f}k ({misses / 1000:,.1f}k in misses)"]
    if walls:
        cells[0] += f" ({walls['plain'] * 1e6:.1f} µs)"
    for config in configs[1:]:
        totals = [extra(config, seed, 0) for seed in seeds]
        steady = [total - extra(config, seed, 1) for seed, total in zip(seeds, totals, strict=True)]
        cell = f"{statistics.mean(steady) / 1000:+,.1f}k ({statistics.mean(steady) / plain:+.1%})"
        if len(seeds) > 1:
            cell += f" [{min(steady) / 1000:+,.1f}k..{max(steady) / 1000:+,.1f}k]"
        cell += f"; in all {statistics.mean(totals) / 1000:+,.1f}k"
        if len(seeds) > 1:
            cell += f" [{min(totals) / 1000:+,.1f}k..{max(totals) / 1000:+,.1f}k]"
        if walls:
            cell += f", wall x{walls[config] / walls['plain']:.2f}"
        cells.append(cell)
    return cells


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--statements", type=int, default=2000, help="statements per test (default 2000)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated")
    parser.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated; plain is always run")
    parser.add_argument(
        "--seeds", default="1,2,3,4", help="hash seeds, one process layout each: figures are their mean"
    )
    parser.add_argument("--jobs", type=int, default=2, help="callgrind runs at once (counts do not change)")
    parser.add_argument("--wall-repeats", type=int, default=5, help="interleaved wall-clock runs (0: none)")
    parser.add_argument(
        "--blocks",
        default="8,60",
        help="blocks per test, each in a layout of its own, and warm-up statements per block (default 8,60)",
    )
    arguments = parser.parse_args(argv)
    scenarios = [name for name in arguments.scenarios.split(",") if name]
    configs = ["plain", *(name for name in arguments.configs.split(",") if name and name != "plain")]
    unknown = sorted((set(scenarios) - set(SCENARIOS)) | (set(configs) - set(CONFIGS)))
    if unknown:
        parser.error(f"unknown scenarios or configurations: {', '.join(unknown)}")
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed: the instruction counts are the figure")
    statements = arguments.statements
    count, warm_up = (int(part) for part in arguments.blocks.split(","))
    if count < 1 or warm_up < 0 or statements % count:
        parser.error("--blocks: at least one block, no negative warm-up, and --statements a multiple of it")
    blocks = (count, warm_up)
    print(f"Python {sys.version.split()[0]}, {statements:,} statements per test, SQLite in memory\n")
    header = " | ".join(CONFIGS[config][0] for config in configs[1:])
    print(f"| scenario | plain, per statement | {header} |")
    print("|---|---:|" + "---:|" * (len(configs) - 1))
    seeds = [int(seed) for seed in arguments.seeds.split(",") if seed]
    with tempfile.TemporaryDirectory() as directory_name, ThreadPoolExecutor(arguments.jobs) as pool:
        directory = Path(directory_name)
        make_suite(directory)
        for scenario in scenarios:
            runs = [
                (scenario, config, size, seed)
                for seed in seeds
                for config in configs
                for size in (0, statements)
            ]
            counts = dict(
                zip(
                    runs,
                    pool.map(
                        lambda job: instructions(job[0], job[1], job[2], job[3], blocks, directory), runs
                    ),
                    strict=True,
                )
            )
            walls = (
                wall_per_statement(scenario, configs, statements, arguments.wall_repeats, blocks, directory)
                if arguments.wall_repeats
                else {}
            )
            cells = row(scenario, configs, seeds, statements, counts, walls)
            print(f"| {scenario} | {' | '.join(cells)} |", flush=True)
    print(
        "\nInstructions per statement over plain, from runs with N and with 0 statements "
        "(callgrind), the mean over the hash seeds [their range]: first without CPython's "
        "method-cache misses (find_name_in_mro and what it calls), whose count moves with the "
        "process layout, then in all; plain: its misses beside it; wall: the test's own loop, "
        "median of interleaved runs, over plain."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
