"""The plugin's session object: plans, measures and judges tests, gathers and reports results.

Created in ``pytest_configure`` when the plugin is not switched off, stored
under :data:`SESSION_KEY`. The same object runs on xdist workers (measuring
and enforcing) and on the controller or a serial run (gathering results from
test reports and writing report files).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Generator, Sequence
from time import perf_counter, process_time  # bound now: tests may patch the time module
from typing import TYPE_CHECKING, Any

import pytest

from . import patterns
from .budgets import Settings, TestBudget, resolve
from .marker import MARKER, marker_fields
from .measure import Sample
from .metrics import plain_values
from .options import Options
from .queries import QueryLog, capture
from .recorder import Perf, Plan
from .results import REPORT_ATTRIBUTE, TestRecord, build_record, crashed_record, new_record
from .runner import Verdict, judge, plain_call_within_budget, run_rounds
from .sql import SqlInstrumentation

if TYPE_CHECKING:
    from pathlib import Path

    from .budget_cache import DocumentCache
    from .budget_file import BudgetFile
    from .reports.json_report import EncodedTests
    from .reports.output import Staged
    from .sql.callsite import CallSiteLocator
    from .sql.explain import Explainer

# Imported where used, not here: reading the budget file (PyYAML), the baseline, the
# environment and the report renderers are each needed once per run, if at all.

SQL_METRICS = ("queries", "n_plus_one", "sql_time")
SESSION_KEY = pytest.StashKey["PerfSession"]()
PLAN_KEY = pytest.StashKey[Plan]()
PERF_KEY = pytest.StashKey[Perf]()
USAGE_ERROR_KEY = pytest.StashKey[str]()
DIRECT_KEY = pytest.StashKey[bool]()  # measured around pytest_runtest_call (unittest, doctest)
USAGE_ERROR_ATTRIBUTE = "perfbudget_usage_error"
CRASH_PHASE: str = "???"  # the phase of xdist's report of a test whose worker died (os._exit, a signal)
DIRECT_PLUGIN = "perfbudget-direct-calls"
USAGE_ERRORS_PLUGIN = "perfbudget-usage-errors"


def perf_for(item: pytest.Item) -> Perf:
    """The item's :class:`Perf`, created on first use (by the fixture or the first round)."""
    stash = item.stash
    if PERF_KEY in stash:  # not stash.get(): a missing key raises and catches a KeyError
        return stash[PERF_KEY]
    perf = Perf(item.nodeid, stash.get(PLAN_KEY, None))
    stash[PERF_KEY] = perf
    return perf


