"""SQL budgets end to end: inner pytest runs with the plugin, on SQLite in memory."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from perf_helpers import Runner

MODELS = """
import threading

import pytest
from sqlalchemy import ForeignKey, String, create_engine, insert, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, selectinload


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    addresses: Mapped[list["Address"]] = relationship(order_by="Address.id")


class Address(Base):
    __tablename__ = "addresses"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(100))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))


@pytest.fixture
def session():
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all(
            [User(name=f"user {n}", addresses=[Address(email=f"secret-{n}@example.com")]) for n in range(30)]
        )
        session.commit()
        yield session
    engine.dispose()
"""

ADDRESSES_SHAPE = (
    "SELECT addresses.id, addresses.email, addresses.user_id FROM addresses "
    "WHERE ? = addresses.user_id ORDER BY addresses.id"
)


def module(run: Runner, name: str, tests: str) -> None:
    run.module(name, MODELS + tests)


def line_in(run: Runner, name: str, marker: str) -> int:
    lines = (run.pytester.path / f"{name}.py").read_text(encoding="utf-8").splitlines()
    return next(number for number, line in enumerate(lines, start=1) if line.rstrip().endswith(f"# {marker}"))


def test_lazy_load_n_plus_one_fails_with_the_shape_count_and_call_site(run: Runner) -> None:
    module(
        run,
        "test_orders",
        """
@pytest.mark.perf_budget(queries=3, n_plus_one=0)
def test_list_orders(session):
    users = session.scalars(select(User)).all()
    for user in users:
        user.addresses  # the lazy load
""",
    )
    result = run("--perf-report", "out.json")

    result.assert_outcomes(failed=1)
    line = line_in(run, "test_orders", "the lazy load")
    output = run.output(result)
    assert "perf budget exceeded in test_orders.py::test_list_orders" in output
    assert "queries     31 > 3" in output
    assert "n_plus_one  1 > 0" in output
    assert (
        f"    {ADDRESSES_SHAPE}\n      ran 30 times from test_orders.py:{line} in test_list_orders" in output
    )

    record = run.record("test_orders.py::test_list_orders")
    assert record["metrics"]["queries"] == 31
    assert record["metrics"]["n_plus_one"] == 1
    assert record["metrics"]["sql_time"] > 0
    assert record["n_plus_one"] == [
        {
            "statement": ADDRESSES_SHAPE,
            "count": 30,
            "call_site": f"test_orders.py:{line}",
            "function": "test_list_orders",
        }
    ]
    assert record["slowest_statement"] in (ADDRESSES_SHAPE, "SELECT users.id, users.name FROM users")
    report = (run.pytester.path / "out.json").read_text(encoding="utf-8")
    assert "secret-" not in report  # no parameter value
    assert "user 1" not in report


def test_selectinload_fix_passes_with_two_queries(run_serial: Runner) -> None:
    module(
        run_serial,
        "test_fixed",
        """
@pytest.mark.perf_budget(queries=2, n_plus_one=0)
def test_list_orders(session):
    users = session.scalars(select(User).options(selectinload(User.addresses))).all()
    assert sum(len(user.addresses) for user in users) == 30
""",
    )
    result = run_serial("--perf-report", "out.json")

    result.assert_outcomes(passed=1)
    record = run_serial.record("test_fixed.py::test_list_orders")
    assert (record["metrics"]["queries"], record["metrics"]["n_plus_one"], record["n_plus_one"]) == (2, 0, [])


def test_suspects_are_in_the_report_without_a_budget_asking(run_serial: Runner) -> None:
    module(
        run_serial,
        "test_plain",
        """
def test_loop(session):
    for user_id in range(1, 6):
        session.execute(select(Address).where(Address.user_id == user_id)).all()  # loop
