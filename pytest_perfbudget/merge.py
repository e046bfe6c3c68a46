"""Merging the JSON reports of CI shards into one report (``perfbudget merge``).

A suite split over several CI jobs gives one report per job; merged, they
read as one run: tests from every shard in node id order, the environment of
the first shard with the xdist workers of all, run-wide warnings once each,
and the summary counted again (with ``json_report.summarize``) from the
tests kept.

A :class:`Merger` takes one shard at a time and keeps each test as compact
JSON text, not as objects, so that merging a suite of 100,000 tests needs
one shard's worth of objects at a time. A shard written one test per line
(as this plugin writes reports) keeps each line's text as it is
(:func:`read_lines`), never written again; and a line as this plugin writes
it, of a test with no violation and no baseline change (most of them), is
not even parsed: its node id is all that a merge needs of it. The merged
report is written with one test per line
(:func:`~pytest_perfbudget.reports.json_report.render_lines`): the same JSON,
faster to write than an indented document, and a diff of two reports shows
one line per changed test.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .reports.json_report import SCHEMA, compact_encoder, iter_lines, render_lines, summarize

CONFLICT_CHOICES = ("first", "last")
STALE_PREFIX = "stale budget:"

Shard = tuple[str, Mapping[str, Any]]  # how the shard is named in messages, and its report


class MergeError(Exception):
    """Shards that cannot be merged as asked; ``str()`` is the one-line message."""


_compact = compact_encoder()

# How render_lines lays a report out: the head, then one test per line, then the closing.
_TESTS_OPEN = ',\n "tests": [\n'  # after a head with keys: a report has a schema
_TESTS_CLOSE = "\n ]\n}\n"

# How this plugin's records start (results.build_record): the node id comes first.
_NODEID_KEY = '{"nodeid":'
_NODEID_TEXT = len(_NODEID_KEY) + 1  # where the node id starts, after its opening quote
_VIOLATIONS_KEY = '"violations":'

# What summarize counts for a test with no violation and no baseline change.
_MEASURED_ONLY = summarize([{"violations": []}])


@dataclass
class ShardLines:
    """A shard as :func:`read_lines` reads it: its head, and each test's node id and JSON text."""

    head: dict[str, Any]
    nodeids: list[str]
    texts: list[str]
    counts: dict[int, dict[str, int]]
    """By position: what ``summarize`` counts for each test that counts for more than being measured."""


def read_lines(text: str) -> ShardLines | None:
    """A report laid out as :func:`render_lines` writes it, read test by test.

    Its head, and each test's node id with its own JSON text, which a merge keeps
    as it is instead of writing it again. A line as this plugin writes it, of a
    test with no violation and no baseline change, is only looked at
    (:func:`_plain_nodeid`); any other line is parsed on its own, so that a line
    that is not one whole test (another layout) is caught: None then, and the
    caller reads the report whole.
    """
    start = text.find(_TESTS_OPEN)
    if start < 0 or not text.endswith(_TESTS_CLOSE):
        return None
    try:
        head = json.loads(text[:start] + "\n}")
    except ValueError:
        return None
    if not isinstance(head, dict) or "tests" in head:
        return None
    body = text[start + len(_TESTS_OPEN) : -len(_TESTS_CLOSE)]
    texts = body.split(",\n") if body else []
    # Each line starts a record, and there are no more records than lines: no line holds two
    # tests, and a line that starts and ends as this plugin writes them is taken for one test
    # without parsing it (one damaged inside is caught only when the merged report is read).
    ours = text.count(_NODEID_KEY) == len(texts) and all(line.startswith(_NODEID_KEY) for line in texts)
    # What json.loads runs, without its checks per call (typeshed does not know the attribute).
    scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
    nodeids: list[str] = []
    counts: dict[int, dict[str, int]] = {}
    for index, line in enumerate(texts):
        nodeid = _plain_nodeid(line) if ours else None
        if nodeid is None:
            try:
                test, end = scan(line, 0)
            except (ValueError, StopIteration):  # not JSON, or a lone surrogate
                return None
            if end != len(line) or not isinstance(test, dict) or "nodeid" not in test:
                return None
            nodeid = str(test["nodeid"])
            try:
                tally = summarize([test])
            except (KeyError, TypeError, AttributeError):  # not a record: read whole, as before
                return None
            if tally != _MEASURED_ONLY:
                counts[index] = tally
        nodeids.append(nodeid)
    return ShardLines(head, nodeids, texts, counts)


