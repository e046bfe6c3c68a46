"""The fast paths of issue 6 give what the general code gives; an idle plugin stays out of the way.

No timing is asserted here (benchmarks/overhead.py measures): these tests pin the behaviour
that the shortcuts must keep.
"""

from __future__ import annotations

import json
import math
import random
import sys
from pathlib import Path
from typing import Any

import pytest
from perf_helpers import Runner

from pytest_perfbudget import merge
from pytest_perfbudget.measure import Sample
from pytest_perfbudget.metrics import compute, distribution, significant
from pytest_perfbudget.queries import QueryLog, Statement
from pytest_perfbudget.reports import json_report, markdown
from pytest_perfbudget.stats import summarize
from pytest_perfbudget.tracing import active_tracer

VALUES = [0.0, -0.0, 1e-9, 0.00123456789, 1.0, 123.456789, 5, 0, -2.5, math.inf, 1e300]


def general_distribution(values: list[float]) -> dict[str, Any]:
    """What distribution() computed before its one-round shortcut."""
    summary = {name: significant(value) for name, value in summarize(values).items()}
    return {"rounds": [significant(value) for value in values], **summary}


@pytest.mark.parametrize("value", VALUES)
def test_one_round_distribution_is_the_general_one(value: float) -> None:
    assert json.dumps(distribution([value])) == json.dumps(general_distribution([value]))


def test_distributions_of_random_rounds_are_the_general_ones() -> None:
    rng = random.Random(6)
    for _ in range(2000):
        values = [rng.lognormvariate(-5, 3) for _ in range(rng.choice((1, 1, 2, 3, 5)))]
        assert json.dumps(distribution(values)) == json.dumps(general_distribution(values))


def test_a_plain_round_gives_the_metrics_of_the_general_path() -> None:
    plain = Sample(wall=0.0123456, cpu=0.0100001)
    # The same round, made to take the general path by a second sample: its statistics differ,
    # but every other metric must come out the same, in the same order.
    metrics = compute([plain], traced=None, stat="median", threshold=3, ignore=())
    assert metrics.values == {
        "time": distribution([0.0123456]),
        "cpu": distribution([0.0100001]),
        "queries": 0,
        "sql_time": 0.0,
        "n_plus_one": 0,
    }
    assert list(metrics.values) == ["time", "cpu", "queries", "sql_time", "n_plus_one"]
    assert (metrics.suspects, metrics.slowest_statement) == ([], None)
    general = compute([plain, plain], traced=None, stat="median", threshold=3, ignore=())
    assert list(general.values) == list(metrics.values)
    assert {key: general.values[key] for key in ("queries", "sql_time", "n_plus_one")} == {
        "queries": 0,
        "sql_time": 0.0,
        "n_plus_one": 0,
    }


def test_a_round_with_sql_or_operations_takes_the_general_path() -> None:
    log = QueryLog([Statement("SELECT 1", "SELECT ?", 0.002)])
    metrics = compute(
        [Sample(wall=0.01, cpu=0.01, ops=10, queries=log)], traced=None, stat="median", threshold=3, ignore=()
    )
    assert metrics.values["queries"] == 1
    assert metrics.values["sql_time"] == 0.002
    assert metrics.values["throughput"]["median"] == 1000.0
    assert metrics.slowest_statement == "SELECT ?"


def test_active_tracer_sees_a_profiler() -> None:
    previous = sys.getprofile()
    sys.setprofile(lambda *args: None)
    try:
        assert active_tracer() is not None
    finally:
        sys.setprofile(previous)


@pytest.mark.parametrize(
    "value",
    [{"a": [1, 2.5, "é", None, True]}, {"x": float("nan")}, {"x": object()}, "text", [], {"b": {"c": []}}],
)
def test_the_compact_encoder_writes_what_json_dumps_writes(value: Any) -> None:
    def outcome(encode: Any) -> str:
        try:
            return str(encode(value))
        except (TypeError, ValueError) as error:
            return f"{type(error).__name__}: {error}"

    expected = outcome(lambda v: json.dumps(v, ensure_ascii=False, allow_nan=False, separators=(",", ":")))
    assert outcome(json_report.compact_encoder()) == expected


def _record(nodeid: str, **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "nodeid": nodeid,
        "outcome": "passed",
        "metrics": {"queries": 1},
        "budgets": {},
        "violations": [],
        "n_plus_one": [],
    }
    record.update(extra)
    return record


RECORDS = [
    _record("t.py::a"),
    _record(
        "t.py::b",
        violations=[{"metric": "queries", "kind": "budget", "level": "error", "limit": 0, "actual": 1}],
    ),
    _record("t.py::c", baseline={"queries": {"before": 2, "after": 1, "change": -0.5, "improved": True}}),
    _record(
        "t.py::d",
        baseline={
            "queries": {"before": 0, "after": 1, "change": None, "regressed": True},
            "time": "not a dict",
        },
        violations=[{"metric": "queries", "kind": "regression", "level": "warn", "limit": 0, "actual": 1}],
    ),
    _record('t.py::e["quoted" é,\n\\]'),
]


