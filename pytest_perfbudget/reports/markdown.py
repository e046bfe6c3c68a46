"""The Markdown report: a pull-request comment or a GitHub step summary.

The helpers that decide *what* a report says (the verdict, which tests
changed, the evidence rows and their improvement) live here too, and the
HTML report and the ``perfbudget compare`` text output use them, so that
every format tells the same story.

Output is deterministic: tests keep the document's order (node id order),
numbers go through the same formatters as failure messages, and nothing
depends on the clock or the machine, so golden-file tests can pin it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..compare import COMPARED, metric_value, tests_by_nodeid
from ..enforce import format_value, violation_text
from ..query_evidence import full_scan_text
from ..results import is_crashed, is_improved, is_regressed
from . import hot_spots
from .allocations import markdown_details
from .json_report import summarize

DEFAULT_LIMIT = 65000  # GitHub refuses comments over 65,536 characters
STATEMENT_WIDTH = 100  # characters of an N+1 statement shown in a table cell
PLAN_STATEMENT_WIDTH = 300  # characters of a statement shown beside its time or plan
FOLD_AT = 10  # a section with more items than this folds into <details>
FOLD_EVIDENCE_AT = 5  # evidence tables are longer: fold from this many tests
# Most items one section shows, so that a flood in one cannot push the others out.
MAX_ITEMS = {
    "Violations": 200,
    "Crashed tests": 100,
    "Regressions": 200,
    "Improvements": 100,
    "N+1 suspects": 100,
    "Unstable timings": 100,
    "New tests": 100,
    "Vanished tests": 100,
    "Evidence": 50,
    "Warnings": 50,
}
METRIC_NAMES = {
    "time": "Time",
    "cpu": "CPU",
    "memory": "Memory",
    "rss": "RSS",
    "leak": "Leak",
    "queries": "Queries",
    "sql_time": "SQL time",
    "n_plus_one": "N+1 suspects",
    "throughput": "Throughput",
}

Document = Mapping[str, Any]
Test = Mapping[str, Any]


# --- what a report says ---------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """The run in one line: ``status`` is ``fail``, ``warn`` or ``ok``."""

    status: str
    text: str
    measured: int

    @property
    def icon(self) -> str:
        return {"fail": "❌", "warn": "⚠️", "ok": "✅"}[self.status]


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' * (count != 1)}"


def summary_of(document: Document) -> dict[str, int]:
    """The document's summary, or one computed from its tests when it has none."""
    summary = document.get("summary")
    if isinstance(summary, Mapping) and "measured" in summary:
        return {key: int(value) for key, value in summary.items()}
    return summarize(document.get("tests", []), len(document.get("warnings", [])))


def verdict(document: Document) -> Verdict:
    """``2 tests over budget, 1 regressed`` and whether that fails the run."""
    summary = summary_of(document)
    over, regressed = summary.get("over_budget", 0), summary.get("regressed", 0)
    improved, warnings = summary.get("improved", 0), summary.get("warnings", 0)
    crashed = summary.get("crashed", 0)
    parts = []
    if crashed:  # their worker died: whether they kept within budget is not known
        parts.append(f"{_plural(crashed, 'test')} crashed, not measured")
    if over:
        parts.append(f"{_plural(over, 'test')} over budget")
    if regressed:
        parts.append(f"{regressed} regressed")
    if not parts:
        parts.append("all within budget")
    if improved:
        parts.append(f"{improved} improved")
    if warnings:
        parts.append(_plural(warnings, "warning"))
    status = "fail" if over or regressed or crashed else "warn" if warnings else "ok"
    return Verdict(status, ", ".join(parts), summary.get("measured", 0))


def improvement(metric: str, before: float | None, after: float | None) -> float | None:
    """The relative improvement from ``before`` to ``after``: positive is better.

    For a metric where lower is better (time, memory, queries...) it is
    ``(before - after) / before``; for throughput ``(after - before) / before``.
    None when a value is missing or ``before`` is zero and ``after`` is not.
    """
    if before is None or after is None:
        return None
    if before == 0:
        return 0.0 if after == 0 else None
    change = (after - before) / abs(before)
    return -change if COMPARED.get(metric, True) else change


def format_improvement(value: float | None) -> str:
    """``+12.5%``, ``-300.0%``, ``0.0%``; ``n/a`` when there is no ratio (from zero)."""
    if value is None:
        return "n/a"
    percent = round(value * 100, 1)
    if percent == 0:
        return "0.0%"
    return f"{percent:+.1f}%"


