"""The shop example (examples/shop) as the README runs it: the fixed version passes under its
budgets, the N+1 version fails naming the loop's lines, and the fix shows as Before / After."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from shop_runs import (
    BUDGETS,
    SHOP,
    copy_repository,
    loop_lines,
    postgres_database,
    postgres_reachable,
    run_perfbudget,
    run_pytest,
)

TESTS = "examples/shop/tests"
LIST_ORDERS = f"{TESTS}/test_orders.py::test_list_orders"
N_PLUS_ONE_TESTS = {
    f"{TESTS}/test_async.py::test_list_orders_async",
    f"{TESTS}/test_async.py::test_list_orders_async_for_customer",
    LIST_ORDERS,
    f"{TESTS}/test_orders.py::test_list_orders_for_customer",
}
ALL_TESTS = N_PLUS_ONE_TESTS | {
    f"{TESTS}/test_checkout.py::test_place_order",
    f"{TESTS}/test_checkout.py::test_out_of_stock",
    f"{TESTS}/test_checkout.py::test_customer_summary",
    f"{TESTS}/test_orders.py::test_get_order",
    f"{TESTS}/test_orders.py::test_get_missing_order",
    f"{TESTS}/test_reports.py::test_top_products",
    f"{TESTS}/test_reports.py::test_export_orders_csv",
    f"{TESTS}/test_reports.py::test_quote",
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return copy_repository(tmp_path)


def failed_tests(output: str) -> set[str]:
    return {line.split()[1] for line in output.splitlines() if line.startswith("FAILED ")}


def report_tests(path: Path) -> dict[str, dict]:
    return {test["nodeid"]: test for test in json.loads(path.read_text(encoding="utf-8"))["tests"]}


def assert_fixed_passes(repo: Path, **env: str) -> dict[str, dict]:
    result = run_pytest(
        repo,
        SHOP,
        "--perf-budget",
        BUDGETS,
        "--perf-report",
        "perf-report.json",
        "--perf-report",
        "perf-report.md",
        **env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "perf: 12 measured, 0 over budget, 0 regressed, 0 improved" in result.stdout
    tests = report_tests(repo / "perf-report.json")
    assert set(tests) == ALL_TESTS
    assert all(test["outcome"] == "passed" for test in tests.values())
    assert "all within budget" in (repo / "perf-report.md").read_text(encoding="utf-8")
    return tests


def assert_naive_fails(repo: Path, **env: str) -> str:
    result = run_pytest(repo, SHOP, "--perf-budget", BUDGETS, "--shop-services", "naive", **env)
    output = result.stdout
    assert result.returncode == 1, output + result.stderr
    assert failed_tests(output) == N_PLUS_ONE_TESTS
    lines = loop_lines()
    assert f"perf budget exceeded in {LIST_ORDERS}\n" in output
    assert f"  queries     101 > 2       ({BUDGETS}: {LIST_ORDERS})" in output
    assert f"  n_plus_one  3 > 0         ({BUDGETS}: {SHOP})" in output
    services = "examples/shop/shop/services.py"
    for count, what in ((50, "lines"), (30, "product"), (20, "customer")):
        assert f"ran {count} times from {services}:{lines[what]} in list_orders\n" in output
        assert f"ran {count} times from {services}:{lines['async_' + what]} in list_orders_async\n" in output
    return output


def test_fixed_version_passes_under_its_budgets(repo: Path) -> None:
    tests = assert_fixed_passes(repo)
    listing = tests[LIST_ORDERS]
    assert listing["metrics"]["queries"] == 2
    assert listing["metrics"]["n_plus_one"] == 0
    assert listing["n_plus_one"] == []
    assert listing["budgets"]["queries"]["limit"] == 2
    assert len(listing["metrics"]["time"]["rounds"]) == 3  # rounds: 3 from the file's settings
    # the marker on test_top_products, the memory budget, the block and the throughput
    assert tests[f"{TESTS}/test_reports.py::test_top_products"]["budgets"]["queries"]["source"] == "marker"
    assert tests[f"{TESTS}/test_reports.py::test_export_orders_csv"]["metrics"]["memory"] > 0
    assert "place order" in tests[f"{TESTS}/test_checkout.py::test_place_order"]["blocks"]
    assert tests[f"{TESTS}/test_reports.py::test_quote"]["metrics"]["throughput"]["median"] >= 2000


def test_n_plus_one_version_fails_naming_the_loops_lines(repo: Path) -> None:
    assert_naive_fails(repo)


def test_before_and_after_evidence(repo: Path) -> None:
    before = run_pytest(
        repo, SHOP, "--perf-budget", BUDGETS, "--shop-services", "naive", "--perf-mode", "warn",
        "--perf-report", "before.json",
    )  # fmt: skip
    assert before.returncode == 0, before.stdout
    assert "4 warnings" in before.stdout
    after = run_pytest(
        repo, SHOP, "--perf-budget", BUDGETS, "--perf-baseline", "before.json",
        "--perf-report", "after.json", "--perf-report", "after.md",
    )  # fmt: skip
    assert after.returncode == 0, after.stdout
    summary = json.loads((repo / "after.json").read_text(encoding="utf-8"))["summary"]
    assert summary["over_budget"] == 0
    assert summary["improved"] >= 4
    evidence = (repo / "after.md").read_text(encoding="utf-8")
    assert f"#### `{LIST_ORDERS}`" in evidence
    assert "| Queries | 101 | 2 | +98.0% improved |" in evidence

    compared = run_perfbudget(repo, "compare", "before.json", "after.json")
    assert compared.returncode == 0, compared.stderr
    rows = [line.split() for line in compared.stdout.splitlines() if line.startswith("IMPROVED")]
    assert ["IMPROVED", LIST_ORDERS, "Queries", "101", "2", "+98.0%"] in rows


NO_POSTGRES = postgres_reachable()


@pytest.mark.skipif(NO_POSTGRES is not None, reason=str(NO_POSTGRES))
def test_the_same_suite_on_postgresql(repo: Path) -> None:
    with postgres_database() as url:
        tests = assert_fixed_passes(repo, SHOP_DATABASE_URL=url)
        assert tests[LIST_ORDERS]["metrics"]["queries"] == 2
        assert_naive_fails(repo, SHOP_DATABASE_URL=url)
