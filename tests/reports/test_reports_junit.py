"""Performance figures as JUnit properties."""

from __future__ import annotations

from typing import Any

import pytest
from report_samples import record

from pytest_perfbudget.enforce import violation_text
from pytest_perfbudget.reports import junit


def test_properties_of_a_failing_record(compared: dict[str, Any]) -> None:
    test = next(t for t in compared["tests"] if t["nodeid"].endswith("test_list_orders"))
    assert junit.properties(test) == [
        ("perf.time.median", "0.0125"),
        ("perf.time.p95", "0.0138"),
        ("perf.time.max", "0.014"),
        ("perf.time.rounds", "5"),
        ("perf.cpu.median", "0.01125"),
        ("perf.cpu.p95", "0.01242"),
        ("perf.cpu.max", "0.0126"),
        ("perf.queries", "52"),
        ("perf.sql_time", "0.004"),
        ("perf.n_plus_one", "1"),
        ("perf.budget.queries", "3"),
        ("perf.budget.n_plus_one", "0"),
        ("perf.violation", "queries 52 > 3"),
        ("perf.violation", "n_plus_one 1 > 0"),
        ("perf.regression", violation_text(test["violations"][-1])),
    ]
    assert test["violations"][-1]["kind"] == "regression"


def test_one_round_gives_the_median_only() -> None:
    properties = dict(junit.properties(record("t.py::test_x", [0.25], memory=1_048_576)))
    assert properties["perf.time.median"] == "0.25"
    assert properties["perf.time.rounds"] == "1"
    assert "perf.time.p95" not in properties
    assert properties["perf.memory"] == "1048576"


def test_statistic_budgets_keep_their_key() -> None:
    test = record("t.py::test_x", [0.1, 0.2], budgets={"time.p95": {"limit": 2.0, "source": "b.yml:3"}})
    assert ("perf.budget.time.p95", "2") in junit.properties(test)


def test_a_record_without_metrics() -> None:
    test = {"nodeid": "t.py::test_x", "metrics": {}, "budgets": {}, "violations": []}
    assert junit.properties(test) == []


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0123, "0.0123"),
        (3, "3"),
        (3.0, "3"),
        (1.23e-7, "0.000000123"),
        (0.005302133999975922, "0.00530213"),
    ],
)
def test_numbers(value: float, text: str) -> None:
    assert junit.number(value) == text