def format_metric(metric: str, value: float | None) -> str:
    """A metric value as a person reads it; ``—`` when it was not measured."""
    return "—" if value is None else format_value(metric, value)


def metric_label(metric: str, statistic: str | None) -> str:
    """``Time p95``; the median, the usual statistic, goes without saying."""
    name = METRIC_NAMES.get(metric, metric)
    return name if statistic in (None, "median") else f"{name} {statistic}"


def _same_statistic(first: str | None, second: str | None) -> bool:
    if first is None or second is None or first == second:
        return True
    return {first, second} == {"median", "p50"}


@dataclass(frozen=True)
class EvidenceRow:
    """One row of a ``| Metric | Before | After | Improvement |`` table."""

    label: str
    metric: str
    before: float | None
    after: float | None
    judgement: str | None  # "regressed" or "improved" when the baseline comparison said so

    @property
    def improvement(self) -> float | None:
        return improvement(self.metric, self.before, self.after)


SQL_METRICS = frozenset({"queries", "sql_time"})


def _rounds(test: Test) -> int:
    time = test.get("metrics", {}).get("time")
    rounds = time.get("rounds") if isinstance(time, Mapping) else None
    return len(rounds) if isinstance(rounds, list) else 0


def _row_specs(test: Test) -> list[tuple[str, str, str | None]]:
    baseline = test.get("baseline", {})

    def statistic(metric: str) -> str:
        entry = baseline.get(metric)
        return str(entry.get("statistic") or "median") if isinstance(entry, Mapping) else "median"

    if _rounds(test) >= 2:
        times = [(f"Time {stat}", "time", stat) for stat in ("p50", "p95", "p99")]
    else:
        times = [(metric_label("time", statistic("time")), "time", statistic("time"))]
    return [
        *times,
        (metric_label("cpu", statistic("cpu")), "cpu", statistic("cpu")),
        ("Memory", "memory", None),
        ("Leak", "leak", None),
        ("Queries", "queries", None),
        ("SQL time", "sql_time", None),
        (metric_label("throughput", statistic("throughput")), "throughput", statistic("throughput")),
    ]


def _before_value(test: Test, before_test: Test | None, metric: str, statistic: str | None) -> float | None:
    """From the baseline report when given (every statistic), else the test's baseline entry."""
    if before_test is not None:
        return metric_value(before_test.get("metrics", {}), metric, statistic or "median")
    entry = test.get("baseline", {}).get(metric)
    if isinstance(entry, Mapping) and _same_statistic(statistic, entry.get("statistic")):
        value = entry.get("before")
        return float(value) if isinstance(value, (int, float)) else None
    return None


def _judgement(test: Test, metric: str, statistic: str | None) -> str | None:
    entry = test.get("baseline", {}).get(metric)
    if not isinstance(entry, Mapping) or not _same_statistic(statistic, entry.get("statistic")):
        return None
    return "regressed" if entry.get("regressed") else "improved" if entry.get("improved") else None


def evidence_rows(test: Test, before_test: Test | None = None) -> list[EvidenceRow]:
    """Before, after and improvement for each metric either run measured.

    Time gives p50, p95 and p99 when the test ran at least two rounds. The
    before values of p95 and p99 need the baseline report itself
    (``before_test``): a test's baseline entry holds one statistic.
    """
    rows = []
    for label, metric, statistic in _row_specs(test):
        before = _before_value(test, before_test, metric, statistic)
        after = metric_value(test.get("metrics", {}), metric, statistic or "median")
        if before is None and after is None:
            continue
        if metric in SQL_METRICS and not before and not after:
            continue  # a test without SQL: `Queries 0 -> 0` says nothing
        rows.append(EvidenceRow(label, metric, before, after, _judgement(test, metric, statistic)))
    return rows


def crashed_tests(document: Document) -> list[str]:
    """Node ids of the tests whose xdist worker died while running them."""
    return [str(test["nodeid"]) for test in document.get("tests", []) if is_crashed(test)]


def changed_tests(document: Document) -> list[Test]:
    """Tests that regressed, then tests that improved, each group in node id order."""
    regressed, improved = [], []
    for test in document.get("tests", []):  # one pass: 100,000 tests take a while
        if is_regressed(test):
            regressed.append(test)
        elif is_improved(test):
            improved.append(test)
    return regressed + improved


