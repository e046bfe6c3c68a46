"""Reading the budget file: the valid file of SPEC, resolution order, and every kind of error."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_perfbudget import budget_file
from pytest_perfbudget.budget_file import BudgetFile, BudgetFileError
from pytest_perfbudget.budgets import Tolerance, located, parse_fields, resolve

# The example of SPEC, verbatim (comments included).
SPEC_EXAMPLE = """\
version: 1
settings:                     # all optional
  rounds: 1                   # measurements of each test's call phase
  warmup: 0                   # unmeasured calls before the rounds
  statistic: median           # what a plain time budget limits: min | median | mean | max
  retries: 2                  # a test over a time budget is measured again up to N times and fails
                              # only if it is still over: timing noise alone must not fail a build
  n_plus_one_threshold: 3     # one SELECT shape run this many times from one call site is an N+1 suspect
  n_plus_one_ignore:          # known-good repeats: statement shapes (globs) or call sites (path:line)
    - "SELECT * FROM feature_flags*"
  tolerance:                  # allowed regression against --perf-baseline, per metric
    time: 20%
    memory: 10%
    queries: 0
  noise_floor: 1ms            # a time change smaller than this is never a regression
budgets:                      # pattern -> limits; every matching entry applies, top to bottom,
  "**":                       # a later entry overriding an earlier one metric by metric
    time: 2s
  "tests/test_orders.py::test_list_orders":
    time: 200ms               # wall time of the call phase (the statistic over rounds)
    cpu: 150ms                # process CPU time (user + system)
    memory: 20MB              # peak traced Python memory allocated during the call
    rss: 64MB                 # growth of resident memory during the call
    queries: 3                # SQL statements executed
    n_plus_one: 0             # N+1 suspects allowed
    sql_time: 50ms            # total time spent in SQL statements
    level: warn               # error (default) | warn: reported, never fails
  "tests/reports/**":
    rounds: 20
    time: {p95: 2s, max: 5s}  # a mapping limits several statistics at once
  "tests/bench/test_codec.py::test_encode":
    throughput: 5000/s        # operations per second, counted with perf.ops(n)
"""


def line_of(text: str, needle: str, after: str = "") -> int:
    """1-based line of the first line containing ``needle`` (after the line containing ``after``)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if after in line) if after else 0
    return next(i for i, line in enumerate(lines) if i >= start and needle in line) + 1


def parse(text: str) -> BudgetFile:
    return budget_file.parse(textwrap.dedent(text), "budgets.yml")


def limits_of(parsed: BudgetFile, nodeid: str, marker: dict[str, object] | None = None) -> dict[str, object]:
    """``metric`` or ``metric.statistic`` -> (value, source) for one test."""
    fields = parse_fields(located(marker), source="marker") if marker is not None else None
    budget = resolve(nodeid, parsed.settings, parsed.entries, fields, {})
    return {
        (limit.metric if limit.statistic is None else f"{limit.metric}.{limit.statistic}"): (
            limit.value,
            limit.source,
        )
        for limit in budget.all_limits()
    }


# --- the valid file of SPEC ------------------------------------------------------------


def test_the_spec_example_settings() -> None:
    parsed = budget_file.parse(SPEC_EXAMPLE, "budgets.yml")
    settings_ = parsed.settings
    assert settings_.rounds == 1
    assert settings_.warmup == 0
    assert settings_.statistic == "median"
    assert settings_.retries == 2
    assert settings_.n_plus_one_threshold == 3
    assert tuple(settings_.n_plus_one_ignore) == ("SELECT * FROM feature_flags*",)
    assert settings_.noise_floor == pytest.approx(0.001)
    assert settings_.tolerance["time"] == Tolerance(relative=pytest.approx(0.2))
    assert settings_.tolerance["memory"] == Tolerance(relative=pytest.approx(0.1))
    assert settings_.tolerance["queries"] == Tolerance(absolute=0)
    assert [entry.pattern for entry in parsed.entries] == [
        "**",
        "tests/test_orders.py::test_list_orders",
        "tests/reports/**",
        "tests/bench/test_codec.py::test_encode",
    ]


