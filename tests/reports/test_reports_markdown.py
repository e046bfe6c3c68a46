"""The Markdown report: golden files, the verdict, the evidence tables, escaping and the size limit."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from report_samples import WEIRD, assert_golden, make_after, record

from pytest_perfbudget.reports import markdown
from pytest_perfbudget.reports.json_report import document


def test_golden_compared_with_a_baseline(compared: dict[str, Any], before: dict[str, Any]) -> None:
    assert_golden("compared.md", markdown.render(compared, before=before))


def test_golden_compared_without_the_baseline_report(compared: dict[str, Any]) -> None:
    """Without the baseline report, p95 and p99 have no before value; p50 comes from the test's entry."""
    assert_golden("compared-alone.md", markdown.render(compared))


def test_golden_run_without_a_baseline(after: dict[str, Any]) -> None:
    assert_golden("run.md", markdown.render(after))


def test_golden_all_within_budget() -> None:
    tests = [record("tests/test_a.py::test_one", [0.001, 0.002]), record("tests/test_a.py::test_two", [0.5])]
    assert_golden("ok.md", markdown.render(document({"python": "3.12.4"}, tests, [])))


def test_rendering_is_deterministic(compared: dict[str, Any], before: dict[str, Any]) -> None:
    first = markdown.render(compared, before=before)
    assert markdown.render(copy.deepcopy(compared), before=copy.deepcopy(before)) == first


@pytest.mark.parametrize(
    ("summary", "expected"),
    [
        ({"measured": 120, "over_budget": 2, "regressed": 1, "improved": 0, "warnings": 0},
         ("fail", "2 tests over budget, 1 regressed")),
        ({"measured": 1, "over_budget": 1, "regressed": 0, "improved": 3, "warnings": 1},
         ("fail", "1 test over budget, 3 improved, 1 warning")),
        ({"measured": 5, "over_budget": 0, "regressed": 0, "improved": 0, "warnings": 2},
         ("warn", "all within budget, 2 warnings")),
        ({"measured": 5, "over_budget": 0, "regressed": 0, "improved": 2, "warnings": 0},
         ("ok", "all within budget, 2 improved")),
    ],
)  # fmt: skip
def test_verdict(summary: dict[str, int], expected: tuple[str, str]) -> None:
    result = markdown.verdict({"summary": summary, "tests": []})
    assert (result.status, result.text, result.measured) == (*expected, summary["measured"])


def test_the_verdict_is_the_first_line_of_substance(compared: dict[str, Any]) -> None:
    lines = markdown.render(compared).splitlines()
    assert lines[2] == "❌ **1 test over budget, 2 regressed, 1 improved, 2 warnings** — 6 measured"


@pytest.mark.parametrize(
    ("metric", "before", "after", "shown"),
    [
        ("time", 0.010, 0.015, "-50.0%"),  # slower: worse
        ("time", 2.0, 1.2, "+40.0%"),  # faster: better
        ("queries", 3, 52, "-1633.3%"),
        ("queries", 4, 4, "0.0%"),
        ("throughput", 5000, 6500, "+30.0%"),  # more operations per second: better
        ("throughput", 5000, 4000, "-20.0%"),
        ("sql_time", 0.0, 0.004, "n/a"),  # no ratio from zero
        ("memory", 0, 0, "0.0%"),
        ("memory", 1_000_000, 999_999, "0.0%"),  # rounds to zero: no sign
    ],
)
def test_improvement_is_positive_when_better(metric: str, before: float, after: float, shown: str) -> None:
    assert markdown.format_improvement(markdown.improvement(metric, before, after)) == shown


def test_evidence_rows_of_a_test_with_rounds(compared: dict[str, Any], before: dict[str, Any]) -> None:
    test = next(t for t in compared["tests"] if t["nodeid"].endswith("test_checkout"))
    old = next(t for t in before["tests"] if t["nodeid"].endswith("test_checkout"))
    rows = markdown.evidence_rows(test, old)
    # It ran queries but spent no time in SQL on either side: no `SQL time 0s -> 0s` row.
    assert [row.label for row in rows] == ["Time p50", "Time p95", "Time p99", "CPU", "Queries"]
    assert rows[0].judgement == "regressed"
    assert rows[1].before == pytest.approx(0.0118)
    assert markdown.format_improvement(rows[0].improvement) == "-60.0%"