def evidence_tests(document: Document) -> list[Test]:
    """:func:`changed_tests`, then the other tests whose record holds evidence (hot spots...)."""
    changed = changed_tests(document)
    shown = {id(test) for test in changed}
    return changed + [
        test for test in document.get("tests", []) if "evidence" in test and id(test) not in shown
    ]


@dataclass  # not frozen: a report may list 100,000s of them, and a frozen one costs 3 times more
class BaselineChange:
    """A metric of a test judged regressed or improved against the baseline. Read-only."""

    nodeid: str
    metric: str
    statistic: str | None
    before: float
    after: float

    @property
    def improvement(self) -> float | None:
        return improvement(self.metric, self.before, self.after)


def baseline_changes(document: Document, judgement: str) -> list[BaselineChange]:
    """Every metric flagged ``judgement`` (``regressed`` or ``improved``), in test order."""
    return judged_changes(document)[judgement]


def judged_changes(document: Document) -> dict[str, list[BaselineChange]]:
    """:func:`baseline_changes` for both judgements, ``regressed`` and ``improved``, in one pass.

    A test counts as improved only when it did not regress (:func:`~..results.is_improved`, as the
    summary counts it): the improved metrics of a regressed test are left to its evidence.
    """
    regressed: list[BaselineChange] = []
    improved: list[BaselineChange] = []
    for test in document.get("tests", []):
        baseline = test.get("baseline")
        if not baseline:
            continue
        test_regressed = is_regressed(test)
        for metric, entry in baseline.items():
            if type(entry) is not dict:  # not isinstance(entry, Mapping): this loop is hot
                continue
            if "regressed" in entry or "improved" in entry:  # most entries are neither
                change = BaselineChange(
                    str(test["nodeid"]),
                    metric,
                    entry.get("statistic"),
                    float(entry["before"]),
                    float(entry["after"]),
                )
                if entry.get("regressed"):
                    regressed.append(change)
                if entry.get("improved") and not test_regressed:
                    improved.append(change)
    return {"regressed": regressed, "improved": improved}


def budget_violations(document: Document) -> list[tuple[Test, Mapping[str, Any]]]:
    """Every broken budget of every level, by test; regressions are listed as changes."""
    return [
        (test, violation)
        for test in document.get("tests", [])
        for violation in test.get("violations", [])
        if violation.get("kind") != "regression"
    ]


def section_heading(title: str, total: int, noun: str, headline: str = "") -> str:
    """``Violations: 2 tests over budget (3 violations)``, or ``N+1 suspects (4)`` without a headline."""
    return f"{title}: {headline} ({_plural(total, noun)})" if headline else f"{title} ({total})"


def violations_headline(found: Sequence[tuple[Test, Mapping[str, Any]]]) -> str:
    """``2 tests over budget, 1 with warnings``: the summary's words and counts for these tests."""
    tests = {str(test["nodeid"]): test for test, _ in found}
    counts = summarize(dict(test) for test in tests.values())
    words = [f"{_plural(counts['over_budget'], 'test')} over budget"] if counts["over_budget"] else []
    if counts["warnings"]:
        words.append(f"{_plural(counts['warnings'], 'test')} with warnings")
    return ", ".join(words)


def changes_headline(changes: Sequence[BaselineChange], judgement: str) -> str:
    """``4 tests improved``: as many tests as the summary counts ``judgement``."""
    return f"{_plural(len({change.nodeid for change in changes}), 'test')} {judgement}"


def environment_line(environment: Mapping[str, Any]) -> str:
    """``Python 3.12.4 · Linux-… · AMD EPYC · commit 1a2b3c4d · branch main · 2 xdist workers``."""
    parts = []
    if environment.get("python"):
        parts.append(f"Python {environment['python']}")
    for key in ("platform", "cpu"):
        if environment.get(key):
            parts.append(str(environment[key]))
    if environment.get("commit"):
        parts.append(f"commit {str(environment['commit'])[:12]}")
    if environment.get("branch"):
        parts.append(f"branch {environment['branch']}")
    workers = environment.get("workers")
    if isinstance(workers, int) and workers > 0:
        parts.append(f"{_plural(workers, 'xdist worker')}")
    return " · ".join(parts)


