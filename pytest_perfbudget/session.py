"""The plugin's session object: plans, measures and judges tests, gathers and reports results.

Created in ``pytest_configure`` when the plugin is not switched off, stored
under :data:`SESSION_KEY`. The same object runs on xdist workers (measuring
and enforcing) and on the controller or a serial run (gathering results from
test reports and writing report files).
"""

from __future__ import annotations

import functools
import os
import unittest
from collections.abc import Generator
from typing import Any

import pytest

from .budget_file import BudgetFile, BudgetFileError, stale_patterns
from .budget_file import load as load_budget_file
from .budgets import Settings, TestBudget, resolve
from .compare import BaselineError, baseline_section, load_baseline, tests_by_nodeid
from .environment import describe
from .marker import MARKER, marker_fields
from .options import Options
from .recorder import Perf, Plan
from .reports import github, json_report, junit, write_atomically
from .reports import render as render_report
from .reports.terminal import write_summary
from .results import REPORT_ATTRIBUTE, TestRecord, build_record
from .runner import Verdict, judge, run_rounds
from .sql import SqlInstrumentation

SESSION_KEY = pytest.StashKey["PerfSession"]()
PLAN_KEY = pytest.StashKey[Plan]()
PERF_KEY = pytest.StashKey[Perf]()
VERDICT_KEY = pytest.StashKey[Verdict]()
USAGE_ERROR_KEY = pytest.StashKey[str]()
USAGE_ERROR_ATTRIBUTE = "perfbudget_usage_error"


def perf_for(item: pytest.Item) -> Perf:
    """The item's :class:`Perf`, created on first use (by the fixture or the first round)."""
    perf = item.stash.get(PERF_KEY, None)
    if perf is None:
        perf = Perf(item.nodeid, item.stash.get(PLAN_KEY, None))
        item.stash[PERF_KEY] = perf
    return perf


