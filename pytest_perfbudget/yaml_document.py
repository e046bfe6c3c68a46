"""A YAML document read into located values: ``(value, line)`` pairs, mappings by key.

PyYAML's safe loader parses the text into events, never into arbitrary objects, and the
values are built from the events here: that keeps the line of every key for error messages,
lets duplicate keys be refused, and bounds what the file may ask for. The building is a loop,
not a recursion, so nesting cannot exhaust the stack; nesting is limited to
:data:`MAX_DEPTH`; and an alias is counted at the size of what it repeats, so a small file
whose aliases expand exponentially ("billion laughs") is refused after a bounded amount of
work, while a large file of plain entries is read at the parser's speed. libyaml's parser is
used when PyYAML has it (ten times faster than the pure-Python one).

Imported only when a budget file has to be read from its text (see :mod:`.budget_cache`):
importing PyYAML is a third of an active run's fixed cost.
"""

from __future__ import annotations

from typing import Any, Protocol, cast

import yaml

from .budgets import BudgetError, Located

MAX_DEPTH = 64  # a budget file nests five levels deep; more is a mistake or an attack
# Aliases may add this many values, or ten times the values written in the file if that is more.
MAX_EXPANDED = 100_000
_PLAIN_TAGS = (None, "!", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Events(Protocol):
    """What is used of a loader (typed here: PyYAML's stubs leave these untyped)."""

    def check_event(self, *choices: type[yaml.Event]) -> bool: ...
    def get_event(self) -> yaml.Event: ...
    def resolve(self, kind: type[yaml.Node], value: str, implicit: tuple[bool, bool]) -> str: ...


class YamlError(Exception):
    """Text that is not valid YAML; ``line`` locates the problem when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def read(text: str) -> Located | None:
    """The document in ``text`` as located values, or None when it holds no document.

    Raises :class:`YamlError` for invalid YAML and :class:`~.budgets.BudgetError` for
    YAML this plugin does not take (tags, keys that are not scalars, duplicate keys,
    deep nesting, aliases that expand too far).
    """
    try:
        loader = _Loader(text)
        try:
            return _Builder(cast(_Events, loader)).document()
        finally:
            loader.dispose()
    except yaml.YAMLError as error:
        raise _syntax_error(text, error) from None


def _syntax_error(text: str, error: yaml.YAMLError) -> YamlError:
    """What is wrong with ``text``, in the pure-Python parser's words: libyaml's are terser, and
    the messages then read the same wherever PyYAML was installed without libyaml."""
    if _Loader is not yaml.SafeLoader:
        try:
            loader = yaml.SafeLoader(text)
            try:
                while cast(_Events, loader).check_event():
                    cast(_Events, loader).get_event()
            finally:
                loader.dispose()
        except yaml.YAMLError as python_error:
            error = python_error
    if isinstance(error, yaml.reader.ReaderError):  # control characters, bad encoding
        return YamlError(error.reason, text[: error.position].count("\n") + 1)
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        return YamlError(str(error.problem or error.context), mark.line + 1 if mark else None)
    return YamlError(str(error))


def _line(event: yaml.Event) -> int | None:
    mark = event.start_mark
    return None if mark is None else int(mark.line) + 1


class _Collection:
    """A mapping or sequence being built: its values so far, and how many values it holds."""

    __slots__ = ("anchor", "key", "line", "size", "value")

    def __init__(
        self, value: dict[Any, Located] | list[Located], line: int | None, anchor: str | None
    ) -> None:
        self.value = value
        self.line = line
        self.anchor = anchor
        self.size = 1
        self.key: Located | None = None  # a mapping's key waiting for its value


class _Builder:
    """Builds located values from a loader's events, one document."""

    def __init__(self, loader: _Events) -> None:
        self.loader = loader
        self.constructor = yaml.constructor.SafeConstructor()
        self.scalars: dict[tuple[Any, ...], Any] = {}  # the same words recur on every entry
        self.anchors: dict[str, tuple[Located, int]] = {}  # a completed anchor: its value and size
        self.open_anchors: set[str] = set()  # anchors on collections still being built
        self.written = 0  # values written in the file
        self.expanded = 0  # values added by aliases

    def document(self) -> Located | None:
        loader = self.loader
        loader.get_event()  # the stream's start
        if loader.check_event(yaml.StreamEndEvent):
            return None
        loader.get_event()  # the document's start
        document = self._value()
        loader.get_event()  # the document's end
        if not loader.check_event(yaml.StreamEndEvent):
            raise YamlError("expected a single document, but found another one", _line(loader.get_event()))
        return document

    def _value(self) -> Located:
        """The next value, with everything nested in it."""
        stack: list[_Collection] = []
        loader = self.loader
        while True:
            event = loader.get_event()
            if isinstance(event, yaml.CollectionStartEvent):
                stack.append(self._open(event, stack))
                continue
            located: Located
            if isinstance(event, yaml.ScalarEvent):
                self._check_anchor(event)
                located, size = (self._scalar(event), _line(event)), 1
                self.written += 1
                if event.anchor is not None:
                    self.anchors[event.anchor] = (located, size)
            elif isinstance(event, yaml.AliasEvent):
                located, size = self._alias(event)
            else:  # the end of a mapping or a sequence
                done = stack.pop()
                located, size = (done.value, done.line), done.size
                if done.anchor is not None:
                    self.open_anchors.discard(done.anchor)
                    self.anchors[done.anchor] = (located, size)
            if not stack:
                return located
            _add(stack[-1], located, size, _line(event))

    def _open(self, event: yaml.CollectionStartEvent, stack: list[_Collection]) -> _Collection:
        line = _line(event)
        if stack and isinstance(stack[-1].value, dict) and stack[-1].key is None:
            raise BudgetError("keys must be plain words or quoted patterns", line)
        if event.tag not in _PLAIN_TAGS:
            raise BudgetError(f"unsupported YAML value: tag '{event.tag}'", line)
        if len(stack) >= MAX_DEPTH:
            raise BudgetError(f"the YAML nests deeper than {MAX_DEPTH} levels", line)
        self._check_anchor(event)
        self.written += 1
        if event.anchor is not None:
            self.open_anchors.add(event.anchor)
        value: dict[Any, Located] | list[Located] = {} if event.__class__ is yaml.MappingStartEvent else []
        return _Collection(value, line, event.anchor)

    def _check_anchor(self, event: yaml.NodeEvent) -> None:
        if event.anchor in self.anchors or event.anchor in self.open_anchors:
            raise BudgetError(f"duplicate anchor '{event.anchor}'", _line(event))

    def _alias(self, event: yaml.AliasEvent) -> tuple[Located, int]:
        line, anchor = _line(event), str(event.anchor)
        if anchor in self.open_anchors:
            raise BudgetError(f"the alias '*{anchor}' refers to a value that contains it", line)
        found = self.anchors.get(anchor)
        if found is None:
            raise BudgetError(f"undefined alias '*{anchor}'", line)
        (value, _), size = found
        self.written += 1
        self.expanded += size
        limit = max(MAX_EXPANDED, 10 * self.written)
        if self.expanded > limit:
            raise BudgetError(f"aliases expand the file to more than {limit} values", line)
        return (value, line), size

    def _scalar(self, event: yaml.ScalarEvent) -> Any:
        """A scalar by the safe loader's rules; a bad explicit tag (``!!int abc``) is an error."""
        key = (event.tag, event.value, event.implicit)
        if key in self.scalars:
            return self.scalars[key]
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.loader.resolve(yaml.ScalarNode, event.value, event.implicit)
        node = yaml.ScalarNode(tag, event.value, style=event.style)
        try:
            value = self.constructor.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as error:
            raise BudgetError(f"unsupported YAML value: {error.problem}", _line(event)) from None
        except (ValueError, TypeError, LookupError, AttributeError, ArithmeticError):
            raise BudgetError(f"cannot read {event.value!r} as tagged '{tag}'", _line(event)) from None
        try:
            hash(value)
        except TypeError:
            raise BudgetError(f"unsupported YAML value {event.value!r}", _line(event)) from None
        self.scalars[key] = value
        return value


def _add(parent: _Collection, located: Located, size: int, line: int | None) -> None:
    """``located`` into ``parent``: a sequence's item, a mapping's key or a mapping's value."""
    parent.size += size
    container = parent.value
    if isinstance(container, list):
        container.append(located)
        return
    if parent.key is None:
        if isinstance(located[0], (dict, list)):  # an alias to a collection, as a key
            raise BudgetError("keys must be plain words or quoted patterns", line)
        parent.key = located
        return
    key, key_line = parent.key
    parent.key = None
    if key in container:
        raise BudgetError(f"duplicate key '{key}' (first on line {container[key][1]})", key_line)
    container[key] = (located[0], key_line)
