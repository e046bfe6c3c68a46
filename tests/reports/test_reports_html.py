"""The HTML report: parsed to find every test and chart, and opened in headless Chromium."""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from report_samples import WEIRD, make_after

from pytest_perfbudget.reports import html, markdown
from pytest_perfbudget.reports.json_report import document

VOID = {"meta", "br", "hr", "img", "input", "link", "circle", "line", "rect", "path"}


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
    assert page.charts["rounds"] == nodeids  # every test has rounds of wall time
    assert all(page.svg_in_figure[f"change:{nodeid}"] == 1 for nodeid in changed)
    assert all(page.svg_in_figure[f"rounds:{nodeid}"] == 1 for nodeid in nodeids)


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
    assert page.charts["rounds"] == ["tests/test_codec.py::test_encode", "tests/test_reports.py::test_export"]
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
    assert page.charts["rounds"] == ["t.py::test_same", "t.py::test_zero"]


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
    assert len(dom.charts["rounds"]) == 6


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


@needs_chromium
def test_chromium_takes_a_screenshot(tmp_path: Path, compared: dict[str, Any]) -> None:
    page = tmp_path / "report.html"
    page.write_text(html.render(compared), encoding="utf-8")
    screenshot = tmp_path / "report.png"
    result = browse(
        tmp_path, page, f"--screenshot={screenshot}", "--window-size=1200,1600", "--hide-scrollbars"
    )
    assert result.returncode == 0, result.stderr
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 10_000  # a blank page is a few kilobytes