def test_the_spec_example_resolves_for_a_named_test() -> None:
    parsed = budget_file.parse(SPEC_EXAMPLE, "budgets.yml")
    nodeid = "tests/test_orders.py::test_list_orders"
    after = nodeid
    limits = limits_of(parsed, nodeid)
    at = lambda needle: f"budgets.yml:{line_of(SPEC_EXAMPLE, needle, after)}"  # noqa: E731
    assert limits == {
        "time": (pytest.approx(0.2), at("time: 200ms")),
        "cpu": (pytest.approx(0.15), at("cpu: 150ms")),
        "memory": (20_000_000, at("memory: 20MB")),
        "rss": (64_000_000, at("rss: 64MB")),
        "queries": (3, at("queries: 3")),
        "n_plus_one": (0, at("n_plus_one: 0")),
        "sql_time": (pytest.approx(0.05), at("sql_time: 50ms")),
    }
    budget = resolve(nodeid, parsed.settings, parsed.entries, None, {})
    assert budget.settings.level == "warn"
    assert budget.settings.rounds == 1


def test_a_later_entry_replaces_a_metric_as_a_whole() -> None:
    """tests/reports/** gets {p95, max} and rounds: 20; the "**" median limit no longer applies."""
    parsed = budget_file.parse(SPEC_EXAMPLE, "budgets.yml")
    limits = limits_of(parsed, "tests/reports/test_html.py::test_render[big]")
    assert limits == {
        "time.p95": (2.0, f"budgets.yml:{line_of(SPEC_EXAMPLE, 'time: {p95')}"),
        "time.max": (5.0, f"budgets.yml:{line_of(SPEC_EXAMPLE, 'time: {p95')}"),
    }
    budget = resolve(
        "tests/reports/test_html.py::test_render[big]", parsed.settings, parsed.entries, None, {}
    )
    assert budget.settings.rounds == 20
    assert budget.settings.level == "error"


def test_entries_add_up_metric_by_metric() -> None:
    parsed = budget_file.parse(SPEC_EXAMPLE, "budgets.yml")
    limits = limits_of(parsed, "tests/bench/test_codec.py::test_encode")
    assert limits == {
        "time": (2.0, f"budgets.yml:{line_of(SPEC_EXAMPLE, 'time: 2s')}"),
        "throughput": (5000.0, f"budgets.yml:{line_of(SPEC_EXAMPLE, 'throughput: 5000/s')}"),
    }
    assert limits_of(parsed, "tests/test_other.py::test_y") == {
        "time": (2.0, f"budgets.yml:{line_of(SPEC_EXAMPLE, 'time: 2s')}")
    }


def test_order_decides_not_specificity() -> None:
    parsed = parse(
        """\
        version: 1
        budgets:
          "tests/test_a.py::test_x":
            time: 1s
            queries: 3
          "tests":
            time: 5s
        """
    )
    assert limits_of(parsed, "tests/test_a.py::test_x") == {
        "time": (5.0, "budgets.yml:7"),
        "queries": (3, "budgets.yml:5"),
    }


def test_marker_over_file_metric_by_metric() -> None:
    parsed = budget_file.parse(SPEC_EXAMPLE, "budgets.yml")
    nodeid = "tests/test_orders.py::test_list_orders"
    limits = limits_of(parsed, nodeid, marker={"time": "50ms", "queries": 10})
    assert limits["time"] == (pytest.approx(0.05), "marker")
    assert limits["queries"] == (10, "marker")
    assert limits["cpu"] == (pytest.approx(0.15), f"budgets.yml:{line_of(SPEC_EXAMPLE, 'cpu: 150ms')}")
    assert limits["memory"][0] == 20_000_000


def test_marker_settings_and_forced_options() -> None:
    parsed = budget_file.parse(SPEC_EXAMPLE, "budgets.yml")
    marker = parse_fields(located({"rounds": 5, "statistic": "p95"}), source="marker")
    nodeid = "tests/reports/test_x.py::test_y"
    budget = resolve(nodeid, parsed.settings, parsed.entries, marker, {})
    assert (budget.settings.rounds, budget.settings.statistic) == (5, "p95")
    forced = resolve(nodeid, parsed.settings, parsed.entries, marker, {"rounds": 7})
    assert (forced.settings.rounds, forced.settings.statistic) == (7, "p95")


