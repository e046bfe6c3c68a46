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
(:func:`read_lines`): only parsed, never written again. The merged report is written with
one test per line (:func:`~pytest_perfbudget.reports.json_report.render_lines`): the same JSON, faster to write
than an indented document, and a diff of two reports shows one line per
changed test.
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


def read_lines(text: str) -> tuple[dict[str, Any], list[tuple[dict[str, Any], str]]] | None:
    """A report laid out as :func:`render_lines` writes it, read test by test.

    Its head, and each test with its own JSON text, which a merge keeps as it is
    instead of writing it again. Each line is parsed on its own, so a line that
    is not one whole test (another layout) is caught: None then, and the caller
    reads the report whole.
    """
    start = text.find(_TESTS_OPEN)
    if start < 0 or not text.endswith(_TESTS_CLOSE):
        return None
    # What json.loads runs, without its checks per call (typeshed does not know the attribute).
    scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
    try:
        head = json.loads(text[:start] + "\n}")
        body = text[start + len(_TESTS_OPEN) : -len(_TESTS_CLOSE)]
        tests = []
        for line in body.split(",\n") if body else ():
            test, end = scan(line, 0)
            if end != len(line) or not isinstance(test, dict):
                return None
            tests.append((test, line))
    except (ValueError, StopIteration):  # not JSON, or a lone surrogate
        return None
    if not isinstance(head, dict) or "tests" in head:
        return None
    return head, tests


@dataclass
class _Kept:
    shard: str
    text: str
    counts: dict[str, int]


@dataclass
class Merger:
    """Shards added one by one with :meth:`add`; :meth:`render` gives the merged report."""

    on_conflict: str | None = None
    shards: list[str] = field(default_factory=list)
    _tests: dict[str, _Kept] = field(default_factory=dict)
    _environment: dict[str, Any] | None = None
    _workers: list[int] = field(default_factory=list)
    _warnings: list[list[str]] = field(default_factory=list)
    _baselines: list[Mapping[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.on_conflict is not None and self.on_conflict not in CONFLICT_CHOICES:
            raise MergeError(f"--on-conflict must be 'first' or 'last', not {self.on_conflict!r}")

    def add(self, name: str, report: Mapping[str, Any], texts: Sequence[str] | None = None) -> None:
        """Take in one shard; ``report`` is not kept, nor modified.

        ``texts``, when given, are the JSON texts of the report's tests, in order
        (from :func:`read_lines`): kept as they are, not written again.
        """
        self.shards.append(name)
        environment = report.get("environment") or {}
        if self._environment is None:
            self._environment = dict(environment)
        if isinstance(environment.get("workers"), int):
            self._workers.append(environment["workers"])
        self._warnings.append([str(warning) for warning in report.get("warnings", [])])
        if isinstance(report.get("baseline"), Mapping):
            self._baselines.append(report["baseline"])
        tests = report.get("tests", [])
        if texts is not None and len(texts) == len(tests):
            for test, text in zip(tests, texts, strict=True):
                self._add_test(name, test, text)
        else:
            for test in tests:
                self._add_test(name, test)

    def _add_test(self, name: str, test: Mapping[str, Any], text: str | None = None) -> None:
        nodeid = str(test["nodeid"])
        kept = self._tests.get(nodeid)
        if kept is not None:
            if self.on_conflict is None:
                raise MergeError(
                    f"test '{nodeid}' is in both {kept.shard} and {name}; "
                    "pass --on-conflict first or --on-conflict last to keep one"
                )
            if self.on_conflict == "first":
                return
        if text is None:
            try:
                text = _compact(test)
            except ValueError as error:
                raise MergeError(f"{name}: test '{nodeid}' cannot be written as JSON: {error}") from None
        self._tests[nodeid] = _Kept(name, text, summarize([test if isinstance(test, dict) else dict(test)]))

    @property
    def count(self) -> int:
        """Tests kept so far."""
        return len(self._tests)

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
            "vanished": sorted(vanished - self._tests.keys()),
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
        summary = {key: 0 for key in summarize([])}
        for kept in self._tests.values():
            for key, count in kept.counts.items():
                summary[key] += count
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
        return render_lines(head, [self._tests[nodeid].text for nodeid in sorted(self._tests)])

    def render_chunks(self) -> Iterator[str]:
        """:meth:`render` in pieces, for writing: the merged text is never whole in memory."""
        head = self.head()
        return iter_lines(head, (self._tests[nodeid].text for nodeid in sorted(self._tests)))


def merge(shards: Sequence[Shard], on_conflict: str | None = None) -> dict[str, Any]:
    """One report from ``shards`` (name and report each), which are not modified."""
    merger = Merger(on_conflict)
    for name, report in shards:
        merger.add(name, report)
    result: dict[str, Any] = json.loads(merger.render())
    return result
