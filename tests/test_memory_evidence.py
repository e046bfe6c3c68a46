"""Where memory was allocated: the sites behind a broken memory limit, in messages and reports."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from pytest_perfbudget.cli import main

if TYPE_CHECKING:
    from perf_helpers import Runner

HUNGRY = """
import json
import pytest

def build_rows():
    rows = [str(i) * 10 for i in range(20_000)]
    return len(rows)

def parse(text):
    return json.loads(text)

@pytest.mark.perf_budget(memory="500kB")
def test_hungry():
    assert build_rows() == 20_000

TEXT = json.dumps([{"id": i, "name": "x" * 20} for i in range(5_000)])

@pytest.mark.perf_budget(memory="500kB")
def test_parse():
    record_call()
    assert len(parse(TEXT)) == 5_000

@pytest.mark.perf_budget(memory="100MB")
def test_within():
    record_call("within")
    assert build_rows() == 20_000
"""


def test_a_memory_hungry_line_is_named_in_the_failure_message(run: Runner) -> None:
    run.module("test_hungry", HUNGRY)
    result = run("--perf-report", "out.json")
    result.assert_outcomes(failed=2, passed=1)
    result.stdout.fnmatch_lines(
        [
            "perf budget exceeded in test_hungry.py::test_hungry",
            "  memory      * > 500kB *(marker)",
            "    allocated at the peak*:",
            "      * block* test_hungry.py:11 in build_rows",
        ]
    )
    sites = run.record("test_hungry.py::test_hungry")["evidence"]["allocations"]["sites"]
    assert sites[0]["call_site"] == "test_hungry.py:11"
    assert sites[0]["function"] == "build_rows"
    assert sites[0]["library_site"] is None
    assert sites[0]["size"] > 500_000
    assert sites[0]["count"] > 10_000


def test_the_library_line_is_shown_under_the_users_line(run: Runner) -> None:
    run.module("test_hungry", HUNGRY)
    result = run("--perf-report", "out.json")
    result.stdout.fnmatch_lines(
        [
            "perf budget exceeded in test_hungry.py::test_parse",
            "*test_hungry.py:15 in parse",
            "*  allocated in json/decoder.py:*",
        ]
    )
    evidence = run.record("test_hungry.py::test_parse")["evidence"]["allocations"]
    assert evidence["status"] == "taken"
    assert evidence["frames"] == 64
    top = evidence["sites"][0]
    assert (top["call_site"], top["function"]) == ("test_hungry.py:15", "parse")
    assert top["library_site"].startswith("json/decoder.py:")


def test_a_test_within_its_memory_budget_is_called_once_and_has_no_evidence(run: Runner) -> None:
    run.module("test_hungry", HUNGRY)
    run("--perf-report", "out.json")
    assert run.calls("within") == 1
    assert "evidence" not in run.record("test_hungry.py::test_within")
    assert run.calls() == 2  # test_parse: the measured call and the one that found the sites


def test_a_memory_regression_names_the_line(run_serial: Runner) -> None:
    run_serial.module(
        "test_grow",
        """
        def test_grow():
            rows = [str(i) * 10 for i in range(SIZE)]
            assert rows
        """.replace("SIZE", "1_000"),
    )
    run_serial("--perf-memory", "--perf-report", "base.json").assert_outcomes(passed=1)
    run_serial.module(
        "test_grow",
        """
        def test_grow():
            rows = [str(i) * 10 for i in range(SIZE)]
            assert rows
        """.replace("SIZE", "20_000"),
    )
    result = run_serial("--perf-memory", "--perf-baseline", "base.json", "--perf-report", "out.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["  memory * (baseline: base.json)", "*test_grow.py:8 in test_grow"])
    record = run_serial.record("test_grow.py::test_grow")
    assert record["evidence"]["allocations"]["sites"][0]["call_site"] == "test_grow.py:8"


def test_an_extra_call_that_raises_keeps_the_verdict_and_says_why(run: Runner) -> None:
    run.module(
        "test_once",
        """
        import pytest

        CALLS = []

        @pytest.mark.perf_budget(memory="500kB")
        def test_insert_once():
            CALLS.append(1)
            if len(CALLS) > 1:
                raise RuntimeError("duplicate key")
            data = [str(i) * 10 for i in range(20_000)]
            assert data
        """,
    )
    result = run("--perf-report", "out.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "perf budget exceeded in test_once.py::test_insert_once",
            "  memory * > 500kB *",
            "    (allocated at the peak: not taken, an extra call raised RuntimeError: duplicate key)",
        ]
    )
    record = run.record("test_once.py::test_insert_once")
    assert record["outcome"] == "failed"
    assert record["violations"][0]["metric"] == "memory"
    assert record["evidence"]["allocations"] == {
        "status": "not taken",
        "reason": "an extra call raised RuntimeError: duplicate key",
    }


def test_a_bytearray_made_and_freed_between_two_lines_is_seen(run_serial: Runner) -> None:
    """No call happens between the allocation and the ``del``: only the next line sees it."""
    run_serial.module(
        "test_block",
        """
        import pytest

        @pytest.mark.perf_budget(memory="500kB")
        def test_block():
            record_call()
            data = bytearray(5_000_000)
            del data
        """,
    )
    run_serial("--perf-report", "out.json").assert_outcomes(failed=1)
    assert run_serial.calls() == 3  # measured; watched at calls, unseen; watched at lines too
    sites = run_serial.record("test_block.py::test_block")["evidence"]["allocations"]["sites"]
    assert sites[0]["call_site"] == "test_block.py:12"


def test_reports_show_the_sites_and_perfbudget_report_renders_them(run: Runner) -> None:
    run.module("test_hungry", HUNGRY)
    run("--perf-report", "out.json", "--perf-report", "out.md", "--perf-report", "out.html")
    markdown = (run.pytester.path / "out.md").read_text(encoding="utf-8")
    assert "<details><summary>Memory: allocated at the peak: " in markdown
    assert "| `test_hungry.py:11` in `build_rows` | — |" in markdown
    html = (run.pytester.path / "out.html").read_text(encoding="utf-8")
    assert '<section class="memory-evidence" data-nodeid="test_hungry.py::test_hungry">' in html
    assert "test_hungry.py:11 in <code>build_rows</code>" in html
    assert (
        main(["report", str(run.pytester.path / "out.json"), "-o", str(run.pytester.path / "again.md")]) == 0
    )
    assert (run.pytester.path / "again.md").read_text(encoding="utf-8") == markdown
    document = json.loads((run.pytester.path / "out.json").read_text(encoding="utf-8"))
    assert [test["nodeid"] for test in document["tests"] if "evidence" in test] == [
        "test_hungry.py::test_hungry",
        "test_hungry.py::test_parse",
    ]