class PerfSession:
    """State and hooks of one pytest run.

    Per test, two hooks run: the ``pytest_pyfunc_call`` wrapper, which measures and
    judges the call and builds the test's record, and ``pytest_runtest_logreport``,
    which puts the record on the call's report (for xdist to carry) and gathers it.
    Hooks that only some runs need (unittest and doctest items, bad markers on an
    xdist worker) are registered as separate plugins when collection finds them.
    """

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
        self.baseline_tests: dict[str, dict[str, Any]] = {}
        self.baseline_calibration: float | None = None
        if baseline is not None:
            from .compare import calibration_loop, tests_by_nodeid

            self.baseline_tests = tests_by_nodeid(baseline)
            self.baseline_calibration = calibration_loop(baseline)
        self.baseline_warning = baseline_warning
        self.is_worker = hasattr(config, "workerinput")
        self.collected: list[str] = []  # node ids collected (deselected too), for stale budgets
        self.stale_patterns: list[str] = []
        self.records: dict[str, TestRecord] = {}
        # Each record's line of the JSON report, encoded when it arrives: the end of a run of
        # 100,000 tests then writes its JSON report in a fraction of a second.
        self._json_lines: EncodedTests | None = None
        if any(path.suffix == ".json" for path in options.reports):
            from .reports.json_report import EncodedTests

            self._json_lines = EncodedTests()
        self.workers = 0
        self.written: list[str] = []
        self.report_errors: list[str] = []
        self.usage_errors: set[str] = set()  # bad markers found by xdist workers
        self._environment: dict[str, Any] | None = None
        self._document: dict[str, Any] | None = None
        self.explainer: Explainer | None = None
        if options.explain:
            from .sql.explain import Explainer

            self.explainer = Explainer()
        self.sql = SqlInstrumentation(config.rootpath, options.call_site_exclude, self.explainer)
        # Planning: the file's patterns compiled once, and what they resolve to per set of
        # matching patterns (tests without a marker share their budget and plan).
        self._settings = budget_file.settings if budget_file is not None else Settings()
        self._entries = budget_file.entries if budget_file is not None else ()
        self._patterns = patterns.PatternIndex([entry.pattern for entry in self._entries])
        self._forced = options.forced_settings()
        self._everything = options.measures_everything
        self._budgets: dict[tuple[int, ...], TestBudget] = {}
        self._plans: dict[tuple[int, ...], Plan] = {}
        self._pending: dict[str, TestRecord] = {}  # built by the call, waiting for its report
        self._usage_error_nodeids: dict[str, str] = {}
        self._marked: dict[int, tuple[pytest.Collector, bool]] = {}  # by id(collector)
        self._junit = bool(getattr(config.option, "xmlpath", None))  # --junitxml reads properties
        # Reports, GitHub's summary and annotations, the baseline section and JUnit properties are
        # made from every record, and a worker sends every record to the controller. A serial run
        # with none of these only counts the tests that have nothing to show: building and
        # keeping a record for each is most of what measuring a short test costs.
        self._keeps_every_record = (
            self.is_worker
            or bool(options.reports)
            or baseline is not None
            or self._junit
            or os.environ.get("GITHUB_ACTIONS") == "true"
        )
        self.unkept = 0  # tests measured whose record was not kept: nothing to show
        # Whether something reads every test's SQL numbers; else only tests with a SQL limit, or
        # the ``perf`` fixture, record their statements (each costs a walk of the stack).
        self._reads_sql = (
            bool(options.reports)
            or baseline is not None
            or self._junit
            or os.environ.get("GITHUB_ACTIONS") == "true"
        )

    @classmethod
    def start(cls, config: pytest.Config, options: Options) -> PerfSession:
        """Read the budget file and the baseline; a bad one is a usage error (exit 4)."""
        loaded, baseline, warning = None, None, None
        if options.budget_files:
            from .budget_file import BudgetFileError, combine
            from .budget_file import load as load_budget_file

            try:
                loaded = combine(
                    [
                        load_budget_file(path, display, cache=_document_cache(config, path))
                        for path, display in zip(options.budget_files, options.budget_displays, strict=True)
                    ]
                )
            except BudgetFileError as error:
                raise pytest.UsageError(str(error)) from None
        if options.baseline is not None:
            from .compare import BaselineError, load_baseline

            try:
                baseline, warning = load_baseline(options.baseline)
            except BaselineError as error:
                raise pytest.UsageError(str(error)) from None
        return cls(config, options, loaded, baseline, warning)

    # --- planning ---------------------------------------------------------------

    def _matching(self, nodeid: str) -> tuple[int, ...]:
        """Indices of the budget file's entries that apply to ``nodeid``."""
        return self._patterns.matching(nodeid)

    def _has_marker(self, item: pytest.Item) -> bool:
        """What ``item.get_closest_marker(MARKER) is not None`` says, each collector asked once."""
        for mark in item.own_markers:
            if mark.name == MARKER:
                return True
        return self._collector_marked(item.parent)

    def _collector_marked(self, node: pytest.Collector | None) -> bool:
        if node is None:
            return False
        known = self._marked.get(id(node))
        if known is not None and known[0] is node:  # the node is kept with it: its id is its own
            return known[1]
        found = False
        for mark in node.own_markers:
            if mark.name == MARKER:
                found = True
                break
        found = found or self._collector_marked(node.parent)
        self._marked[id(node)] = (node, found)
        return found

    def _budget(self, nodeid: str, matching: tuple[int, ...], marker: Any) -> TestBudget:
        if marker is None:
            known = self._budgets.get(matching)
            if known is not None:
                return known
        entries = [self._entries[index] for index in matching]
        budget = resolve(nodeid, self._settings, entries, marker, self._forced)
        if marker is None:
            self._budgets[matching] = budget
        return budget

    def plan_for(self, item: pytest.Item, nodeid: str) -> Plan | None:
        marked = self._has_marker(item)
        measured = self._everything or marked or "perf" in getattr(item, "fixturenames", ())
        if not measured:
            return None
        matching = self._matching(nodeid)
        marker = marker_fields(item) if marked else None
        before = self.baseline_tests.get(nodeid)
        shared = marker is None and before is None
        if shared:
            plan = self._plans.get(matching)
            if plan is not None:
                return plan
        budget = self._budget(nodeid, matching, marker)
        trace = self.options.memory or budget.has_any(("memory",))
        rss = self.options.memory or budget.has_any(("rss",))
        plan = Plan(
            budget,
            trace_memory=trace,
            measure_rss=rss,
            baseline=before.get("metrics", {}) if before is not None else None,
            baseline_source=str(self.options.baseline),
            baseline_calibration=self.baseline_calibration,
            records_sql=self._reads_sql or budget.has_any(SQL_METRICS),
            profile_all=self.options.profile == "all",
        )
        if shared:
            self._plans[matching] = plan
        return plan

    @pytest.hookimpl
    def pytest_deselected(self, items: Sequence[pytest.Item]) -> None:
        """Deselected tests (``-k``, ``-m``, ``--lf``) were collected: a budget on them is not stale."""
        if self.budget_file is not None:
            self.collected.extend([item.nodeid for item in items])

    @pytest.hookimpl(trylast=True)  # after deselection, which other plugins do in this hook
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        nodeids = [item.nodeid for item in items]  # a property that builds the string each time
        if self.budget_file is not None:
            self.collected.extend(nodeids)
        direct = False
        for item, nodeid in zip(items, nodeids, strict=True):
            try:
                plan = self.plan_for(item, nodeid)
            except pytest.UsageError as error:
                if not self.is_worker:
                    raise
                # An exception here would crash the xdist worker with the message lost:
                # fail the test in setup instead, and let the controller exit with 4.
                item.stash[USAGE_ERROR_KEY] = str(error)
                self._usage_error_nodeids[nodeid] = str(error)
                continue
            if plan is not None:
                item.stash[PLAN_KEY] = plan
                if not _calls_pyfunc(item):
                    item.stash[DIRECT_KEY] = True
                    direct = True
        manager = self.config.pluginmanager
        if direct and not manager.has_plugin(DIRECT_PLUGIN):
            manager.register(DirectCalls(self), DIRECT_PLUGIN)
        if self._usage_error_nodeids and not manager.has_plugin(USAGE_ERRORS_PLUGIN):
            manager.register(UsageErrors(), USAGE_ERRORS_PLUGIN)

    @pytest.hookimpl
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if self.budget_file is not None and self._judges_staleness():
            from .budget_file import stale_patterns

            self.stale_patterns = stale_patterns(self.budget_file, self.collected, self.config.rootpath)
        self.collected = []
        if not _is_controller(self.config):
            from .calibration import note_session_start

            note_session_start()  # before the tests load the machine: see `calibration: auto`

    def _judges_staleness(self) -> bool:
        """Not on the xdist controller (it collects nothing), nor when tests were picked by node id."""
        if _is_controller(self.config):
            return False
        return not any("::" in argument for argument in self.config.args)

    # --- measuring --------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> Generator[None, object, object]:
        """A test function: warm-up, rounds and re-measurements all call it through this hook.

        Most tests are measured over one plain call (:attr:`~.recorder.Plan.single_call`, no
        ``perf`` fixture): timed here, without a recorder, and recorded without a verdict when
        the call ran no SQL and kept within every limit. Otherwise the recorder takes over with
        this call as its first round, and :func:`~.runner.judge` analyses the statements and
        re-measures what looks over a limit.
        """
        stash = pyfuncitem.stash
        if PLAN_KEY not in stash:
            return (yield)
        plan = stash[PLAN_KEY]
        if PERF_KEY in stash or not plan.single_call:
            return (yield from self._recorded_call(pyfuncitem, plan))
        # Inline rather than a Meter: a Meter and its Sample cost more than the rest of this path.
        log = QueryLog()
        previous_log = capture.log
        if plan.records_sql:
            self.sql.ensure_installed()
            capture.log = log
        else:
            capture.log = None  # nothing reads this test's SQL numbers: its statements go unrecorded
        cpu_start = process_time()
        wall_start = perf_counter()
        try:
            result = yield
        except BaseException:
            capture.log = previous_log
            self._conclude(pyfuncitem, plan, None)
            raise
        wall = perf_counter() - wall_start
        cpu = process_time() - cpu_start
        capture.log = previous_log
        if plain_call_within_budget(wall, cpu, log, plan):
            if self._keeps_every_record:
                values = plain_values(wall, cpu)
                self._keep(
                    pyfuncitem, new_record(pyfuncitem.nodeid, pyfuncitem.location, plan.budget, values)
                )
            else:
                self.unkept += 1
            return result
        perf = perf_for(pyfuncitem)
        perf.measurement.rounds.append(Sample(wall=wall, cpu=cpu, queries=log))
        self._judge(pyfuncitem, plan, perf, first_round_done=True)
        return result

    def _recorded_call(self, item: pytest.Function, plan: Plan) -> Generator[None, object, object]:
        """A test with warm-up, rounds, memory or the ``perf`` fixture: measured by its recorder."""
        perf = perf_for(item)
        if perf.busy:  # a round or a re-measurement calling the test again
            return (yield)
        self.sql.ensure_installed()
        perf.busy = True
        try:
            for _ in range(plan.budget.settings.warmup):
                perf.run_unmeasured(_caller(item))
            meter = perf.start(traced=plan.trace_memory, rss=plan.measure_rss)
            try:
                result = yield
            except BaseException:
                perf.abandon(meter)
                raise
            perf.finish(meter)
        except BaseException:
            perf.busy = False
            self._conclude(item, plan, None)
            del item.stash[PERF_KEY]
            raise
        self._judge(item, plan, perf, first_round_done=not plan.trace_memory)
        return result

    def _judge(self, item: pytest.Function, plan: Plan, perf: Perf, *, first_round_done: bool) -> None:
        """Complete the rounds, judge them and record the verdict; fail the test on a broken limit."""
        perf.busy = True
        verdict = None
        try:
            run_rounds(perf, plan, _caller(item), first_round_done=first_round_done)
            verdict = judge(perf, plan, _caller(item), self._locator)
            if verdict.violations:
                self._gather_evidence(perf, verdict)
            if plan.profile_all or (verdict.violations and self._profiles(plan, verdict)):
                verdict.evidence["hot_spots"] = self._hot_spots(item, verdict)
        finally:
            perf.busy = False
            self._conclude(item, plan, verdict)
            del item.stash[PERF_KEY]  # free the samples: the record has what is kept
        if verdict.failing:
            pytest.fail(verdict.message(item.nodeid), pytrace=False)

    def _profiles(self, plan: Plan, verdict: Verdict) -> bool:
        """Whether the test gets hot spots: ``--perf-profile=all``, or (``failures``, the default)
        it broke a time or CPU limit or regressed on one. Callers look at ``plan.profile_all``
        and ``verdict.violations`` first: a test within its budget goes no further."""
        return plan.profile_all or (self.options.profile == "failures" and verdict.over_time)

    def _hot_spots(self, item: pytest.Function, verdict: Verdict) -> dict[str, Any]:
        """One more call of the test under a profiler, after its verdict (see :mod:`.hot_spots`)."""
        from .hot_spots import profile, profile_file_name

        directory = self.options.profile_dir
        values = verdict.metrics.values
        timing, queries = values.get("time"), values.get("queries")
        rounds = timing["rounds"] if timing is not None and not timing.get("traced") else None
        return profile(
            _caller(item),
            self.sql.locator,
            measured_time=min(rounds) if rounds else None,
            measured_queries=queries if isinstance(queries, int) else None,
            profile_file=directory / profile_file_name(item.nodeid) if directory is not None else None,
            title=item.nodeid,
        )

    def _locator(self) -> CallSiteLocator:
        """Tells the user's code from libraries, for allocation sites (made on first use)."""
        return self.sql.locator

    def _gather_evidence(self, perf: Perf, verdict: Verdict) -> None:
        """What shows where the cost is, for a test that broke a limit: its slowest statements and,
        under ``--perf-explain``, their plans (taken now, while the test's fixtures hold the database)."""
        from .query_evidence import sql_evidence

        found = sql_evidence(perf.measurement, self.explainer)
        if found:
            verdict.evidence.update(found)

    def _conclude(self, item: pytest.Item, plan: Plan, verdict: Verdict | None) -> None:
        """The test's record, waiting for the call's report; ``verdict`` is None when the call raised."""
        if self.explainer is not None:
            self.explainer.forget()
        self._keep(item, build_record(item.nodeid, item.location, plan.budget, verdict))

    def _keep(self, item: pytest.Item, record: TestRecord) -> None:
        """``record`` waits for the call's report, which carries it (to the xdist controller)."""
        self._pending[record["nodeid"]] = record
        if self._junit:
            from .reports import junit

            item.user_properties.extend(junit.properties(record))

    # --- gathering (controller or serial run) -------------------------------------

    @pytest.hookimpl(tryfirst=True)  # before xdist sends the report to the controller
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Puts each record on its call's report, which xdist carries to the controller, and
        gathers records (on the controller or in a serial run).

        Runs three times per test: a setup or teardown report that passed has nothing to say.
        """
        when = report.when
        if when == "call":
            self._gather_call(report)
        elif report.outcome == "failed":
            if when == CRASH_PHASE:
                self._gather_crash(report)
            else:
                self._gather_failure(report, when)

    def _gather_call(self, report: pytest.TestReport) -> None:
        attributes = report.__dict__  # not getattr(report, name, None): a miss raises and catches
        if self._pending:
            pending = self._pending.pop(report.nodeid, None)
            if pending is not None:
                pending["outcome"] = _outcome(report.outcome, attributes)
                attributes[REPORT_ATTRIBUTE] = pending
        if self.is_worker:
            return
        record = attributes.get(REPORT_ATTRIBUTE)
        if record is not None:
            self.records[record["nodeid"]] = record
            if self._json_lines is not None:
                self._json_lines.add(record)

    def _gather_failure(self, report: pytest.TestReport, when: str) -> None:
        """A failed setup (a bad marker, on an xdist worker, fails its test there) or teardown
        (the test's outcome becomes ``error``)."""
        attributes = report.__dict__
        if self._usage_error_nodeids:
            error = self._usage_error_nodeids.get(report.nodeid)
            if error is not None:
                attributes[USAGE_ERROR_ATTRIBUTE] = error
        if self.is_worker:
            return
        usage_error = attributes.get(USAGE_ERROR_ATTRIBUTE)
        if usage_error is not None:
            self.usage_errors.add(usage_error)
        failed = self.records.get(report.nodeid) if when == "teardown" else None
        if failed is not None:
            failed["outcome"] = "error"
            if self._json_lines is not None:
                self._json_lines.add(failed)

    def _gather_crash(self, report: pytest.TestReport) -> None:
        """On the xdist controller: a test whose worker died is listed as an error, not measured.

        Only when every test is measured: with markers alone, the controller cannot tell
        whether the test was one to measure.
        """
        if not self._everything:
            return
        nodeid = report.nodeid
        record = self.records.get(nodeid)  # the worker died in the test's teardown
        if record is None:
            budget = self._budget(nodeid, self._matching(nodeid), None)
            record = crashed_record(nodeid, budget, str(report.longrepr))
            self.records[nodeid] = record
        else:
            record["outcome"], record["crash"] = "error", str(report.longrepr)
        if self._json_lines is not None:
            self._json_lines.add(record)

    def warnings(self) -> list[str]:
        warnings = list(self.budget_file.warnings) if self.budget_file is not None else []
        warnings += [
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
        warnings += [
            f"leak not measured in {record['nodeid']}: {record['evidence']['leak'].get('reason')}"
            for record in self.records.values()
            if "evidence" in record and "leak" in record["evidence"] and "leak" not in record["metrics"]
        ]
        if self.baseline_warning is not None:
            warnings.append(self.baseline_warning)
        differences = self.baseline_section()
        if differences is not None and differences["environment_differences"]:
            warnings.append(
                "baseline from a different environment: " + "; ".join(differences["environment_differences"])
            )
        return warnings

    def _shown(self, path: Path) -> str:
        """``path`` as the terminal shows it, however it was given (an ini key's path is made
        absolute): relative to the directory pytest was started in when it is in the project."""
        start = self.config.invocation_params.dir
        absolute = path if path.is_absolute() else start / path
        if absolute.is_relative_to(start) or absolute.is_relative_to(self.config.rootpath):
            return os.path.relpath(absolute, start)
        return str(path)

    def environment(self) -> dict[str, Any]:
        if self._environment is None:
            from .calibration import reference_time
            from .environment import describe

            self._environment = describe(self.config.rootpath, self.workers)
            # The calibration loop's time on this machine now: `perfbudget init` copies it into the
            # budget file's `calibration` setting. 9-30 ms, once per run that writes a report.
            self._environment["calibration"] = round(reference_time(), 6)
        return self._environment

    def baseline_section(self) -> dict[str, Any] | None:
        if self.baseline is None:
            return None
        from .compare import baseline_section

        return baseline_section(
            str(self.options.baseline), self.baseline, list(self.records), self.environment()
        )

    @pytest.hookimpl
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.usage_errors:
            session.exitstatus = pytest.ExitCode.USAGE_ERROR
        if self.is_worker:
            return
        from .reports import github

        step_summary = github.step_summary_path(os.environ)
        if not self.options.reports and step_summary is None:
            return
        # A plugin that stops the run on purpose (--sw after a failure) ends it "interrupted"
        # too, with a reason in session.shouldstop; -x ends it "failed". Both have reports.
        if exitstatus == pytest.ExitCode.INTERRUPTED and not session.shouldstop:
            self.report_errors.append("run interrupted: reports not written, earlier ones kept")
            return
        if self._write_reports(step_summary) == "interrupted":
            session.exitstatus = pytest.ExitCode.INTERRUPTED
        if self.report_errors and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.USAGE_ERROR  # CI must notice a missing report

    def _write_reports(self, step_summary: Path | None) -> str:
        """Every report rendered to a temporary first, then all put in place together.

        Returns ``"interrupted"`` after a keyboard interrupt, which no earlier report survives
        only half: see :func:`~pytest_perfbudget.reports.output.commit_all`. Else ``"done"``.
        """
        from .reports import gc_paused, github, render_chunks
        from .reports import render as render_report
        from .reports.output import commit_all, stage

        staged: list[tuple[str, Staged]] = []  # the path as the user wrote it, and its output
        failed: dict[int, OSError] = {}
        outcome = "done"
        try:
            with gc_paused():
                document = self.document()
                for path in self.options.reports:
                    chunks = render_chunks(path.suffix, document, self.baseline, self._json_lines)
                    try:
                        staged.append((self._shown(path), stage(path, chunks)))
                    except OSError as error:
                        self.report_errors.append(
                            f"could not write {self._shown(path)}: {error.strerror or error}"
                        )
                if step_summary is not None and self.records:
                    markdown = render_report(".md", document, self.baseline)
                    try:
                        staged.append(("", github.stage_step_summary(step_summary, markdown)))
                    except OSError as error:
                        self.report_errors.append(
                            f"could not write {step_summary}: {error.strerror or error}"
                        )
                failed = {id(output): error for output, error in commit_all([o for _, o in staged])}
        except KeyboardInterrupt:
            outcome = "interrupted"
        finally:
            for _, output in staged:
                output.discard()  # what was not committed: no temporary file is left behind
        for shown, output in staged:
            failure = failed.get(id(output))
            if failure is not None:
                self.report_errors.append(
                    f"could not write {shown or step_summary}: {failure.strerror or failure}"
                )
            elif output.committed and shown:
                self.written.append(shown)
        if outcome == "interrupted":
            self.report_errors.append(f"interrupted while writing reports: {_interrupted_writes(staged)}")
        return outcome

    def document(self) -> dict[str, Any]:
        """The JSON report document, which every other report is rendered from."""
        if self._document is None:
            from .reports import json_report

            self._document = json_report.document(
                self.environment(), self.records.values(), self.warnings(), self.baseline_section()
            )
        return self._document

    @pytest.hookimpl
    def pytest_unconfigure(self) -> None:
        self.sql.stop_watching()

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.is_worker:
            return
        from .reports.terminal import write_summary

        errors = sorted(self.usage_errors) + self.report_errors
        write_summary(
            terminalreporter, self.records.values(), self.warnings(), self.written, errors, self.unkept
        )
        if os.environ.get("GITHUB_ACTIONS") == "true":
            from .reports import github

            for annotation in github.annotations(self.document()):
                terminalreporter.write_line(annotation)


def _interrupted_writes(staged: Sequence[tuple[str, Staged]]) -> str:
    """What an interrupt while writing ``staged`` left: all, none (earlier ones kept), or some."""
    unwritten = sum(not output.committed for _, output in staged)
    if unwritten == len(staged):
        return "none written, earlier ones kept"
    return f"{unwritten} of {len(staged)} not written" if unwritten else "all written"


class DirectCalls:
    """Items pytest runs without ``pytest_pyfunc_call`` (unittest, doctest): one measured call.

    Registered only when collection finds such an item with a plan.
    """

    def __init__(self, session: PerfSession) -> None:
        self.session = session

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        plan = item.stash.get(PLAN_KEY, None)
        if plan is None or not item.stash.get(DIRECT_KEY, False):
            return (yield)
        perf = perf_for(item)
        self.session.sql.ensure_installed()
        verdict = None
        try:
            meter = perf.start(traced=plan.trace_memory, rss=plan.measure_rss)
            try:
                yield
            except BaseException:
                perf.abandon(meter)
                raise
            perf.finish(meter)
            verdict = judge(perf, plan, None, self.session._locator)
            if plan.profile_all or (verdict.violations and self.session._profiles(plan, verdict)):
                from .hot_spots import not_taken

                verdict.evidence["hot_spots"] = not_taken("a unittest or doctest item cannot be called again")
        finally:
            self.session._conclude(item, plan, verdict)
            del item.stash[PERF_KEY]
        if verdict.failing:
            pytest.fail(verdict.message(item.nodeid), pytrace=False)
        return None


class UsageErrors:
    """On an xdist worker: tests whose marker is bad fail in setup with the message.

    Registered only when collection found one.
    """

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        error = item.stash.get(USAGE_ERROR_KEY, None)
        if error is not None:
            pytest.fail(error, pytrace=False)


def _outcome(outcome: str, attributes: dict[str, Any]) -> str:
    """The call's outcome as pytest's summary names it: an expected failure is ``xfailed`` (not
    ``skipped``), an unexpected pass ``xpassed`` (a strict one is ``failed``, as pytest says)."""
    if "wasxfail" not in attributes:
        return outcome
    return "xfailed" if outcome == "skipped" else "xpassed" if outcome == "passed" else outcome


def _caller(item: pytest.Function) -> Callable[[], object]:
    """Calls the test function again, through every ``pytest_pyfunc_call`` hook."""
    return lambda: item.ihook.pytest_pyfunc_call(pyfuncitem=item)


def _calls_pyfunc(item: pytest.Item) -> bool:
    """True for test functions; unittest methods and doctests run their own way."""
    if not isinstance(item, pytest.Function):
        return False
    unittest = sys.modules.get("unittest")  # not imported: no test can be a unittest one
    parent = item.parent  # what item.cls finds, without its walk up the tree: a method's parent
    if unittest is None or not isinstance(parent, pytest.Class):
        return True
    return not issubclass(parent.obj, unittest.TestCase)


def _document_cache(config: pytest.Config, path: Path) -> DocumentCache | None:
    """Where the budget file's YAML is kept between runs, when pytest's cache is on."""
    cache: pytest.Cache | None = getattr(config, "cache", None)  # None with -p no:cacheprovider
    if cache is None:
        return None
    from .budget_cache import DocumentCache

    return DocumentCache(cache, str(path.resolve()), writable=not hasattr(config, "workerinput"))


def _is_controller(config: pytest.Config) -> bool:
    return config.pluginmanager.has_plugin("dsession")
