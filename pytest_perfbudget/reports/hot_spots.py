"""Hot spots in the reports: a ``<details>`` table in Markdown, a flame graph in HTML.

They read the ``evidence.hot_spots`` entry of a test record (see :mod:`pytest_perfbudget.hot_spots`),
so ``perfbudget report`` draws them from a JSON report as a run does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from ..units import format_duration

MAX_FLAMES = 50  # flame graphs in one HTML report, for the first tests that have one
FLAME_WIDTH = 960
ROW_HEIGHT = 18
CHARACTER_WIDTH = 6.5  # of the 11px labels, for cutting a label to its box
SMALLEST_BOX = 1.0  # pixels: narrower boxes are not drawn
# In the section itself, not the page's style sheet: a report without hot spots is unchanged.
STYLE = (
    "<style>svg.flame text { font: 11px ui-monospace, Menlo, Consolas, monospace; fill: #212121; "
    "pointer-events: none; } figure.hot-spots { margin: 0 0 16px; overflow-x: auto; }</style>"
)

Test = Mapping[str, Any]


def hot_spots_of(test: Test) -> Mapping[str, Any] | None:
    evidence = test.get("evidence")
    found = evidence.get("hot_spots") if isinstance(evidence, Mapping) else None
    return found if isinstance(found, Mapping) else None


def _percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def _summary(hot_spots: Mapping[str, Any]) -> str:
    duration = format_duration(float(hot_spots.get("duration") or 0.0))
    return f"one more call under {hot_spots.get('profiler', 'a profiler')}, {duration}"


# --- Markdown -------------------------------------------------------------------------------


def markdown_details(test: Test) -> list[str]:
    """The test's hot spots as a ``<details>`` block, or no line when it has none."""
    from .markdown import code
    from .markdown import escape as markdown_escape

    hot_spots = hot_spots_of(test)
    if hot_spots is None:
        return []
    if hot_spots.get("status") != "taken":
        reason = markdown_escape(hot_spots.get("reason", ""))
        return ["", "<details><summary>Hot spots: not taken</summary>", "", reason, "", "</details>"]
    functions: Sequence[Mapping[str, Any]] = hot_spots.get("functions") or []
    duration = float(hot_spots.get("duration") or 0.0)
    lines = [
        "",
        f"<details><summary>Hot spots: {len(functions)} functions of your code ({markdown_escape(_summary(hot_spots))})"
        "</summary>",
        "",
        "| Cumulative | Own | Calls | Function | Call site |",
        "|---:|---:|---:|---|---|",
    ]
    for function in functions:
        own = float(function.get("own", 0.0))
        cumulative = float(function.get("cumulative", 0.0))
        own_share = f" ({_percent(own / duration)})" if duration > 0 else ""
        lines.append(
            f"| {format_duration(cumulative)} ({_percent(float(function.get('share', 0.0)))}) "
            f"| {format_duration(own)}{own_share} | {int(function.get('calls', 0))} "
            f"| {code(function.get('function', ''))} | {code(function.get('call_site', ''))} |"
        )
    if hot_spots.get("file"):
        lines += ["", f"Profile: {code(hot_spots['file'])} (open it in speedscope)."]
    return [*lines, "", "</details>"]


# --- HTML -----------------------------------------------------------------------------------


def html_section(tests: Sequence[Test]) -> str:
    """A flame graph and the table of functions for each test with hot spots (the first
    :data:`MAX_FLAMES`); tests whose profile could not be taken say why."""
    found = [(test, hot_spots) for test in tests if (hot_spots := hot_spots_of(test)) is not None]
    if not found:
        return ""
    figures = [_figure(str(test["nodeid"]), hot_spots) for test, hot_spots in found[:MAX_FLAMES]]
    note = (
        f'<p class="muted">The first {len(figures)} of {len(found)} tests; the JSON report has them all.</p>'
        if len(figures) < len(found)
        else ""
    )
    intro = (
        '<p class="muted">Each test over a time or CPU limit was called once more under a profiler, after '
        "its verdict. Boxes are functions, as wide as their share of the call; a grey box is a library "
        "called from your code, with what it took folded in.</p>"
    )
    return f'<section id="hot-spots">{STYLE}<h2>Hot spots ({len(found)})</h2>{intro}{note}{"".join(figures)}</section>'


