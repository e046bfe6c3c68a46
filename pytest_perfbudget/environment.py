"""The run's environment, recorded so that reports from different machines can be told apart."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any


def _git(rootdir: Path, *args: str) -> str | None:
    try:
        completed = subprocess.run(
            ["git", *args], cwd=rootdir, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    output = completed.stdout.strip()
    return output if completed.returncode == 0 and output else None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe(rootdir: Path, workers: int) -> dict[str, Any]:
    """Python, platform, CPU, commit and branch (from CI variables or git), xdist workers."""
    from . import __version__

    commit = (
        os.environ.get("GITHUB_SHA") or os.environ.get("CI_COMMIT_SHA") or _git(rootdir, "rev-parse", "HEAD")
    )
    branch = (
        os.environ.get("GITHUB_HEAD_REF")
        or os.environ.get("GITHUB_REF_NAME")
        or os.environ.get("CI_COMMIT_REF_NAME")
        or _git(rootdir, "rev-parse", "--abbrev-ref", "HEAD")
    )
    return {
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "commit": commit,
        "branch": branch,
        "workers": workers,
        "plugin": __version__,
    }
