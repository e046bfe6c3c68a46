"""The ``leak`` metric: memory each call leaves allocated once caches are warm, and where."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from perf_helpers import Runner

LEAKY = """
import functools
import pytest

_seen = []

def remember(item):
    _seen.append(str(item) * 100)

@pytest.mark.perf_budget(leak="2kB")
def test_appends():
    record_call()
    for i in range(50):
        remember(i)

@functools.lru_cache(maxsize=None)
def table(size):
    return [str(i) * 10 for i in range(size)]

@pytest.mark.perf_budget(leak="2kB")
def test_cache():
    assert len(table(5_000)) == 5_000

LAST = {}

@pytest.mark.perf_budget(leak="2kB")
def test_replaced():
    LAST["result"] = [str(i) * 10 for i in range(5_000)]
"""


def test_a_list_that_grows_at_each_call_leaks_and_its_line_is_named(run: Runner) -> None:
    run.module("test_leaky", LEAKY)
    result = run("--perf-report", "out.json")
    result.assert_outcomes(failed=1, passed=2)
    result.stdout.fnmatch_lines(
        [
            "perf budget exceeded in test_leaky.py::test_appends",
            "  leak        * > 2kB *(marker)",
            "    still allocated after each call:",
            "      * 50 blocks *test_leaky.py:13 in remember",
        ]
    )
    record = run.record("test_leaky.py::test_appends")
    assert record["metrics"]["leak"] > 5_000  # 50 strings of 100-300 bytes per call
    evidence = record["evidence"]["leak"]
    assert evidence["status"] == "taken"
    assert evidence["calls"] == 3
    assert evidence["sites"][0]["call_site"] == "test_leaky.py:13"
    assert evidence["sites"][0]["function"] == "remember"
    # The measured call, 4 to measure the leak, 4 to find its sites.
    assert run.calls() == 9


def test_a_cache_filled_once_and_a_value_replaced_at_each_call_do_not_leak(run: Runner) -> None:
    run.module("test_leaky", LEAKY)
    run("--perf-report", "out.json")
    for name in ("test_cache", "test_replaced"):
        record = run.record(f"test_leaky.py::{name}")
        assert record["outcome"] == "passed"
        assert record["metrics"]["leak"] < 500, name
        assert record["budgets"]["leak"] == {"limit": 2000, "source": "marker"}
        assert "evidence" not in record


SESSION_LEFT_OPEN = """
import pytest
from sqlalchemy import Column, Integer, String, create_engine, select
from sqlalchemy.orm import Session, declarative_base

Base = declarative_base()

class Order(Base):
    __tablename__ = "orders"
    id = Column(Integer, primary_key=True)
    note = Column(String)

engine = create_engine("sqlite://")
Base.metadata.create_all(engine)
with Session(engine) as setup:
    setup.add_all([Order(note="x" * 200) for _ in range(50)])
    setup.commit()

_open_sessions = []

def list_orders():
    session = Session(engine)
    _open_sessions.append(session)  # left open, for later
    orders = session.scalars(select(Order)).all()
    for order in orders:
        order.note = order.note.upper()  # changed: the session holds them
    return len(orders)

def list_orders_closed():
    with Session(engine) as session:
        return len(session.scalars(select(Order)).all())

@pytest.mark.perf_budget(leak="10kB")
def test_left_open():
    assert list_orders() == 50

@pytest.mark.perf_budget(leak="10kB", queries=1)
def test_closed():
    assert list_orders_closed() == 50