class PerfSession:
    """State and hooks of one pytest run."""

    def __init__(
        self,
        config: pytest.Config,
        options: Options,
        budget_file: BudgetFile | None = None,
        baseline: dict[str, Any] | None = None,
        baseline_warning: str | None = None,
    ) -> None:
        self.config = config
        self.options = options
        self.budget_file = budget_file
        self.baseline = baseline
        self.baseline_tests = tests_by_nodeid(baseline) if baseline is not None else {}
        self.baseline_warning = baseline_warning
        self.is_worker = hasattr(config, "workerinput")
        self.collected: list[str] = []
        self.stale_patterns: list[str] = []
        self.records: dict[str, TestRecord] = {}
        self.workers = 0
        self.written: list[str] = []
        self.report_errors: list[str] = []
        self.usage_errors: set[str] = set()  # bad markers found by xdist workers
        self._environment: dict[str, Any] | None = None
        self._document: dict[str, Any] | None = None
        self.sql = SqlInstrumentation(config.rootpath, options.call_site_exclude)

    @classmethod
    def start(cls, config: pytest.Config, options: Options) -> PerfSession:
        """Read the budget file and the baseline; a bad one is a usage error (exit 4)."""
        loaded, baseline, warning = None, None, None
        try:
            if options.budget_file is not None:
                loaded = load_budget_file(options.budget_file, options.budget_display)
            if options.baseline is not None:
                baseline, warning = load_baseline(options.baseline)
        except (BudgetFileError, BaselineError) as error:
            raise pytest.UsageError(str(error)) from None
        return cls(config, options, loaded, baseline, warning)

    # --- planning ---------------------------------------------------------------

    def budget_for(self, item: pytest.Item) -> TestBudget:
        file = self.budget_file
        return resolve(
            item.nodeid,
            file.settings if file is not None else Settings(),
            file.entries if file is not None else (),
            marker_fields(item),
            self.options.forced_settings(),
        )

    def plan_for(self, item: pytest.Item) -> Plan | None:
        measured = (
            self.options.measures_everything
            or item.get_closest_marker(MARKER) is not None
            or "perf" in getattr(item, "fixturenames", ())
        )
        if not measured:
            return None
        budget = self.budget_for(item)
        trace = self.options.memory or budget.has_any(("memory",))
        rss = self.options.memory or budget.has_any(("rss",))
        before = self.baseline_tests.get(item.nodeid)
        return Plan(
            budget,
            trace_memory=trace,
            measure_rss=rss,
            baseline=before.get("metrics", {}) if before is not None else None,
            baseline_source=str(self.options.baseline),
        )

    @pytest.hookimpl
    def pytest_itemcollected(self, item: pytest.Item) -> None:
        self.collected.append(item.nodeid)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            try:
                plan = self.plan_for(item)
            except pytest.UsageError as error:
                if not self.is_worker:
                    raise
                # An exception here would crash the xdist worker with the message lost:
                # fail the test in setup instead, and let the controller exit with 4.
                item.stash[USAGE_ERROR_KEY] = str(error)
                continue
            if plan is not None:
                item.stash[PLAN_KEY] = plan

    @pytest.hookimpl
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if self.budget_file is not None and self._judges_staleness():
            self.stale_patterns = stale_patterns(self.budget_file, self.collected, self.config.rootpath)
        self.collected = []

    def _judges_staleness(self) -> bool:
        """Not on the xdist controller (it collects nothing), nor when tests were picked by node id."""
        if _is_controller(self.config):
            return False
        return not any("::" in argument for argument in self.config.args)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        error = item.stash.get(USAGE_ERROR_KEY, None)
        if error is not None:
            pytest.fail(error, pytrace=False)

    # --- measuring --------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> Generator[None, object, object]:
        """A test function: warm-up, rounds and re-measurements all call it through this hook."""
        plan = pyfuncitem.stash.get(PLAN_KEY, None)
        perf = perf_for(pyfuncitem) if plan is not None else None
        if perf is None or plan is None or perf.busy:
            return (yield)
        call_again = functools.partial(pyfuncitem.ihook.pytest_pyfunc_call, pyfuncitem=pyfuncitem)
        self.sql.ensure_installed()
        perf.busy = perf.started = True
        try:
            for _ in range(plan.budget.settings.warmup):
                perf.run_unmeasured(call_again)
            meter = perf.start(traced=plan.trace_memory, rss=plan.measure_rss)
            try:
                result = yield
            except BaseException:
                perf.abandon(meter)
                raise
            perf.finish(meter)
            run_rounds(perf, plan, call_again, first_round_done=not plan.trace_memory)
            verdict = judge(perf, plan, call_again)
        finally:
            perf.busy = False
        self._conclude(pyfuncitem, verdict)
        return result

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        """Items pytest runs without pytest_pyfunc_call (unittest, doctest): one measured call."""
        plan = item.stash.get(PLAN_KEY, None)
        if plan is None or _calls_pyfunc(item):
            return (yield)
        perf = perf_for(item)
        self.sql.ensure_installed()
        perf.started = True
        meter = perf.start(traced=plan.trace_memory, rss=plan.measure_rss)
        try:
            yield
        except BaseException:
            perf.abandon(meter)
            raise
        perf.finish(meter)
        self._conclude(item, judge(perf, plan, None))
        return None

    def _conclude(self, item: pytest.Item, verdict: Verdict) -> None:
        item.stash[VERDICT_KEY] = verdict
        if verdict.failing:
            pytest.fail(verdict.message(item.nodeid), pytrace=False)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if USAGE_ERROR_KEY in item.stash:
            setattr(report, USAGE_ERROR_ATTRIBUTE, item.stash[USAGE_ERROR_KEY])
        if call.when == "call":
            plan = item.stash.get(PLAN_KEY, None)
            perf = item.stash.get(PERF_KEY, None)
            # Items pytest does not call through pytest_pyfunc_call (unittest, doctest) are not measured.
            if plan is not None and perf is not None and perf.started:
                record = build_record(
                    item.nodeid,
                    (item.location[0], _line(item)),
                    report.outcome,
                    plan.budget,
                    item.stash.get(VERDICT_KEY, None),
                )
                setattr(report, REPORT_ATTRIBUTE, record)
                if getattr(self.config.option, "xmlpath", None):  # --junitxml reads them at teardown
                    item.user_properties.extend(junit.properties(record))
            if perf is not None:
                del item.stash[PERF_KEY]  # free the samples; the record has what is kept
        return report

    # --- gathering (controller or serial run) -------------------------------------

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.is_worker:
            return
        usage_error = getattr(report, USAGE_ERROR_ATTRIBUTE, None)
        if usage_error is not None:
            self.usage_errors.add(usage_error)
        record = getattr(report, REPORT_ATTRIBUTE, None)
        if record is not None:
            self.records[report.nodeid] = record
        elif report.when == "teardown" and report.failed and report.nodeid in self.records:
            self.records[report.nodeid]["outcome"] = "error"

    def warnings(self) -> list[str]:
        warnings = [
            f"stale budget: pattern '{pattern}' matches no collected test" for pattern in self.stale_patterns
        ]
        tracers = sorted(
            {str(r["timings_not_judged"]) for r in self.records.values() if "timings_not_judged" in r}
        )
        if tracers:
            warnings.append(
                f"time budgets not judged: a tracer was active ({', '.join(tracers)}); "
                "counts and memory were still enforced"
            )
        if self.baseline_warning is not None:
            warnings.append(self.baseline_warning)
        differences = self.baseline_section()
        if differences is not None and differences["environment_differences"]:
            warnings.append(
                "baseline from a different environment: " + "; ".join(differences["environment_differences"])
            )
        return warnings

    def environment(self) -> dict[str, Any]:
        if self._environment is None:
            self._environment = describe(self.config.rootpath, self.workers)
        return self._environment

    def baseline_section(self) -> dict[str, Any] | None:
        if self.baseline is None:
            return None
        return baseline_section(
            str(self.options.baseline), self.baseline, list(self.records), self.environment()
        )

    @pytest.hookimpl
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.usage_errors:
            session.exitstatus = pytest.ExitCode.USAGE_ERROR
        if self.is_worker:
            return
        step_summary = github.step_summary_path(os.environ)
        if not self.options.reports and step_summary is None:
            return
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            self.report_errors.append("run interrupted: reports not written, earlier ones kept")
            return
        document = self.document()
        for path in self.options.reports:
            try:
                write_atomically(path, render_report(path.suffix, document, self.baseline))
            except OSError as error:
                self.report_errors.append(f"could not write {path}: {error.strerror or error}")
            else:
                self.written.append(str(path))
        if step_summary is not None and self.records:
            try:
                github.append_step_summary(step_summary, render_report(".md", document, self.baseline))
            except OSError as error:
                self.report_errors.append(f"could not write {step_summary}: {error.strerror or error}")
        if self.report_errors and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.USAGE_ERROR  # CI must notice a missing report

    def document(self) -> dict[str, Any]:
        """The JSON report document, which every other report is rendered from."""
        if self._document is None:
            self._document = json_report.document(
                self.environment(), self.records.values(), self.warnings(), self.baseline_section()
            )
        return self._document

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.is_worker:
            return
        errors = sorted(self.usage_errors) + self.report_errors
        write_summary(terminalreporter, self.records.values(), self.warnings(), self.written, errors)
        if os.environ.get("GITHUB_ACTIONS") == "true":
            for annotation in github.annotations(self.document()):
                terminalreporter.write_line(annotation)


def _line(item: pytest.Item) -> int | None:
    line = item.location[1]
    return None if line is None else line + 1


def _calls_pyfunc(item: pytest.Item) -> bool:
    """True for test functions; unittest methods and doctests run their own way."""
    if not isinstance(item, pytest.Function):
        return False
    return item.cls is None or not issubclass(item.cls, unittest.TestCase)


def _is_controller(config: pytest.Config) -> bool:
    return config.pluginmanager.has_plugin("dsession")
