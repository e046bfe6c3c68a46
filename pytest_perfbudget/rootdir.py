"""A path option's value that moved pytest's rootdir (``--perf-budget /abs/budgets.yml``).

pytest decides the rootdir and the config file from the command line before any plugin's options
exist: in ``--perf-budget PATH`` (a separate token) it takes PATH for a path to test, and the
common ancestor of the paths to test is where it starts looking for a config file. An absolute
path elsewhere then moves the rootdir, and with it node ids, budget patterns and call sites, and the
project's own config file may not be read. The ``=`` form (``--perf-budget=PATH``) is one token
that pytest leaves alone.

:func:`moved_rootdir` asks pytest's own rule what it would have chosen without those values. It
runs only when such a token is on the command line.
"""

from __future__ import annotations

import inspect
import itertools
from pathlib import Path
from typing import Any

import pytest

PATH_OPTIONS = ("--perf-budget", "--perf-report", "--perf-baseline")


def separate_values(arguments: list[str]) -> list[tuple[str, str]]:
    """``(option, value)`` for each path option given as two tokens, ``--perf-budget PATH``."""
    return [
        (option, value)
        for option, value in itertools.pairwise(arguments)
        if option in PATH_OPTIONS and not value.startswith("-")
    ]


def _setup_without_values(config: pytest.Config) -> tuple[Path, Path | None] | None:
    """The rootdir and config file pytest chooses from the test paths alone, or None when this
    pytest's ``determine_setup`` cannot be called as known."""
    try:
        from _pytest.config.findpaths import determine_setup
    except ImportError:  # pragma: no cover - a pytest without it
        return None
    option = config.option
    known: dict[str, Any] = {
        "inifile": getattr(option, "inifilename", None),
        "override_ini": getattr(option, "override_ini", None),
        "args": [str(argument) for argument in getattr(option, "file_or_dir", None) or []],
        "rootdir_cmd_arg": getattr(option, "rootdir", None) or None,
        "invocation_dir": config.invocation_params.dir,
        "config": config,
    }
    parameters = inspect.signature(determine_setup).parameters
    if any(name not in known for name in parameters):
        return None
    try:
        rootpath, inipath, *_ = determine_setup(**{name: known[name] for name in parameters})
    except Exception:  # pytest's own error would have stopped the run already
        return None
    return Path(rootpath), Path(inipath) if inipath is not None else None


def moved_rootdir(config: pytest.Config) -> str | None:
    """One warning line when a separate path value changed the rootdir or config file, else None."""
    values = separate_values(list(config.invocation_params.args))
    if not values:
        return None
    setup = _setup_without_values(config)
    if setup is None or setup == (config.rootpath, config.inipath):
        return None
    rootpath, inipath = setup
    given = ", ".join(f"{option} {value}" for option, value in values)
    fixed = " ".join(f"{option}={value}" for option, value in values)
    return (
        f"{given}: pytest took the value for a path to test, which moved the rootdir to "
        f"{_described(config.rootpath, config.inipath)} from {_described(rootpath, inipath)}; node ids "
        f"and budget patterns follow the rootdir. Write {fixed} (one token), or a path relative to the project."
    )


def _described(rootpath: Path, inipath: Path | None) -> str:
    return f"{rootpath} (config file: {inipath or 'none'})"
