"""A YAML document read into located values: ``(value, line)`` pairs, mappings by key.

PyYAML's safe loader composes the text into nodes, never into arbitrary objects, and the
nodes are walked by hand: that keeps the line of every key for error messages and lets
duplicate keys be refused. Imported only when a budget file has to be read from its text
(see :mod:`.budget_cache`): importing PyYAML is a third of an active run's fixed cost.
"""

from __future__ import annotations

from typing import Any

import yaml

from .budgets import BudgetError, Located


class YamlError(Exception):
    """Text that is not valid YAML; ``line`` locates the problem when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def read(text: str) -> Located | None:
    """The document in ``text`` as located values, or None when it holds no document.

    Raises :class:`YamlError` for invalid YAML and :class:`~.budgets.BudgetError` for
    YAML this plugin does not take (tags, keys that are not scalars, duplicate keys).
    """
    node = _compose(text)
    if node is None:
        return None
    walker = _Walker()
    try:
        return walker.located(node)
    except RecursionError:
        raise BudgetError("a YAML alias refers to itself or nests too deeply") from None
    finally:
        walker.close()


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


MAX_NODES = 100_000  # aliases can expand a small file exponentially ("billion laughs")
_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


class _Walker:
    """Turns composed nodes into ``(value, line)`` pairs; mappings hold located values by key."""

    def __init__(self) -> None:
        self.loader = yaml.SafeLoader("")
        self.nodes = 0

    def located(self, node: yaml.Node) -> Located:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise BudgetError(f"the file expands to more than {MAX_NODES} values (aliases?)")
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in _PLAIN_TAGS:
            raise BudgetError(f"unsupported YAML value: tag '{node.tag}'", _line(node))
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node), _line(node)
        if isinstance(node, yaml.SequenceNode):
            return [self.located(item) for item in node.value], _line(node)
        return self.scalar(node), _line(node)

    def _mapping(self, node: yaml.MappingNode) -> dict[Any, Located]:
        mapping: dict[Any, Located] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise BudgetError("keys must be plain words or quoted patterns", _line(key_node))
            key = self.scalar(key_node)
            if key in mapping:
                raise BudgetError(f"duplicate key '{key}' (first on line {mapping[key][1]})", _line(key_node))
            mapping[key] = (self.located(value_node)[0], _line(key_node))
        return mapping

    def scalar(self, node: yaml.Node) -> Any:
        """A scalar by the safe loader's rules; a bad explicit tag (``!!int abc``) is an error."""
        try:
            value = self.loader.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as error:
            raise BudgetError(f"unsupported YAML value: {error.problem}", _line(node)) from None
        except (ValueError, TypeError, LookupError, AttributeError, ArithmeticError):
            raise BudgetError(f"cannot read {node.value!r} as tagged '{node.tag}'", _line(node)) from None
        try:
            hash(value)
        except TypeError:
            raise BudgetError(f"unsupported YAML value {node.value!r}", _line(node)) from None
        return value

    def close(self) -> None:
        self.loader.dispose()


def _compose(text: str) -> yaml.Node | None:
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as error:  # the reader refuses control characters up front
        raise YamlError(error.reason, text[: error.position].count("\n") + 1) from None
    try:
        return loader.get_single_node()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        raise YamlError(str(error.problem or error.context), mark.line + 1 if mark else None) from None
    except yaml.YAMLError as error:
        raise YamlError(str(error)) from None
    finally:
        loader.dispose()
