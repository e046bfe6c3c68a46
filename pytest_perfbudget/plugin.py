"""Entry point (``pytest11: perfbudget``): options, ini keys, the marker, the fixture, the session."""

from __future__ import annotations

import pytest

from .marker import MARKER_HELP
from .options import add_options, resolve
from .recorder import Perf
from .session import SESSION_KEY, PerfSession, perf_for


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    options = resolve(config)
    if options.mode == "off":
        return
    session = PerfSession.start(config, options)
    config.stash[SESSION_KEY] = session
    config.pluginmanager.register(session, "perfbudget-session")
    if config.pluginmanager.has_plugin("xdist"):
        from .xdist import XdistHooks

        config.pluginmanager.register(XdistHooks(session), "perfbudget-xdist")


@pytest.fixture
def perf(request: pytest.FixtureRequest) -> Perf:
    """Budgets on blocks (``perf.block``), operation counts (``perf.ops``), measurements so far."""
    item = request.node
    assert isinstance(item, pytest.Item)
    return perf_for(item)
