"""Merging the JSON reports of CI shards into one report (``perfbudget merge``).

A suite split over several CI jobs gives one report per job; merged, they
read as one run: tests from every shard in node id order, the environment of
the first shard with the xdist workers of all, run-wide warnings once each,
and the summary counted again (with ``json_report.summarize``) from the
tests kept.

A :class:`Merger` takes one shard at a time and keeps each test as compact
JSON text, not as objects, so that merging a suite of 100,000 tests needs
one shard's worth of objects at a time. The merged report is written with
one test per line (:func:`~pytest_perfbudget.reports.json_report.render_lines`): the same JSON, faster to write
than an indented document, and a diff of two reports shows one line per
changed test.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .reports.json_report import SCHEMA, render_lines, summarize

CONFLICT_CHOICES = ("first", "last")
STALE_PREFIX = "stale budget:"

Shard = tuple[str, Mapping[str, Any]]  # how the shard is named in messages, and its report


class MergeError(Exception):
    """Shards that cannot be merged as asked; ``str()`` is the one-line message."""


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


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

    def add(self, name: str, report: Mapping[str, Any]) -> None:
        """Take in one shard; ``report`` is not kept, nor modified."""
        self.shards.append(name)
        environment = report.get("environment") or {}
        if self._environment is None:
            self._environment = dict(environment)
        if isinstance(environment.get("workers"), int):
            self._workers.append(environment["workers"])
        self._warnings.append([str(warning) for warning in report.get("warnings", [])])
        if isinstance(report.get("baseline"), Mapping):
            self._baselines.append(report["baseline"])
        for test in report.get("tests", []):
            self._add_test(name, test)

    def _add_test(self, name: str, test: Mapping[str, Any]) -> None:
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
        try:
            text = _compact(test)
        except ValueError as error:
            raise MergeError(f"{name}: test '{nodeid}' cannot be written as JSON: {error}") from None
        self._tests[nodeid] = _Kept(name, text, summarize([dict(test)]))

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


def merge(shards: Sequence[Shard], on_conflict: str | None = None) -> dict[str, Any]:
    """One report from ``shards`` (name and report each), which are not modified."""
    merger = Merger(on_conflict)
    for name, report in shards:
        merger.add(name, report)
    result: dict[str, Any] = json.loads(merger.render())
    return result
