"""The budget file's YAML kept in pytest's cache: same budgets and messages, PyYAML not imported."""

from __future__ import annotations

import datetime
import json

import pytest
from perf_helpers import output

from pytest_perfbudget.budget_cache import CACHE_KEY, _decode, _encode

# The inner runs keep pytest's cache on (the Runner of the other tests turns it off).
ARGS = ("-p", "no:hypothesispytest", "-p", "no:randomly", "--perf-budget", "budgets.yml")

GOOD = """\
version: 1
budgets:
  "**":
    queries: 5
"""

UNKNOWN_METRIC = """\
version: 1
budgets:
  "**":
    querys: 5
"""


def cache_file(pytester: pytest.Pytester) -> str:
    return str(pytester.path / ".pytest_cache" / "v" / CACHE_KEY)


def test_a_run_with_an_unchanged_budget_file_does_not_import_pyyaml(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yml", budgets=GOOD)
    pytester.makepyfile(test_a="def test_a():\n    pass\n")
    pytester.makeconftest(
        """
        import sys

        def pytest_unconfigure(config):
            print("yaml imported:", "yaml" in sys.modules)
        """
    )
    first = pytester.runpytest_subprocess(*ARGS, "-s")
    second = pytester.runpytest_subprocess(*ARGS, "-s")
    first.assert_outcomes(passed=1)
    second.assert_outcomes(passed=1)
    first.stdout.fnmatch_lines(["*yaml imported: True*"])
    second.stdout.fnmatch_lines(["*yaml imported: False*"])


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_an_edited_budget_file_is_read_again(pytester: pytest.Pytester, workers: tuple[str, ...]) -> None:
    budgets = pytester.makefile(".yml", budgets=GOOD)
    pytester.makepyfile(test_a="def test_a():\n    pass\n")
    pytester.runpytest(*ARGS, *workers).assert_outcomes(passed=1)
    budgets.write_text(UNKNOWN_METRIC, encoding="utf-8")
    result = pytester.runpytest(*ARGS, *workers)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "budgets.yml:4: unknown metric 'querys'" in output(result)


def test_messages_and_lines_are_the_same_from_the_cache(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yml", budgets="version: 1\nsettings:\n  rounds: 1\n  retrys: 2\n")
    pytester.makepyfile(test_a="def test_a():\n    pass\n")
    first = pytester.runpytest(*ARGS)
    assert (pytester.path / cache_file(pytester)).exists(), "valid YAML is cached, however it validates"
    second = pytester.runpytest(*ARGS)
    messages = [
        [line for line in output(run).splitlines() if "budgets.yml" in line] for run in (first, second)
    ]
    assert messages[0] == messages[1]
    assert any("budgets.yml:4: unknown setting 'retrys'" in line for line in messages[0]), messages


def test_an_unreadable_cache_entry_is_ignored(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yml", budgets=GOOD)
    pytester.makepyfile(test_a="def test_a():\n    pass\n")
    pytester.runpytest(*ARGS).assert_outcomes(passed=1)
    stored = json.loads((pytester.path / cache_file(pytester)).read_text(encoding="utf-8"))
    (entry,) = stored["files"].values()
    entry["document"] = [{"mapping": "not pairs"}, 1]
    (pytester.path / cache_file(pytester)).write_text(json.dumps(stored), encoding="utf-8")
    pytester.runpytest(*ARGS, "--perf-report", "out.json").assert_outcomes(passed=1)
    report = json.loads((pytester.path / "out.json").read_text(encoding="utf-8"))
    assert report["tests"][0]["budgets"]["queries"]["limit"] == 5


def test_without_pytest_cache_the_file_is_read_every_time(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yml", budgets=GOOD)
    pytester.makepyfile(test_a="def test_a():\n    pass\n")
    pytester.runpytest(*ARGS, "-p", "no:cacheprovider").assert_outcomes(passed=1)
    assert not (pytester.path / ".pytest_cache").exists()


def test_encoding_keeps_order_key_types_and_lines() -> None:
    document = (
        {
            "version": (1, 1),
            "budgets": ({"b/**": ({"time": ("1s", 4)}, 3), 7: ([(True, 6), (None, 7), (1.5, 8)], 5)}, 2),
        },
        1,
    )
    decoded = _decode(json.loads(json.dumps(_encode(document))))
    assert decoded == document
    assert list(decoded[0]["budgets"][0]) == ["b/**", 7]


def test_values_json_cannot_carry_are_not_cached() -> None:
    assert _encode(({"when": (datetime.date(2026, 1, 1), 2)}, 1)) is None
    assert _encode(({"data": ([(b"raw", 3)], 2)}, 1)) is None