""",
    )
    result = run_serial("--perf-report", "out.json")

    result.assert_outcomes(passed=1)
    record = run_serial.record("test_plain.py::test_loop")
    [suspect] = record["n_plus_one"]
    assert suspect["count"] == 5
    assert suspect["call_site"] == f"test_plain.py:{line_in(run_serial, 'test_plain', 'loop')}"
    assert record["metrics"]["queries"] == 5


def test_a_helper_called_from_several_lines_is_no_suspect_but_called_in_a_loop_it_is(run: Runner) -> None:
    module(
        run,
        "test_helper",
        """
def get_user(session, user_id):
    return session.scalars(select(User).where(User.id == user_id)).one()  # helper


def test_three_lines(session):
    get_user(session, 1)
    get_user(session, 2)
    get_user(session, 3)


def test_loop(session):
    for user_id in range(1, 4):
        get_user(session, user_id)
""",
    )
    result = run("--perf-report", "out.json")

    result.assert_outcomes(passed=2)
    three_lines = run.record("test_helper.py::test_three_lines")
    assert (three_lines["metrics"]["queries"], three_lines["n_plus_one"]) == (3, [])
    loop = run.record("test_helper.py::test_loop")
    assert loop["metrics"]["n_plus_one"] == 1
    assert loop["n_plus_one"] == [
        {
            "statement": "SELECT users.id, users.name FROM users WHERE users.id = ?",
            "count": 3,
            "call_site": f"test_helper.py:{line_in(run, 'test_helper', 'helper')}",
            "function": "get_user",
        }
    ]


@pytest.mark.parametrize(
    "ignore",
    [
        pytest.param("'SELECT addresses.* FROM addresses WHERE *'", id="shape"),
        pytest.param("'test_ignored.py:{line}'", id="call-site"),
    ],
)
def test_n_plus_one_ignore_allows_known_repeats(run_serial: Runner, ignore: str) -> None:
    source = """
@pytest.mark.perf_budget(n_plus_one=0, n_plus_one_ignore=[IGNORE])
def test_flags(session):
    for user in session.scalars(select(User)).all():
        user.addresses  # known
"""
    module(run_serial, "test_ignored", source)
    line = line_in(run_serial, "test_ignored", "known")
    module(run_serial, "test_ignored", source.replace("IGNORE", ignore.format(line=line)))

    result = run_serial()

    result.assert_outcomes(passed=1)


def test_threshold_setting_from_the_budget_file(run_serial: Runner) -> None:
    module(
        run_serial,
        "test_threshold",
        """
def test_five(session):
    for user_id in range(1, 6):
        session.execute(select(Address).where(Address.user_id == user_id)).all()
""",
    )
    budgets = run_serial.budgets(
        "version: 1\nsettings:\n  n_plus_one_threshold: 6\nbudgets:\n  '**':\n    n_plus_one: 0\n"
    )

    result = run_serial("--perf-budget", str(budgets))

    result.assert_outcomes(passed=1)


def test_transaction_control_and_repeated_writes_are_not_counted_as_queries(run_serial: Runner) -> None:
    module(
        run_serial,
        "test_writes",
        """
@pytest.mark.perf_budget(queries=10, n_plus_one=0)
def test_inserts(session, perf):
    for n in range(10):
        session.execute(insert(Address).values(email="x", user_id=1))
    session.commit()
    with session.begin_nested():
        pass
    kinds = [statement.kind for statement in perf.queries]
    assert perf.queries.count == 10
    assert "transaction" in kinds
    assert perf.queries.repeated_writes(3)[0].count == 10
""",
    )
    result = run_serial()

    result.assert_outcomes(passed=1)


def test_perf_queries_and_blocks_work_off_the_capture(run_serial: Runner) -> None:
    module(
        run_serial,
        "test_blocks",
        """
def test_blocks(perf, session):
    with perf.block("load users", queries=1, n_plus_one=0):
        users = session.scalars(select(User)).all()
    assert perf.queries.count == 1
    assert list(perf.queries.by_shape()) == ["SELECT users.id, users.name FROM users"]
    with perf.block("lazy", queries=40, n_plus_one=0):
        for user in users:
            user.addresses
    assert perf.queries.count == 31
