"""The budget file's YAML, as read last time, in pytest's cache (``.pytest_cache``).

Reading YAML means importing PyYAML, which takes longer than everything else an active run
does before its first test. The cache keeps, per budget file, its text and the located values
read from it; a run whose file holds the same text takes the values from there. What is
cached is only the YAML as written (values and lines), not the budgets validated from it, so
the same checks and messages apply either way, and an edit of the file is seen at once: the
text is compared, not a timestamp.
"""

from __future__ import annotations

from typing import Any

import pytest

from .budgets import Located

CACHE_KEY = "perfbudget/budget-files"
FORMAT = 1  # of what is stored; another value is ignored, so a change of it needs no migration
MAX_FILES = 8  # budget files remembered per project (the most recently read ones)

# Values stored as JSON come back as they were: other scalars (dates, bytes) are not cached.
_SCALARS = (str, int, float, bool, type(None))


class DocumentCache:
    """The cached document of one budget file; ``writable`` is False on xdist workers."""

    def __init__(self, cache: pytest.Cache, path: str, *, writable: bool) -> None:
        self.cache = cache
        self.path = path
        self.writable = writable

    def get(self, text: str) -> Located | None:
        stored = self._stored()
        entry = stored.get("files", {}).get(self.path)
        if not isinstance(entry, dict) or entry.get("text") != text:
            return None
        try:
            return _decode(entry["document"])
        except (KeyError, TypeError, ValueError):  # written by hand or by another version
            return None

    def put(self, text: str, document: Located) -> None:
        if not self.writable:
            return  # the controller or a serial run writes it: xdist workers would race
        encoded = _encode(document)
        if encoded is None:
            return
        files = {path: entry for path, entry in self._stored().get("files", {}).items() if path != self.path}
        kept = dict(list(files.items())[-(MAX_FILES - 1) :])
        kept[self.path] = {"text": text, "document": encoded}
        self.cache.set(CACHE_KEY, {"format": FORMAT, "files": kept})

    def _stored(self) -> dict[str, Any]:
        stored = self.cache.get(CACHE_KEY, None)
        if not isinstance(stored, dict) or stored.get("format") != FORMAT:
            return {}
        return stored


def _encode(located: Located) -> list[Any] | None:
    """``[value, line]``; a mapping's value is a list of ``[key, [value, line]]`` pairs (JSON
    objects would lose the order and non-string keys), a sequence's a list of located values."""
    value, line = located
    if isinstance(value, dict):
        pairs = []
        for key, item in value.items():
            encoded = _encode(item)
            if encoded is None or type(key) not in _SCALARS:
                return None
            pairs.append([key, encoded])
        return [{"mapping": pairs}, line]
    if isinstance(value, list):
        items = [_encode(item) for item in value]
        return None if None in items else [{"sequence": items}, line]
    return [value, line] if type(value) in _SCALARS else None


def _decode(encoded: list[Any]) -> Located:
    value, line = encoded
    if isinstance(value, dict):
        if "mapping" in value:
            return {key: _decode(item) for key, item in value["mapping"]}, line
        return [_decode(item) for item in value["sequence"]], line
    return value, line