def test_judged_changes_are_baseline_changes_of_each_judgement() -> None:
    document = {"tests": RECORDS}
    judged = markdown.judged_changes(document)
    assert [change.nodeid for change in judged["regressed"]] == ["t.py::d"]
    assert [change.nodeid for change in judged["improved"]] == ["t.py::c"]
    for judgement in ("regressed", "improved"):
        assert markdown.baseline_changes(document, judgement) == judged[judgement]


def test_changed_tests_lists_regressed_then_improved() -> None:
    assert [test["nodeid"] for test in markdown.changed_tests({"tests": RECORDS})] == ["t.py::d", "t.py::c"]


def test_summary_counts_each_kind_once() -> None:
    assert json_report.summarize(RECORDS, 2) == {
        "measured": 5,
        "over_budget": 1,
        "regressed": 1,
        "improved": 1,
        "warnings": 2,
    }


def _shards(tmp_path: Path, layout: str) -> list[str]:
    paths = []
    for number, records in enumerate((RECORDS[:3], RECORDS[3:])):
        document = json_report.document({"python": "3", "workers": 1}, records, [f"w{number}"])
        text = json_report.render(document) if layout == "lines" else json.dumps(document, indent=2)
        path = tmp_path / f"{layout}-{number}.json"
        path.write_text(text, encoding="utf-8")
        paths.append(str(path))
    return paths


def test_read_lines_keeps_each_test_text_and_refuses_another_layout(tmp_path: Path) -> None:
    first, _ = _shards(tmp_path, "lines")
    text = Path(first).read_text(encoding="utf-8")
    read = merge.read_lines(text)
    assert read is not None
    head, tests = read
    assert head == {key: value for key, value in json.loads(text).items() if key != "tests"}
    assert [test for test, _ in tests] == RECORDS[:3]
    assert [json.loads(line) for _, line in tests] == RECORDS[:3]
    indented = json.dumps(json.loads(text), indent=1)
    assert merge.read_lines(indented) is None
    assert merge.read_lines(text.replace('},\n{"nodeid"', '},{"nodeid"', 1)) is None  # two on a line
    assert merge.read_lines(text.replace('"outcome":', '\n"outcome":', 1)) is None  # one on two
    assert merge.read_lines(text.replace('{"nodeid"', '[{"nodeid"', 1)) is None  # not a test


@pytest.mark.parametrize("layout", ["lines", "indented"])
def test_merge_gives_the_same_report_whatever_the_shard_layout(tmp_path: Path, layout: str) -> None:
    from pytest_perfbudget import cli

    output = tmp_path / f"{layout}.json"
    assert cli.main(["merge", *_shards(tmp_path, layout), "-o", str(output)]) == 0
    merged = json.loads(output.read_text(encoding="utf-8"))
    assert [test["nodeid"] for test in merged["tests"]] == sorted(record["nodeid"] for record in RECORDS)
    assert merged["tests"] == sorted(RECORDS, key=lambda record: record["nodeid"])
    assert merged["environment"]["workers"] == 2
    assert merged["summary"] == json_report.summarize(RECORDS, 2)
    in_memory = merge.merge(
        [(name, json.loads(Path(name).read_text(encoding="utf-8"))) for name in _shards(tmp_path, layout)]
    )
    assert in_memory == merged


def test_an_idle_run_imports_no_measuring_code(run_serial: Runner) -> None:
    run_serial.pytester.makeconftest(
        """
        import sys

        def pytest_sessionfinish(session):
            loaded = sorted(name for name in sys.modules if name.startswith("pytest_perfbudget."))
            print("\\nLOADED", " ".join(loaded))
        """
    )
    run_serial.pytester.makepyfile(test_idle="def test_a():\n    pass\n")
    result = run_serial.pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s")
    result.assert_outcomes(passed=1)
    (line,) = [line for line in result.outlines if line.startswith("LOADED")]
    assert "pytest_perfbudget.session" not in line.split()
    assert "pytest_perfbudget.sql.hooks" not in line.split()


def test_a_marker_in_an_idle_run_activates_the_session(run_serial: Runner) -> None:
    run_serial.pytester.makepyfile(
        test_idle="""
        import pytest

        def test_plain():
            pass

        @pytest.mark.perf_budget(queries=0)
        def test_marked():
            pass
        """
    )
    result = run_serial()
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["perf: 1 measured, 0 over budget*"])


def test_the_import_watcher_is_gone_after_the_session(run_serial: Runner) -> None:
    from pytest_perfbudget.sql import _watcher

    run_serial.pytester.makepyfile(
        test_w="import pytest\n\n@pytest.mark.perf_budget(queries=5)\ndef test_a():\n    pass\n"
    )
    result = run_serial()
    result.assert_outcomes(passed=1)
    assert _watcher not in sys.meta_path
