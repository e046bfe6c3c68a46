"""The HTML report: parsed to find every test and chart, and opened in headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from report_samples import WEIRD, make_after

from pytest_perfbudget.reports import html, markdown
from pytest_perfbudget.reports.json_report import document

VOID = {"meta", "br", "hr", "img", "input", "link", "circle", "line", "rect", "path", "wbr"}


class Page(HTMLParser):
    """What a test wants to know of a report page, and whether its tags nest."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.rows: list[str] = []  # data-nodeid of the rows of the table of all tests
        self.charts: dict[str, list[str]] = {"change": [], "rounds": []}
        self.svg_in_figure: dict[str, int] = {}
        self.figure: str | None = None
        self.table: str | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        self.tags.append((tag, attributes))
        if tag == "table":
            self.table = attributes.get("id")
        if tag == "tr" and self.table == "all-tests" and "data-nodeid" in attributes:
            self.rows.append(attributes["data-nodeid"])
        if tag == "figure":
            kind = attributes.get("class", "").split()[-1]
            self.charts[kind].append(attributes["data-nodeid"])
            self.figure = f"{kind}:{attributes['data-nodeid']}"
        if tag == "svg" and self.figure is not None:
            self.svg_in_figure[self.figure] = self.svg_in_figure.get(self.figure, 0) + 1
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {name: value or "" for name, value in attrs}))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
            return
        self.stack.pop()
        if tag == "figure":
            self.figure = None
        if tag == "table":
            self.table = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(text: str) -> Page:
    page = Page()
    page.feed(text)
    page.close()
    return page


def test_every_test_and_chart_is_there(compared: dict[str, Any], before: dict[str, Any]) -> None:
    page = parse(html.render(compared, before=before))
    assert page.errors == []
    assert page.stack == []
    nodeids = [test["nodeid"] for test in compared["tests"]]
    assert page.rows == nodeids
    changed = [test["nodeid"] for test in markdown.changed_tests(compared)]
    assert page.charts["change"] == changed
    several = [test["nodeid"] for test in compared["tests"] if len(test["metrics"]["time"]["rounds"]) >= 2]
    assert page.charts["rounds"] == several  # one round has no distribution to draw
    assert all(page.svg_in_figure[f"change:{nodeid}"] == 1 for nodeid in changed)
    assert all(page.svg_in_figure[f"rounds:{nodeid}"] == 1 for nodeid in several)


def test_the_page_is_self_contained(compared: dict[str, Any]) -> None:
    text = html.render(compared)
    page = parse(text)
    assert not {tag for tag, _ in page.tags} & {"link", "img", "iframe", "object", "embed", "base"}
    for tag, attributes in page.tags:
        assert "src" not in attributes, tag
        assert "href" not in attributes, tag
    assert "http:" not in text
    assert "https:" not in text
    assert "url(" not in text
    assert "@import" not in text


def test_every_piece_of_text_is_escaped(compared: dict[str, Any]) -> None:
    text = html.render(compared)
    assert "<b>|" not in text
    assert "&lt;b&gt;|`x`&amp;y" in text
    page = parse(text)
    assert WEIRD in "".join(page.text)
    assert WEIRD in page.rows


def test_a_run_without_baseline_has_no_change_charts(after: dict[str, Any]) -> None:
    page = parse(html.render(after))
    assert page.charts["change"] == []
    assert page.rows == [test["nodeid"] for test in after["tests"]]
    ids = {attributes.get("id") for _, attributes in page.tags}
    assert {"violations", "suspects", "distributions", "tests", "warnings"} <= ids
    assert "regressed" not in ids


def test_verdict_and_summary(compared: dict[str, Any]) -> None:
    page = parse(html.render(compared))
    text = " ".join("".join(page.text).split())
    assert "FAIL 1 test over budget, 2 regressed, 1 improved, 2 warnings — 6 measured" in text


def test_distribution_charts_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(html, "MAX_DISTRIBUTIONS", 2)
    page = parse(html.render(make_after()))
    assert page.charts["rounds"] == [
        "tests/test_codec.py::test_encode",
        "tests/test_orders.py::test_checkout",
    ]
    assert len(page.rows) == 6  # the table still lists every test


