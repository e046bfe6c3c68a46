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

from pytest_perfbudget import budgets, merge
from pytest_perfbudget.measure import Sample
from pytest_perfbudget.metrics import compute, distribution, plain_values, significant
from pytest_perfbudget.queries import QueryLog, Statement
from pytest_perfbudget.recorder import Plan
from pytest_perfbudget.reports import json_report, markdown
from pytest_perfbudget.results import new_record
from pytest_perfbudget.runner import plain_call_within_budget
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


@pytest.mark.parametrize("wall", VALUES)
def test_plain_values_are_the_general_distributions(wall: float) -> None:
    cpu = 0.004
    values = plain_values(wall, cpu)
    assert json.dumps(values["time"]) == json.dumps(general_distribution([wall]))
    assert json.dumps(values["cpu"]) == json.dumps(general_distribution([cpu]))


@pytest.mark.parametrize(
    ("wall", "within"),
    [(0.05, True), (0.1, True), (0.1000004, False), (0.2, False)],
    ids=["under", "at", "a-rounding-over", "over"],
)
def test_a_plain_call_is_within_budget_as_measured(wall: float, within: bool) -> None:
    """A call a rounding over its limit is left to the judge, which holds the rounded time to it."""
    assert plain_call_within_budget(wall, 0.001, QueryLog(), budget_plan(time=0.1)) is within
    assert plain_call_within_budget(0.001, wall, QueryLog(), budget_plan(cpu=0.1)) is within


def test_a_plain_call_that_ran_sql_is_left_to_the_judge() -> None:
    log = QueryLog([Statement("SELECT 1", "SELECT ?", 0.002)])
    assert not plain_call_within_budget(0.001, 0.001, log, budget_plan(time=1.0))


def budget_plan(**limits: float) -> Plan:
    return Plan(budget_with(**limits), trace_memory=False, measure_rss=False)


def budget_with(**limits: float) -> budgets.TestBudget:
    by_metric = {metric: (budgets.Limit(metric, value),) for metric, value in limits.items()}
    return budgets.TestBudget(limits=by_metric, settings=budgets.Settings())


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


def plain_record(wall: float, cpu: float, **changes: Any) -> dict[str, Any]:
    budget = budget_with(time=1.0)
    record = new_record('tests/test_é.py::test_a[x"1]', ("tests/test_é.py", 6, "test_a"), budget, {})
    record["metrics"] = plain_values(wall, cpu)
    record["outcome"] = "passed"
    record.update(changes)
    return record


def test_a_plain_record_is_written_from_its_template_as_the_encoder_writes_it() -> None:
    rng = random.Random(6)
    lines = json_report.EncodedTests()
    encode = json_report.compact_encoder()
    for _ in range(500):
        record = plain_record(rng.lognormvariate(-7, 3), rng.choice((0.0, rng.lognormvariate(-7, 3))))
        if rng.random() < 0.2:
            record["line"] = None
        line = lines._plain_line(record)
        if record["metrics"]["cpu"]["median"] != 0.0:  # a zero round has its statistics computed apart
            assert line is not None
        lines.add(record)
        assert lines[record["nodeid"]] == encode(record)


@pytest.mark.parametrize(
    "change",
    [
        {"violations": [{"metric": "time"}]},
        {"retries": 1},
        {"line": 7.0},
        {"metrics": {**plain_values(0.01, 0.01), "sql_time": -0.0}},
        {"metrics": {**plain_values(0.01, 0.01), "queries": False}},
        {"metrics": {**plain_values(0.01, 0.01), "time": distribution([0.01, 0.02])}},
        {"metrics": {**plain_values(0.01, 0.01), "time": {**distribution([0.01]), "max": 0.01 + 0.0}}},
    ],
    ids=[
        "violation",
        "more-keys",
        "float-line",
        "negative-zero",
        "bool-count",
        "two-rounds",
        "equal-not-same",
    ],
)
def test_a_record_unlike_a_plain_one_is_left_to_the_encoder(change: dict[str, Any]) -> None:
    record = plain_record(0.01, 0.01, **change)
    lines = json_report.EncodedTests()
    assert lines._plain_line(record) is None
    lines.add(record)
    assert lines[record["nodeid"]] == json_report.compact_encoder()(record)


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


