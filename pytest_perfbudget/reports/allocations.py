"""The memory evidence of a test in the reports: allocation sites at the peak, and of a leak.

Records hold it under ``evidence`` (see :mod:`pytest_perfbudget.allocations`): ``allocations``
for a broken ``memory`` limit, ``leak`` for a broken ``leak`` limit or a leak that could not be
measured. The Markdown report shows each kind in a ``<details>`` block under the test's evidence
table; the HTML report gives each test a section.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from ..units import format_size

KINDS = (
    ("allocations", "Memory: allocated at the peak"),
    ("leak", "Leak: still allocated after each call"),
)
HEADER = ("Size", "Blocks", "Where (your code)", "Allocated in (library)")


def has_memory_evidence(test: Mapping[str, Any]) -> bool:
    evidence = test.get("evidence")
    return isinstance(evidence, Mapping) and any(kind in evidence for kind, _ in KINDS)


def _sites(evidence: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    sites = evidence.get("sites")
    return sites if isinstance(sites, list) else []


def _summary(title: str, evidence: Mapping[str, Any]) -> str:
    if evidence.get("status") != "taken":
        return f"{title}: not taken"
    sites = _sites(evidence)
    total = format_size(sum(int(site.get("size") or 0) for site in sites))
    return f"{title}: {len(sites)} site{'s' * (len(sites) != 1)}, {total}"


def markdown_details(test: Mapping[str, Any]) -> list[str]:
    """A ``<details>`` block per kind of memory evidence the test has (lines, none without)."""
    from .markdown import code
    from .markdown import escape as escape_markdown

    evidence = test.get("evidence")
    if not isinstance(evidence, Mapping):
        return []
    lines: list[str] = []
    for kind, title in KINDS:
        found = evidence.get(kind)
        if not isinstance(found, Mapping):
            continue
        lines += ["", f"<details><summary>{escape(_summary(title, found))}</summary>", ""]
        if found.get("status") != "taken":
            lines.append(escape_markdown(found.get("reason", "")))
        else:
            lines += [f"| {' | '.join(HEADER)} |", "|---:|---:|---|---|"]
            for site in _sites(found):
                where = code(site["call_site"]) if site.get("call_site") else "—"
                if site.get("function"):
                    where += f" in {code(site['function'])}"
                library = code(site["library_site"]) if site.get("library_site") else "—"
                size, count = format_size(site.get("size") or 0), f"{site.get('count', 0):,}"
                lines.append(f"| {size} | {count} | {where} | {library} |")
        lines += ["", "</details>"]
    return lines


def html_section(document: Mapping[str, Any], limit: int) -> str:
    """A section per test with memory evidence (the first ``limit`` of them), or nothing."""
    tests = [test for test in document.get("tests", []) if "evidence" in test and has_memory_evidence(test)]
    if not tests:
        return ""
    parts = [
        f'<section id="memory-evidence"><h2>Where memory was allocated ({len(tests)})</h2>',
        f'<p class="muted">The first {limit} of {len(tests)} tests; the JSON report has them all.</p>'
        if len(tests) > limit
        else "",
    ]
    for test in tests[:limit]:
        nodeid = escape(str(test["nodeid"]))
        parts.append(
            f'<section class="memory-evidence" data-nodeid="{nodeid}"><h3><code>{nodeid}</code></h3>'
        )
        for kind, title in KINDS:
            found = test["evidence"].get(kind)
            if isinstance(found, Mapping):
                parts.append(_html_kind(title, found))
        parts.append("</section>")
    parts.append("</section>")
    return "".join(parts)


def _html_kind(title: str, evidence: Mapping[str, Any]) -> str:
    heading = f'<h4 class="{escape(evidence.get("status", "").replace(" ", "-"))}">{escape(title)}</h4>'
    if evidence.get("status") != "taken":
        return f'{heading}<p class="muted">Not taken: {escape(str(evidence.get("reason", "")))}</p>'
    rows = []
    for site in _sites(evidence):
        where = escape(str(site.get("call_site") or "—"))
        if site.get("function"):
            where += f" in <code>{escape(str(site['function']))}</code>"
        library = escape(str(site.get("library_site") or "—"))
        size, count = int(site.get("size") or 0), int(site.get("count") or 0)
        rows.append(
            f'<tr><td class="num" data-v="{size}">{escape(format_size(size))}</td>'
            f'<td class="num" data-v="{count}">{count:,}</td><td>{where}</td><td>{library}</td></tr>'
        )
    header = "".join(
        f'<th class="num">{escape(name)}</th>' if index < 2 else f"<th>{escape(name)}</th>"
        for index, name in enumerate(HEADER)
    )
    return f"{heading}<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