def _plain_nodeid(line: str) -> str | None:
    """The node id of one test's line as this plugin writes it, when ``summarize`` counts the
    test as measured and nothing more (no violation, no baseline change); else None.

    The line is looked at, not parsed. It starts with the node id, written without an escape,
    and ends the object. The last ``"violations":`` in it is the record's own (after it,
    ``build_record`` writes no such key but in a block a user named so, whose value is an
    object), and it is empty. ``"baseline"`` is nowhere in it (a string can hold that text only
    with its quotes escaped). Any other line, of this plugin or of another writer (another key
    order, spacing or escapes), gives None: it is parsed.
    """
    if not (line.startswith('"', len(_NODEID_KEY)) and line.endswith("}")):
        return None
    end = line.find('"', _NODEID_TEXT)
    if end < 0 or not line.startswith(",", end + 1):
        return None
    nodeid = line[_NODEID_TEXT:end]
    if "\\" in nodeid:  # an escape: the text is not the node id itself
        return None
    violations = line.rfind(_VIOLATIONS_KEY)
    if violations < 0 or not line.startswith("[]", violations + len(_VIOLATIONS_KEY)) or '"baseline"' in line:
        return None
    if '"crash":' in line:  # a test whose xdist worker died: counted as crashed, not measured
        return None
    return nodeid