""",
    )
    result = run_serial("--perf-report", "out.json")

    result.assert_outcomes(failed=1)
    output = run_serial.output(result)
    assert "n_plus_one in 'lazy'" in output
    assert "load users" not in output
    blocks = run_serial.record("test_blocks.py::test_blocks")["blocks"]
    assert blocks["load users"]["queries"] == 1
    assert (blocks["lazy"]["queries"], blocks["lazy"]["n_plus_one"]) == (30, 1)


def test_statements_from_other_threads_are_counted(run_serial: Runner) -> None:
    module(
        run_serial,
        "test_threads",
        """
@pytest.mark.perf_budget(queries=2)
def test_worker(session):
    engine = session.get_bind()

    def work():
        with engine.connect() as connection:
            for _ in range(3):
                connection.execute(text("SELECT 1"))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
""",
    )
    result = run_serial()

    result.assert_outcomes(failed=1)
    assert "queries     3 > 2" in run_serial.output(result)


def test_unmeasured_tests_record_nothing(run_serial: Runner) -> None:
    module(
        run_serial,
        "test_unmeasured",
        """
from pytest_perfbudget.queries import capture

def test_plain(session):
    session.execute(select(User)).all()
    assert capture.log is None
""",
    )
    result = run_serial()

    result.assert_outcomes(passed=1)


def test_under_xdist_the_worker_measures_sql(run: Runner) -> None:
    module(
        run,
        "test_x",
        """
@pytest.mark.perf_budget(queries=1)
def test_two(session):
    session.execute(select(User)).all()
    session.execute(select(Address)).all()
""",
    )
    result = run("--perf-report", "out.json")

    result.assert_outcomes(failed=1)
    assert run.record("test_x.py::test_two")["metrics"]["queries"] == 2


# --- in a fresh process: what the plugin does before SQLAlchemy is imported ----------------


def test_a_suite_without_sqlalchemy_never_imports_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_nosql="""
import sys

def test_measured(perf):
    assert "sqlalchemy" not in sys.modules
    assert perf.queries.count == 0
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--perf-report", "out.json")

    result.assert_outcomes(passed=1)
    report = json.loads((pytester.path / "out.json").read_text(encoding="utf-8"))
    assert report["tests"][0]["metrics"]["queries"] == 0


def test_sqlalchemy_first_imported_inside_the_test_is_counted(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_late="""
import sys

import pytest

@pytest.mark.perf_budget(queries=5)
def test_late_import(perf):
    assert "sqlalchemy" not in sys.modules
    from sqlalchemy import create_engine, text

    engine = create_engine("sqlite://")
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
        connection.execute(text("SELECT 2"))
    assert perf.queries.count == 2
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:hypothesispytest")

    result.assert_outcomes(passed=1)


# --- end to end on every backend ----------------------------------------------------------

BACKEND_MODULE = """
import asyncio
import uuid

import pytest
from sqlalchemy import ForeignKey, String, create_engine, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

URL = {url!r}
IS_ASYNC = {is_async!r}
SUFFIX = uuid.uuid4().hex[:10]


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = f"e2e_users_{{SUFFIX}}"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    addresses: Mapped[list["Address"]] = relationship()


class Address(Base):
    __tablename__ = f"e2e_addresses_{{SUFFIX}}"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(100))
    user_id: Mapped[int] = mapped_column(ForeignKey(User.id))


def seed(connection):
    Base.metadata.create_all(connection)
    connection.execute(insert(User), [{{"name": f"u{{n}}"}} for n in range(30)])
    connection.execute(insert(Address), [{{"email": "x", "user_id": n}} for n in range(1, 31)])


def list_orders(session):
    for user in session.scalars(select(User)).all():
        user.addresses  # the lazy load


@pytest.mark.perf_budget(n_plus_one=0)
def test_list_orders(perf):
    if IS_ASYNC:
        asyncio.run(run_async(perf))
        return
    engine = create_engine(URL)
    with engine.begin() as connection:
        seed(connection)
    try:
        with Session(engine) as session, perf.block("list"):
            list_orders(session)
    finally:
        Base.metadata.drop_all(engine)
        engine.dispose()