"""


def test_an_sqlalchemy_session_left_open_in_a_global_leaks(run: Runner) -> None:
    pytest.importorskip("sqlalchemy")
    run.module("test_orders", SESSION_LEFT_OPEN)
    result = run("--perf-report", "out.json")
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(
        [
            "perf budget exceeded in test_orders.py::test_left_open",
            "  leak        * > 10kB *",
            "    still allocated after each call:",
            "*test_orders.py:* in list_orders",
            "*  allocated in sqlalchemy/*",
        ]
    )
    sites = run.record("test_orders.py::test_left_open")["evidence"]["leak"]["sites"]
    assert {site["function"] for site in sites[:3]} == {"list_orders"}
    closed = run.record("test_orders.py::test_closed")
    # The extra calls' statements are not counted: one SELECT, as in the measured call.
    assert closed["metrics"]["queries"] == 1
    assert closed["metrics"]["leak"] < 10_000


def test_extra_calls_that_raise_keep_the_verdict_and_say_why(run: Runner) -> None:
    run.module(
        "test_unique",
        """
        import pytest

        INSERTED = set()

        @pytest.mark.perf_budget(leak="1kB")
        def test_insert_once():
            if "row" in INSERTED:
                raise KeyError("row already inserted")
            INSERTED.add("row")
        """,
    )
    result = run("--perf-report", "out.json")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["*leak not measured in test_unique.py::test_insert_once: an extra call raised KeyError*"]
    )
    record = run.record("test_unique.py::test_insert_once")
    assert "leak" not in record["metrics"]
    assert record["evidence"]["leak"] == {
        "status": "not taken",
        "reason": "an extra call raised KeyError: 'row already inserted'",
    }


def test_a_unittest_item_cannot_be_called_again_for_a_leak(run_serial: Runner) -> None:
    run_serial.budgets(
        """
        version: 1
        budgets:
          "test_case.py":
            leak: 1kB
        """
    )
    run_serial.module(
        "test_case",
        """
        import unittest

        class TestCase(unittest.TestCase):
            def test_it(self):
                pass
        """,
    )
    run_serial("--perf-budget", "budgets.yml", "--perf-report", "out.json").assert_outcomes(passed=1)
    evidence = run_serial.record("test_case.py::TestCase::test_it")["evidence"]
    assert evidence["leak"]["reason"] == "a unittest or doctest item cannot be called again"


def test_a_leak_budget_from_the_file_and_a_tolerance_against_the_baseline(run_serial: Runner) -> None:
    run_serial.budgets(
        """
        version: 1
        settings:
          tolerance:
            leak: 1kB
        budgets:
          "test_grow.py":
            leak: 1MB
        """
    )
    source = """
    _kept = []

    def test_grow():
        _kept.append("x" * SIZE)
    """
    run_serial.module("test_grow", source.replace("SIZE", "100"))
    run_serial("--perf-budget", "budgets.yml", "--perf-report", "base.json").assert_outcomes(passed=1)
    run_serial.module("test_grow", source.replace("SIZE", "20_000"))
    result = run_serial(
        "--perf-budget", "budgets.yml", "--perf-baseline", "base.json", "--perf-report", "out.json"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "  leak        2*kB > 1.*kB (baseline *B, +*%) (baseline: base.json)",
            "*test_grow.py:10 in test_grow",
        ]
    )
    record = run_serial.record("test_grow.py::test_grow")
    assert record["budgets"]["leak"]["source"] == "budgets.yml:7"
    assert record["baseline"]["leak"]["regressed"] is True


def test_the_reports_show_the_leak_and_its_sites(run_serial: Runner) -> None:
    run_serial.module("test_leaky", LEAKY)
    run_serial("--perf-report", "out.json", "--perf-report", "out.md", "--perf-report", "out.html")
    markdown = (run_serial.pytester.path / "out.md").read_text(encoding="utf-8")
    assert "| test_leaky.py::test_appends |" not in markdown
    assert "<details><summary>Leak: still allocated after each call: " in markdown
    assert "| `test_leaky.py:13` in `remember` | — |" in markdown
    assert "| Leak | — |" in markdown
    html = (run_serial.pytester.path / "out.html").read_text(encoding="utf-8")
    assert "Leak: still allocated after each call</h4>" in html
    assert "test_leaky.py:13 in <code>remember</code>" in html