def shorten(text: str, width: int) -> str:
    """One line of at most ``width`` characters, ``…`` marking a cut."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


# --- Markdown text --------------------------------------------------------------------

_SPECIAL = re.compile(r"([\\`*_\[\]<|&~])")


def escape(text: object) -> str:
    """Plain text that Markdown shows as written, fit for a table cell."""
    return _SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def code(text: object) -> str:
    """A code span that holds any text, backticks and table pipes included."""
    content = " ".join(str(text).split()).replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", content)), default=0)
    fence = "`" * (longest + 1)
    if content.startswith("`") or content.endswith("`") or not content.strip():
        content = f" {content} "
    return f"{fence}{content}{fence}"


def _table(header: Sequence[str], align: str | None = None) -> list[str]:
    return [f"| {' | '.join(header)} |", align or f"|{'---|' * len(header)}"]


def _row(cells: Sequence[str]) -> str:
    return f"| {' | '.join(cells)} |"


@dataclass
class Section:
    """A titled part of the report whose items can be cut from the end to fit a limit.

    ``entries`` are what the items are made from; only the first
    :data:`MAX_ITEMS` are ever rendered (by ``render_item``), so a run with
    100,000 changed tests costs no more than one with fifty.
    """

    title: str
    entries: Sequence[Any]
    render_item: Callable[[Any], str]
    intro: list[str] = field(default_factory=list)  # lines before the items: a table header
    noun: str = "rows"
    separator: str = "\n"  # between items: a line break for rows, a blank line for blocks
    fold_at: int = FOLD_AT
    headline: str = ""  # what the rows add up to, in the summary's words: "2 tests over budget"
    _items: list[str] | None = field(default=None, init=False, repr=False)

    @property
    def total(self) -> int:
        return len(self.entries)

    @property
    def items(self) -> list[str]:
        """The rendered items, at most the section's cap."""
        if self._items is None:
            cap = MAX_ITEMS.get(self.title, self.total)
            self._items = [self.render_item(entry) for entry in self.entries[:cap]]
        return self._items

    def render(self, shown: int) -> str:
        """The section with its first ``shown`` items and a note of the rest."""
        total = self.total
        lines = [f"### {section_heading(self.title, total, self.noun[:-1], self.headline)}", ""]
        folded = total > self.fold_at and shown > 0
        if folded:
            lines += [f"<details><summary>{self.title}: {_plural(total, self.noun[:-1])}</summary>", ""]
        body = ""
        if shown > 0:
            body = "\n".join([*self.intro, self.separator.join(self.items[:shown])])
        text = "\n".join(lines) + "\n" + body
        if shown < total:
            note = f"*{total - shown} of {total} {self.noun} not shown: see the JSON or HTML report.*"
            text += ("\n\n" if body else "") + note
        if folded:
            text += "\n\n</details>"
        return text + "\n"

    def fitting(self, room: int) -> int:
        """How many items fit in ``room`` characters (-1 when not even the heading does)."""
        cap = len(self.items)
        if len(self.render(cap)) <= room:
            return cap
        used = len(self.render(0)) + 40  # the heading, the note, the fold and the intro
        used += sum(len(line) + 1 for line in self.intro)
        shown = 0
        for item in self.items:
            used += len(item) + len(self.separator)
            if used > room:
                break
            shown += 1
        while shown > 0 and len(self.render(shown)) > room:
            shown -= 1
        return shown if len(self.render(shown)) <= room else -1


def _violation_row(entry: tuple[Test, Mapping[str, Any]]) -> str:
    test, violation = entry
    cells = [
        code(test["nodeid"]),
        escape(violation_text(dict(violation))),
        escape(violation.get("level", "error")),
        escape(violation.get("source", "")),
    ]
    return _row(cells)


def _violations(document: Document) -> Section:
    entries = budget_violations(document)
    header = _table(["Test", "Violation", "Level", "Source"])
    return Section(
        "Violations",
        entries,
        _violation_row,
        header,
        noun="violations",
        headline=violations_headline(entries),
    )


def _change_row(change: BaselineChange) -> str:
    return _row(
        [
            code(change.nodeid),
            metric_label(change.metric, change.statistic),
            format_metric(change.metric, change.before),
            format_metric(change.metric, change.after),
            format_improvement(change.improvement),
        ]
    )


def _changes(changes: list[BaselineChange], title: str, judgement: str) -> Section:
    header = _table(["Test", "Metric", "Before", "After", "Improvement"], "|---|---|---:|---:|---:|")
    return Section(
        title, changes, _change_row, header, noun="metrics", headline=changes_headline(changes, judgement)
    )


