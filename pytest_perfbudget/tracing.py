"""Detecting a tracer (coverage, a debugger, a profiler): timings under one are not judged."""

from __future__ import annotations

import sys

# Python 3.12+: PEP 669 tools (coverage, debuggers). Looked up once: asked for every measured
# test, a missing attribute would raise and catch an AttributeError each time.
_MONITORING = getattr(sys, "monitoring", None)


def active_tracer() -> str | None:
    """A name for the tracer slowing this process down, or None."""
    trace = sys.gettrace() or sys.getprofile()
    if trace is not None:
        return str(getattr(trace, "__module__", None) or "a tracer")
    monitoring = _MONITORING
    if monitoring is not None:
        for tool_id in range(6):
            name = monitoring.get_tool(tool_id)
            if name is not None:
                return str(name)
    return None
