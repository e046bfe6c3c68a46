"""GitHub Actions: where the job summary goes, appending to it, and annotations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_perfbudget.enforce import violation_text
from pytest_perfbudget.reports import github


def test_step_summary_path_inside_actions(tmp_path: Path) -> None:
    environ = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}
    assert github.step_summary_path(environ) == tmp_path / "summary.md"


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {"GITHUB_STEP_SUMMARY": "/tmp/summary.md"},  # not in Actions
        {"GITHUB_ACTIONS": "false", "GITHUB_STEP_SUMMARY": "/tmp/summary.md"},
        {"GITHUB_ACTIONS": "true"},
        {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": "  "},
    ],
)
def test_no_step_summary_outside_actions(environ: dict[str, str]) -> None:
    assert github.step_summary_path(environ) is None


def test_append_keeps_what_earlier_steps_wrote(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("## Lint\n\nall good\n", encoding="utf-8")
    github.append_step_summary(summary, "## Performance budget\n")
    github.append_step_summary(summary, "second")
    assert summary.read_text(encoding="utf-8") == "## Lint\n\nall good\n\n## Performance budget\n\nsecond\n"


def test_append_to_a_new_file(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    github.append_step_summary(summary, "## Performance budget\n")
    assert summary.read_text(encoding="utf-8") == "## Performance budget\n"


def _regression_text(document: dict[str, Any], nodeid: str) -> str:
    test = next(test for test in document["tests"] if test["nodeid"] == nodeid)
    return violation_text(next(v for v in test["violations"] if v["kind"] == "regression"))


def test_one_annotation_per_violation(compared: dict[str, Any]) -> None:
    lines = github.annotations(compared)
    checkout = github.escape_data(_regression_text(compared, "tests/test_orders.py::test_checkout"))
    list_orders = github.escape_data(_regression_text(compared, "tests/test_orders.py::test_list_orders"))
    assert checkout.startswith("time 16ms > 12ms")
    assert lines == [
        "::error file=tests/test_orders.py,line=30,title=perf regression::"
        f"tests/test_orders.py::test_checkout: {checkout} against main.json",
        "::error file=tests/test_orders.py,line=12,title=perf budget::"
        "tests/test_orders.py::test_list_orders: queries 52 > 3 (budgets.yml:7)",
        "::error file=tests/test_orders.py,line=12,title=perf budget::"
        "tests/test_orders.py::test_list_orders: n_plus_one 1 > 0 (budgets.yml:8)",
        "::error file=tests/test_orders.py,line=12,title=perf regression::"
        f"tests/test_orders.py::test_list_orders: {list_orders} against main.json",
        "::warning file=tests/test_search.py,line=40,title=perf budget::"
        "tests/test_search.py::test_search[<b>|`x`&y]: time 3ms > 2ms (marker)",
    ]


def test_workflow_command_escaping() -> None:
    test = {"nodeid": "t,1:2.py::test_x[100%\nnew]", "file": "dir,a/t:1.py", "line": 7}
    violation = {
        "metric": "queries",
        "kind": "budget",
        "limit": 3,
        "actual": 5,
        "level": "error",
        "source": "b.yml:3",
    }
    line = github.annotation(test, violation)
    assert line == (
        "::error file=dir%2Ca/t%3A1.py,line=7,title=perf budget::"
        "t,1:2.py::test_x[100%25%0Anew]: queries 5 > 3 (b.yml:3)"
    )
    assert "\n" not in line


def test_escape_rules() -> None:
    assert github.escape_data("a%b\r\nc:d,e") == "a%25b%0D%0Ac:d,e"
    assert github.escape_property("a%b\r\nc:d,e") == "a%25b%0D%0Ac%3Ad%2Ce"


def test_an_annotation_without_file_or_line() -> None:
    violation = {
        "metric": "time",
        "kind": "budget",
        "limit": 0.1,
        "actual": 0.2,
        "level": "error",
        "source": "marker",
    }
    line = github.annotation({"nodeid": "t.py::test_x", "file": None, "line": None}, violation)
    assert line == "::error title=perf budget::t.py::test_x: time 200ms > 100ms (marker)"