# More records for merge's look at lines (merge._plain_nodeid): escapes and line breaks in node
# ids, blocks named as the record's own keys, and those keys quoted in a string.
MERGE_RECORDS = [
    *RECORDS,
    _record("t.py::f[back\\slash]"),
    _record("t.py::g[\u2028\x85]"),  # line breaks to str.splitlines, written as they are
    _record("t.py::h[é]"),
    _record(
        "t.py::i", blocks={"setup": {"queries": 1}, "violations": {"queries": 2}, "baseline": {"queries": 3}}
    ),
    _record("t.py::j", n_plus_one=[{"statement": 'SELECT "baseline", "violations":[] FROM t', "count": 3}]),
    _record(
        "t.py::k", violations=[{"metric": "time", "kind": "budget", "level": "warn", "limit": 1, "actual": 2}]
    ),
    _record(
        "t.py::l",
        metrics={"violations": []},  # before the record's own
        violations=[{"metric": "time", "kind": "budget", "level": "error", "limit": 1, "actual": 2}],
    ),
]
# The records that summarize counts as measured and nothing more, and that are written without
# an escape in their node id: the lines of this plugin that a merge need not parse.
LOOKED_AT = ["t.py::a", "t.py::g[\u2028\x85]", "t.py::h[é]", "t.py::j"]

_compact = json_report.compact_encoder()

# Ways of writing one test per line: this plugin's, and other writers' (spaces, ASCII escapes,
# another key order), whose lines a merge parses.
LINE_WRITERS: dict[str, Any] = {
    "lines": _compact,
    "lines of json.dumps": json.dumps,
    "lines with sorted keys": lambda test: json.dumps(test, sort_keys=True, separators=(",", ":")),
}


def _write_shard(path: Path, document: dict[str, Any], layout: str) -> str:
    if layout == "indented":
        text = json.dumps(document, indent=2)
    else:
        head = {key: value for key, value in document.items() if key != "tests"}
        writers = list(LINE_WRITERS.values()) if layout == "mixed lines" else [LINE_WRITERS[layout]]
        lines = [writers[index % len(writers)](test) for index, test in enumerate(document["tests"])]
        text = json_report.render_lines(head, lines)
    path.write_text(text, encoding="utf-8")
    return str(path)


def _shards(tmp_path: Path, layout: str, records: list[dict[str, Any]] = RECORDS) -> list[str]:
    """Two shards of ``records``, every other one in each."""
    return [
        _write_shard(
            tmp_path / f"{layout}-{number}.json",
            json_report.document({"python": "3", "workers": 1}, records[number::2], [f"w{number}"]),
            layout,
        )
        for number in range(2)
    ]


def test_read_lines_keeps_each_test_text_and_refuses_another_layout(tmp_path: Path) -> None:
    first, _ = _shards(tmp_path, "lines")
    text = Path(first).read_text(encoding="utf-8")
    read = merge.read_lines(text)
    assert read is not None
    assert read.head == {key: value for key, value in json.loads(text).items() if key != "tests"}
    tests = sorted(RECORDS[0::2], key=lambda record: record["nodeid"])
    assert read.nodeids == [test["nodeid"] for test in tests]
    assert read.texts == [_compact(test) for test in tests]
    assert [json.loads(line) for line in read.texts] == tests
    measured_only = json_report.summarize([RECORDS[0]])
    counts = {index: json_report.summarize([test]) for index, test in enumerate(tests)}
    assert read.counts == {index: tally for index, tally in counts.items() if tally != measured_only}
    assert list(read.counts) == [1]  # t.py::c, improved
    indented = json.dumps(json.loads(text), indent=1)
    assert merge.read_lines(indented) is None
    assert merge.read_lines(text.replace('},\n{"nodeid"', '},{"nodeid"', 1)) is None  # two on a line
    assert merge.read_lines(text.replace('"outcome":', '\n"outcome":', 1)) is None  # one on two
    assert merge.read_lines(text.replace('{"nodeid"', '[{"nodeid"', 1)) is None  # not a test
    assert merge.read_lines(text.replace('{"nodeid"', '{"node"', 1)) is None  # no node id
    assert merge.read_lines(text.replace('"violations":', '"violation":', 1)) is None  # not a record
    plain = json_report.render(json_report.document({}, [_record("t.py::a"), _record("t.py::b")], []))
    assert merge.read_lines(plain) is not None
    assert merge.read_lines(plain.replace('},\n{"nodeid"', '},{"nodeid"', 1)) is None  # two at a look


