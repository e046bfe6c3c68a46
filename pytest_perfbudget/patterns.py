"""Budget patterns: globs over pytest node ids.

``*`` matches any run of characters but ``/``, ``**`` anything (``**/``
also no directory at all), ``?`` one character; everything else, ``[`` and ``]`` included, is literal. A pattern
also matches every test below what it names: a directory, a module, a class
or a test function with all its parametrizations.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import cache

# What may follow a pattern when it names a directory, module, class or test.
_BELOW = r"(?=$|/|::|\[)"
_BOUNDARY = re.compile(r"/|::|\[")
# From this many patterns without a wildcard on, they are looked up by the node id's prefixes
# rather than matched one by one: a budget file that `perfbudget init` wrote for a large suite
# has one per test.
INDEX_FROM = 32


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
    pattern = normalize(pattern)
    if is_literal(pattern):  # no regular expression to compile: one per test, in a large file
        end = len(pattern)
        return nodeid.startswith(pattern) and (
            end == len(nodeid) or nodeid[end] in "/[" or nodeid.startswith("::", end)
        )
    return _compile(pattern).match(nodeid) is not None


def is_literal(pattern: str) -> bool:
    """A pattern without wildcards names one node id and what is below it."""
    return "*" not in pattern and "?" not in pattern


def prefixes(nodeid: str) -> list[str]:
    """``nodeid`` and each part of it a pattern could name: ``a/t.py::C::t[1]`` gives ``a``,
    ``a/t.py``, ``a/t.py::C``, ``a/t.py::C::t`` and the whole id."""
    return [nodeid[: found.start()] for found in _BOUNDARY.finditer(nodeid)] + [nodeid]


class PatternIndex:
    """Which of many patterns match a node id, in the patterns' order.

    Patterns with a wildcard are matched one by one; with :data:`INDEX_FROM` or more without
    one, those are found by looking the node id's :func:`prefixes` up, so that a file with a
    pattern per test costs per test what a file with a few patterns does.
    """

    def __init__(self, patterns: Sequence[str]) -> None:
        normalized = [normalize(pattern) for pattern in patterns]
        literal = [index for index, pattern in enumerate(normalized) if is_literal(pattern)]
        self._literals: dict[str, list[int]] | None = None
        if len(literal) >= INDEX_FROM:
            self._literals = {}
            for index in literal:
                self._literals.setdefault(normalized[index], []).append(index)
        indexed = set(literal) if self._literals is not None else set()
        self._matchers = [
            (index, _compile(pattern).match)
            for index, pattern in enumerate(normalized)
            if index not in indexed
        ]

    def matching(self, nodeid: str) -> tuple[int, ...]:
        """Indices of the patterns that match ``nodeid``, in order."""
        found = [index for index, match in self._matchers if match(nodeid) is not None]
        literals = self._literals
        if literals is None:
            return tuple(found)
        for prefix in prefixes(nodeid):
            found.extend(literals.get(prefix, ()))
        return tuple(sorted(found))

    def matched(self, nodeids: Iterable[str]) -> set[int]:
        """Indices of the patterns that match at least one of ``nodeids``."""
        hit: set[int] = set()
        for nodeid in nodeids:
            hit.update(self.matching(nodeid))
        return hit


def fixed_prefix(pattern: str) -> str:
    """The directory or file a pattern is anchored at, before its first wildcard."""
    pattern = normalize(pattern)
    cut = min((i for i in (pattern.find("*"), pattern.find("?")) if i >= 0), default=len(pattern))
    head = pattern[:cut]
    if cut < len(pattern):
        head = head.rpartition("/")[0]
    return head.partition("::")[0]