def test_a_constant_distribution_and_empty_metrics_render() -> None:
    tests = [
        {"nodeid": "t.py::test_same", "file": "t.py", "line": 1, "outcome": "passed",
         "metrics": {"time": {"rounds": [0.5, 0.5, 0.5], "median": 0.5}}, "budgets": {}, "violations": [],
         "n_plus_one": []},
        {"nodeid": "t.py::test_zero", "file": "t.py", "line": 2, "outcome": "passed",
         "metrics": {"time": {"rounds": [0.0], "median": 0.0}}, "budgets": {}, "violations": [], "n_plus_one": []},
        {"nodeid": "t.py::test_none", "file": "t.py", "line": 3, "outcome": "error", "metrics": {}, "budgets": {},
         "violations": [], "n_plus_one": []},
    ]  # fmt: skip
    page = parse(html.render(document({}, tests, [])))
    assert page.errors == []
    assert page.rows == ["t.py::test_none", "t.py::test_same", "t.py::test_zero"]
    assert page.charts["rounds"] == ["t.py::test_same"]  # test_zero ran one round


# --- as seen in a browser: what the charts and tables say ----------------------------------------


def test_a_change_reads_as_slower_or_faster_never_as_a_negative_improvement() -> None:
    assert html.change_text("queries", 3, 52) == "17.3x more"
    assert html.change_text("time", 0.010, 0.016) == "+60% slower"
    assert html.change_text("time", 0.010, 0.008) == "20% faster"
    assert html.change_text("memory", 100, 105) == "+5.0% more"
    assert html.change_text("throughput", 5000, 6500) == "+30% higher"
    assert html.change_text("queries", 0, 0) == "no change"
    assert html.change_text("queries", 0, 4) == "n/a"


@pytest.mark.parametrize(
    ("metric", "before", "after", "expected"),
    [
        ("cpu", 0.010, 0.030, "worse"),  # tripled, no tolerance on CPU: no verdict, but a direction
        ("cpu", 0.010, 0.0105, None),  # within the 1 ms noise floor
        ("time", 0.030, 0.010, "better"),
        ("queries", 3, 4, "worse"),
        ("throughput", 5000, 6500, "better"),
    ],
)
def test_a_bar_is_coloured_by_direction_beyond_the_noise_floor(
    metric: str, before: float, after: float, expected: str | None
) -> None:
    assert html.direction(metric, before, after) == expected
    row = markdown.EvidenceRow("X", metric, before, after, None)
    chart = html.before_after_chart("t.py::test_x", [row])
    colour = html.COLORS[expected] if expected else "var(--after)"
    assert f'fill="{colour}"><title>X after' in chart


def test_the_regression_colour_is_kept_for_verdicts() -> None:
    row = markdown.EvidenceRow("Queries", "queries", 3, 52, "regressed")
    chart = html.before_after_chart("t.py::test_x", [row])
    assert 'fill="var(--fail)"><title>Queries after' in chart
    assert ">17.3x more</text>" in chart


def test_long_ids_and_statements_break_at_separators_not_inside_words(after: dict[str, Any]) -> None:
    text = html.render(after)
    assert "<code>tests/<wbr>test_<wbr>orders.<wbr>py::<wbr>test_<wbr>list_<wbr>orders</code>" in text
    assert "break-all" not in text


def test_the_median_label_stays_inside_the_chart_at_an_edge() -> None:
    at_the_left = html.distribution_chart("t.py::test_x", "time", [0.010, 0.010, 0.010, 0.011, 0.050])
    assert 'text-anchor="start">median 10ms</text>' in at_the_left
    centred = html.distribution_chart("t.py::test_x", "time", [0.010, 0.020, 0.030])
    assert 'text-anchor="middle">median 20ms</text>' in centred


def test_a_test_without_sql_has_no_sql_rows() -> None:
    test = {"nodeid": "t.py::test_x", "metrics": {"time": {"median": 0.02}, "queries": 0, "sql_time": 0.0},
            "baseline": {"time": {"before": 0.01, "after": 0.02}}}  # fmt: skip
    labels = [row.label for row in markdown.evidence_rows(test)]
    assert "Queries" not in labels
    assert "SQL time" not in labels