def test_evidence_rows_without_the_baseline_report_leave_p95_before_empty(compared: dict[str, Any]) -> None:
    test = next(t for t in compared["tests"] if t["nodeid"].endswith("test_checkout"))
    rows = {row.label: row for row in markdown.evidence_rows(test)}
    assert rows["Time p50"].before == pytest.approx(0.010)
    assert rows["Time p95"].before is None
    assert rows["Time p95"].after == pytest.approx(0.0194)


def test_a_single_round_gives_one_time_row(compared: dict[str, Any]) -> None:
    test = next(t for t in compared["tests"] if t["nodeid"].endswith("test_export"))
    labels = [row.label for row in markdown.evidence_rows(test)]
    assert labels == ["Time", "CPU", "Memory", "Queries", "SQL time"]


def test_throughput_has_a_row(compared: dict[str, Any]) -> None:
    test = next(t for t in compared["tests"] if t["nodeid"].endswith("test_encode"))
    row = next(row for row in markdown.evidence_rows(test) if row.metric == "throughput")
    assert (row.before, row.after) == (5000.0, 6500.0)
    assert markdown.format_improvement(row.improvement) == "+30.0%"


def test_odd_node_ids_stay_inside_their_code_span(compared: dict[str, Any]) -> None:
    text = markdown.render(compared)
    assert "``tests/test_search.py::test_search[<b>\\|`x`&y]``" in text
    assert WEIRD not in text  # the pipe is escaped everywhere, so no table is broken


def test_code_spans() -> None:
    assert markdown.code("a|b") == "`a\\|b`"
    assert markdown.code("x `y` z") == "``x `y` z``"
    assert markdown.code("`edge`") == "`` `edge` ``"
    assert markdown.code("line\nbreak") == "`line break`"


def test_plain_text_is_escaped() -> None:
    assert markdown.escape("<script>*x*</script> | [a](b)") == r"\<script>\*x\*\</script> \| \[a\](b)"


def _big_run(violations: int) -> dict[str, Any]:
    failing = {
        "metric": "queries",
        "kind": "budget",
        "limit": 3,
        "actual": 52,
        "level": "error",
        "source": "b.yml:3",
    }
    tests = [
        record(f"tests/test_many.py::test_case[{index:05d}]", [0.001], violations=[dict(failing)], queries=52)
        for index in range(violations)
    ]
    return document({"python": "3.12.4"}, tests, [])


@pytest.mark.parametrize("limit", [3000, 10_000, 65_000])
def test_the_report_stays_under_the_limit(limit: int) -> None:
    text = markdown.render(_big_run(2000), limit=limit)
    assert len(text) <= limit
    assert "Shortened to stay under" in text
    assert text.count("<details>") == text.count("</details>")
    assert re.search(r"\*\d+ of 2000 violations not shown", text)


def test_a_section_caps_its_rows_even_within_the_limit() -> None:
    text = markdown.render(_big_run(300), limit=10_000_000)
    assert text.count("tests/test_many.py::test_case[") == markdown.MAX_ITEMS["Violations"]
    assert "*100 of 300 violations not shown: see the JSON or HTML report.*" in text


def test_long_sections_fold(compared: dict[str, Any]) -> None:
    text = markdown.render(_big_run(markdown.FOLD_AT + 1))
    assert "<details><summary>Violations: 11 violations</summary>" in text
    assert "<details>" not in markdown.render(_big_run(markdown.FOLD_AT))


def test_a_long_statement_is_shortened(compared: dict[str, Any]) -> None:
    line = next(line for line in markdown.render(compared).splitlines() if "app/orders.py:42" in line)
    statement = line.split(" | ")[-1]
    assert statement.endswith("…` |")
    assert len(statement) <= markdown.STATEMENT_WIDTH + 6


def test_no_tests() -> None:
    text = markdown.render(document({}, [], []))
    assert "✅ **all within budget** — 0 measured" in text


def test_a_record_without_metrics_renders(after: dict[str, Any]) -> None:
    after = make_after()
    after["tests"].append(
        {"nodeid": "tests/t.py::test_broken", "file": "tests/t.py", "line": 1, "outcome": "failed", "metrics": {},
         "budgets": {}, "violations": [], "n_plus_one": []}
    )  # fmt: skip
    assert "## Performance budget" in markdown.render(after)
