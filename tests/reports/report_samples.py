"""Sample reports for the report tests: built by hand, so every number is known.

``before`` and ``after`` are two runs of a small suite; ``compared`` is
``after`` annotated against ``before`` the way ``perfbudget compare`` does.
Set ``PERFBUDGET_UPDATE_GOLDEN=1`` to rewrite the golden files.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pytest_perfbudget.cli import compare_documents
from pytest_perfbudget.reports.json_report import document
from pytest_perfbudget.significance import stability
from pytest_perfbudget.stats import summarize

GOLDEN = Path(__file__).parent / "golden"

ENVIRONMENT = {
    "python": "3.12.4",
    "implementation": "cpython",
    "platform": "Linux-6.8-x86_64",
    "machine": "x86_64",
    "cpu": "AMD EPYC 7763",
    "cpu_count": 4,
    "commit": "0123456789abcdef0123456789abcdef01234567",
    "branch": "feature/faster-export",
    "workers": 2,
    "plugin": "0.1.0",
}

SUSPECT = {
    "statement": "SELECT addresses.id, addresses.email, addresses.user_id FROM addresses "
    "WHERE ? = addresses.user_id AND addresses.kind IN (?, ?, ?) ORDER BY addresses.id",
    "count": 50,
    "call_site": "app/orders.py:42",
    "function": "list_orders",
}

WEIRD = "tests/test_search.py::test_search[<b>|`x`&y]"


def timing(rounds: list[float]) -> dict[str, Any]:
    return {"rounds": rounds, **summarize(rounds)}


def record(
    nodeid: str,
    rounds: list[float],
    *,
    outcome: str = "passed",
    line: int = 10,
    budgets: dict[str, Any] | None = None,
    violations: list[dict[str, Any]] | None = None,
    suspects: list[dict[str, Any]] | None = None,
    **scalars: Any,
) -> dict[str, Any]:
    """A test record as the plugin writes it; ``scalars`` are memory, queries, throughput..."""
    metrics: dict[str, Any] = {"time": timing(rounds), "cpu": timing([round(r * 0.9, 6) for r in rounds])}
    throughput = scalars.pop("throughput", None)
    if throughput is not None:
        metrics["throughput"] = timing(throughput)
    metrics.update({"queries": 0, "sql_time": 0.0, "n_plus_one": len(suspects or [])})
    metrics.update(scalars)
    return {
        "nodeid": nodeid,
        "file": nodeid.partition("::")[0],
        "line": line,
        "outcome": outcome,
        "metrics": metrics,
        "budgets": budgets or {},
        "violations": violations or [],
        "n_plus_one": suspects or [],
    }


def unstable(test: dict[str, Any]) -> dict[str, Any]:
    """``test`` with the stability warning the plugin gives rounds that straddle a time limit."""
    found = stability(test["metrics"]["time"]["rounds"])
    test["stability"] = {
        "metric": "time",
        "stable": found.stable,
        "rsd": round(found.rsd, 3),
        "spread": round(found.spread, 3),
        "message": found.message,
    }
    return test


def make_before() -> dict[str, Any]:
    records = [
        record(
            "tests/test_orders.py::test_list_orders", [0.010, 0.011, 0.012, 0.010, 0.011], line=12, queries=3
        ),
        record(
            "tests/test_orders.py::test_checkout", [0.010, 0.010, 0.011, 0.010, 0.012], line=30, queries=4
        ),
        record(
            "tests/test_reports.py::test_export", [2.0], line=7, memory=50_000_000, queries=1, sql_time=0.2
        ),
        record(
            "tests/test_codec.py::test_encode", [0.1, 0.1, 0.1], line=5, throughput=[5000.0, 5100.0, 4900.0]
        ),
        record(WEIRD, [0.003, 0.003, 0.003], line=40),
        record("tests/test_old.py::test_gone", [0.001], line=3),
    ]
    return document({**ENVIRONMENT, "python": "3.11.7", "workers": 0}, records, [])


def make_after() -> dict[str, Any]:
    records = [
        record(
            "tests/test_orders.py::test_list_orders",
            [0.013, 0.012, 0.0125, 0.014, 0.012],
            outcome="failed",
            line=12,
            queries=52,
            sql_time=0.004,
            budgets={
                "queries": {"limit": 3, "source": "budgets.yml:7"},
                "n_plus_one": {"limit": 0, "source": "budgets.yml:8"},
            },
            violations=[
                {
                    "metric": "queries",
                    "kind": "budget",
                    "limit": 3,
                    "actual": 52,
                    "level": "error",
                    "source": "budgets.yml:7",
                },
                {
                    "metric": "n_plus_one",
                    "kind": "budget",
                    "limit": 0,
                    "actual": 1,
                    "level": "error",
                    "source": "budgets.yml:8",
                },
            ],
            suspects=[SUSPECT],
        ),
        unstable(
            record(
                "tests/test_orders.py::test_checkout",
                [0.015, 0.016, 0.015, 0.017, 0.02],
                line=30,
                queries=4,
                budgets={"time": {"limit": 0.016, "source": "budgets.yml:12", "statistic": "median"}},
            )
        ),
        record(
            "tests/test_reports.py::test_export", [1.2], line=7, memory=30_000_000, queries=1, sql_time=0.15
        ),
        record(
            "tests/test_codec.py::test_encode", [0.1, 0.1, 0.1], line=5, throughput=[6500.0, 6600.0, 6400.0]
        ),
        record(
            WEIRD,
            [0.003, 0.0031, 0.003],
            line=40,
            budgets={"time": {"limit": 0.002, "source": "marker", "statistic": "median"}},
            violations=[
                {
                    "metric": "time",
                    "kind": "budget",
                    "limit": 0.002,
                    "actual": 0.003,
                    "level": "warn",
                    "source": "marker",
                    "statistic": "median",
                },
            ],
        ),
        record("tests/test_new.py::test_new", [0.0005], line=1),
    ]
    return document(
        ENVIRONMENT, records, ["stale budget: pattern 'tests/legacy/**' matches no collected test"]
    )


def make_compared() -> dict[str, Any]:
    return compare_documents(make_before(), make_after(), source="main.json")


def write_json(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return path


def assert_golden(name: str, text: str) -> None:
    """``text`` equals ``golden/name``; with PERFBUDGET_UPDATE_GOLDEN=1 it replaces it."""
    path = GOLDEN / name
    if os.environ.get("PERFBUDGET_UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    expected = path.read_text(encoding="utf-8")
    assert text == expected, (
        f"{name} differs from the golden file; rerun with PERFBUDGET_UPDATE_GOLDEN=1 to accept"
    )
