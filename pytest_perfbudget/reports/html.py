"""The HTML report: one self-contained page with tables and charts.

Everything is inline (CSS, SVG charts, a short script that sorts tables) and
the page refers to no URL at all, so it opens from a CI artifact, an e-mail
attachment or a machine with no network. Every piece of text from the
report goes through :func:`html.escape`.

Charts and tables are capped (:data:`MAX_CHANGE_CHARTS`, :data:`MAX_DISTRIBUTIONS`,
:data:`MAX_ROWS`, :data:`MAX_TEST_ROWS`): a suite of 100,000 tests still gives a
page a browser opens quickly, and says what it left to the JSON report.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from html import escape
from typing import Any

from ..budgets import Settings
from ..compare import TIMINGS, tests_by_nodeid
from ..enforce import violation_text
from ..query_evidence import full_scan_text
from ..stats import percentile
from ..units import format_duration, format_size
from . import hot_spots
from .allocations import html_section
from .markdown import (
    BaselineChange,
    Document,
    EvidenceRow,
    Test,
    budget_violations,
    changed_tests,
    changes_headline,
    crashed_tests,
    environment_line,
    evidence_rows,
    format_metric,
    improvement,
    judged_changes,
    metric_label,
    section_heading,
    summary_of,
    verdict,
    violations_headline,
)

NOISE_FLOOR = Settings().noise_floor  # the report does not say the run's: the default
MAX_CHANGE_CHARTS = 200  # before/after charts, for the first changed tests
MAX_DISTRIBUTIONS = 300  # distribution charts, for the slowest tests
MAX_DOTS = 200  # rounds drawn as dots in one distribution chart
MAX_ROWS = 1000  # rows of the violation, regression, improvement and N+1 tables
MAX_TEST_ROWS = 10_000  # rows of the table of tests: those with violations, then the slowest
BADGES = {"fail": "FAIL", "warn": "WARN", "ok": "OK"}  # words, not emoji: no font is needed

STYLE = """
:root { --fail: #c62828; --warn: #b26a00; --ok: #2e7d32; --before: #9e9e9e; --after: #1565c0;
  --worse: #ef8f00; --better: #7cb342; --muted: #616161; --line: #e0e0e0; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
  color: #212121; background: #fafafa; }
main { max-width: 1200px; margin: 0 auto; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 8px; }
h2 { font-size: 18px; margin: 32px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 14px; margin: 0 0 6px; font-weight: 600; overflow-wrap: break-word; }
.verdict { font-size: 18px; font-weight: 600; margin: 4px 0; }
.badge { color: #fff; border-radius: 4px; padding: 1px 8px; margin-right: 6px; font-size: 14px;
  vertical-align: 2px; }
.verdict.fail .badge { background: var(--fail); } .verdict.warn .badge { background: var(--warn); }
.verdict.ok .badge { background: var(--ok); }
.verdict.fail { color: var(--fail); } .verdict.warn { color: var(--warn); } .verdict.ok { color: var(--ok); }
.muted, .env { color: var(--muted); }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 16px 0; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 8px 16px; min-width: 120px; }
.card b { display: block; font-size: 22px; }
.card.fail b { color: var(--fail); } .card.warn b { color: var(--warn); } .card.ok b { color: var(--ok); }
table { border-collapse: collapse; background: #fff; width: 100%; margin: 4px 0 12px; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
td.num, th.num { text-align: right; white-space: nowrap; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th[aria-sort=ascending]::after { content: " \\25B2"; }
table.sortable th[aria-sort=descending]::after { content: " \\25BC"; }
code { font: 12px/1.4 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; overflow-wrap: break-word; }
.failed, .error, .regressed { color: var(--fail); } .improved { color: var(--ok); }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 16px; }
figure { margin: 0; background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 12px; }
svg text { font: 11px system-ui, sans-serif; fill: #424242; }
svg text.regressed { fill: var(--fail); } svg text.improved { fill: var(--ok); }
svg text.worse { fill: #a65f00; } svg text.better { fill: #558b2f; }
td.suspects { color: var(--warn); font-weight: 600; }
pre { background: #fff; border: 1px solid var(--line); padding: 6px 8px; overflow-x: auto; font-size: 12px; }
mark.full-scan { background: #ffebee; color: var(--fail); font-weight: 600; }
.legend span { display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 12px; }
"""

SCRIPT = """
(function () {
  function key(cell) {
    var value = cell.getAttribute("data-v");
    return value === null ? cell.textContent.trim().toLowerCase() : value;
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var headers = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(headers, function (header, column) {
      header.addEventListener("click", function () {
        var ascending = header.getAttribute("aria-sort") !== "ascending";
        var numeric = header.classList.contains("num");
        Array.prototype.forEach.call(headers, function (h) { h.removeAttribute("aria-sort"); });
        header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = key(a.cells[column]), y = key(b.cells[column]);
          if (numeric) {
            if (x === "" || y === "") { return x === y ? 0 : x === "" ? 1 : -1; }
            x = parseFloat(x); y = parseFloat(y);
          }
          var order = x < y ? -1 : x > y ? 1 : 0;
          return ascending ? order : -order;
        });
        var fragment = document.createDocumentFragment();
        rows.forEach(function (row) { fragment.appendChild(row); });
        body.appendChild(fragment);
      });
    });
  });
})();
"""


def _number(value: float) -> str:
    """A number for an SVG coordinate: short and locale-free."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _with_breaks(escaped: str) -> str:
    """Escaped text that a narrow column wraps after ``/``, ``::``, ``.`` and ``_`` (and at
    spaces), not inside a word: node ids and SQL are long runs without spaces."""
    return (
        escaped.replace("/", "/<wbr>").replace("::", "::<wbr>").replace(".", ".<wbr>").replace("_", "_<wbr>")
    )


def _code(text: object) -> str:
    return f"<code>{_with_breaks(_escape(str(text)))}</code>"


def _table(
    headers: Sequence[str], rows: Iterable[str], *, numeric: Sequence[int] = (), attributes: str = ""
) -> str:
    cells = "".join(
        f'<th class="num">{escape(h)}</th>' if i in numeric else f"<th>{escape(h)}</th>"
        for i, h in enumerate(headers)
    )
    return f"<table{attributes}><thead><tr>{cells}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


# How a change reads, by metric: (the word for more, the word for less).
CHANGE_WORDS = {
    "time": ("slower", "faster"),
    "cpu": ("slower", "faster"),
    "sql_time": ("slower", "faster"),
    "memory": ("more", "less"),
    "rss": ("more", "less"),
    "queries": ("more", "fewer"),
    "n_plus_one": ("more", "fewer"),
    "throughput": ("higher", "lower"),
}


def change_text(metric: str, before: float | None, after: float | None) -> str:
    """``+60% slower``, ``17.3x more``, ``20% faster``: a change as a person says it, with no
    negative improvements; ``n/a`` without a ratio (a value missing, or from zero)."""
    if before is None or after is None or (before == 0) != (after == 0):
        return "n/a"
    if before == after:
        return "no change"
    more, less = CHANGE_WORDS.get(metric, ("more", "less"))
    ratio = after / before
    if ratio >= 2:
        return f"{ratio:.1f}x {more}"
    percent = abs(ratio - 1) * 100
    amount = f"{percent:.0f}%" if percent >= 10 else f"{percent:.1f}%"
    return f"+{amount} {more}" if ratio > 1 else f"{amount} {less}"


def direction(metric: str, before: float | None, after: float | None) -> str | None:
    """``worse`` or ``better`` for a change beyond the noise floor (a timing) or any change (the
    rest); None for no change or none that can be told. Colours a bar by direction only:
    red and green are for the baseline's verdicts."""
    if before is None or after is None or before == after:
        return None
    if metric in TIMINGS and abs(after - before) < NOISE_FLOOR:
        return None
    better = improvement(metric, before, after)
    if better is None:
        better = -1.0 if after > before else 1.0
    return "better" if better > 0 else "worse"


def _cell(text: str, value: float | None = None, css: str = "num") -> str:
    """A numeric cell: shown formatted, sorted by ``data-v``."""
    data = "" if value is None else f"{value!r}"
    return f'<td class="{css}" data-v="{data}">{escape(text)}</td>'


# --- charts -----------------------------------------------------------------------------


# The after bar: red and green for the baseline's verdicts, amber and light green for a change in
# either direction that the tolerance allows, blue for none.
COLORS = {
    "regressed": "var(--fail)",
    "improved": "var(--ok)",
    "worse": "var(--worse)",
    "better": "var(--better)",
}


def before_after_chart(nodeid: str, rows: Sequence[EvidenceRow]) -> str:
    """Before (grey) and after bars, per metric, coloured by :data:`COLORS`.

    Each metric has its own scale (the larger of the two values fills the
    bar area), as the metrics share no unit.
    """
    label_width, bar_width, row_height, value_width = 120, 280, 36, 150
    shown = [row for row in rows if row.before is not None or row.after is not None]
    width = label_width + bar_width + value_width
    height = row_height * len(shown) + 8
    parts = [
        f'<svg class="chart-before-after" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">',
        f"<title>{escape(f'Before and after: {nodeid}')}</title>",
    ]
    for index, row in enumerate(shown):
        top = index * row_height + 4
        largest = max(abs(row.before or 0.0), abs(row.after or 0.0)) or 1.0
        moved = direction(row.metric, row.before, row.after)
        color = COLORS.get(row.judgement or moved or "", "var(--after)")
        parts.append(f'<text x="0" y="{top + 19}">{escape(row.label)}</text>')
        for offset, value, fill, name in (
            (0, row.before, "var(--before)", "before"),
            (15, row.after, color, "after"),
        ):
            length = 0.0 if value is None else bar_width * abs(value) / largest
            shown_value = format_metric(row.metric, value)
            parts.append(
                f'<rect class="bar-{name}" x="{label_width}" y="{top + offset}" width="{_number(max(length, 1.0))}" '
                f'height="13" fill="{fill}"><title>{escape(f"{row.label} {name}: {shown_value}")}</title></rect>'
            )
            parts.append(
                f'<text x="{_number(label_width + max(length, 1.0) + 4)}" y="{top + offset + 11}">'
                f"{escape(shown_value)}</text>"
            )
        parts.append(
            f'<text x="{width - 4}" y="{top + 19}" text-anchor="end" class="{row.judgement or moved or ""}">'
            f"{escape(change_text(row.metric, row.before, row.after))}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def distribution_chart(nodeid: str, metric: str, rounds: Sequence[float]) -> str:
    """A box (quartiles, median) with whiskers (min, max) over a strip of every round."""
    width, height, margin = 500, 80, 12
    low, high = min(rounds), max(rounds)
    span = (high - low) or (abs(high) * 0.1) or 1e-9
    left, right = low - span * 0.05, high + span * 0.05

    def x(value: float) -> str:
        return _number(margin + (width - 2 * margin) * (value - left) / (right - left))

    q1, median, q3 = (percentile(rounds, fraction) for fraction in (0.25, 0.5, 0.75))
    step = max(1, len(rounds) // MAX_DOTS)
    dots = "".join(
        f'<circle class="round" cx="{x(value)}" cy="{10 + (index % 5) * 3}" r="2.5" fill="var(--after)" '
        f'fill-opacity="0.6"><title>{escape(f"round {index + 1}: {format_metric(metric, value)}")}</title></circle>'
        for index, value in list(enumerate(rounds))[::step]
    )
    parts = [
        f'<svg class="chart-rounds" role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
        f"<title>{escape(f'Distribution of {len(rounds)} rounds: {nodeid}')}</title>",
        dots,
        f'<line x1="{x(low)}" x2="{x(high)}" y1="36" y2="36" stroke="#757575"/>',
        f'<line x1="{x(low)}" x2="{x(low)}" y1="30" y2="42" stroke="#757575"/>',
        f'<line x1="{x(high)}" x2="{x(high)}" y1="30" y2="42" stroke="#757575"/>',
        f'<rect x="{x(q1)}" y="28" width="{_number(max(float(x(q3)) - float(x(q1)), 1.0))}" height="16" '
        'fill="#e3f2fd" stroke="var(--after)"/>',
        f'<line x1="{x(median)}" x2="{x(median)}" y1="28" y2="44" stroke="var(--fail)" stroke-width="2"/>',
        f'<text x="{margin}" y="58" text-anchor="start">min {escape(format_metric(metric, low))}</text>',
        f'<text x="{x(median)}" y="74" text-anchor="{_anchor((median - left) / (right - left))}">'
        f"median {escape(format_metric(metric, median))}</text>",
        f'<text x="{width - margin}" y="58" text-anchor="end">max {escape(format_metric(metric, high))}</text>',
        "</svg>",
    ]
    return "".join(parts)


def _anchor(fraction: float) -> str:
    """A label at ``fraction`` of a chart's width: centred on its mark, unless that would put it
    past an edge."""
    return "start" if fraction < 0.2 else "end" if fraction > 0.8 else "middle"


def _time_rounds(test: Test) -> list[float]:
    time = test.get("metrics", {}).get("time")
    rounds = time.get("rounds") if isinstance(time, Mapping) else None
    if not isinstance(rounds, list):
        return []
    return [float(value) for value in rounds if isinstance(value, (int, float))]


# --- sections ---------------------------------------------------------------------------


def _header(document: Document) -> str:
    result = verdict(document)
    summary = summary_of(document)
    cards = [
        ("measured", summary.get("measured", 0), ""),
        ("over budget", summary.get("over_budget", 0), "fail"),
        ("regressed", summary.get("regressed", 0), "fail"),
        ("improved", summary.get("improved", 0), "ok"),
        ("warnings", summary.get("warnings", 0), "warn"),
    ]
    card_html = "".join(
        f'<div class="card {css if count else ""}" id="summary-{escape(name.replace(" ", "-"))}">'
        f"<b>{count}</b>{escape(name)}</div>"
        for name, count, css in cards
    )
    baseline = document.get("baseline")
    compared = (
        f'<p class="muted">Compared with the baseline {_code(baseline["path"])}.</p>'
        if isinstance(baseline, Mapping) and baseline.get("path")
        else ""
    )
    return (
        "<header><h1>Performance budget</h1>"
        f'<p class="verdict {result.status}"><span class="badge">{BADGES[result.status]}</span> '
        f"{escape(result.text)} — {result.measured} measured</p>"
        f'<p class="env">{escape(environment_line(document.get("environment", {})))}</p>'
        f'{compared}<div class="cards">{card_html}</div></header>'
    )


def _capped(
    title: str, css_id: str, total: int, shown: int, table: str, headline: str = "", noun: str = "row"
) -> str:
    """A section of a table cut at ``shown`` rows; ``headline`` says what the rows add up to in the
    summary's words, as Markdown's headings do (:func:`~.markdown.section_heading`)."""
    note = (
        f'<p class="muted">The first {shown} of {total} rows; the JSON report has them all.</p>'
        if shown < total
        else ""
    )
    heading = section_heading(title, total, noun, headline)
    return f'<section id="{css_id}"><h2>{escape(heading)}</h2>{note}{table}</section>'


def _violations(document: Document) -> str:
    """Budget violations of every level; regressions have their own section, as in Markdown."""
    found = budget_violations(document)
    if not found:
        return ""
    rows = [
        f"<tr><td>{_code(test['nodeid'])}</td><td>{escape(violation_text(dict(violation)))}</td>"
        f'<td class="{escape(str(violation.get("level", "")))}">{escape(str(violation.get("level", "")))}</td>'
        f"<td>{escape(str(violation.get('source', '')))}</td></tr>"
        for test, violation in found[:MAX_ROWS]
    ]
    table = _table(["Test", "Violation", "Level", "Source"], rows, attributes=' class="sortable"')
    headline = violations_headline(found)
    return _capped("Violations", "violations", len(found), len(rows), table, headline, "violation")


def _changes(changes: list[BaselineChange], judgement: str, title: str) -> str:
    if not changes:
        return ""
    rows = [
        f"<tr><td>{_code(change.nodeid)}</td><td>{escape(metric_label(change.metric, change.statistic))}</td>"
        + _cell(format_metric(change.metric, change.before), change.before)
        + _cell(format_metric(change.metric, change.after), change.after)
        + _cell(
            change_text(change.metric, change.before, change.after), change.improvement, f"num {judgement}"
        )
        + "</tr>"
        for change in changes[:MAX_ROWS]
    ]
    table = _table(
        ["Test", "Metric", "Before", "After", "Change"],
        rows,
        numeric=(2, 3, 4),
        attributes=' class="sortable"',
    )
    headline = changes_headline(changes, judgement)
    return _capped(title, judgement, len(changes), len(rows), table, headline, "metric")


def _suspects(document: Document) -> str:
    found = [(test, suspect) for test in document.get("tests", []) for suspect in test.get("n_plus_one", [])]
    if not found:
        return ""
    rows = []
    for test, suspect in found[:MAX_ROWS]:
        where = escape(str(suspect.get("call_site") or "—"))
        if suspect.get("function"):
            where += f" in {_code(suspect['function'])}"
        rows.append(
            f"<tr><td>{_code(test['nodeid'])}</td>"
            + _cell(str(suspect.get("count", "")), suspect.get("count"))
            + f"<td>{where}</td><td>{_code(suspect.get('statement', ''))}</td></tr>"
        )
    table = _table(["Test", "Count", "Call site", "Statement"], rows, numeric=(1,))
    return _capped("N+1 suspects", "suspects", len(found), len(rows), table)


def _sql_evidence(document: Document) -> str:
    """A section per test that broke a limit with SQL to show: its slowest statements and their plans."""
    tests = [test for test in document.get("tests", []) if _has_sql_evidence(test)]
    if not tests:
        return ""
    parts = [_test_sql_evidence(test) for test in tests[:MAX_CHANGE_CHARTS]]
    note = (
        f'<p class="muted">The first {len(parts)} of {len(tests)} tests; the JSON report has them all.</p>'
        if len(parts) < len(tests)
        else ""
    )
    return f'<section id="sql-evidence"><h2>Slow queries and plans ({len(tests)})</h2>{note}{"".join(parts)}</section>'


def _has_sql_evidence(test: Test) -> bool:
    evidence = test.get("evidence")
    return isinstance(evidence, Mapping) and bool(evidence.get("slow_queries") or evidence.get("plans"))


def _test_sql_evidence(test: Test) -> str:
    nodeid = str(test["nodeid"])
    evidence = test["evidence"]
    rows = [
        f"<tr><td>{_code(shape.get('statement', ''))}</td>"
        + _cell(str(shape.get("count", "")), shape.get("count"))
        + _cell(format_metric("sql_time", shape.get("total")), shape.get("total"))
        + _cell(format_metric("sql_time", shape.get("max")), shape.get("max"))
        + "</tr>"
        for shape in evidence.get("slow_queries") or []
    ]
    table = _table(["Statement", "Count", "Total", "Max"], rows, numeric=(1, 2, 3)) if rows else ""
    plans = "".join(_plan(plan) for plan in evidence.get("plans") or [])
    return (
        f'<section class="sql-evidence" data-nodeid="{escape(nodeid)}"><h3>{_code(nodeid)}</h3>'
        f"{table}{plans}</section>"
    )


def _plan(plan: Mapping[str, Any]) -> str:
    statement = _code(plan.get("statement", ""))
    if plan.get("status") == "not taken":
        return f'<p class="plan not-taken">{statement}: plan not taken, {escape(str(plan.get("reason", "")))}</p>'
    scans = {scan.get("line"): scan for scan in plan.get("full_scans") or []}
    lines = []
    for index, line in enumerate(plan.get("plan") or []):
        scan = scans.get(index)
        if scan is None:
            lines.append(escape(str(line)))
        else:
            lines.append(
                f'<mark class="full-scan">{escape(str(line))}  ← full scan of {escape(full_scan_text(scan))}</mark>'
            )
    return (
        f'<div class="plan"><p>{statement} <span class="muted">({escape(str(plan.get("dialect", "")))})</span></p>'
        f"<pre>{chr(10).join(lines)}</pre></div>"
    )


def _unstable(document: Document) -> str:
    """Tests whose judged rounds varied too much to trust the verdict, with what to do about it."""
    found = [test for test in document.get("tests", []) if "stability" in test]
    if not found:
        return ""
    rows = [
        f"<tr><td>{_code(test['nodeid'])}</td><td>{escape(str(test['stability'].get('metric', '')))}</td>"
        f"<td>{escape(str(test['stability'].get('message', '')))}</td></tr>"
        for test in found[:MAX_ROWS]
    ]
    table = _table(["Test", "Metric", "Rounds"], rows)
    return _capped("Unstable timings", "unstable", len(found), len(rows), table)


def _list(title: str, values: Sequence[Any], css_id: str, as_code: bool = True) -> str:
    if not values:
        return ""
    items = "".join(f"<li>{_code(value) if as_code else escape(str(value))}</li>" for value in values)
    return f'<section id="{css_id}"><h2>{escape(title)} ({len(values)})</h2><ul>{items}</ul></section>'


def _evidence_table(rows: Sequence[EvidenceRow]) -> str:
    body = [
        f"<tr><td>{escape(row.label)}</td>"
        + _cell(format_metric(row.metric, row.before), row.before)
        + _cell(format_metric(row.metric, row.after), row.after)
        + _cell(
            change_text(row.metric, row.before, row.after) + (f" ({row.judgement})" if row.judgement else ""),
            row.improvement,
            f"num {row.judgement or ''}".strip(),
        )
        + "</tr>"
        for row in rows
    ]
    return _table(
        ["Metric", "Before", "After", "Change"], body, numeric=(1, 2, 3), attributes=' class="evidence"'
    )


def _before_after(document: Document, before: Document | None) -> str:
    changed = changed_tests(document)
    if not changed:
        return ""
    before_tests = tests_by_nodeid(before) if before is not None else {}
    figures = []
    for test in changed[:MAX_CHANGE_CHARTS]:
        nodeid = str(test["nodeid"])
        rows = evidence_rows(test, before_tests.get(nodeid))
        figures.append(
            f'<figure class="chart change" data-nodeid="{escape(nodeid)}"><h3>{_code(nodeid)}</h3>'
            f"{before_after_chart(nodeid, rows)}{_evidence_table(rows)}</figure>"
        )
    more = len(changed) - len(figures)
    note = (
        f'<p class="muted">Charts for the first {len(figures)} of {len(changed)} changed tests.</p>'
        if more
        else ""
    )
    legend = (
        '<p class="legend"><span style="background:var(--before)"></span>before'
        '<span style="background:var(--after)"></span>after'
        '<span style="background:var(--worse)"></span>worse'
        '<span style="background:var(--better)"></span>better'
        '<span style="background:var(--fail)"></span>regressed'
        '<span style="background:var(--ok)"></span>improved (beyond the tolerance)</p>'
    )
    return (
        f'<section id="changes"><h2>Before and after ({len(changed)})</h2>{legend}{note}'
        f'<div class="grid">{"".join(figures)}</div></section>'
    )


def _median_time(test: Test) -> float:
    time = test.get("metrics", {}).get("time")
    median = time.get("median") if isinstance(time, dict) else None
    return float(median) if isinstance(median, (int, float)) else 0.0


def _has_rounds(test: Test) -> bool:
    """Two rounds or more: one round has no distribution to draw."""
    time = test.get("metrics", {}).get("time")
    rounds = time.get("rounds") if isinstance(time, dict) else None
    return isinstance(rounds, list) and len(rounds) >= 2


def _distributions(document: Document) -> str:
    timed = [test for test in document.get("tests", []) if _has_rounds(test)]
    if not timed:
        return ""
    slowest = heapq.nlargest(
        MAX_DISTRIBUTIONS, ((_median_time(test), index) for index, test in enumerate(timed))
    )
    chosen = {id(timed[index]) for _, index in slowest}
    figures = []
    for test in timed:
        if id(test) not in chosen:
            continue
        nodeid, rounds = str(test["nodeid"]), _time_rounds(test)
        figures.append(
            f'<figure class="chart rounds" data-nodeid="{escape(nodeid)}"><h3>{_code(nodeid)}</h3>'
            f'<p class="muted">{len(rounds)} rounds of wall time</p>'
            f"{distribution_chart(nodeid, 'time', rounds)}</figure>"
        )
    note = (
        f'<p class="muted">The {len(figures)} slowest of {len(timed)} tests, by median time.</p>'
        if len(figures) < len(timed)
        else ""
    )
    single = len(document.get("tests", [])) - len(timed)
    if single:
        note += (
            f'<p class="muted">{single:,} tests measured in one round or not timed have no distribution.</p>'
        )
    return (
        f'<section id="distributions"><h2>Distribution of rounds ({len(figures)})</h2>{note}'
        f'<div class="grid">{"".join(figures)}</div></section>'
    )


EMPTY_CELL = '<td class="num" data-v="">—</td>'


def _number_cell(value: Any, formatter: Callable[[float], str]) -> str:
    """A sortable numeric cell of the all-tests table, or an empty one (this runs 400,000 times for 100k tests).

    The formatters write digits, a point, a sign and a unit: nothing to escape.
    """
    if type(value) is dict:
        value = value.get("median")
    if type(value) is not float and type(value) is not int:
        return EMPTY_CELL
    return f'<td class="num" data-v="{value:.6g}">{formatter(value)}</td>'


_SPECIAL = re.compile(r"[&<>\"']")


def _escape(text: str) -> str:
    """:func:`html.escape`, quicker on the usual text that has nothing to escape."""
    return escape(text) if _SPECIAL.search(text) else text


def _count(value: float) -> str:
    return f"{value:.0f}"


def _test_row(test: Test) -> str:
    metrics = test.get("metrics") or {}
    nodeid = _escape(str(test["nodeid"]))
    outcome = _escape(str(test.get("outcome", "")))
    violations = len(test.get("violations") or ())
    if metrics:
        cells = (
            f"{_number_cell(metrics.get('time'), format_duration)}{_number_cell(metrics.get('cpu'), format_duration)}"
            f"{_number_cell(metrics.get('memory'), format_size)}{_number_cell(metrics.get('queries'), _count)}"
            f"{_suspects_cell(metrics.get('n_plus_one'))}"
        )
    else:
        cells = EMPTY_CELL * 5
    shown_id = (
        nodeid.replace("/", "/<wbr>").replace("::", "::<wbr>").replace(".", ".<wbr>").replace("_", "_<wbr>")
    )
    return (
        f'<tr data-nodeid="{nodeid}"><td><code>{shown_id}</code></td><td class="{outcome}">{outcome}</td>'
        f'{cells}<td class="num" data-v="{violations}">{violations}</td></tr>'
    )


def _suspects_cell(count: Any) -> str:
    """N+1 suspects: marked when there are any, so that a passed test with suspects stands out."""
    if type(count) is not int:
        return EMPTY_CELL
    css = "num suspects" if count else "num"
    return f'<td class="{css}" data-v="{count}">{count}</td>'


def _shown_tests(tests: Sequence[Test]) -> Sequence[Test]:
    """At most :data:`MAX_TEST_ROWS` tests, in their order: those with violations, then the slowest."""
    if len(tests) <= MAX_TEST_ROWS:
        return tests
    ranked = heapq.nlargest(
        MAX_TEST_ROWS,
        ((bool(test.get("violations")), _median_time(test), index) for index, test in enumerate(tests)),
    )
    return [tests[index] for index in sorted(index for _, _, index in ranked)]


def _all_tests(document: Document) -> str:
    tests = document.get("tests", [])
    rows = [_test_row(test) for test in _shown_tests(tests)]
    table = _table(
        ["Test", "Outcome", "Time (median)", "CPU (median)", "Memory", "Queries", "N+1", "Violations"],
        rows,
        numeric=(2, 3, 4, 5, 6, 7),
        attributes=' id="all-tests" class="sortable"',
    )
    shown = (
        f"The {len(rows):,} tests with violations first, then the slowest, of {len(tests):,}; "
        "the JSON report lists every test. "
        if len(rows) < len(tests)
        else ""
    )
    return (
        f'<section id="tests"><h2>All tests ({len(tests):,})</h2>'
        f'<p class="muted">{shown}Click a column heading to sort.</p>{table}</section>'
    )


def render(document: Document, *, before: Document | None = None) -> str:
    """The whole page; ``before`` (the baseline report) adds p95 and p99 before values."""
    baseline = document.get("baseline") or {}
    judged = judged_changes(document)
    body = "".join(
        [
            _header(document),
            _violations(document),
            _list("Crashed tests", crashed_tests(document), "crashed"),
            _changes(judged["regressed"], "regressed", "Regressions"),
            _changes(judged["improved"], "improved", "Improvements"),
            _before_after(document, before),
            hot_spots.html_section(document.get("tests", [])),
            _suspects(document),
            html_section(document, MAX_CHANGE_CHARTS),
            _sql_evidence(document),
            _unstable(document),
            _list(
                "Environment differences", baseline.get("environment_differences", []), "environment", False
            ),
            _list("New tests", baseline.get("new", []), "new"),
            _list("Vanished tests", baseline.get("vanished", []), "vanished"),
            _list("Warnings", document.get("warnings", []), "warnings", False),
            _distributions(document),
            _all_tests(document),
        ]
    )
    plugin = document.get("environment", {}).get("plugin")
    made_by = f"pytest-perfbudget {plugin}" if plugin else "pytest-perfbudget"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Performance budget report</title><style>{STYLE}</style></head>"
        f'<body><main>{body}<p class="muted">Made by {escape(made_by)}.</p></main>'
        f"<script>{SCRIPT}</script></body></html>\n"
    )
