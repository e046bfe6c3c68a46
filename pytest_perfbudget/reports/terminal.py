"""The ``perf budget`` section of pytest's terminal summary."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..enforce import violation_text
from ..results import TestRecord, has_warnings, is_over_budget, is_unstable
from . import json_report


def write_summary(
    terminal: Any,
    records: Iterable[TestRecord],
    warnings: list[str],
    written: list[str],
    errors: list[str],
    unkept: int = 0,
) -> None:
    """The ``perf budget`` section: over-budget tests, warnings, reports, one closing line.

    ``unkept`` tests were measured with nothing to show, and their records not kept.
    """
    records = list(records)
    if not records and not unkept and not warnings and not errors:
        return
    crashed = [record for record in records if "crash" in record]  # is_crashed(), inline
    # Most records have nothing to show: only the others are sorted and looked at again.
    notable = [record for record in records if record["violations"] or "stability" in record]
    notable.sort(key=lambda record: str(record["nodeid"]))
    over = [record for record in notable if is_over_budget(record)]
    warned = [record for record in notable if has_warnings(record)]
    unstable = [record for record in notable if is_unstable(record)]
    terminal.write_sep("-", "perf budget")
    for record in sorted(crashed, key=lambda record: str(record["nodeid"])):
        terminal.write_line(f"CRASHED {record['nodeid']}: not measured ({record['crash']})", red=True)
    for record in over:
        terminal.write_line(f"OVER BUDGET {record['nodeid']}: {_violations_text(record, 'error')}", red=True)
    for record in warned:
        terminal.write_line(f"WARNING {record['nodeid']}: {_violations_text(record, 'warn')}", yellow=True)
        if "evidence" in record:  # a failing test's message has them; a warned test has this
            _write_hot_spots(terminal, record)
    for record in unstable:
        stability = record["stability"]
        terminal.write_line(
            f"UNSTABLE {record['nodeid']}: {stability['metric']} {stability['message']}", yellow=True
        )
    for warning in warnings:
        terminal.write_line(f"WARNING {warning}", yellow=True)
    for error in errors:
        terminal.write_line(f"ERROR {error}", red=True)
    for path in written:
        terminal.write_line(f"perf report written to {path}")
    summary = json_report.summarize(records, len(warnings))
    line = (
        f"perf: {summary['measured'] + unkept} measured, {summary['over_budget']} over budget, "
        f"{summary['regressed']} regressed, {summary['improved']} improved"
    )
    if crashed:
        line += f", {len(crashed)} crashed"
    if summary["warnings"]:
        line += f", {summary['warnings']} warning{'s' * (summary['warnings'] > 1)}"
    failing = bool(over or crashed)
    terminal.write_line(line, bold=True, red=failing, yellow=not failing and bool(summary["warnings"]))


def _violations_text(record: TestRecord, level: str) -> str:
    return ", ".join(
        violation_text(violation) for violation in record["violations"] if violation["level"] == level
    )


def _write_hot_spots(terminal: Any, record: TestRecord) -> None:
    hot_spots = record["evidence"].get("hot_spots")
    if hot_spots is not None:
        from ..hot_spots import message_lines

        for line in message_lines(hot_spots):
            terminal.write_line(line)
