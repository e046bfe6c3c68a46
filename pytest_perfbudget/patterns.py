"""Budget patterns: globs over pytest node ids.

``*`` matches any run of characters but ``/``, ``**`` anything (``**/``
also no directory at all), ``?`` one character; everything else, ``[`` and ``]`` included, is literal. A pattern
also matches every test below what it names: a directory, a module, a class
or a test function with all its parametrizations.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

# What may follow a pattern when it names a directory, module, class or test.
_BELOW = r"(?=$|/|::|\[)"


@cache
def _compile(pattern: str) -> re.Pattern[str]:
    parts: list[str] = []
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            parts.append("(?:.*/)?")  # any directories, none included: **/test_x.py matches at the root
            index += 3
        elif pattern.startswith("**", index):
            parts.append(".*")
            index += 2
        elif pattern[index] == "*":
            parts.append("[^/]*")
            index += 1
        elif pattern[index] == "?":
            parts.append(".")
            index += 1
        else:
            parts.append(re.escape(pattern[index]))
            index += 1
    return re.compile("".join(parts) + _BELOW, re.DOTALL)


def normalize(pattern: str) -> str:
    """Drop what a user may write but a node id never has: ``./`` and a trailing ``/``."""
    pattern = pattern.strip()
    while pattern.startswith("./"):
        pattern = pattern[2:]
    return pattern.rstrip("/") or "**"


def matches(pattern: str, nodeid: str) -> bool:
    """True when ``pattern`` names ``nodeid`` or something that contains it."""
    return _compile(normalize(pattern)).match(nodeid) is not None


def matcher(pattern: str) -> Callable[[str], re.Match[str] | None]:
    """:func:`matches` for one pattern, compiled once: called with a node id, a match or None."""
    return _compile(normalize(pattern)).match


def fixed_prefix(pattern: str) -> str:
    """The directory or file a pattern is anchored at, before its first wildcard."""
    pattern = normalize(pattern)
    cut = min((i for i in (pattern.find("*"), pattern.find("?")) if i >= 0), default=len(pattern))
    head = pattern[:cut]
    if cut < len(pattern):
        head = head.rpartition("/")[0]
    return head.partition("::")[0]
