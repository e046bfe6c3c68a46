"""The JSON report: the machine-readable record of a run, and what ``--perf-baseline`` reads."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from ..results import TestRecord, has_warnings, is_improved, is_over_budget, is_regressed
from ..stats import STATISTICS

SCHEMA = "pytest-perfbudget/1"


def summarize(records: Iterable[TestRecord], extra_warnings: int = 0) -> dict[str, int]:
    """Counts of the run's tests; ``crashed`` (tests listed but not measured) only when some did."""
    measured = over_budget = regressed = improved = warnings = crashed = 0
    for record in records:  # one pass: a run may have 100,000 records
        measured += 1
        if not record["violations"] and "baseline" not in record:
            if "crash" in record:  # is_crashed(), inline: this is the usual record's path
                crashed += 1
            continue  # the usual record: nothing more to count
        over_budget += is_over_budget(record)
        regressed += is_regressed(record)
        improved += is_improved(record)
        warnings += has_warnings(record)
    summary = {
        "measured": measured - crashed,
        "over_budget": over_budget,
        "regressed": regressed,
        "improved": improved,
        "warnings": warnings + extra_warnings,
    }
    if crashed:
        summary["crashed"] = crashed
    return summary


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
    """The report with one test per line.

    Each test goes through the C encoder on its own: several times faster, and
    a fraction of the memory, of ``indent=`` for 100,000 tests; and a diff of
    two reports shows one line per changed test.
    """
    head = {key: value for key, value in report.items() if key != "tests"}
    compact = compact_encoder()
    return render_lines(head, [compact(test) for test in report.get("tests", [])])


def render_chunks(report: dict[str, Any], encoded: Mapping[str, str] | None = None) -> Iterator[str]:
    """:func:`render`, in pieces of a thousand tests: written as they come, a report of
    100,000 tests never exists whole in memory (nor its list of lines, nor its bytes).

    ``encoded`` holds tests already encoded, by node id, as a run encodes each result when it
    arrives: the end of a run of 100,000 tests then joins lines instead of encoding them.
    """
    head = {key: value for key, value in report.items() if key != "tests"}
    compact = compact_encoder()
    tests = report.get("tests", [])
    if not encoded:
        return iter_lines(head, (compact(test) for test in tests))
    return iter_lines(head, (encoded.get(test["nodeid"]) or compact(test) for test in tests))


class EncodedTests(dict[str, str]):
    """Tests encoded as lines of the JSON report, by node id, as their results arrive."""

    def __init__(self) -> None:
        super().__init__()
        self._encode = compact_encoder()
        self._budgets: dict[int, tuple[object, str]] = {}  # by id: records share their budget's dict

    def add(self, record: Mapping[str, Any]) -> None:
        """Encode ``record`` (again, if it changed since)."""
        line = self._plain_line(record)
        self[str(record["nodeid"])] = line if line is not None else self._encode(record)

    def _plain_line(self, record: Mapping[str, Any]) -> str | None:
        """The line of a record with nothing to say but one round of each timing (most tests),
        written from a template; None for any other record.

        The same text as the encoder's: writing a float is most of what encoding costs, and such
        a record holds each of its two timings 9 times (the round and its statistics).
        """
        if list(record) != _PLAIN_RECORD or record["violations"] or record["n_plus_one"]:
            return None
        metrics = record["metrics"]
        if list(metrics) != _PLAIN_METRICS:
            return None
        line = record["line"]
        queries, sql_time, n_plus_one = metrics["queries"], metrics["sql_time"], metrics["n_plus_one"]
        classes = (
            record["nodeid"].__class__,
            record["file"].__class__,
            record["outcome"].__class__,
            line.__class__,
            queries.__class__,
            sql_time.__class__,
            n_plus_one.__class__,
        )
        if classes not in _PLAIN_CLASSES or queries or n_plus_one or str(sql_time) != "0.0":
            return None
        time, cpu = _one_round_text(metrics["time"]), _one_round_text(metrics["cpu"])
        if time is None or cpu is None:
            return None
        return (
            f'{{"nodeid":{_string(record["nodeid"])},"file":{_string(record["file"])},'
            f'"line":{"null" if line is None else line},"outcome":{_string(record["outcome"])},'
            f'"metrics":{{"time":{time},"cpu":{cpu},"queries":0,"sql_time":0.0,"n_plus_one":0}},'
            f'"budgets":{self._budget_text(record["budgets"])},"violations":[],"n_plus_one":[]}}'
        )

    def _budget_text(self, budgets: object) -> str:
        known = self._budgets.get(id(budgets))
        if known is not None and known[0] is budgets:  # kept with its text: the id is its own
            return known[1]
        text = self._encode(budgets)
        self._budgets[id(budgets)] = (budgets, text)
        return text


_PLAIN_RECORD = ["nodeid", "file", "line", "outcome", "metrics", "budgets", "violations", "n_plus_one"]
_PLAIN_METRICS = ["time", "cpu", "queries", "sql_time", "n_plus_one"]
_PLAIN_CLASSES = ((str, str, str, int, int, float, int), (str, str, str, type(None), int, float, int))
_ONE_ROUND = ["rounds", *STATISTICS]
_ONE_ROUND_TEMPLATE = '{{"rounds":[{0}],' + ",".join(f'"{name}":{{0}}' for name in STATISTICS) + "}}"


def _one_round_text(timing: Mapping[str, Any]) -> str | None:
    """A timing of one round whose statistics are that round's value itself, or None."""
    if list(timing) != _ONE_ROUND or len(timing["rounds"]) != 1:
        return None
    value = timing["rounds"][0]
    if value.__class__ is not float or not -math.inf < value < math.inf:  # a float's text is its repr
        return None
    if [statistic for statistic in STATISTICS if timing[statistic] is not value]:
        return None
    return _ONE_ROUND_TEMPLATE.format(repr(value))


def _string(value: str) -> str:
    encoded: str = json.encoder.encode_basestring(value)  # what the encoder writes (ensure_ascii off)
    return encoded


def compact_encoder() -> Callable[[Any], str]:
    """``json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))``, as a function.

    The same text, a fifth quicker per call for 100,000 tests: ``json.dumps`` with
    arguments makes a new encoder for every call, this makes one.
    """
    encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator: the pure-Python encoder, as json.dumps would use
        return encoder.encode
    iterencode = make(
        {}, encoder.default, json.encoder.encode_basestring, None, ":", ",", False, False, False
    )

    def encode(value: Any) -> str:
        return "".join(iterencode(value, 0))

    return encode


def render_lines(head: Mapping[str, Any], tests: Sequence[str]) -> str:
    """A report document: ``head`` indented as usual, then ``tests`` (JSON texts) one per line."""
    return "".join(iter_lines(head, tests))


def iter_lines(head: Mapping[str, Any], tests: Iterable[str], block: int = 1000) -> Iterator[str]:
    """:func:`render_lines` in pieces: the head, then ``block`` tests at a time, then the end."""
    text = json.dumps(dict(head), indent=1, ensure_ascii=False, allow_nan=False)
    yield text[: -len("\n}")] + (',\n "tests": [\n' if head else '\n "tests": [\n')
    any_test = False
    pending: list[str] = []
    for test in tests:
        pending.append(test)
        if len(pending) == block:
            yield (",\n" if any_test else "") + ",\n".join(pending)
            any_test, pending = True, []
    if pending:
        yield (",\n" if any_test else "") + ",\n".join(pending)
        any_test = True
    yield "\n ]\n}\n" if any_test else " ]\n}\n"
