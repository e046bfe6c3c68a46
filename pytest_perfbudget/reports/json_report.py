"""The JSON report: the machine-readable record of a run, and what ``--perf-baseline`` reads."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from ..results import TestRecord, has_warnings, is_improved, is_over_budget, is_regressed

SCHEMA = "pytest-perfbudget/1"


def summarize(records: Iterable[TestRecord], extra_warnings: int = 0) -> dict[str, int]:
    records = list(records)
    return {
        "measured": len(records),
        "over_budget": sum(1 for record in records if is_over_budget(record)),
        "regressed": sum(1 for record in records if is_regressed(record)),
        "improved": sum(1 for record in records if is_improved(record)),
        "warnings": sum(1 for record in records if has_warnings(record)) + extra_warnings,
    }


def document(
    environment: dict[str, Any],
    records: Iterable[TestRecord],
    warnings: list[str],
    baseline: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The report as a JSON-ready dict; tests in node id order so that runs diff cleanly."""
    tests = sorted(records, key=lambda record: str(record["nodeid"]))
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "environment": environment,
        "summary": summarize(tests, len(warnings)),
        "warnings": warnings,
    }
    if baseline is not None:
        report["baseline"] = baseline
    report["tests"] = tests
    return report


def render(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=1, ensure_ascii=False, allow_nan=False) + "\n"
