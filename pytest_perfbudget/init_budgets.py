"""A starting budget file from a run's measurements (``perfbudget init``).

Per test: a time budget on the median with headroom, rounded up to two
significant digits and never below :data:`MIN_TIME` (faster tests are
within timer noise); a memory budget with the same headroom where memory
was measured; and the exact query count, when the suite ran any SQL at all
(a suite without a database gets no ``queries: 0`` on every test). A test with N+1 suspects gets
``n_plus_one: 0`` and the count without their repeats: a generated budget never blesses an N+1. When the
report's environment has the calibration loop's time, it becomes the file's
``calibration`` setting, so a re-measured test's time limits follow the machine.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from .calibration import MAX_FACTOR
from .compare import metric_value

# With 20% the noise study's quiet runs failed 46-66% of test-runs without calibration (docs/noise.md).
DEFAULT_HEADROOM = 0.5
MIN_TIME = 0.001  # the default noise floor: a tighter time budget would fail on noise
TIME_STEPS = (("s", 1.0), ("ms", 1e-3), ("us", 1e-6))
SIZE_STEPS = (("GB", 1e9), ("MB", 1e6), ("kB", 1e3), ("B", 1.0))


def round_up(value: float) -> Decimal:
    """``value`` rounded up to two significant digits: 15.99 -> 16, 7.02 -> 7.1, 1234 -> 1300."""
    if value <= 0:
        return Decimal(0)
    exponent = math.floor(math.log10(value)) - 1
    steps = math.ceil(value / 10.0**exponent - 1e-9)  # the epsilon keeps 7.0 from becoming 7.1
    return Decimal(steps).scaleb(exponent).normalize()


def _with_unit(value: float, steps: Sequence[tuple[str, float]]) -> str:
    """In the largest unit that ``value`` reaches (``steps`` go from large to small)."""
    index = next((i for i, (_, factor) in enumerate(steps) if value >= factor), len(steps) - 1)
    amount = round_up(value / steps[index][1])
    if amount >= 1000 and index > 0:  # 999.9ms rounds up to 1000ms: say 1s
        index -= 1
        amount = round_up(value / steps[index][1])
    return f"{amount:f}{steps[index][0]}"


def time_budget(seconds: float, headroom: float) -> str:
    """``0.0123`` with 50% headroom -> ``19ms``."""
    return _with_unit(max(seconds * (1 + headroom), MIN_TIME), TIME_STEPS)


def memory_budget(size: float, headroom: float) -> str:
    """``1048576`` with 50% headroom -> ``1.6MB``."""
    return _with_unit(size * (1 + headroom), SIZE_STEPS)


# Characters YAML does not allow as they are (C1 controls, surrogates, U+FFFE/U+FFFF) or reads
# as line breaks (NEL, U+2028, U+2029); JSON's quoting escapes only the C0 controls of these.
_UNWRITABLE = re.compile("[\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]")


def _escape(character: re.Match[str]) -> str:
    return f"\\u{ord(character.group()):04x}"


def _quote(text: str) -> str:
    """A YAML double-quoted scalar (JSON's string syntax is a subset of it) that reads back as
    ``text``: other characters are written as they are, for ids in any script."""
    return _UNWRITABLE.sub(_escape, json.dumps(text, ensure_ascii=False))


def _comment(text: str) -> str:
    """``text`` on one comment line: what YAML would not take there becomes ``?``."""
    return _UNWRITABLE.sub("?", " ".join(text.split()))


def _entry(test: Mapping[str, Any], headroom: float, with_queries: bool) -> list[str]:
    metrics = test.get("metrics", {})
    lines = []
    if any(mark in str(test["nodeid"]) for mark in "*?"):
        lines.append("  # '*' and '?' in this id are wildcards: it may match other tests too")
    lines.append(f"  {_quote(str(test['nodeid']))}:")
    time = metric_value(metrics, "time", "median")
    if time is not None:
        lines.append(f"    time: {time_budget(time, headroom)}")
    memory = metrics.get("memory")
    if isinstance(memory, (int, float)) and memory > 0:
        lines.append(f"    memory: {memory_budget(memory, headroom)}")
    queries = metrics.get("queries")
    suspects = [suspect for suspect in test.get("n_plus_one") or () if isinstance(suspect, Mapping)]
    if suspects and isinstance(queries, int):
        lines += _without_repeats(queries, suspects)
    elif with_queries and isinstance(queries, int):
        lines.append(f"    queries: {queries}")
    return lines


def _without_repeats(queries: int, suspects: Sequence[Mapping[str, Any]]) -> list[str]:
    """A generated budget never blesses an N+1: ``n_plus_one: 0``, and the query count the test
    would make with each suspect's repeats done in one query, with a comment saying so."""
    repeats = sum(max(int(suspect.get("count") or 0) - 1, 0) for suspect in suspects)
    where = ", ".join(
        f"{suspect.get('count')} times from {suspect.get('call_site') or 'an unknown call site'}"
        for suspect in suspects[:3]
    )
    return [
        f"    # {queries} queries measured, with {len(suspects)} N+1 suspect{'s' * (len(suspects) != 1)}"
        f" ({where}{', ...' if len(suspects) > 3 else ''}):",
        "    # the limits leave out the repeats. Fix the N+1, or raise them if the repeats are meant.",
        f"    queries: {max(queries - repeats, 0)}",
        "    n_plus_one: 0",
    ]


def budget_file_text(document: Mapping[str, Any], *, headroom: float = DEFAULT_HEADROOM, source: str) -> str:
    """A version-1 budget file for every measured test of ``document``, in node id order."""
    tests = sorted(
        (
            test
            for test in document.get("tests", [])
            if metric_value(test.get("metrics", {}), "time", "median") is not None
        ),
        key=lambda test: str(test["nodeid"]),
    )
    with_queries = any(
        isinstance(test.get("metrics", {}).get("queries"), int) and test["metrics"]["queries"] > 0
        for test in tests
    )
    percent = f"{round(headroom * 100, 6):g}%"
    settings = _settings(document.get("environment") or {})
    header = [
        f"# Budgets written by `perfbudget init` from {_comment(source)}.",
        f"# Time limits the median over rounds with {percent} headroom (at least 1ms);",
        f"# memory has {percent} headroom"
        + ("; queries are the counts measured." if with_queries else "; the run made no SQL queries."),
        "# Edit freely; `perfbudget check FILE` validates it, and the plugin's documentation",
        '# ("The budget file") lists every key.',
        "version: 1",
        *settings,
    ]
    if not tests:
        return "\n".join([*header, "budgets: {}"]) + "\n"
    body = [line for test in tests for line in _entry(test, headroom, with_queries)]
    return "\n".join([*header, "budgets:", *body]) + "\n"


def _settings(environment: Mapping[str, Any]) -> list[str]:
    """The ``settings:`` section: ``calibration`` from the run's environment, when it has one."""
    loop = environment.get("calibration")
    if isinstance(loop, bool) or not isinstance(loop, (int, float)) or loop <= 0:
        return []
    return [
        "settings:",
        "  # The calibration loop's time on the machine measured. A test over a time budget is",
        "  # measured again with its time limits stretched by how much slower the loop is then",
        f"  # (at most {MAX_FACTOR:g}x). Write 0 to judge every run against the limits as written.",
        f"  calibration: {_with_unit(loop, TIME_STEPS)}",
    ]
