"""The per-test result record: built where the test ran, carried on its report.

A record is a plain JSON-ready dict, so it crosses from an xdist worker to
the controller on the test report unchanged and goes into the JSON report
as it is.
"""

from __future__ import annotations

from typing import Any

from .budgets import TestBudget
from .runner import Verdict

TestRecord = dict[str, Any]
Location = tuple[str, "int | None", str]  # what pytest.Item.location holds

REPORT_ATTRIBUTE = "perfbudget"  # the test report attribute records travel on


def new_record(nodeid: str, location: Location, budget: TestBudget, metrics: dict[str, Any]) -> TestRecord:
    """The record of one test with these metric values and nothing else to say: no violation,
    no N+1 suspect, no baseline change. Its outcome is not known yet.

    ``location`` is the item's (pytest counts lines from 0, reports from 1).
    """
    path, line, _ = location
    return {
        "nodeid": nodeid,
        "file": path,
        "line": None if line is None else line + 1,
        "outcome": "",
        "metrics": metrics,
        "budgets": budget.as_json,
        "violations": [],
        "n_plus_one": [],
    }


def build_record(nodeid: str, location: Location, budget: TestBudget, verdict: Verdict | None) -> TestRecord:
    """The record of one test, its outcome not known yet; ``verdict`` is None when the call failed
    before it was judged."""
    if verdict is None:
        return new_record(nodeid, location, budget, {})
    record = new_record(nodeid, location, budget, verdict.metrics.values)
    metrics = verdict.metrics
    if verdict.violations:  # two comprehensions fewer for a test within its budget
        record["violations"] = [violation.to_json() for violation in verdict.violations]
    if metrics.suspects:
        record["n_plus_one"] = [suspect.to_json() for suspect in metrics.suspects]
    if metrics.slowest_statement is not None:
        record["slowest_statement"] = metrics.slowest_statement
    if verdict.retries_used:
        record["retries"] = verdict.retries_used
    if verdict.tracer is not None:
        record["timings_not_judged"] = verdict.tracer
    if verdict.calibration is not None:
        record["calibration"] = verdict.calibration.to_json()
    if verdict.unstable is not None:
        record["stability"] = verdict.unstable.to_json()
    if verdict.changes:
        record["baseline"] = {change.metric: change.to_json() for change in verdict.changes}
    if verdict.block_metrics:
        record["blocks"] = {name: block.values for name, block in verdict.block_metrics.items()}
    if verdict.evidence:
        record["evidence"] = verdict.evidence
    return record


# These run for every record of a run (summaries) and of a report (100,000 tests): most
# records have no violation and no baseline, so that case returns before any generator.


def is_over_budget(record: TestRecord) -> bool:
    """Failed for a budget: an error-level violation that is not a regression."""
    violations = record["violations"]
    return bool(violations) and any(
        v["level"] == "error" and v.get("kind") != "regression" for v in violations
    )


def is_regressed(record: TestRecord) -> bool:
    violations = record["violations"]
    return bool(violations) and any(violation.get("kind") == "regression" for violation in violations)


def is_improved(record: TestRecord) -> bool:
    if "baseline" not in record:
        return False
    changes = record["baseline"].values()
    return not is_regressed(record) and any(change.get("improved") for change in changes)


def is_unstable(record: TestRecord) -> bool:
    """A judged timing's rounds varied too much to trust the verdict (not counted as a warning)."""
    return "stability" in record


def has_warnings(record: TestRecord) -> bool:
    violations = record["violations"]
    return bool(violations) and any(
        violation["level"] == "warn" and violation.get("kind") != "regression" for violation in violations
    )