async def run_async(perf):
    engine = create_async_engine(URL)
    async with engine.begin() as connection:
        await connection.run_sync(seed)
    try:
        async with AsyncSession(engine) as session:
            with perf.block("list"):
                await session.run_sync(list_orders)
    finally:
        async with engine.begin() as connection:
            await connection.run_sync(Base.metadata.drop_all)
        await engine.dispose()
"""


@pytest.mark.parametrize("name", ["sqlite", "aiosqlite", "psycopg", "asyncpg", "pymysql"])
def test_the_lazy_load_suspect_on_every_backend(run_serial: Runner, name: str) -> None:
    from sql_scenarios import BACKENDS, url_for

    backend = BACKENDS[name]
    url = url_for(backend)
    run_serial.pytester.makepyfile(test_db=BACKEND_MODULE.format(url=url, is_async=backend.is_async))

    result = run_serial("--perf-report", "out.json")

    result.assert_outcomes(failed=1)
    line = line_in(run_serial, "test_db", "the lazy load")
    assert f"ran 30 times from test_db.py:{line} in list_orders" in run_serial.output(result)
    record = run_serial.record("test_db.py::test_list_orders")
    assert record["blocks"]["list"]["queries"] == 31
    assert record["blocks"]["list"]["n_plus_one"] == 1


# --- measuring must not keep the test's objects alive -------------------------------------


def test_objects_the_test_let_go_are_collected_while_measured(run: Runner) -> None:
    module(
        run,
        "test_collected",
        """
import gc
import weakref


def load_user(session):
    user = session.scalars(select(User).where(User.id == 1)).one()
    user.addresses  # a lazy load too: a second call into SQLAlchemy from this frame
    return weakref.ref(user)


@pytest.mark.perf_budget(queries=10)
def test_collected(session):
    ref = load_user(session)
    gc.collect()
    assert ref() is None, "the user loaded in load_user() is still alive"
""",
    )
    result = run("--perf-report", "out.json")

    result.assert_outcomes(passed=1)
    assert run.record("test_collected.py::test_collected")["metrics"]["queries"] == 2


# --- what a failing test shows ---------------------------------------------------------------


def test_a_failing_statement_s_traceback_shows_no_frame_of_the_plugin(run_serial: Runner) -> None:
    module(
        run_serial,
        "test_broken",
        """
@pytest.mark.perf_budget(queries=10)
def test_broken(session):
    session.execute(text("SELECT * FROM no_such_table"))
""",
    )
    result = run_serial("--tb=long")

    result.assert_outcomes(failed=1)
    output = run_serial.output(result)
    assert "no such table: no_such_table" in output
    assert "sqlalchemy/engine/default.py" in output  # SQLAlchemy's frames are shown
    assert "pytest_perfbudget" not in output


# --- statements with no call site: grouped by their call into SQLAlchemy ------------------------

SHARED_ENGINE = """
from sqlalchemy.pool import StaticPool


@pytest.fixture
def engine():
    engine = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all([User(name=f"user {n}", addresses=[Address(email="a")]) for n in range(1200)])
        session.commit()
    yield engine
    engine.dispose()


def in_a_thread(function, *args):
    '''Run ``function`` in a thread: its statements have no frame of the test's code.'''
    thread = threading.Thread(target=function, args=args)
    thread.start()
    thread.join()
"""


def test_an_eager_load_with_no_call_site_is_one_request(run_serial: Runner) -> None:
    module(
        run_serial,
        "test_nosite",
        SHARED_ENGINE
        + """
@pytest.mark.perf_budget(n_plus_one=0)
def test_batches(engine, perf):
    with Session(engine) as session:
        users = []
        in_a_thread(users.extend, session.query(User).options(selectinload(User.addresses)))
    assert len(users) == 1200
    assert [statement.call_site for statement in perf.queries.counted] == [None] * 4