def test_a_minimal_file() -> None:
    parsed = parse("version: 1\n")
    assert parsed.entries == ()
    assert parsed.settings.rounds == 1
    assert parsed.settings.retries == 2
    assert parsed.settings.statistic == "median"


def test_empty_sections_are_allowed() -> None:
    parsed = parse("version: 1\nsettings:\nbudgets:\n")
    assert parsed.entries == ()


def test_tolerance_merges_metric_by_metric() -> None:
    parsed = parse(
        """\
        version: 1
        settings:
          tolerance:
            time: 5ms
        """
    )
    assert parsed.settings.tolerance["time"] == Tolerance(absolute=pytest.approx(0.005))
    assert parsed.settings.tolerance["memory"] == Tolerance(relative=pytest.approx(0.1))
    assert parsed.settings.tolerance["queries"] == Tolerance(absolute=0)


def test_load_reads_a_file_and_names_it_as_written(tmp_path: Path) -> None:
    path = tmp_path / "perf.yml"
    path.write_text("version: 1\nbudgets:\n  '**': {time: 1s}\n", encoding="utf-8")
    assert budget_file.load(path).entries[0].fields.limits["time"][0].source == f"{path}:3"
    assert budget_file.load(path, "perf.yml").entries[0].fields.limits["time"][0].source == "perf.yml:3"


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BudgetFileError) as caught:
        budget_file.load(tmp_path / "nope.yml", "nope.yml")
    assert str(caught.value) == "nope.yml: budget file not found"


# --- errors ---------------------------------------------------------------------------

