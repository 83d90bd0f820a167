"""YAML read safely, with the position of every value (pure).

A watchlist is YAML an analyst edits, so what it may hold is bounded before
anything is built from it: at most MAX_BYTES of text, MAX_NODES values once
aliases are expanded (a few hundred bytes of anchors can stand for billions
of values), no alias that contains itself, only the plain tags (no
``!!python/...``), keys that are plain values, each once. Merge keys
(``<<: *defaults``) are read as YAML defines them. Every problem is a
``YamlProblem`` at a line and column; nothing of the file's text is ever
repeated in a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

Path_ = tuple[str | int, ...]

MAX_BYTES = 1024 * 1024
MAX_NODES = 100_000
MERGE = "tag:yaml.org,2002:merge"


@dataclass(frozen=True)
class YamlProblem:
    """One problem at a 1-based line and column."""

    line: int
    column: int
    message: str


class YamlRefused(Exception):
    """The document cannot be read at all (syntax, size, a bomb)."""

    def __init__(self, problem: YamlProblem) -> None:
        super().__init__(problem.message)
        self.problem = problem


class _ScalarLoader(yaml.SafeLoader):
    pass


# libyaml's parser where PyYAML was built with it (its wheels are): the same
# nodes and marks, read several times faster.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def compose(source: str) -> yaml.Node | None:
    """The document's node tree (aliases not yet expanded); YamlRefused when
    it is too large or not YAML."""
    if len(source.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise YamlRefused(YamlProblem(1, 1, f"larger than {MAX_BYTES // 1024} KB"))
    try:
        node: yaml.Node | None = yaml.compose(source, Loader=_LOADER)
        return node
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise YamlRefused(YamlProblem(line, col, f"invalid YAML: {e.problem or e.context}")) from e
    except yaml.reader.ReaderError as e:
        line, col = _line_and_column(source, e.position)
        what = f"U+{e.character:04X}" if isinstance(e.character, int) else repr(e.character)
        raise YamlRefused(YamlProblem(line, col, f"character {what} is not allowed")) from e
    except yaml.YAMLError as e:
        raise YamlRefused(YamlProblem(1, 1, f"invalid YAML: {type(e).__name__}")) from e


def _line_and_column(source: str, index: int) -> tuple[int, int]:
    line = source.count("\n", 0, index)
    return line + 1, index - (source.rfind("\n", 0, index) + 1) + 1


class Located:
    """YAML data plus the node at every path, to turn a path into file:line:col."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.nodes: dict[Path_, yaml.Node] = {}
        self.problems: list[YamlProblem] = []  # found while building; the rest was built
        self._scalars = _ScalarLoader("")  # one for the file: making one costs more than a scalar
        self._built = 0
        self._open: set[int] = set()  # the collections being built: an alias back into one loops

    def build(self, node: yaml.Node, path: Path_ = ()) -> Any:
        self._built += 1
        if self._built > MAX_NODES:
            raise YamlRefused(self._at(node, f"more than {MAX_NODES:,} values once aliases expand"))
        self.nodes.setdefault(path, node)
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            if id(node) in self._open:
                raise YamlRefused(self._at(node, "an alias that contains itself"))
            self._open.add(id(node))
            try:
                if isinstance(node, yaml.SequenceNode):
                    return [self.build(child, (*path, i)) for i, child in enumerate(node.value)]
                return self._mapping(node, path)
            finally:
                self._open.discard(id(node))
        try:
            return self._scalars.construct_object(node)
        except yaml.constructor.ConstructorError:
            self.problems.append(self._at(node, f"YAML tag {node.tag!r} is not allowed here"))
            return None

    def _mapping(self, node: yaml.MappingNode, path: Path_) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        lines: dict[Any, int] = {}  # where each key was first given
        merged: list[yaml.Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == MERGE:
                merged.append(value_node)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.problems.append(self._at(key_node, "a key must be a plain value"))
                continue
            key = self.build(key_node, (*path, "<key>"))
            if key in out:
                self.problems.append(
                    self._at(key_node, f"{key!r} is given twice (first at line {lines[key]})")
                )
                continue
            lines[key] = key_node.start_mark.line + 1
            self.nodes[(*path, str(key))] = value_node
            out[key] = self.build(value_node, (*path, str(key)))
        for value_node in merged:  # keys written here win over merged ones
            for key, value in self._merged(value_node, path).items():
                out.setdefault(key, value)
        return out

    def _merged(self, node: yaml.Node, path: Path_) -> dict[Any, Any]:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        out: dict[Any, Any] = {}
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                self.problems.append(self._at(source, "<< merges a mapping (key: value)"))
                continue
            for key, value in self.build(source, path).items():
                out.setdefault(key, value)
        return out

    def _at(self, node: yaml.Node, message: str) -> YamlProblem:
        mark = node.start_mark
        return YamlProblem(mark.line + 1, mark.column + 1, message)

    def mark(self, path: Path_) -> yaml.Mark | None:
        while path not in self.nodes and path:
            path = path[:-1]
        node = self.nodes.get(path)
        return node.start_mark if node is not None else None

    def offset_in_scalar(self, path: Path_, offset: int) -> tuple[int, int]:
        """The line and column (1-based) of character ``offset`` of a scalar's value."""
        node = self.nodes[path]
        value = str(node.value)
        i, j = 0, node.start_mark.index
        if getattr(node, "style", None) in (">", "|"):
            j = self.source.index("\n", j) + 1  # skip the header line
        while i < offset and i < len(value) and j < len(self.source):
            if value[i].isspace():
                i = _skip_spaces(value, i)
                j = _skip_spaces(self.source, j)
            elif value[i] == self.source[j]:
                i, j = i + 1, j + 1
            else:
                j += 1  # quotes and indicators in the source
        line = self.source.count("\n", 0, j)
        column = j - (self.source.rfind("\n", 0, j) + 1)
        return line + 1, column + 1


def _skip_spaces(text: str, index: int) -> int:
    while index < len(text) and text[index].isspace():
        index += 1
    return index
