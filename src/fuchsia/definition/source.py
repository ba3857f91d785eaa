"""Reading workflow files into plain data while remembering where every value stood.

YAML and JSON both go through PyYAML's composer (JSON is YAML's flow subset), so one walk
gives every mapping key and value a line and column. A key written twice in one mapping is a
problem, not a silent overwrite: a node id defined twice would otherwise lose a node.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import yaml

from fuchsia.errors import DefinitionError, Problem

Loc = tuple[str | int, ...]
MAX_FILE_BYTES = 10 * 1024 * 1024
# YAML aliases may repeat a subtree; more repeated values than this is an alias bomb.
MAX_ALIAS_VALUES = 100_000


@dataclass
class Source:
    """A parsed file: its data, and the 1-based position of every value and key by path."""

    file: str
    data: dict[str, Any]
    values: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def position(self, loc: Loc, *, key: bool = False) -> tuple[int, int]:
        """Where `loc` stands; falls back to the nearest enclosing value that was recorded."""
        if key and loc in self.keys:
            return self.keys[loc]
        for end in range(len(loc), -1, -1):
            prefix = loc[:end]
            if prefix in self.values:
                return self.values[prefix]
        return (1, 1)

    def problem(self, loc: Loc, message: str, *, key: bool = False) -> Problem:
        line, column = self.position(loc, key=key)
        return Problem(self.file, line, column, message)


class _Walker:
    def __init__(
        self, file: str, loader: yaml.SafeLoader, text: str, *, is_json: bool = False
    ) -> None:
        self.file = file
        self.loader = loader
        self.text = text
        self.is_json = is_json
        self.source = Source(file, {})
        self.problems: list[Problem] = []
        self.seen: set[int] = set()  # nodes walked so far (aliases share node objects)
        self.open: set[int] = set()  # collections being walked: the path from the root
        self.repeats = 0

    def walk(self, node: yaml.Node, loc: Loc) -> Any:
        self.source.values[loc] = self._start(node)
        if id(node) in self.seen:
            self.repeats += 1
            if self.repeats > MAX_ALIAS_VALUES:
                self._fail(loc, f"YAML aliases expand to more than {MAX_ALIAS_VALUES} values")
        self.seen.add(id(node))
        if not isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            return self._scalar(node)
        if id(node) in self.open:
            self._fail(loc, "a YAML alias refers to a value that contains it")
        self.open.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, loc)
            return [self.walk(item, (*loc, i)) for i, item in enumerate(node.value)]
        finally:
            self.open.discard(id(node))

    def _fail(self, loc: Loc, message: str) -> NoReturn:
        line, column = self.source.position(loc, key=True)
        raise DefinitionError([Problem(self.file, line, column, message)])

    def _start(self, node: yaml.Node) -> tuple[int, int]:
        """A value's position; a block scalar (`|`, `>`) starts on the line after its indicator,
        so that line N of a multi-line template is line N of the block."""
        mark = node.start_mark
        if isinstance(node, yaml.ScalarNode) and node.style in ("|", ">"):
            newline = self.text.find("\n", mark.index, node.end_mark.index)
            if newline != -1:
                first = self.text[newline + 1 : node.end_mark.index]
                return (mark.line + 2, len(first) - len(first.lstrip(" ")) + 1)
        return (mark.line + 1, mark.column + 1)

    def _scalar(self, node: yaml.Node) -> Any:
        if self.is_json:
            # JSON's own reading of the literal: YAML 1.1 would read 1e3 as a string and
            # would not join a surrogate pair such as "\ud83d\ude00" into one character.
            value = json.loads(self.text[node.start_mark.index : node.end_mark.index])
        else:
            value = self.loader.construct_object(node, deep=True)
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                self.problems.append(
                    Problem(
                        self.file,
                        node.start_mark.line + 1,
                        node.start_mark.column + 1,
                        f"the string holds an unpaired surrogate {value[exc.start]!r}; "
                        "write the character itself",
                    )
                )
        return value

    def _mapping(self, node: yaml.MappingNode, loc: Loc) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first_seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                key = self._scalar(key_node)
            else:
                key = self.loader.construct_object(key_node, deep=True)
            line, column = key_node.start_mark.line + 1, key_node.start_mark.column + 1
            if not isinstance(key, str):
                if isinstance(key, int | float | bool) or key is None:
                    key = str(key).lower() if isinstance(key, bool) else str(key)
                else:
                    self.problems.append(
                        Problem(self.file, line, column, "mapping keys must be strings")
                    )
                    continue
            if key in first_seen:
                self.problems.append(
                    Problem(
                        self.file,
                        line,
                        column,
                        f"duplicate key {key!r} (first defined on line {first_seen[key]})",
                    )
                )
                continue
            first_seen[key] = line
            self.source.keys[(*loc, key)] = (line, column)
            result[key] = self.walk(value_node, (*loc, key))
        return result


def _json_problem(file: str, text: str) -> Problem | None:
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return Problem(file, exc.lineno, exc.colno, f"invalid JSON: {exc.msg}")
    except RecursionError:
        return Problem(file, 1, 1, "the file is nested too deeply")
    return None


def parse_text(text: str, file: str = "<string>", *, is_json: bool = False) -> Source:
    """Parse YAML or JSON text; syntax errors raise, duplicate keys are kept as problems."""
    if not text.strip():
        raise DefinitionError(
            [Problem(file, 1, 1, "the file is empty; expected a workflow mapping")]
        )
    if is_json and (problem := _json_problem(file, text)):
        raise DefinitionError([problem])
    # In valid JSON a tab can only be whitespace, which YAML does not accept between tokens;
    # one space for one tab keeps every line and column where it was.
    loader = yaml.SafeLoader(text.replace("\t", " ") if is_json else text)
    try:
        root = loader.get_single_node()
        if root is None:
            raise DefinitionError([Problem(file, 1, 1, "the file holds no document")])
        walker = _Walker(file, loader, text, is_json=is_json)
        data = walker.walk(root, ())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        reason = exc.problem or exc.context or "invalid YAML"
        raise DefinitionError([Problem(file, line, column, f"invalid YAML: {reason}")]) from None
    except yaml.YAMLError as exc:
        raise DefinitionError([Problem(file, 1, 1, f"invalid YAML: {exc}")]) from None
    except RecursionError:
        raise DefinitionError([Problem(file, 1, 1, "the file is nested too deeply")]) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"a {type(data).__name__} scalar"
        raise DefinitionError(
            [Problem(file, 1, 1, f"a workflow file must be a mapping at the top level, not {kind}")]
        )
    walker.source.data = data
    walker.source.problems = walker.problems
    return walker.source


def read_file(path: str | Path) -> Source:
    """Read and parse a workflow file; unreadable, binary or huge files are one clear problem."""
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise DefinitionError([Problem(name, 1, 1, "no such file")]) from None
    except IsADirectoryError:
        raise DefinitionError(
            [Problem(name, 1, 1, "is a directory, not a workflow file")]
        ) from None
    except OSError as exc:
        raise DefinitionError([Problem(name, 1, 1, f"cannot read: {exc.strerror}")]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise DefinitionError(
            [Problem(name, 1, 1, f"the file is larger than {MAX_FILE_BYTES} bytes")]
        )
    if b"\x00" in raw:
        raise DefinitionError([Problem(name, 1, 1, "a binary file, not a YAML or JSON workflow")])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DefinitionError(
            [Problem(name, 1, 1, f"not UTF-8 text (byte {exc.start}); save the file as UTF-8")]
        ) from None
    return parse_text(text, name, is_json=name.endswith(".json"))