# Expected messages: "…" stands for any text.
ERRORS = [
    pytest.param(
        """\
        version: 1
        budgets:
          "**":
            time: 1s
            querys: 3
        """,
        "budgets.yml:5: unknown metric 'querys' (did you mean 'queries'?)",
        id="unknown-metric",
    ),
    pytest.param(
        """\
        version: 1
        settings:
          round: 3
        """,
        "budgets.yml:3: unknown setting 'round' (did you mean 'rounds'?)",
        id="unknown-setting",
    ),
    pytest.param(
        """\
        version: 1
        settings:
          level: warn
        """,
        "budgets.yml:3: 'level' is not a setting of the whole file: put it in a budget entry "
        '(a pattern such as "**") or a marker, or run with --perf-mode warn',
        id="level-in-settings",
    ),
    pytest.param(
        """\
        version: "1"
        """,
        "budgets.yml:1: 'version' must be the number 1, not the string '1' (write version: 1, without quotes)",
        id="version-as-a-string",
    ),
    pytest.param(
        """\
        version: 1
        budgets:
          **:
            time: 1s
        """,
        "budgets.yml:3: not valid YAML: …'*' (quote test patterns in YAML: write \"**\": instead of **:)",
        id="unquoted-double-star",
    ),
    pytest.param(
        """\
        version: 1
        budgets:
          *:
            time: 1s
        """,
        'budgets.yml:3: not valid YAML: … (quote test patterns in YAML: write "*": instead of *:)',
        id="unquoted-star",
    ),
    pytest.param(
        """\
        version: 1
        budget:
          "**": {time: 1s}
        """,
        "budgets.yml:2: unknown top-level key 'budget' (did you mean 'budgets'?)",
        id="unknown-top-level-key",
    ),
    pytest.param(
        """\
        version: 1
        budgets:
          "**":
            queries: three
        """,
        "budgets.yml:4: 'queries': expected a whole number, got str 'three'",
        id="count-as-word",
    ),
    pytest.param(
        """\
        version: 1
        budgets:
          "**":
            queries: 2.5
        """,
        "budgets.yml:4: 'queries': expected a whole number…",
        id="count-as-float",
    ),
    pytest.param(
        """\
        version: 1
        budgets:
          "**":
            queries: true
        """,
        "budgets.yml:4: 'queries': expected a whole number…",
        id="count-as-bool",
    ),
    pytest.param(
        """\
        version: 1
        budgets:
          "**":
            time: [1s, 2s]
        """,
        "budgets.yml:4: 'time': …",
        id="time-as-list",
    ),
    pytest.param(
        """\
        version: 1
        budgets:
          "**":
            memory: {max: 1MB}
        """,
        "budgets.yml:4: 'memory' takes one value, not a mapping of statistics",
        id="statistics-on-memory",
    ),
    pytest.param(
        """\
        version: 1
        budgets:
          "**":
            time: {p96: 1s}
        """,
        "budgets.yml:4: 'time' p96: unknown statistic 'p96'…",
        id="unknown-statistic",
    ),
    pytest.param(
        """\
        version: 1
        budgets:
          "**":
            time: -1s
        """,
        "budgets.yml:4: 'time': a time must not be negative, got '-1s'",
        id="negative-time",
    ),
    pytest.param(
        """\
        version: 1
        budgets:
          "**":
            queries: -1
        """,
        "budgets.yml:4: 'queries': …negative…",
        id="negative-count",
    ),
    pytest.param(
        """\
        version: 1
        budgets:
          "**":
            memory: -20MB
        """,
        "budgets.yml:4: 'memory': …negative…",
        id="negative-memory",
    ),
    pytest.param(
        """\
        version: 1
        settings:
          retries: -1
        """,
        "budgets.yml:3: 'retries': …negative…",
        id="negative-setting",
    ),
    pytest.param(
        """\
        version: 1
        budgets:
          "**":
            time: 5sec
        """,
        "budgets.yml:4: 'time': unknown time unit 'sec' (did you mean 's'?)",
        id="bad-time-unit",
    ),
    pytest.param(
        """\
        version: 1
        budgets:
          "**":
            memory: 20Mb
        """,
        "budgets.yml:4: 'memory': unknown memory unit 'Mb'…",
        id="bad-memory-unit",
    ),
    pytest.param(
        """\
        version: 1
        budgets:
          "**":
            leak: 1 ms
        """,
        "budgets.yml:4: 'leak': unknown memory unit 'ms'…",
        id="leak-in-time-units",
    ),
    pytest.param(
        """\
        version: 1
        budgets:
          "**":
            leak: -1kB
        """,
        "budgets.yml:4: 'leak': a memory size must not be negative, got '-1kB'",
        id="negative-leak",
    ),
    pytest.param(
        """\
        version: 1
        budgets:
          "**":
            leak: {p95: 1kB}
        """,
        "budgets.yml:4: 'leak' takes one value, not a mapping of statistics",
        id="statistics-on-leak",
    ),
    pytest.param(
        """\
        version: 1
        budgets:
          "**":
            laek: 1kB
        """,
        "budgets.yml:4: unknown metric 'laek' (did you mean 'leak'?)",
        id="leak-typo",
    ),
    pytest.param(
        """\
        version: 1
        settings:
          tolerance:
            leak: 5ms
        """,
        "budgets.yml:4: tolerance for 'leak': unknown memory unit 'ms'…",
        id="leak-tolerance-in-time-units",
    ),
    pytest.param(
        """\
        version: 1
        budgets:
          "**":
            throughput: 5000 ops
        """,
        "budgets.yml:4: 'throughput': cannot read throughput '5000 ops' (write it as '5000/s')",
        id="bad-rate",
    ),
    pytest.param(
        """\
        version: 1
        budgets:
          "**":
            level: fatal
        """,
        "budgets.yml:4: 'level': …'fatal'…",
        id="bad-level",
    ),
    pytest.param(
        """\
        version: 1
        settings:
          rounds: 0
        """,
        "budgets.yml:3: 'rounds': must be at least 1, got 0",
        id="zero-rounds",
    ),
    pytest.param(
        """\
        version: 1
        settings:
          rounds: 100000000000000000000
        """,
        "budgets.yml:3: 'rounds': must be at most 10000, got 100000000000000000000",
        id="endless-rounds",
    ),
    pytest.param(
        """\
        version: 1
        budgets:
          "**":
            warmup: 10001
        """,
        "budgets.yml:4: 'warmup': must be at most 10000, got 10001",
        id="endless-warmup",
    ),
    pytest.param(
        """\
        version: 1
        settings:
          retries: 1000
        """,
        "budgets.yml:3: 'retries': must be at most 100, got 1000",
        id="endless-retries",
    ),
    pytest.param(
        """\
        version: 1
        budgets:
          "**":
            time: 1e308min
        """,
        "budgets.yml:4: 'time': a time is too large, got 1e308min",
        id="infinite-time",
    ),
    pytest.param(
        """\
        version: 1
        budgets:
          "**":
            memory: 1e308GB
        """,
        "budgets.yml:4: 'memory': a memory size is too large, got 1e308GB",
        id="infinite-memory",
    ),
    pytest.param(
        """\
        version: 1
        settings:
          tolerance:
            tiem: 20%
        """,
        "budgets.yml:4: unknown metric 'tiem' in tolerance (did you mean 'time'?)",
        id="bad-tolerance",
    ),
    pytest.param(
        """\
        version: 1
        budgets:
          "**":
            time: 1s
            time: 2s
        """,
        "budgets.yml:5: duplicate key 'time' (first on line 4)",
        id="duplicate-metric",
    ),
    pytest.param(
        """\
        version: 1
        budgets:
          "tests/a.py":
            time: 1s
          "tests/b.py":
            time: 1s
          "tests/a.py":
            time: 2s
        """,
        "budgets.yml:7: duplicate key 'tests/a.py' (first on line 3)",
        id="duplicate-pattern",
    ),
    pytest.param(
        """\
        version: 1
        version: 1
        """,
        "budgets.yml:2: duplicate key 'version' (first on line 1)",
        id="duplicate-top-level",
    ),
    pytest.param(
        """\
        version: 2
        budgets: {}
        """,
        "budgets.yml:1: unsupported version 2…",
        id="version-2",
    ),
    pytest.param("version: '2'\n", "budgets.yml:1: unsupported version '2'…", id="version-2-as-string"),
    pytest.param("version: true\n", "budgets.yml:1: unsupported version…", id="version-as-bool"),
    pytest.param("version: 1.0\n", "budgets.yml:1: unsupported version 1.0…", id="version-as-float"),
    pytest.param(
        """\
        budgets:
          "**": {time: 1s}
        """,
        "budgets.yml:1: missing 'version: 1'",
        id="missing-version",
    ),
    pytest.param(
        """\
        version: 1
        budgets: [
        """,
        "budgets.yml:…: not valid YAML: …",
        id="invalid-yaml",
    ),
    pytest.param(
        """\
        version: 1
        budgets:
          "**": {time: 1s
        """,
        "budgets.yml:…: not valid YAML: …",
        id="unclosed-flow-mapping",
    ),
    pytest.param(
        "- version: 1\n",
        "budgets.yml:1: the top level must be a mapping…",
        id="top-level-list",
    ),
    pytest.param("just words\n", "budgets.yml:1: the top level must be a mapping…", id="top-level-scalar"),
    pytest.param(
        """\
        version: 1
        settings: [rounds, 3]
        """,
        "budgets.yml:2: 'settings' must be a mapping",
        id="settings-not-mapping",
    ),
    pytest.param(
        """\
        version: 1
        budgets:
          - "**"
        """,
        "budgets.yml:2: 'budgets' must be a mapping of test patterns to limits",
        id="budgets-not-mapping",
    ),
    pytest.param(
        """\
        version: 1
        budgets:
          "**": 2s
        """,
        "budgets.yml:3: the budget for '**' must be a mapping of metrics to limits",
        id="entry-not-mapping",
    ),
    pytest.param(
        """\
        version: 1
        budgets:
          "": {time: 1s}
        """,
        "budgets.yml:3: a pattern must be a non-empty string…",
        id="empty-pattern",
    ),
    pytest.param(
        """\
        version: 1
        budgets:
          ? [a, b]
          : {time: 1s}
        """,
        "budgets.yml:3: …",
        id="non-scalar-key",
    ),
]