def test_three_loads(engine, perf):
    with Session(engine) as session:
        for user_id in (1, 2, 3):
            in_a_thread(list, session.query(Address).filter(Address.user_id == user_id))
""",
    )
    result = run_serial("--perf-report", "out.json")

    result.assert_outcomes(passed=2)
    record = run_serial.record("test_nosite.py::test_batches")
    assert (record["metrics"]["queries"], record["metrics"]["n_plus_one"]) == (4, 0)
    three = run_serial.record("test_nosite.py::test_three_loads")
    assert [(suspect["count"], suspect["call_site"]) for suspect in three["n_plus_one"]] == [(3, None)]


# --- asyncio tasks: callers follow a task to where it was created ----------------------------

MINIGRAPH = '''
"""Runs resolvers in tasks of their own, as graphql-core does."""

import asyncio


async def execute(resolvers):
    return await asyncio.gather(*(resolver() for resolver in resolvers))
'''

RESOLVERS = """
import asyncio

import minigraph


def get_user(session, user_id):
    return session.scalars(select(User).where(User.id == user_id)).one()  # resolver


async def resolve(session, user_id):
    return get_user(session, user_id)
"""


def library(run: Runner, name: str, source: str) -> None:
    """A module installed like a third-party package (in a ``site-packages`` directory), which
    the inner run's conftest.py puts on ``sys.path`` (for xdist's workers too)."""
    directory = run.pytester.path / "site-packages"
    directory.mkdir(exist_ok=True)
    (directory / f"{name}.py").write_text(source, encoding="utf-8")
    run.pytester.makeconftest(
        "import sys\nfrom pathlib import Path\n\nsys.path.insert(0, str(Path(__file__).parent / 'site-packages'))\n"
        + "".join(f"from {path.stem} import *\n" for path in sorted(directory.glob("*.py")))
    )


def test_callers_follow_asyncio_tasks_to_the_lines_that_made_them(run_serial: Runner) -> None:
    library(run_serial, "minigraph", MINIGRAPH)
    module(
        run_serial,
        "test_tasks",
        RESOLVERS
        + """
async def three_queries(session):
    await minigraph.execute([lambda: resolve(session, 1)])  # first
    await minigraph.execute([lambda: resolve(session, 2)])  # second
    await minigraph.execute([lambda: resolve(session, 3)])  # third


async def a_loop(session):
    for user_id in (1, 2, 3):
        await minigraph.execute([lambda: resolve(session, user_id)])


@pytest.mark.perf_budget(n_plus_one=0)
def test_three_queries(session, perf):
    asyncio.run(three_queries(session))  # run
    assert [statement.callers[1:2] for statement in perf.queries.counted] == [(FIRST,), (SECOND,), (THIRD,)]
    assert {statement.callers[-1] for statement in perf.queries.counted} == {RUN}


def test_a_loop(session):
    asyncio.run(a_loop(session))
""",
    )
    sites = {
        name: f"'test_tasks.py:{line_in(run_serial, 'test_tasks', name)}'"
        for name in ("first", "second", "third", "run")
    }
    path = run_serial.pytester.path / "test_tasks.py"
    source = path.read_text(encoding="utf-8")
    path.write_text(
        source.replace("FIRST", sites["first"])
        .replace("SECOND", sites["second"])
        .replace("THIRD", sites["third"])
        .replace("RUN", sites["run"]),
        encoding="utf-8",
    )

    result = run_serial("--perf-report", "out.json")

    result.assert_outcomes(passed=2)
    assert run_serial.record("test_tasks.py::test_three_queries")["metrics"]["n_plus_one"] == 0
    [suspect] = run_serial.record("test_tasks.py::test_a_loop")["n_plus_one"]
    assert (suspect["count"], suspect["call_site"]) == (
        3,
        f"test_tasks.py:{line_in(run_serial, 'test_tasks', 'resolver')}",
    )


# --- repeats made by the test (a benchmark fixture, the test's own loop) are not N+1 ------------

FAKEBENCH = '''
"""A benchmark fixture as pytest-benchmark's: calls the function given a number of rounds."""