def test_the_table_of_all_tests_shows_n_plus_one_suspects(after: dict[str, Any]) -> None:
    text = html.render(after)
    assert '<th class="num">N+1</th>' in text
    row = text.split('<tr data-nodeid="tests/test_orders.py::test_list_orders">', 1)[1].split("</tr>", 1)[0]
    assert '<td class="num suspects" data-v="1">1</td>' in row


# --- in a real browser ------------------------------------------------------------------


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


needs_chromium = pytest.mark.skipif(
    _chromium() is None, reason="no chromium (install it with: apt-get install -y chromium)"
)


def browse(tmp_path: Path, page: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    chromium = _chromium()
    assert chromium is not None
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        *arguments,
        page.as_uri(),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


@needs_chromium
def test_chromium_renders_the_page(tmp_path: Path, compared: dict[str, Any], before: dict[str, Any]) -> None:
    page = tmp_path / "report.html"
    page.write_text(html.render(compared, before=before), encoding="utf-8")
    result = browse(tmp_path, page, "--dump-dom")
    assert result.returncode == 0, result.stderr
    dom = parse(result.stdout)
    assert dom.rows == [test["nodeid"] for test in compared["tests"]]
    assert len(dom.charts["change"]) == 3
    assert len(dom.charts["rounds"]) == 4  # the tests of more than one round


@needs_chromium
def test_chromium_sorts_the_table(tmp_path: Path, after: dict[str, Any]) -> None:
    """Click the time heading (twice: descending) and read the order back from the DOM."""
    click = """<script>
    var heading = document.querySelectorAll("#all-tests th")[2];
    heading.click(); heading.click();
    var rows = document.querySelectorAll("#all-tests tbody tr");
    document.body.setAttribute("data-order", Array.prototype.map.call(rows, function (r) {
      return r.getAttribute("data-nodeid"); }).join(" ; "));
    </script>"""
    page = tmp_path / "report.html"
    page.write_text(html.render(after).replace("</body>", click + "</body>"), encoding="utf-8")
    result = browse(tmp_path, page, "--dump-dom")
    body = next(attributes for tag, attributes in parse(result.stdout).tags if tag == "body")
    slowest_first = sorted(after["tests"], key=lambda test: -test["metrics"]["time"]["median"])
    assert body["data-order"].split(" ; ") == [test["nodeid"] for test in slowest_first]


DOCS = Path(__file__).resolve().parents[2] / "docs"
SCREEN = (1240, 1700)  # the window of the screenshots in docs/images


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", path
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")


@needs_chromium
@pytest.mark.parametrize(
    ("image", "source", "shown"),
    [
        ("report.png", "the compared sample of these tests", "17.3x more (regressed)"),
        ("shop-report.png", "docs/samples/after.html", "98% fewer (improved)"),
    ],
)
def test_the_screenshots_in_the_docs_are_of_this_report(
    tmp_path: Path, compared: dict[str, Any], before: dict[str, Any], image: str, source: str, shown: str
) -> None:
    """The page shot as docs/images has it (PERFBUDGET_UPDATE_GOLDEN=1 shoots the docs' images again),
    and, in Chromium's DOM, with what the fixed report shows: changes in words, an N+1 column."""
    if source.endswith(".html"):
        page = DOCS / "samples" / "after.html"
    else:
        page = tmp_path / "report.html"
        page.write_text(html.render(compared, before=before), encoding="utf-8")
    screenshot = tmp_path / image
    window = f"--window-size={SCREEN[0]},{SCREEN[1]}"
    result = browse(tmp_path, page, f"--screenshot={screenshot}", window, "--hide-scrollbars")
    assert result.returncode == 0, result.stderr
    assert screenshot.stat().st_size > 10_000  # a blank page is a few kilobytes
    if os.environ.get("PERFBUDGET_UPDATE_GOLDEN") == "1":
        shutil.copyfile(screenshot, DOCS / "images" / image)
    assert _png_size(screenshot) == _png_size(DOCS / "images" / image) == SCREEN
    dom = browse(tmp_path, page, "--dump-dom")
    text = " ".join("".join(parse(dom.stdout).text).split())
    assert "N+1" in text
    assert shown in text
    assert not re.search(r"-\d+\.\d% regressed", text)  # no negative improvements