@pytest.mark.parametrize(("text", "message"), ERRORS)
def test_errors(text: str, message: str) -> None:
    with pytest.raises(BudgetFileError) as caught:
        parse(text)
    error = str(caught.value)
    pattern = ".*".join(re.escape(part) for part in message.split("…"))
    assert re.fullmatch(pattern, error), f"{error!r} does not match {message!r}"


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_an_empty_file(text: str) -> None:
    with pytest.raises(BudgetFileError) as caught:
        parse(text)
    assert re.fullmatch(r"budgets\.yml(:1)?: the file is empty.*", str(caught.value))


@pytest.mark.parametrize(
    "text",
    [
        # a scalar tag
        "version: 1\nbudgets:\n  '**':\n    time: !!python/name:os.system ''\n",
        # a tag on a sequence: apply a function to arguments
        "version: 1\nbudgets:\n  '**':\n    time: !!python/object/apply:builtins.exec [\"open('{marker}', 'w')\"]\n",
        # a tag on a mapping: build an object from its state
        "version: 1\nbudgets: !!python/object/apply:builtins.exec\n  args: [\"open('{marker}', 'w')\"]\n",
        "version: 1\nbudgets: !!python/object:argparse.Namespace\n  '**': {{time: 1s}}\n",
    ],
    ids=["name", "apply-sequence", "apply-mapping", "object-mapping"],
)
def test_python_tags_are_refused_and_never_executed(text: str, tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    with pytest.raises(BudgetFileError) as caught:
        parse(text.format(marker=marker))
    assert re.match(r"budgets\.yml:[2-4]: ", str(caught.value)), str(caught.value)
    assert not marker.exists()


@pytest.mark.parametrize(
    "text",
    [
        "version: !!int abc\n",
        "version: !!float abc\n",
        "version: !!bool maybe\n",
        "version: !!timestamp yesterday\n",
        "version: 1\nbudgets:\n  '**':\n    time: !!int 1s\n",
    ],
    ids=["int", "float", "bool", "timestamp", "int-time"],
)
def test_a_bad_explicit_tag_is_a_budget_file_error(text: str) -> None:
    with pytest.raises(BudgetFileError, match=r"^budgets\.yml:\d+: "):
        parse(text)


@pytest.mark.parametrize(
    "text",
    [
        "version: 1\nbudgets: &a {x: *a}\n",
        "version: 1\nsettings:\n  n_plus_one_ignore: &a [*a]\n",
    ],
    ids=["mapping", "sequence"],
)
def test_a_recursive_alias_is_a_budget_file_error(text: str) -> None:
    with pytest.raises(BudgetFileError, match=r"^budgets\.yml(:\d+)?: "):
        parse(text)


@pytest.mark.parametrize(
    ("metric", "value"), [("memory", "9" * 400), ("time", "9" * 400), ("throughput", "9" * 400)]
)
def test_a_huge_number_is_a_budget_file_error(metric: str, value: str) -> None:
    with pytest.raises(BudgetFileError, match=rf"^budgets\.yml:4: '{metric}': "):
        parse(f"version: 1\nbudgets:\n  '**':\n    {metric}: {value}\n")


@pytest.mark.parametrize(
    "text",
    ["version: 1\x1f\n", "version: 1\nbudgets:\n  '**': {time: \x00}\n"],
    ids=["unit-separator", "nul"],
)
def test_a_control_character_is_a_budget_file_error(text: str) -> None:
    with pytest.raises(BudgetFileError, match=r"^budgets\.yml(:\d+)?: not valid YAML"):
        parse(text)


@pytest.mark.parametrize(
    ("opening", "closing"),
    [("[", "]"), ("{a: ", "}"), ("- ", "")],
    ids=["flow-sequences", "flow-mappings", "block-sequences"],
)
def test_deep_nesting_is_a_budget_file_error(opening: str, closing: str) -> None:
    """Thousands of levels used to exhaust the recursion limit of the YAML composer."""
    nested = opening * 5000 + "1" + closing * 5000 if closing else "\n    " + opening * 200 + "1"
    with pytest.raises(BudgetFileError, match=r"^budgets\.yml:\d+: .*(nest|depth)"):
        parse(f"version: 1\nsettings:\n  n_plus_one_ignore: {nested}\n")


def test_a_billion_laughs_file_is_refused() -> None:
    """Ten aliases per level over nine levels would expand to a billion values."""
    levels = ['    - &l0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    levels += [f"    - &l{n} [{', '.join([f'*l{n - 1}'] * 10)}]" for n in range(1, 10)]
    text = "version: 1\nsettings:\n  n_plus_one_ignore:\n" + "\n".join(levels) + "\n"
    with pytest.raises(BudgetFileError, match=r"^budgets\.yml:\d+: aliases expand the file to more than"):
        parse(text)


def test_a_large_file_of_plain_entries_is_read() -> None:
    """50,000 entries hold more than 100,000 values, none of them from an alias."""
    lines = [f'  "tests/test_{n}.py::test_{n}": {{time: 200ms, queries: 3}}' for n in range(50_000)]
    parsed = parse("version: 1\nbudgets:\n" + "\n".join(lines) + "\n")
    assert len(parsed.entries) == 50_000
    assert parsed.entries[-1].line == 50_002


def test_a_large_file_may_repeat_an_alias_on_every_entry() -> None:
    lines = [f'  "tests/test_{n}.py": *defaults' for n in range(40_000)]
    text = "version: 1\nbudgets:\n  tests: &defaults {time: 1s, queries: 3}\n" + "\n".join(lines) + "\n"
    parsed = parse(text)
    assert len(parsed.entries) == 40_001
    assert parsed.entries[-1].fields.limits["queries"][0].value == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "version: 1\nbudgets:\n  a: &x {time: 1s}\n  b: &x {time: 2s}\n",
            "budgets.yml:4: duplicate anchor 'x'",
        ),
        ("version: 1\nbudgets:\n  a: *nowhere\n", "budgets.yml:3: undefined alias '*nowhere'"),
        ("version: 1\nbudgets:\n  a: &x {time: 1s}\n  *x : {time: 2s}\n", "budgets.yml:4: keys must be …"),
        ("version: 1\n---\nversion: 1\n", "budgets.yml:…: not valid YAML: expected a single document…"),
    ],
    ids=["duplicate-anchor", "undefined-alias", "collection-alias-as-key", "two-documents"],
)
def test_alias_and_document_errors(text: str, message: str) -> None:
    with pytest.raises(BudgetFileError) as caught:
        parse(text)
    pattern = ".*".join(re.escape(part) for part in message.split("…"))
    assert re.fullmatch(pattern, str(caught.value)), str(caught.value)