import pytest


class Benchmark:
    rounds = 5

    def __call__(self, function, *args):
        for _ in range(self.rounds):
            result = function(*args)
        return result


@pytest.fixture
def benchmark():
    return Benchmark()
'''

REPEATED = """
from sqlalchemy import func


def list_users(session):
    session.expire_all()
    users = session.scalars(select(User).options(selectinload(User.addresses))).all()  # users
    return len(users), session.scalar(select(func.count()).select_from(Address))  # count


def list_orders(session):
    session.expire_all()
    for user in session.scalars(select(User).where(User.id <= 5)).all():  # five users
        user.addresses  # lazy


@pytest.mark.perf_budget(n_plus_one=0)
def test_benchmark(benchmark, session):
    benchmark(list_users, session)


@pytest.mark.perf_budget(n_plus_one=0)
def test_own_loop(session):
    for _ in range(4):
        list_users(session)


def test_benchmark_of_a_loop(benchmark, session):
    benchmark(list_orders, session)


def test_own_loop_over_a_loop(session):
    for _ in range(3):
        list_orders(session)
"""

USERS_SHAPE = "SELECT users.id, users.name FROM users"
SELECTIN_SHAPE = (
    "SELECT addresses.user_id, addresses.id, addresses.email FROM addresses "
    "WHERE addresses.user_id IN (?) ORDER BY addresses.id"
)
COUNT_SHAPE = "SELECT count(*) AS count_1 FROM addresses"


def test_repeats_made_by_the_test_are_not_n_plus_one_but_loops_under_them_still_are(run: Runner) -> None:
    library(run, "fakebench", FAKEBENCH)
    module(run, "test_repeats", REPEATED)

    result = run("--perf-report", "out.json")

    result.assert_outcomes(passed=4)
    users, count, lazy, five = (
        f"test_repeats.py:{line_in(run, 'test_repeats', name)}"
        for name in ("users", "count", "lazy", "five users")
    )
    for name, rounds in (("test_benchmark", 5), ("test_own_loop", 4)):
        record = run.record(f"test_repeats.py::{name}")
        assert (record["metrics"]["queries"], record["metrics"]["n_plus_one"]) == (3 * rounds, 0)
        assert record["n_plus_one"] == []
        assert sorted(
            (repeat["statement"], repeat["count"], repeat["call_site"])
            for repeat in record["repeated_by_test"]
        ) == sorted(
            [(USERS_SHAPE, rounds, users), (SELECTIN_SHAPE, rounds, users), (COUNT_SHAPE, rounds, count)]
        )
    for name, rounds in (("test_benchmark_of_a_loop", 5), ("test_own_loop_over_a_loop", 3)):
        record = run.record(f"test_repeats.py::{name}")
        assert record["metrics"]["n_plus_one"] == 1
        [suspect] = record["n_plus_one"]
        assert (suspect["count"], suspect["call_site"]) == (5 * rounds, lazy)
        [repeat] = record["repeated_by_test"]
        assert (repeat["count"], repeat["call_site"]) == (rounds, five)


def test_a_benchmark_of_resolvers_run_in_asyncio_tasks_is_repeated_by_the_test(run_serial: Runner) -> None:
    library(run_serial, "fakebench", FAKEBENCH)
    library(run_serial, "minigraph", MINIGRAPH)
    module(
        run_serial,
        "test_graph",
        RESOLVERS
        + """
from sqlalchemy import func


async def resolve_count(session):
    return session.scalar(select(func.count()).select_from(Address))


def query(session):
    return asyncio.run(minigraph.execute([lambda: resolve(session, 1), lambda: resolve_count(session)]))


@pytest.mark.perf_budget(n_plus_one=0)
def test_graph_benchmark(benchmark, session):
    benchmark(query, session)


@pytest.mark.perf_budget(n_plus_one=0)
def test_one_query_repeated(benchmark, session):
    benchmark(get_user, session, 1)
""",
    )
    result = run_serial("--perf-report", "out.json")

    result.assert_outcomes(passed=1, failed=1)
    record = run_serial.record("test_graph.py::test_graph_benchmark")
    assert (record["metrics"]["queries"], record["metrics"]["n_plus_one"]) == (10, 0)
    assert sorted(repeat["count"] for repeat in record["repeated_by_test"]) == [5, 5]
    # A call that sends one query cannot be told from a loop over data: it stays a suspect.
    single = run_serial.record("test_graph.py::test_one_query_repeated")
    assert [suspect["count"] for suspect in single["n_plus_one"]] == [5]


def test_statements_past_the_detail_kept_are_counted_not_kept(run_serial: Runner) -> None:
    module(
        run_serial,
        "test_many",
        """
from pytest_perfbudget.queries import DETAIL_LIMIT


@pytest.mark.perf_budget(queries=DETAIL_LIMIT + 10)
def test_many(session, perf):
    connection = session.connection()
    for _ in range(DETAIL_LIMIT + 25):
        connection.execute(text("SELECT 1"))
    assert perf.queries.count == DETAIL_LIMIT + 25
    assert len(perf.queries) == DETAIL_LIMIT + 26  # and the BEGIN
    assert len(perf.queries.statements) == DETAIL_LIMIT
""",
    )
    result = run_serial("--perf-report", "out.json")

    result.assert_outcomes(failed=1)
    from pytest_perfbudget.queries import DETAIL_LIMIT

    assert f"queries     {DETAIL_LIMIT + 25} > {DETAIL_LIMIT + 10}" in run_serial.output(result)
    record = run_serial.record("test_many.py::test_many")
    assert (record["metrics"]["queries"], record["sql_statements_not_kept"]) == (DETAIL_LIMIT + 25, 26)
    assert [suspect["count"] for suspect in record["n_plus_one"]] == [DETAIL_LIMIT + 25]


# --- a run pays for SQL numbers only where something reads them ---------------------------------


def test_statements_are_recorded_only_where_a_limit_or_a_report_reads_them(run_serial: Runner) -> None:
    module(
        run_serial,
        "test_reads",
        """
from pytest_perfbudget.queries import capture


def test_time_only(session):
    session.execute(select(User)).all()
    record_call("recorded" if capture.log is not None and capture.log.count == 1 else "unrecorded")


@pytest.mark.perf_budget(queries=5)
def test_queries(session):
    session.execute(select(User)).all()
    record_call("recorded" if capture.log is not None and capture.log.count == 1 else "unrecorded")
""",
    )
    budgets = run_serial.budgets("version: 1\nbudgets:\n  '**':\n    time: 3600s\n")

    run_serial("--perf-budget", str(budgets)).assert_outcomes(passed=2)
    assert (run_serial.calls("recorded"), run_serial.calls("unrecorded")) == (1, 1)

    run_serial("--perf-budget", str(budgets), "--perf-report", "out.json").assert_outcomes(passed=2)
    assert (run_serial.calls("recorded"), run_serial.calls("unrecorded")) == (3, 1)
    assert run_serial.record("test_reads.py::test_time_only")["metrics"]["queries"] == 1


def test_a_block_n_plus_one_lists_its_suspects_in_aligned_lines(run: Runner) -> None:
    module(
        run,
        "test_feed",
        """
def test_feed(perf, session):
    users = session.scalars(select(User)).all()
    with perf.block("feed", queries=3, n_plus_one=0):
        for user in users:
            user.addresses  # the loop
""",
    )
    result = run()

    result.assert_outcomes(failed=1)
    line = line_in(run, "test_feed", "the loop")
    output = run.output(result)
    assert (
        "perf budget exceeded in test_feed.py::test_feed\n"
        "  queries in 'feed'    30 > 3        (block 'feed')\n"
        "  n_plus_one in 'feed' 1 > 0         (block 'feed')\n"
        f"    {ADDRESSES_SHAPE}\n"
        f"      ran 30 times from test_feed.py:{line} in test_feed\n"
    ) in output