@dataclass
class Merger:
    """Shards added one by one with :meth:`add` or :meth:`add_lines`; :meth:`render` gives the merged report."""

    on_conflict: str | None = None
    shards: list[str] = field(default_factory=list)
    _texts: dict[str, str] = field(default_factory=dict)  # each test's JSON text, by node id
    _origins: dict[str, str] = field(default_factory=dict)  # the shard each test was kept from
    _counts: dict[str, dict[str, int]] = field(default_factory=dict)  # as ShardLines.counts, by node id
    _environment: dict[str, Any] | None = None
    _workers: list[int] = field(default_factory=list)
    _warnings: list[list[str]] = field(default_factory=list)
    _baselines: list[Mapping[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.on_conflict is not None and self.on_conflict not in CONFLICT_CHOICES:
            raise MergeError(f"--on-conflict must be 'first' or 'last', not {self.on_conflict!r}")

    def add(self, name: str, report: Mapping[str, Any]) -> None:
        """Take in one shard, read whole; ``report`` is not kept, nor modified."""
        self._add_head(name, report)
        for test in report.get("tests", []):
            nodeid = str(test["nodeid"])
            if not self._takes(name, nodeid):
                continue
            try:
                text = _compact(test)
            except ValueError as error:
                raise MergeError(f"{name}: test '{nodeid}' cannot be written as JSON: {error}") from None
            self._keep(name, nodeid, text, summarize([test if isinstance(test, dict) else dict(test)]))

    def add_lines(self, name: str, shard: ShardLines) -> None:
        """Take in one shard as :func:`read_lines` reads it: each test's text is kept as it is."""
        self._add_head(name, shard.head)
        tests = dict(zip(shard.nodeids, shard.texts, strict=True))
        if len(tests) == len(shard.nodeids) and self._texts.keys().isdisjoint(tests):
            # The usual case, every test new: taken in at once.
            self._texts.update(tests)
            self._origins.update(dict.fromkeys(tests, name))
            self._counts.update((shard.nodeids[index], counts) for index, counts in shard.counts.items())
            return
        for index, (nodeid, text) in enumerate(zip(shard.nodeids, shard.texts, strict=True)):
            if self._takes(name, nodeid):
                self._keep(name, nodeid, text, shard.counts.get(index, _MEASURED_ONLY))

    def _add_head(self, name: str, report: Mapping[str, Any]) -> None:
        """Everything of a shard but its tests."""
        self.shards.append(name)
        environment = report.get("environment") or {}
        if self._environment is None:
            self._environment = dict(environment)
        if isinstance(environment.get("workers"), int):
            self._workers.append(environment["workers"])
        self._warnings.append([str(warning) for warning in report.get("warnings", [])])
        if isinstance(report.get("baseline"), Mapping):
            self._baselines.append(report["baseline"])

    def _takes(self, name: str, nodeid: str) -> bool:
        """Whether shard ``name``'s test ``nodeid`` is to be kept: a new test, or ``--on-conflict last``."""
        if nodeid not in self._texts:
            return True
        if self.on_conflict is None:
            raise MergeError(
                f"test '{nodeid}' is in both {self._origins[nodeid]} and {name}; "
                "pass --on-conflict first or --on-conflict last to keep one"
            )
        return self.on_conflict == "last"

    def _keep(self, name: str, nodeid: str, text: str, counts: dict[str, int]) -> None:
        self._texts[nodeid] = text
        self._origins[nodeid] = name
        if counts == _MEASURED_ONLY:
            self._counts.pop(nodeid, None)  # a test it replaces may have counted for more
        else:
            self._counts[nodeid] = counts

    @property
    def count(self) -> int:
        """Tests kept so far."""
        return len(self._texts)

    def warnings(self) -> list[str]:
        """Each warning once, in order of first appearance.

        A stale-budget warning is kept only when every shard gave it: a
        pattern that matched no test in one shard may well have matched in
        another.
        """
        seen: dict[str, None] = {}
        for warnings in self._warnings:
            for warning in warnings:
                if warning.startswith(STALE_PREFIX) and not all(warning in other for other in self._warnings):
                    continue
                seen.setdefault(warning, None)
        return list(seen)

    def baseline(self) -> dict[str, Any] | None:
        """New tests from all shards; vanished only those no shard ran."""
        if not self._baselines:
            return None
        new = sorted({str(nodeid) for section in self._baselines for nodeid in section.get("new", [])})
        vanished = {str(nodeid) for section in self._baselines for nodeid in section.get("vanished", [])}
        differences: dict[str, None] = {}
        for section in self._baselines:
            for difference in section.get("environment_differences", []):
                differences.setdefault(str(difference), None)
        return {
            **self._baselines[0],
            "new": new,
            "vanished": sorted(vanished - self._texts.keys()),
            "environment_differences": list(differences),
        }

    def head(self) -> dict[str, Any]:
        """Everything of the merged report but its tests."""
        if not self.shards:
            raise MergeError("no shard to merge")
        environment = dict(self._environment or {})
        if self._workers:
            environment["workers"] = sum(self._workers)
        warnings = self.warnings()
        summary = dict.fromkeys(_MEASURED_ONLY, 0)
        summary["measured"] = len(self._texts) - len(self._counts)  # the others counted below
        for counts in self._counts.values():
            for key, count in counts.items():
                summary[key] = summary.get(key, 0) + count
        summary["warnings"] += len(warnings)
        head: dict[str, Any] = {
            "schema": SCHEMA,
            "environment": environment,
            "summary": summary,
            "warnings": warnings,
        }
        baseline = self.baseline()
        if baseline is not None:
            head["baseline"] = baseline
        return head

    def render(self) -> str:
        """The merged report as JSON text, tests in node id order."""
        head = self.head()
        return render_lines(head, [self._texts[nodeid] for nodeid in sorted(self._texts)])

    def render_chunks(self) -> Iterator[str]:
        """:meth:`render` in pieces, for writing: the merged text is never whole in memory."""
        head = self.head()
        return iter_lines(head, map(self._texts.__getitem__, sorted(self._texts)))


def merge(shards: Sequence[Shard], on_conflict: str | None = None) -> dict[str, Any]:
    """One report from ``shards`` (name and report each), which are not modified."""
    merger = Merger(on_conflict)
    for name, report in shards:
        merger.add(name, report)
    result: dict[str, Any] = json.loads(merger.render())
    return result