def _suspect_row(entry: tuple[Test, Mapping[str, Any]]) -> str:
    test, suspect = entry
    where = code(suspect["call_site"]) if suspect.get("call_site") else "—"
    if suspect.get("function"):
        where += f" in {code(suspect['function'])}"
    statement = code(shorten(str(suspect.get("statement", "")), STATEMENT_WIDTH))
    return _row([code(test["nodeid"]), escape(suspect.get("count", "")), where, statement])


def _suspects(document: Document) -> Section:
    entries = [
        (test, suspect) for test in document.get("tests", []) for suspect in test.get("n_plus_one", [])
    ]
    header = _table(["Test", "Count", "Call site", "Statement"], "|---|---:|---|---|")
    return Section("N+1 suspects", entries, _suspect_row, header)


def _unstable_row(test: Test) -> str:
    stability = test["stability"]
    return _row(
        [code(test["nodeid"]), escape(stability.get("metric", "")), escape(stability.get("message", ""))]
    )


def _unstable(document: Document) -> Section:
    """Tests whose judged rounds varied too much to trust the verdict, with what to do about it."""
    entries = [test for test in document.get("tests", []) if "stability" in test]
    return Section("Unstable timings", entries, _unstable_row, _table(["Test", "Metric", "Rounds"]))


def _code_bullet(value: Any) -> str:
    return f"- {code(value)}"


def _text_bullet(value: Any) -> str:
    return f"- {escape(value)}"


def _bullets(title: str, values: Sequence[Any], noun: str, as_code: bool = True) -> Section:
    return Section(title, values, _code_bullet if as_code else _text_bullet, noun=noun)


def evidence_table(rows: Sequence[EvidenceRow]) -> list[str]:
    """``| Metric | Before | After | Improvement |`` with the baseline's judgement beside the change."""
    lines = _table(["Metric", "Before", "After", "Improvement"], "|---|---:|---:|---:|")
    for row in rows:
        change = format_improvement(row.improvement)
        if row.judgement == "regressed":
            change = f"**{change}** regressed"
        elif row.judgement == "improved":
            change = f"{change} improved"
        before, after = format_metric(row.metric, row.before), format_metric(row.metric, row.after)
        lines.append(_row([row.label, before, after, change]))
    return lines


def evidence_details(test: Test) -> list[str]:
    """The ``<details>`` blocks under a test's evidence table: its slowest statements, their plans."""
    evidence = test.get("evidence")
    if not isinstance(evidence, Mapping):
        return []
    blocks = []
    if evidence.get("slow_queries"):
        blocks.append(_slow_queries(evidence["slow_queries"]))
    if evidence.get("plans"):
        blocks.append(_plans(evidence["plans"]))
    return blocks


def _slow_queries(shapes: Sequence[Mapping[str, Any]]) -> str:
    lines = [
        f"<details><summary>Slowest statements ({len(shapes)})</summary>",
        "",
        *_table(["Statement", "Count", "Total", "Max"], "|---|---:|---:|---:|"),
    ]
    for shape in shapes:
        total, longest = shape.get("total"), shape.get("max")
        lines.append(
            _row(
                [
                    code(shorten(str(shape.get("statement", "")), PLAN_STATEMENT_WIDTH)),
                    escape(shape.get("count", "")),
                    format_metric("sql_time", total if isinstance(total, (int, float)) else None),
                    format_metric("sql_time", longest if isinstance(longest, (int, float)) else None),
                ]
            )
        )
    return "\n".join([*lines, "", "</details>"])


def _plans(plans: Sequence[Mapping[str, Any]]) -> str:
    scans = [full_scan_text(scan) for plan in plans for scan in plan.get("full_scans") or []]
    summary = f"Query plans ({len(plans)})" + (f": full scan of {'; '.join(scans)}" if scans else "")
    lines = [f"<details><summary>{escape(summary)}</summary>"]
    for plan in plans:
        statement = code(shorten(str(plan.get("statement", "")), PLAN_STATEMENT_WIDTH))
        if plan.get("status") == "not taken":
            lines += ["", f"{statement}: not taken, {escape(plan.get('reason', ''))}"]
            continue
        lines += ["", f"{statement} ({escape(plan.get('dialect', ''))})", "", *_plan_block(plan)]
        for scan in plan.get("full_scans") or []:
            table, columns = scan.get("table", ""), scan.get("columns") or []
            where = f"filtered on {', '.join(code(column) for column in columns)}" if columns else "filtered"
            lines += [
                "",
                f"**Full scan** of {code(table)}, {where}: every row is read; "
                "an index on the filtered columns would let the database seek instead.",
            ]
    return "\n".join([*lines, "", "</details>"])


