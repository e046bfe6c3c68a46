"""Detecting a tracer (coverage, a debugger, a profiler): timings under one are not judged."""

from __future__ import annotations

import sys


def active_tracer() -> str | None:
    """A name for the tracer slowing this process down, or None."""
    trace = sys.gettrace() or sys.getprofile()
    if trace is not None:
        return str(getattr(trace, "__module__", None) or "a tracer")
    monitoring = getattr(sys, "monitoring", None)  # Python 3.12+: PEP 669 tools (coverage, debuggers)
    if monitoring is not None:
        for tool_id in range(6):
            name = monitoring.get_tool(tool_id)
            if name is not None:
                return str(name)
    return None
