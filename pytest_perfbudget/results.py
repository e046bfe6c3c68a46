"""The per-test result record: built where the test ran, carried on its report.

A record is a plain JSON-ready dict, so it crosses from an xdist worker to
the controller on the test report unchanged and goes into the JSON report
as it is.
"""

from __future__ import annotations

from typing import Any

from .budgets import Limit, TestBudget
from .runner import Verdict

TestRecord = dict[str, Any]

REPORT_ATTRIBUTE = "perfbudget"  # the test report attribute records travel on


def _budget_key(limit: Limit) -> str:
    return limit.metric if limit.statistic is None else f"{limit.metric}.{limit.statistic}"


def budgets_json(budget: TestBudget) -> dict[str, Any]:
    budgets: dict[str, Any] = {}
    for limit in budget.all_limits():
        entry: dict[str, Any] = {"limit": limit.value, "source": limit.source}
        if limit.metric in ("time", "cpu", "throughput", "sql_time"):
            entry["statistic"] = limit.statistic or budget.settings.statistic
        budgets[_budget_key(limit)] = entry
    return budgets


def build_record(
    nodeid: str,
    location: tuple[str, int | None],
    outcome: str,
    budget: TestBudget,
    verdict: Verdict | None,
) -> TestRecord:
    """The record of one test; ``verdict`` is None when the call failed before it was judged."""
    path, line = location
    record: TestRecord = {
        "nodeid": nodeid,
        "file": path,
        "line": line,
        "outcome": outcome,
        "metrics": {},
        "budgets": budgets_json(budget),
        "violations": [],
        "n_plus_one": [],
    }
    if verdict is None:
        return record
    metrics = verdict.metrics
    record["metrics"] = metrics.values
    record["violations"] = [violation.to_json() for violation in verdict.violations]
    record["n_plus_one"] = [suspect.to_json() for suspect in metrics.suspects]
    if metrics.slowest_statement is not None:
        record["slowest_statement"] = metrics.slowest_statement
    if verdict.retries_used:
        record["retries"] = verdict.retries_used
    if verdict.tracer is not None:
        record["timings_not_judged"] = verdict.tracer
    if verdict.changes:
        record["baseline"] = {change.metric: change.to_json() for change in verdict.changes}
    if verdict.block_metrics:
        record["blocks"] = {name: block.values for name, block in verdict.block_metrics.items()}
    return record


def is_over_budget(record: TestRecord) -> bool:
    """Failed for a budget: an error-level violation that is not a regression."""
    return any(v["level"] == "error" and v.get("kind") != "regression" for v in record["violations"])


def is_regressed(record: TestRecord) -> bool:
    return any(violation.get("kind") == "regression" for violation in record["violations"])


def is_improved(record: TestRecord) -> bool:
    changes = record.get("baseline", {}).values()
    return not is_regressed(record) and any(change.get("improved") for change in changes)


def has_warnings(record: TestRecord) -> bool:
    return any(
        violation["level"] == "warn" and violation.get("kind") != "regression"
        for violation in record["violations"]
    )