def _plan_block(plan: Mapping[str, Any]) -> list[str]:
    """The plan in a fenced block, the full-scan lines marked."""
    marked = {scan.get("line") for scan in plan.get("full_scans") or []}
    lines = [
        str(line) + ("    <- full scan" if index in marked else "")
        for index, line in enumerate(plan.get("plan") or [])
    ]
    longest = max((len(run) for line in lines for run in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}text", *lines, fence]


def _evidence(document: Document, before: Document | None) -> Section:
    before_tests = tests_by_nodeid(before) if before is not None else {}

    def render_item(test: Test) -> str:
        rows = evidence_rows(test, before_tests.get(str(test["nodeid"])))
        lines = [
            f"#### {code(test['nodeid'])}",
            "",
            *evidence_table(rows),
            *hot_spots.markdown_details(test),
            *markdown_details(test),
        ]
        return "\n\n".join(["\n".join(lines), *evidence_details(test)])

    return Section(
        "Evidence",
        evidence_tests(document),
        render_item,
        noun="tests",
        separator="\n\n",
        fold_at=FOLD_EVIDENCE_AT,
    )


def sections(document: Document, before: Document | None = None) -> list[Section]:
    """The report's sections in order of importance; empty ones are left out."""
    baseline = document.get("baseline") or {}
    judged = judged_changes(document)
    candidates = [
        _violations(document),
        _bullets("Crashed tests", crashed_tests(document), "tests"),
        _changes(judged["regressed"], "Regressions", "regressed"),
        _changes(judged["improved"], "Improvements", "improved"),
        _suspects(document),
        _unstable(document),
        _bullets(
            "Environment differences", baseline.get("environment_differences", []), "differences", False
        ),
        _evidence(document, before),
        _bullets("New tests", baseline.get("new", []), "tests"),
        _bullets("Vanished tests", baseline.get("vanished", []), "tests"),
        _bullets("Warnings", document.get("warnings", []), "warnings", False),
    ]
    return [section for section in candidates if section.total]


def _header(document: Document) -> str:
    result = verdict(document)
    lines = ["## Performance budget", "", f"{result.icon} **{result.text}** — {result.measured} measured"]
    baseline = document.get("baseline")
    if isinstance(baseline, Mapping) and baseline.get("path"):
        lines += ["", f"Compared with the baseline {code(baseline['path'])}."]
    return "\n".join(lines) + "\n"


def _footer(document: Document) -> str:
    line = environment_line(document.get("environment", {}))
    return f"<sub>{escape(line)}</sub>\n" if line else ""


def render(document: Document, limit: int = DEFAULT_LIMIT, *, before: Document | None = None) -> str:
    """The Markdown report, at most ``limit`` characters.

    ``before`` is the baseline report itself, when at hand: with it the
    evidence tables show p95 and p99 before as well as p50. Sections are
    kept in order of importance; what does not fit is cut from the end of
    each, with a note saying how much, and a closing note names every cut.
    """
    header, footer = _header(document), _footer(document)
    reserve = 400  # the closing note on what was cut
    parts = [header]
    used = len(header) + len(footer) + reserve
    cut: list[str] = []
    for section in sections(document, before):
        shown = section.fitting(limit - used - 1)
        if shown < 0:
            cut.append(f"{section.title} (all {section.total})")
            continue
        if shown < section.total:
            cut.append(f"{section.title} ({section.total - shown} of {section.total})")
        text = section.render(shown)
        parts.append(text)
        used += len(text) + 1
    if any(part for part in cut):
        note = f"*Shortened to stay under {limit:,} characters; not shown: {', '.join(cut)}.*\n"
        if len(note) > reserve:
            note = f"*Shortened to stay under {limit:,} characters; {len(cut)} sections cut.*\n"
        parts.append(note)
    if footer:
        parts.append(footer)
    text = "\n".join(parts)
    return text if len(text) <= limit else text[: max(limit - 2, 0)] + "…\n"
