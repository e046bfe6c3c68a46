"""The ``perf`` fixture: blocks, operations, and what was measured so far."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from perf_helpers import Runner

BLOCKS = """
import time
import pytest

@pytest.mark.perf_budget(calibration=0)  # limits as written, whatever the machine's load
def test_blocks(perf):
    with perf.block("load cart", time="1ns"):
        time.sleep(0.01)
    with perf.block("fast part", time="5s", queries=0):
        pass
"""


def test_a_block_over_budget_names_the_block(run: Runner) -> None:
    run.pytester.makepyfile(test_blocks=BLOCKS)
    result = run("--perf-report", "out.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "perf budget exceeded in test_blocks.py::test_blocks",
            "  time in 'load cart' * > 1ns *(block 'load cart')",
        ]
    )
    assert "in 'fast part'" not in result.stdout.str()
    record = run.record("test_blocks.py::test_blocks")
    assert record["outcome"] == "failed"
    assert [(v["metric"], v.get("block"), v["level"]) for v in record["violations"]] == [
        ("time", "load cart", "error")
    ]
    assert set(record["blocks"]) == {"load cart", "fast part"}
    assert record["blocks"]["load cart"]["time"]["median"] >= 0.01
    assert record["blocks"]["fast part"]["queries"] == 0


def test_blocks_within_budget_pass(run_serial: Runner) -> None:
    run_serial.pytester.makepyfile(
        test_ok="""
        import pytest

        @pytest.mark.perf_budget(rounds=3)
        def test_blocks(perf):
            for _ in range(2):  # entering a block twice in one call
                with perf.block("step", time="5s", cpu="5s", queries=0, n_plus_one=0, sql_time="1s"):
                    pass
        """
    )
    result = run_serial("--perf-report", "out.json")
    result.assert_outcomes(passed=1)
    record = run_serial.record("test_ok.py::test_blocks")
    assert record["violations"] == []
    assert "step" in record["blocks"]


def test_a_block_with_level_warn_passes_and_warns(run_serial: Runner) -> None:
    run_serial.pytester.makepyfile(
        test_warn="""
        import time
        import pytest

        @pytest.mark.perf_budget(calibration=0)  # limits as written, whatever the machine's load
        def test_block(perf):
            with perf.block("slow part", time="1ns", level="warn"):
                time.sleep(0.01)
        """
    )
    result = run_serial()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["WARNING test_warn.py::test_block: time in 'slow part' * > 1ns"])


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ('memory="1MB"', "*perf.block('part') does not take 'memory'*"),
        ('throughput="5/s"', "*perf.block('part') does not take 'throughput'*"),
        ('leak="1kB"', "*perf.block('part') does not take 'leak'*"),
        ('time="fast"', "*perf.block('part')*cannot read a time 'fast'*"),
        ("rounds=3", "*perf.block('part') does not take 'rounds'*"),
    ],
    ids=["memory", "throughput", "leak", "bad-value", "rounds"],
)
def test_a_block_with_a_bad_keyword_fails_the_test(run_serial: Runner, arguments: str, message: str) -> None:
    run_serial.pytester.makepyfile(
        test_bad=f"""
        def test_block(perf):
            with perf.block("part", {arguments}):
                pass
        """
    )
    result = run_serial()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [">       with perf.block(*", f"E   {message}", "test_bad.py:2: BlockUsageError"]
    )
    assert "contextlib" not in result.stdout.str()
    assert "recorder.py" not in result.stdout.str()


def test_what_the_fixture_shows(run_serial: Runner) -> None:
    run_serial.pytester.makepyfile(
        test_reads="""
        from pathlib import Path
        import pytest

        @pytest.mark.perf_budget(rounds=3, throughput="1/s")
        def test_reads(perf):
            assert perf.queries.count == 0
            assert len(perf.queries) == 0
            with Path("rounds.txt").open("a") as file:
                file.write(f"{len(perf.rounds)},")
            perf.ops(500)
            perf.ops(500)
        """
    )
    result = run_serial("--perf-report", "out.json")
    result.assert_outcomes(passed=1)
    assert (run_serial.pytester.path / "rounds.txt").read_text() == "0,1,2,"
    throughput = run_serial.record("test_reads.py::test_reads")["metrics"]["throughput"]
    assert len(throughput["rounds"]) == 3
    time = run_serial.record("test_reads.py::test_reads")["metrics"]["time"]
    assert throughput["rounds"][0] == pytest.approx(1000 / time["rounds"][0], rel=1e-4)  # 6 digits kept


@pytest.mark.parametrize("count", ["-1", "1.5", "True", '"3"'])
def test_ops_takes_a_non_negative_whole_number(run_serial: Runner, count: str) -> None:
    run_serial.pytester.makepyfile(
        test_ops=f"""
        import pytest

        def test_ops(perf):
            with pytest.raises(TypeError, match="non-negative whole number"):
                perf.ops({count})
        """
    )
    run_serial().assert_outcomes(passed=1)


def test_a_test_using_the_fixture_is_measured(run_serial: Runner) -> None:
    run_serial.pytester.makepyfile(
        test_uses="""
        def test_uses(perf):
            pass

        def test_does_not():
            pass
        """
    )
    result = run_serial()
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["perf: 1 measured, 0 over budget, 0 regressed, 0 improved"])


def test_the_fixture_works_when_perf_is_off(run_serial: Runner) -> None:
    run_serial.pytester.makepyfile(
        test_off="""
        import time

        def test_uses(perf):
            with perf.block("part", time="1ns", queries=0):
                time.sleep(0.01)
            perf.ops(10)
            assert perf.queries.count == 0
            assert perf.rounds == []
        """
    )
    result = run_serial("--perf-mode", "off")
    result.assert_outcomes(passed=1)
    assert "perf budget" not in result.stdout.str()


def test_no_plugin_no_fixture(run_serial: Runner) -> None:
    """``-p no:perfbudget`` unloads the plugin entirely, the fixture with it."""
    run_serial.pytester.makepyfile(test_idle="def test_a(perf):\n    perf.ops(1)\n")
    result = run_serial("-p", "no:perfbudget")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'perf' not found*"])


def test_a_warmup_call_sees_its_queries_and_knows_it_is_a_warmup(run: Runner) -> None:
    """Each call, warm-up or measured, has its own statement log; ``perf.warmup`` tells them apart."""
    run.pytester.makepyfile(
        test_warm="""
        from pathlib import Path
        import pytest
        import sqlalchemy

        ENGINE = sqlalchemy.create_engine("sqlite://")

        @pytest.mark.perf_budget(warmup=2, rounds=2, queries=1)
        def test_counts(perf):
            with perf.block("select", queries=1), ENGINE.connect() as connection:
                connection.execute(sqlalchemy.text("SELECT 1"))
            with Path("calls.txt").open("a") as file:
                file.write(f"{perf.warmup}:{perf.queries.count},")
            assert perf.queries.count == 1
        """
    )
    result = run("--perf-report", "out.json")
    result.assert_outcomes(passed=1)
    calls = (run.pytester.path / "calls.txt").read_text()
    assert calls == "True:1,True:1,False:1,False:1,"
    record = run.record("test_warm.py::test_counts")
    assert record["metrics"]["queries"] == 1
    assert len(record["blocks"]["select"]["time"]["rounds"]) == 2  # the warm-up calls' are dropped