def _figure(nodeid: str, hot_spots: Mapping[str, Any]) -> str:
    heading = f"<h3><code>{escape(nodeid)}</code></h3>"
    if hot_spots.get("status") != "taken":
        reason = escape(str(hot_spots.get("reason", "")))
        return f'<figure class="hot-spots" data-nodeid="{escape(nodeid)}">{heading}<p>Not taken: {reason}</p></figure>'
    flame = hot_spots.get("flame")
    chart = flame_graph(nodeid, flame) if isinstance(flame, Mapping) else ""
    file = hot_spots.get("file")
    where = (
        f'<p class="muted">Profile: <code>{escape(str(file))}</code> (open it in speedscope).</p>'
        if file
        else ""
    )
    return (
        f'<figure class="hot-spots" data-nodeid="{escape(nodeid)}">{heading}'
        f'<p class="muted">{escape(_summary(hot_spots))}</p>{chart}{_functions_table(hot_spots)}{where}</figure>'
    )


def _functions_table(hot_spots: Mapping[str, Any]) -> str:
    duration = float(hot_spots.get("duration") or 0.0)
    rows = []
    for function in hot_spots.get("functions") or []:
        own, cumulative = float(function.get("own", 0.0)), float(function.get("cumulative", 0.0))
        own_share = f" ({_percent(own / duration)})" if duration > 0 else ""
        rows.append(
            f'<tr><td class="num" data-v="{cumulative!r}">{escape(format_duration(cumulative))} '
            f"({escape(_percent(float(function.get('share', 0.0))))})</td>"
            f'<td class="num" data-v="{own!r}">{escape(format_duration(own) + own_share)}</td>'
            f'<td class="num">{int(function.get("calls", 0))}</td>'
            f"<td><code>{escape(str(function.get('function', '')))}</code></td>"
            f"<td><code>{escape(str(function.get('call_site', '')))}</code></td></tr>"
        )
    header = "".join(
        f'<th class="num">{name}</th>' if index < 3 else f"<th>{name}</th>"
        for index, name in enumerate(("Cumulative", "Own", "Calls", "Function", "Call site"))
    )
    return f'<table class="hot-spots sortable"><thead><tr>{header}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def flame_graph(nodeid: str, flame: Mapping[str, Any]) -> str:
    """An icicle (the call on top, callees below) as inline SVG; each box has its tooltip."""
    total = float(flame.get("time") or 0.0)
    boxes: list[str] = []
    depth = _draw(flame, 0.0, 0, total, boxes) if total > 0 else 0
    height = max(depth, 1) * ROW_HEIGHT + 2
    return (
        f'<svg class="flame" role="img" width="{FLAME_WIDTH}" height="{height}" '
        f'viewBox="0 0 {FLAME_WIDTH} {height}"><title>{escape(f"Hot spots: {nodeid}")}</title>'
        f"{''.join(boxes)}</svg>"
    )


def _draw(node: Mapping[str, Any], left: float, level: int, total: float, boxes: list[str]) -> int:
    """Draw ``node`` and its children from ``left`` (pixels); returns the depth drawn."""
    width = FLAME_WIDTH * float(node.get("time") or 0.0) / total
    if width < SMALLEST_BOX:
        return level
    name = str(node.get("function", ""))
    call_site = str(node.get("call_site", ""))
    seconds = float(node.get("time") or 0.0)
    fill = "#bdbdbd" if node.get("library") else "#90caf9" if level == 0 else _warm(seconds / total)
    tip = f"{name} {call_site} {format_duration(seconds)} ({_percent(seconds / total)})".replace("  ", " ")
    y = level * ROW_HEIGHT
    boxes.append(
        f'<g><rect x="{left:.1f}" y="{y}" width="{width:.1f}" height="{ROW_HEIGHT - 1}" fill="{fill}" '
        f'stroke="#fff"><title>{escape(tip)}</title></rect>'
    )
    characters = int((width - 6) / CHARACTER_WIDTH)
    if characters >= 3:
        label = name if len(name) <= characters else name[: characters - 1] + "…"
        boxes.append(f'<text x="{left + 3:.1f}" y="{y + 12}">{escape(label)}</text>')
    boxes.append("</g>")
    deepest = level + 1
    offset = left
    for child in node.get("children") or ():
        deepest = max(deepest, _draw(child, offset, level + 1, total, boxes))
        offset += FLAME_WIDTH * float(child.get("time") or 0.0) / total
    return deepest


def _warm(share: float) -> str:
    """Yellow for a small share of the call, through orange to red for all of it."""
    green = int(220 - 160 * min(max(share, 0.0), 1.0))
    return f"rgb(250,{green},60)"