def test_aliases_to_plain_values_work() -> None:
    parsed = parse(
        """\
        version: 1
        budgets:
          "tests/a.py": {time: &slow 3s}
          "tests/b.py": {time: *slow}
        """
    )
    assert [entry.fields.limits["time"][0].value for entry in parsed.entries] == [3.0, 3.0]


# --- never anything but a BudgetFile or a BudgetFileError -------------------------------

TOKENS = [
    "version",
    "settings",
    "budgets",
    "rounds",
    "warmup",
    "retries",
    "statistic",
    "tolerance",
    "level",
    "time",
    "memory",
    "queries",
    "throughput",
    "n_plus_one_ignore",
    "p95",
    "median",
    ":",
    ": ",
    " ",
    "  ",
    "\n",
    "\n  ",
    "\n    ",
    "- ",
    "{",
    "}",
    "[",
    "]",
    ",",
    "'",
    '"',
    "#",
    "? ",
    "&a ",
    "*a",
    "!!int ",
    "!!float ",
    "!!bool ",
    "!!str ",
    "!!timestamp ",
    "!!binary ",
    "!!set ",
    "!!omap ",
    "!!python/object/apply:os.system ",
    "!foo ",
    "<<: ",
    "~",
    "1",
    "-1",
    "0",
    "1.5",
    "2s",
    "200ms",
    "20MB",
    "5000/s",
    "20%",
    "1e400",
    "9" * 30,
    ".nan",
    ".inf",
    "true",
    "**",
    "tests/a.py::test_x[1]",
    "µs",
    "\t",
    "---",
    "...",
    "%YAML 1.1\n",
]

