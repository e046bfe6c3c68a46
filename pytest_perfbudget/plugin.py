"""Entry point (``pytest11: perfbudget``): options, ini keys, the marker, the fixture, the session.

An idle run (no option or ini key in play) imports little more than this module and registers
no hook that runs per test: the session, with everything that measures and reports, is
imported and registered once a test asks to be measured (a ``perf_budget`` marker or the
``perf`` fixture) or, on an xdist controller, once a worker sends a measured result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from .marker import MARKER, MARKER_HELP
from .options import Options, add_options, resolve

if TYPE_CHECKING:
    from .recorder import Perf
    from .session import PerfSession
    from .xdist import XdistHooks

SESSION_PLUGIN = "perfbudget-session"
XDIST_PLUGIN = "perfbudget-xdist"
CONTROLLER_WATCH = "perfbudget-idle-controller"
# The test report attributes a worker's results travel on: results.REPORT_ATTRIBUTE and
# session.USAGE_ERROR_ATTRIBUTE (not imported from there: an idle run imports neither).
REPORT_ATTRIBUTES = ("perfbudget", "perfbudget_usage_error")


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    options = resolve(config)
    _warn_of_a_moved_rootdir(config)
    if options.mode == "off":
        return
    if config.pluginmanager.has_plugin("xdist"):
        from .xdist import XdistHooks

        config.pluginmanager.register(XdistHooks(), XDIST_PLUGIN)
    if options.measures_everything:
        activate(config, options)
    else:
        config.pluginmanager.register(IdleWatch(config, options), "perfbudget-idle")


def _warn_of_a_moved_rootdir(config: pytest.Config) -> None:
    """``--perf-budget /abs/budgets.yml`` as two tokens may have moved the rootdir: say so, once
    (on the xdist controller, not on every worker)."""
    if hasattr(config, "workerinput") or not any(
        str(argument).startswith("--perf-") for argument in config.invocation_params.args
    ):
        return
    from .rootdir import moved_rootdir

    message = moved_rootdir(config)
    if message is not None:
        config.issue_config_time_warning(pytest.PytestConfigWarning(message), stacklevel=2)


def activate(config: pytest.Config, options: Options) -> PerfSession:
    """The run's session, created and registered on first use."""
    from .session import SESSION_KEY, PerfSession

    session = config.stash.get(SESSION_KEY, None)
    if session is None:
        session = PerfSession.start(config, options)
        config.stash[SESSION_KEY] = session
        config.pluginmanager.register(session, SESSION_PLUGIN)
        xdist: XdistHooks | None = config.pluginmanager.get_plugin(XDIST_PLUGIN)
        if xdist is not None:
            xdist.attach(session)
    return session


def asks_to_be_measured(items: list[pytest.Item]) -> bool:
    """Whether a test has a ``perf_budget`` marker (its own or a parent's) or uses ``perf``.

    What ``item.get_closest_marker`` would say, with each parent looked at once.
    """
    seen: set[int] = set()
    for item in items:
        if "perf" in getattr(item, "fixturenames", ()):
            return True
        node: pytest.Item | pytest.Collector | None = item
        while node is not None and id(node) not in seen:
            for mark in node.own_markers:
                if mark.name == MARKER:
                    return True
            if node is not item:
                seen.add(id(node))
            node = node.parent
    return False


class IdleWatch:
    """The plugin while no option is in play: it waits for a test that asks to be measured."""

    def __init__(self, config: pytest.Config, options: Options) -> None:
        self.config = config
        self.options = options

    def activate(self) -> PerfSession:
        """Hand over to the session for good."""
        manager = self.config.pluginmanager
        for plugin in (self, manager.get_plugin(CONTROLLER_WATCH)):
            if plugin is not None and manager.is_registered(plugin):
                manager.unregister(plugin)
        return activate(self.config, self.options)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        if asks_to_be_measured(items):
            self.activate().pytest_collection_modifyitems(items)

    @pytest.hookimpl
    def pytest_sessionstart(self) -> None:
        if self.config.pluginmanager.has_plugin("dsession"):  # an xdist controller collects nothing
            self.config.pluginmanager.register(ControllerWatch(self), CONTROLLER_WATCH)


class ControllerWatch:
    """On an idle xdist controller: activates the session when a worker sends a result."""

    def __init__(self, idle: IdleWatch) -> None:
        self.idle = idle

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        attributes = report.__dict__  # not getattr(report, name, None): a miss raises and catches
        if attributes.get(REPORT_ATTRIBUTES[0]) is None and attributes.get(REPORT_ATTRIBUTES[1]) is None:
            return
        self.idle.activate().pytest_runtest_logreport(report)


@pytest.fixture
def perf(request: pytest.FixtureRequest) -> Perf:
    """Budgets on blocks (``perf.block``), operation counts (``perf.ops``), measurements so far."""
    from .session import perf_for

    item = request.node
    assert isinstance(item, pytest.Item)
    return perf_for(item)
