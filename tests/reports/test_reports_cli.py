"""``perfbudget compare``, ``merge``, ``report`` and ``init``, end to end through ``cli.main``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from report_samples import assert_golden, make_after, make_before, record, write_json

from pytest_perfbudget import budget_file
from pytest_perfbudget.cli import main
from pytest_perfbudget.reports.json_report import document, summarize

Capture = pytest.CaptureFixture[str]


def run(capsys: Capture, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("error: ")
    return lines[0]


# --- help and exit codes -----------------------------------------------------------------


@pytest.mark.parametrize("command", ["compare", "merge", "report", "init", "check"])
def test_every_command_has_help(capsys: Capture, command: str) -> None:
    status, out, _ = run(capsys, command, "--help")
    assert status == 0
    assert f"usage: perfbudget {command}" in out
    if command != "check":
        assert "exit status:" in out


def test_unknown_command(capsys: Capture) -> None:
    status, _, err = run(capsys, "frobnicate")
    assert status == 2
    assert "invalid choice" in err


# --- compare -----------------------------------------------------------------------------


def test_compare_as_text(capsys: Capture, reports: dict[str, Path]) -> None:
    status, out, err = run(capsys, "compare", str(reports["before"]), str(reports["after"]))
    assert (status, err) == (0, "")
    assert_golden("compare.txt", out.replace(str(reports["before"]), "before.json"))


def test_compare_as_markdown_has_full_evidence(capsys: Capture, reports: dict[str, Path]) -> None:
    status, out, _ = run(capsys, "compare", str(reports["before"]), str(reports["after"]), "--format", "md")
    assert status == 0
    assert out.startswith(
        "## Performance budget\n\n❌ **1 test over budget, 2 regressed, 1 improved, 2 warnings**"
    )
    assert "| Time p95 | 11.8ms | 19.4ms | -64.4% |" in out  # the baseline report gives p95 before


def test_compare_as_json_to_a_file(capsys: Capture, reports: dict[str, Path], tmp_path: Path) -> None:
    output = tmp_path / "out" / "compared.json"
    status, out, _ = run(
        capsys,
        "compare",
        str(reports["before"]),
        str(reports["after"]),
        "--format",
        "json",
        "-o",
        str(output),
    )
    assert (status, out) == (0, "")
    compared = json.loads(output.read_text(encoding="utf-8"))
    assert compared["summary"] == summarize(compared["tests"], 1)
    assert compared["summary"]["regressed"] == 2
    assert compared["baseline"]["new"] == ["tests/test_new.py::test_new"]
    assert compared["baseline"]["vanished"] == ["tests/test_old.py::test_gone"]
    assert not list(output.parent.glob(".*.tmp"))


def test_compare_as_html(capsys: Capture, reports: dict[str, Path]) -> None:
    status, out, _ = run(capsys, "compare", str(reports["before"]), str(reports["after"]), "--format", "html")
    assert status == 0
    assert out.startswith("<!DOCTYPE html>")


def test_fail_on_regression(capsys: Capture, reports: dict[str, Path]) -> None:
    args = ("compare", str(reports["before"]), str(reports["after"]), "--fail-on-regression")
    assert run(capsys, *args)[0] == 1
    assert (
        run(capsys, "compare", str(reports["before"]), str(reports["before"]), "--fail-on-regression")[0] == 0
    )


def test_tolerances_decide_what_regressed(capsys: Capture, reports: dict[str, Path]) -> None:
    args = [
        "compare",
        str(reports["before"]),
        str(reports["after"]),
        "--fail-on-regression",
        "--format",
        "json",
    ]
    status, out, _ = run(capsys, *args, "--tolerance", "time=80%", "--tolerance", "queries=100")
    assert status == 0
    assert json.loads(out)["summary"]["regressed"] == 0
    status, out, _ = run(
        capsys, *args, "--tolerance", "time=80%", "--tolerance", "queries=100", "--tolerance", "cpu=1ms"
    )
    assert status == 1
    regressed = [
        t for t in json.loads(out)["tests"] if any(v["kind"] == "regression" for v in t["violations"])
    ]
    assert [t["nodeid"] for t in regressed] == [
        "tests/test_orders.py::test_checkout",
        "tests/test_orders.py::test_list_orders",
    ]


def test_noise_floor(capsys: Capture, reports: dict[str, Path]) -> None:
    args = ["compare", str(reports["before"]), str(reports["after"]), "--format", "json"]
    status, out, _ = run(capsys, *args, "--noise-floor", "10ms")
    assert status == 0
    checkout = next(t for t in json.loads(out)["tests"] if t["nodeid"].endswith("test_checkout"))
    assert "regressed" not in checkout["baseline"]["time"]  # 6ms slower, under the 10ms floor


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--tolerance", "tiem=20%"], "unknown metric 'tiem' (did you mean 'time'?)"),
        (["--tolerance", "time"], "expected METRIC=ALLOWANCE"),
        (["--tolerance", "time=fast"], "tolerance for 'time'"),
        (["--noise-floor", "1 parsec"], "unknown time unit"),
        (["--format", "pdf"], "invalid choice"),
    ],
)
def test_bad_compare_arguments(
    capsys: Capture, reports: dict[str, Path], option: list[str], message: str
) -> None:
    status, _, err = run(capsys, "compare", str(reports["before"]), str(reports["after"]), *option)
    assert status == 2
    assert message in err


def test_a_missing_report(capsys: Capture, reports: dict[str, Path], tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    status, out, err = run(capsys, "compare", str(missing), str(reports["after"]))
    assert (status, out) == (3, "")
    assert one_error_line(err) == f"error: {missing}: baseline report file not found"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", ":1: not valid JSON"),
        ('{"tests": []}', "not a pytest-perfbudget JSON report"),
        ('{"schema": "pytest-perfbudget/1", "tests": [{}]}', "malformed report"),
        ("\udcff", "cannot read"),
    ],
)
def test_a_malformed_report(
    capsys: Capture, reports: dict[str, Path], tmp_path: Path, content: str, message: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(content.encode("utf-8", "surrogateescape"))
    status, _, err = run(capsys, "compare", str(reports["before"]), str(bad))
    assert status == 3
    line = one_error_line(err)
    assert line.startswith(f"error: {bad}")
    assert message in line


@pytest.mark.parametrize("command", ["compare", "report", "init"])
def test_a_record_that_lacks_a_field(
    capsys: Capture, reports: dict[str, Path], tmp_path: Path, command: str
) -> None:
    broken = make_after()
    broken["tests"][0]["violations"] = [{"metric": "time"}]  # no limit, no actual
    broken["tests"][0]["metrics"] = ["not", "a", "mapping"]
    path = write_json(tmp_path / "broken.json", broken)
    argv = {
        "compare": ["compare", str(reports["before"]), str(path), "--format", "md"],
        "report": ["report", str(path), "-o", str(tmp_path / "r.md")],
        "init": ["init", str(path), "-o", str(tmp_path / "b.yml")],
    }[command]
    status, _, err = run(capsys, *argv)
    assert status == 3
    assert "malformed report" in one_error_line(err)


def test_an_unwritable_output(capsys: Capture, reports: dict[str, Path], tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    status, _, err = run(
        capsys, "compare", str(reports["before"]), str(reports["after"]), "-o", str(blocker / "x.md")
    )
    assert status == 3
    assert one_error_line(err).startswith(f"error: {blocker / 'x.md'}: cannot write")


# --- merge -------------------------------------------------------------------------------


def _shards(tmp_path: Path) -> list[Path]:
    tests = make_after()["tests"]
    environment = {"python": "3.12.4", "workers": 2}
    stale = "stale budget: pattern 'tests/a/**' matches no collected test"
    everywhere = "stale budget: pattern 'tests/gone/**' matches no collected test"
    return [
        write_json(tmp_path / "shard-1.json", document(environment, tests[:2], [stale, everywhere])),
        write_json(
            tmp_path / "shard-2.json", document({**environment, "python": "3.13.0"}, tests[2:4], [everywhere])
        ),
        write_json(
            tmp_path / "shard-3.json", document({**environment, "workers": 0}, tests[4:], [everywhere])
        ),
    ]


def test_merge(capsys: Capture, tmp_path: Path) -> None:
    shards = _shards(tmp_path)
    output = tmp_path / "all.json"
    status, out, err = run(capsys, "merge", *map(str, shards), "-o", str(output))
    assert (status, out) == (0, "")
    assert err.strip() == f"{output}: 6 tests from 3 shards"
    merged = json.loads(output.read_text(encoding="utf-8"))
    expected = make_after()
    assert merged["tests"] == expected["tests"]
    assert merged["environment"] == {"python": "3.12.4", "workers": 4}
    assert merged["warnings"] == ["stale budget: pattern 'tests/gone/**' matches no collected test"]
    assert merged["summary"] == summarize(expected["tests"], 1)
    assert merged["schema"] == "pytest-perfbudget/1"


def test_a_merged_report_is_a_report(capsys: Capture, tmp_path: Path) -> None:
    """It can be merged again, compared and rendered."""
    output = tmp_path / "all.json"
    assert run(capsys, "merge", *map(str, _shards(tmp_path)), "-o", str(output))[0] == 0
    again = tmp_path / "again.json"
    assert run(capsys, "merge", str(output), "-o", str(again))[0] == 0
    assert json.loads(again.read_text(encoding="utf-8")) == json.loads(output.read_text(encoding="utf-8"))
    assert run(capsys, "compare", str(output), str(again), "--fail-on-regression")[0] == 0


def test_merge_refuses_a_test_in_two_shards(capsys: Capture, tmp_path: Path) -> None:
    shards = _shards(tmp_path)
    status, _, err = run(
        capsys, "merge", str(shards[0]), str(shards[1]), str(shards[0]), "-o", str(tmp_path / "all.json")
    )
    assert status == 3
    assert one_error_line(err) == (
        f"error: test 'tests/test_codec.py::test_encode' is in both {shards[0]} and {shards[0]}; "
        "pass --on-conflict first or --on-conflict last to keep one"
    )
    assert not (tmp_path / "all.json").exists()


@pytest.mark.parametrize("choice", ["first", "last"])
def test_merge_on_conflict(capsys: Capture, tmp_path: Path, choice: str) -> None:
    nodeid = "tests/t.py::test_x"
    first = write_json(tmp_path / "a.json", document({}, [record(nodeid, [0.1])], []))
    second = write_json(tmp_path / "b.json", document({}, [record(nodeid, [0.2])], []))
    output = tmp_path / "all.json"
    assert run(capsys, "merge", str(first), str(second), "-o", str(output), "--on-conflict", choice)[0] == 0
    merged = json.loads(output.read_text(encoding="utf-8"))
    assert [test["metrics"]["time"]["median"] for test in merged["tests"]] == [
        0.1 if choice == "first" else 0.2
    ]
    assert merged["summary"]["measured"] == 1


def test_merge_baseline_sections(tmp_path: Path) -> None:
    from pytest_perfbudget.cli import compare_documents
    from pytest_perfbudget.merge import merge

    before, after = make_before(), make_after()
    halves = [
        compare_documents(before, document(after["environment"], after["tests"][:3], []), source="main.json"),
        compare_documents(before, document(after["environment"], after["tests"][3:], []), source="main.json"),
    ]
    merged = merge([("a", halves[0]), ("b", halves[1])])
    whole = compare_documents(before, after, source="main.json")
    assert merged["baseline"] == whole["baseline"]
    assert merged["tests"] == whole["tests"]
    assert merged["summary"] == summarize(whole["tests"], 0)


def test_merge_needs_an_output(capsys: Capture, tmp_path: Path) -> None:
    status, _, err = run(capsys, "merge", *map(str, _shards(tmp_path)))
    assert status == 2
    assert "-o/--output" in err


def test_merge_a_missing_shard(capsys: Capture, tmp_path: Path) -> None:
    status, _, err = run(capsys, "merge", str(tmp_path / "nope.json"), "-o", str(tmp_path / "all.json"))
    assert status == 3
    assert one_error_line(err) == f"error: {tmp_path / 'nope.json'}: shard report file not found"


# --- report ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "start"), [(".md", "## Performance budget"), (".html", "<!DOCTYPE html>"), (".json", "{")]
)
def test_report(capsys: Capture, reports: dict[str, Path], tmp_path: Path, suffix: str, start: str) -> None:
    output = tmp_path / f"report{suffix}"
    assert run(capsys, "report", str(reports["after"]), "-o", str(output)) == (0, "", "")
    assert output.read_text(encoding="utf-8").startswith(start)


def test_report_help_names_every_format(capsys: Capture) -> None:
    assert main(["report", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "Markdown (.md), HTML (.html) or JSON (.json)" in text
    assert "FILE.md, FILE.html or FILE.json" in text


def test_report_markdown_limit(capsys: Capture, reports: dict[str, Path], tmp_path: Path) -> None:
    output = tmp_path / "report.md"
    assert run(capsys, "report", str(reports["after"]), "-o", str(output), "--limit", "600")[0] == 0
    assert len(output.read_text(encoding="utf-8")) <= 600


def test_report_with_the_baseline_report(capsys: Capture, reports: dict[str, Path], tmp_path: Path) -> None:
    compared = tmp_path / "compared.json"
    run(
        capsys,
        "compare",
        str(reports["before"]),
        str(reports["after"]),
        "--format",
        "json",
        "-o",
        str(compared),
    )
    alone, full = tmp_path / "alone.md", tmp_path / "full.md"
    assert run(capsys, "report", str(compared), "-o", str(alone))[0] == 0
    assert run(capsys, "report", str(compared), "-o", str(full), "--baseline", str(reports["before"]))[0] == 0
    assert "| Time p95 | — | 19.4ms | n/a |" in alone.read_text(encoding="utf-8")
    assert "| Time p95 | 11.8ms | 19.4ms | -64.4% |" in full.read_text(encoding="utf-8")


def test_report_an_unknown_suffix(capsys: Capture, reports: dict[str, Path], tmp_path: Path) -> None:
    status, _, err = run(capsys, "report", str(reports["after"]), "-o", str(tmp_path / "report.pdf"))
    assert status == 2
    assert "use .md, .html or .json" in one_error_line(err)


def test_report_a_missing_run(capsys: Capture, tmp_path: Path) -> None:
    status, _, err = run(capsys, "report", str(tmp_path / "run.json"), "-o", str(tmp_path / "r.md"))
    assert status == 3
    assert one_error_line(err) == f"error: {tmp_path / 'run.json'}: report file not found"


def test_report_keeps_the_previous_file_on_failure(capsys: Capture, tmp_path: Path) -> None:
    output = tmp_path / "r.md"
    output.write_text("previous", encoding="utf-8")
    bad = tmp_path / "bad.json"
    bad.write_text("[]", encoding="utf-8")
    assert run(capsys, "report", str(bad), "-o", str(output))[0] == 3
    assert output.read_text(encoding="utf-8") == "previous"


# --- init --------------------------------------------------------------------------------


def test_init(capsys: Capture, reports: dict[str, Path], tmp_path: Path) -> None:
    output = tmp_path / "budgets.yml"
    status, out, err = run(capsys, "init", str(reports["after"]), "-o", str(output))
    assert (status, out) == (0, "")
    assert err.strip() == f"{output}: budgets for 6 tests"
    text = output.read_text(encoding="utf-8")
    assert_golden("init.yml", text.replace(str(reports["after"]), "after.json"))
    assert run(capsys, "check", str(output)) == (0, f"{output}: ok (6 patterns)\n", "")


def test_init_budgets_apply_to_their_tests(capsys: Capture, reports: dict[str, Path], tmp_path: Path) -> None:
    output = tmp_path / "budgets.yml"
    run(capsys, "init", str(reports["after"]), "-o", str(output), "--headroom", "50%")
    loaded = budget_file.load(output)
    limits = {entry.pattern: entry.fields.limits for entry in loaded.entries}
    export = limits["tests/test_reports.py::test_export"]
    assert export["time"][0].value == pytest.approx(1.8)  # 1.2s + 50%
    assert export["memory"][0].value == 45_000_000  # 30MB + 50%
    assert export["queries"][0].value == 1
    # 52 queries, 50 of them from one N+1: the budget does not bless it.
    list_orders = limits["tests/test_orders.py::test_list_orders"]
    assert (list_orders["queries"][0].value, list_orders["n_plus_one"][0].value) == (3, 0)
    assert limits["tests/test_new.py::test_new"]["time"][0].value == pytest.approx(0.001)  # the floor


def test_init_without_sql_writes_no_query_budgets(capsys: Capture, tmp_path: Path) -> None:
    run_json = write_json(tmp_path / "run.json", document({}, [record("t.py::test_x", [0.0123])], []))
    output = tmp_path / "budgets.yml"
    assert run(capsys, "init", str(run_json), "-o", str(output))[0] == 0
    text = output.read_text(encoding="utf-8")
    assert 'budgets:\n  "t.py::test_x":\n    time: 19ms\n' in text
    assert "queries" not in text.split("version: 1")[1]


def test_init_of_an_empty_run(capsys: Capture, tmp_path: Path) -> None:
    run_json = write_json(tmp_path / "run.json", document({}, [], []))
    output = tmp_path / "budgets.yml"
    assert run(capsys, "init", str(run_json), "-o", str(output))[0] == 0
    assert output.read_text(encoding="utf-8").endswith("version: 1\nbudgets: {}\n")
    assert budget_file.load(output).entries == ()


def test_init_refuses_to_overwrite(capsys: Capture, reports: dict[str, Path], tmp_path: Path) -> None:
    output = tmp_path / "budgets.yml"
    output.write_text("mine\n", encoding="utf-8")
    status, _, err = run(capsys, "init", str(reports["after"]), "-o", str(output))
    assert status == 2
    assert one_error_line(err) == f"error: {output}: already exists; pass --force to replace it"
    assert output.read_text(encoding="utf-8") == "mine\n"
    assert run(capsys, "init", str(reports["after"]), "-o", str(output), "--force")[0] == 0
    assert output.read_text(encoding="utf-8").startswith("# Budgets written by `perfbudget init`")


@pytest.mark.parametrize("headroom", ["30", "thirty%", "-5%"])
def test_init_bad_headroom(capsys: Capture, reports: dict[str, Path], tmp_path: Path, headroom: str) -> None:
    status, _, err = run(
        capsys, "init", str(reports["after"]), "-o", str(tmp_path / "b.yml"), "--headroom", headroom
    )
    assert status == 2
    assert "--headroom" in err


def test_init_odd_node_ids(capsys: Capture, tmp_path: Path) -> None:
    odd = ['t.py::test_x[a"b\\c]', "t.py::test_y[ü: #1]", "t.py::test_z[*]"]
    run_json = write_json(tmp_path / "run.json", document({}, [record(nodeid, [0.01]) for nodeid in odd], []))
    output = tmp_path / "budgets.yml"
    assert run(capsys, "init", str(run_json), "-o", str(output))[0] == 0
    patterns = [entry.pattern for entry in budget_file.load(output).entries]
    assert patterns == sorted(odd)
    assert "# '*' and '?' in this id are wildcards" in output.read_text(encoding="utf-8")


# --- the installed script, and init from a real run ---------------------------------------


def test_the_installed_script(tmp_path: Path, reports: dict[str, Path]) -> None:
    script = Path(sys.executable).with_name("perfbudget")
    if not script.exists():
        pytest.skip(f"the perfbudget script is not installed beside {sys.executable}")
    result = subprocess.run(
        [str(script), "compare", str(reports["before"]), str(reports["after"]), "--fail-on-regression"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    assert "REGRESSED" in result.stdout
    missing = subprocess.run(
        [str(script), "report", str(tmp_path / "nope.json"), "-o", str(tmp_path / "r.md")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert missing.returncode == 3
    assert missing.stderr == f"error: {tmp_path / 'nope.json'}: report file not found\n"


def test_init_from_a_real_run_then_run_within_it(pytester: pytest.Pytester, capsys: Capture) -> None:
    """The acceptance path: measure, write budgets from the measurements, run again under them."""
    pytester.makepyfile(
        test_suite="""
        import pytest

        def test_sum():
            assert sum(range(1000)) == 499500

        @pytest.mark.parametrize("n", [1, 2])
        def test_param(n):
            assert [0] * n
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "--perf-report", "run.json")
    result.assert_outcomes(passed=3)
    budgets = pytester.path / "budgets.yml"
    status = main(["init", str(pytester.path / "run.json"), "-o", str(budgets), "--headroom", "300%"])
    capsys.readouterr()
    assert status == 0
    assert main(["check", str(budgets)]) == 0
    again = pytester.runpytest(
        "-p", "no:cacheprovider", "--perf-budget", str(budgets), "--perf-report", "again.json"
    )
    again.assert_outcomes(passed=3)
    report: dict[str, Any] = json.loads((pytester.path / "again.json").read_text(encoding="utf-8"))
    assert all(test["budgets"]["time"]["source"].startswith(str(budgets)) for test in report["tests"])
    assert report["warnings"] == []