yaml_ish = st.lists(st.sampled_from(TOKENS) | st.text(max_size=3), max_size=40).map("".join)

KEYS = ["version", "settings", "budgets", "rounds", "time", "memory", "queries", "tolerance", "**", "x"]
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.just(10**400)
    | st.floats()
    | st.sampled_from(["1s", "-1s", "20MB", "5000/s", "20%", "median", "p95", "warn", "", "1", "9" * 400])
    | st.text(max_size=5)
)
structures = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=3), children, max_size=4)
    ),
    max_leaves=20,
)
documents = structures | st.fixed_dictionaries(
    {"version": st.sampled_from([1, 2, "1", 1.0]) | scalars},
    optional={"settings": structures, "budgets": st.dictionaries(st.sampled_from(KEYS), structures)},
)

FUZZ = settings(
    max_examples=200,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


def parses_or_refuses(text: str) -> None:
    """A BudgetFile, or a BudgetFileError that names the file; any other exception fails."""
    try:
        result: object = budget_file.parse(text, "budgets.yml")
    except BudgetFileError as error:
        result = error
    if isinstance(result, BudgetFileError):
        assert str(result).startswith("budgets.yml")
    else:
        assert isinstance(result, BudgetFile)


@FUZZ
@given(yaml_ish)
def test_random_text_is_parsed_or_refused(text: str) -> None:
    parses_or_refuses(text)


@FUZZ
@given(documents)
def test_random_structures_are_parsed_or_refused(document: object) -> None:
    parses_or_refuses(yaml.safe_dump(document, allow_unicode=True))


# --- warnings ----------------------------------------------------------------------------


def test_a_bare_time_of_ten_or_more_is_accepted_with_a_warning() -> None:
    parsed = parse(
        """\
        version: 1
        settings:
          noise_floor: 0.002
          tolerance: {time: 20%, sql_time: 50}
        budgets:
          "**":
            time: 100
            cpu: {p95: 12.5, max: 2s}
            sql_time: 9.5
        """
    )
    assert parsed.entries[0].fields.limits["time"][0].value == 100
    assert parsed.warnings == (
        "budgets.yml:4: tolerance sql_time: 50 is 50 seconds (a bare number is seconds); "
        "write 50ms if you meant milliseconds",
        "budgets.yml:7: time: 100 is 100 seconds (a bare number is seconds); write 100ms if you meant milliseconds",
        "budgets.yml:8: cpu p95: 12.5 is 12.5 seconds (a bare number is seconds); "
        "write 12.5ms if you meant milliseconds",
    )


def test_times_with_units_and_counts_give_no_warning() -> None:
    parsed = parse(
        """\
        version: 1
        settings:
          rounds: 20
        budgets:
          "**": {time: 100s, cpu: 100ms, queries: 50, memory: 100}
        """
    )
    assert parsed.warnings == ()


def test_files_combined_keep_entries_in_order_and_later_settings_win() -> None:
    first = parse(
        "version: 1\nsettings:\n  rounds: 2\n  tolerance: {time: 5%, queries: 1}\nbudgets:\n  '**': {time: 1s}\n"
    )
    second = budget_file.parse(
        "version: 1\nsettings:\n  rounds: 3\n  tolerance: {time: 10%}\nbudgets:\n  '**': {time: 2s}\n",
        "b.yml",
    )
    combined = budget_file.combine([first, second])
    assert [entry.fields.limits["time"][0].source for entry in combined.entries] == [
        "budgets.yml:6",
        "b.yml:6",
    ]
    assert combined.settings.rounds == 3
    assert combined.settings.tolerance["time"] == Tolerance(relative=0.1)
    assert combined.settings.tolerance["queries"] == Tolerance(absolute=1)
    assert combined.setting_overrides["tolerance"] == {
        "time": Tolerance(relative=0.1),
        "queries": Tolerance(absolute=1),
    }
    assert limits_of(combined, "tests/test_x.py::test_a")["time"][1] == "b.yml:6"