def test_merge_parses_only_the_lines_it_cannot_read_at_a_look() -> None:
    looked_at = [test["nodeid"] for test in MERGE_RECORDS if merge._plain_nodeid(_compact(test)) is not None]
    assert looked_at == LOOKED_AT
    for test in MERGE_RECORDS:
        assert merge._plain_nodeid(_compact(test)) in (test["nodeid"], None)
        for writer in ("lines of json.dumps", "lines with sorted keys"):
            assert merge._plain_nodeid(LINE_WRITERS[writer](test)) is None


@pytest.mark.parametrize("layout", [*LINE_WRITERS, "mixed lines", "indented"])
def test_merge_gives_the_same_report_whatever_the_shard_layout(tmp_path: Path, layout: str) -> None:
    from pytest_perfbudget import cli

    output = tmp_path / f"{layout}.json"
    shards = _shards(tmp_path, layout, MERGE_RECORDS)
    assert cli.main(["merge", *shards, "-o", str(output)]) == 0
    text = output.read_text(encoding="utf-8")
    merged = json.loads(text)
    assert [test["nodeid"] for test in merged["tests"]] == sorted(
        record["nodeid"] for record in MERGE_RECORDS
    )
    assert merged["tests"] == sorted(MERGE_RECORDS, key=lambda record: record["nodeid"])
    assert merged["environment"]["workers"] == 2
    assert merged["summary"] == json_report.summarize(MERGE_RECORDS, 2)
    in_memory = merge.merge([(name, json.loads(Path(name).read_text(encoding="utf-8"))) for name in shards])
    assert in_memory == merged
    # Each line is kept as the shard wrote it; the plugin's own give the report it would write.
    lines = {json.loads(line)["nodeid"]: line for name in shards for line in _test_lines(name)}
    head = {key: value for key, value in merged.items() if key != "tests"}
    assert text == json_report.render_lines(head, [lines[nodeid] for nodeid in sorted(lines)])
    if layout == "lines":
        assert text == json_report.render(merged)


def _test_lines(path: str) -> list[str]:
    """The tests of a shard as it wrote them, one per line (indented: as this plugin writes them)."""
    document = json.loads(Path(path).read_text(encoding="utf-8"))
    read = merge.read_lines(Path(path).read_text(encoding="utf-8"))
    return read.texts if read is not None else [_compact(test) for test in document["tests"]]


@pytest.mark.parametrize("on_conflict", [None, "first", "last"])
def test_merge_of_lines_settles_a_test_in_two_shards_as_a_merge_of_documents(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], on_conflict: str | None
) -> None:
    """The same test twice, in two shards or in one, as with shards read whole: the same error,
    or the same record kept and counted (a replaced record with a violation counts no more)."""
    from pytest_perfbudget import cli

    failing, passing = RECORDS[1], {**RECORDS[1], "violations": []}
    shards = {"a": [RECORDS[0], failing], "b": [passing, RECORDS[2]], "c": [RECORDS[4], RECORDS[4]]}
    outcomes = []
    for layout in ("lines", "indented"):
        directory = tmp_path / layout
        directory.mkdir()
        for names in (["a", "b"], ["b", "a"], ["c"]):
            paths = [
                _write_shard(directory / f"{name}.json", json_report.document({}, shards[name], []), layout)
                for name in names
            ]
            output = directory / "all.json"
            output.unlink(missing_ok=True)
            choice = ["--on-conflict", on_conflict] if on_conflict else []
            status = cli.main(["merge", *paths, "-o", str(output), *choice])
            err = capsys.readouterr().err.replace(str(directory), "DIR")
            text = output.read_text(encoding="utf-8") if output.exists() else None
            outcomes.append((layout, names, status, err, text))
    lines, indented = outcomes[:3], outcomes[3:]
    assert [outcome[1:] for outcome in lines] == [outcome[1:] for outcome in indented]
    if on_conflict is None:
        assert [outcome[2] for outcome in lines] == [3, 3, 3]
        assert lines[0][3] == (
            "error: test 't.py::b' is in both DIR/a.json and DIR/b.json; "
            "pass --on-conflict first or --on-conflict last to keep one\n"
        )
    else:
        kept = failing if on_conflict == "first" else passing
        merged = json.loads(lines[0][4] or "")
        assert merged["tests"] == [RECORDS[0], kept, RECORDS[2]]
        assert merged["summary"]["over_budget"] == (1 if kept is failing else 0)


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
