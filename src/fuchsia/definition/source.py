"""Reading workflow files into plain data while remembering where every value stood.

YAML and JSON both go through libyaml's composer (JSON is YAML's flow subset; PyYAML's
pure-Python composer is the fallback where libyaml is missing), so one walk gives every mapping
key and value a line and column. A key written twice in one mapping is a problem, not a silent
overwrite: a node id defined twice would otherwise lose a node.

What comes out is bounded. Mapping keys are strings as written (`yes:` is the key 'yes', never
True; `1:` or `null:` is a problem, since no later step could tell it from the string);
integers have at most `MAX_NUMBER_DIGITS` digits; nesting is at most `MAX_DEPTH` levels;
aliases repeat at most `MAX_ALIAS_VALUES` values. Each limit breached is a located problem.
The limits are constants so that other ways in (the API's request bodies) can apply the same
ones. Values JSON cannot carry (YAML dates, NaN) are left for the reader of each file kind to
refuse (`validate.json_problems` for workflows).
"""

from __future__ import annotations

import gc
import json
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import yaml

from fuchsia.errors import DefinitionError, Problem
from fuchsia.reading import read_at_most

Loc = tuple[str | int, ...]
MAX_FILE_BYTES = 10 * 1024 * 1024
# YAML aliases may repeat a subtree; more repeated values than this is an alias bomb.
MAX_ALIAS_VALUES = 100_000
# Mappings and lists inside one another; a workflow needs a handful, JSON data a few dozen.
MAX_DEPTH = 100
# Digits in an integer literal: far beyond any count, size or id, far below Python's own
# 4,300-digit limit (past which int() raises) and the time big-number arithmetic takes.
MAX_NUMBER_DIGITS = 100

_BASE: Any = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader


_STR = "tag:yaml.org,2002:str"
# PyYAML's implicit bool and null words: the only plain scalars starting with a letter that
# resolve to anything but a string (tests/unit/test_source.py pins this against the resolver).
_WORDS = frozenset(
    {"yes", "Yes", "YES", "no", "No", "NO", "true", "True", "TRUE", "false", "False", "FALSE"}
    | {"on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL"}
)
_WORDY_FIRST = frozenset("yYnNtTfFoO")


class _Loader(_BASE):  # type: ignore[misc]
    """The safe loader with scalar tags resolved cheaply: the resolver's regexes are most of
    the composer's time. A quoted scalar is a string, a plain one whose first character no
    implicit resolver claims is one too, a plain word is one unless it is a bool or null word;
    the rest (numbers, dates) go to the resolver once per distinct text."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.tags: dict[tuple[type, Any, Any], str] = {}
        self.claimed = frozenset(self.yaml_implicit_resolvers)
        if not self.yaml_path_resolvers:
            # The composer calls these two around every node; with no path resolvers (the
            # safe loader registers none) they do nothing, and bound C methods that do
            # nothing (a lookup in an empty dict, clearing an empty list) save a Python call
            # per node each.
            nothing: dict[Any, Any] = {}
            empty: list[Any] = []
            self.descend_resolver = nothing.get
            self.ascend_resolver = empty.clear

    def resolve(self, kind: type, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and value:
            if not implicit[0]:
                return _STR
            first = value[0]
            if first not in self.claimed or (first in _WORDY_FIRST and value not in _WORDS):
                return _STR
        key = (kind, value, implicit)  # a collection's value is None: one entry per kind
        tag = self.tags.get(key)
        if tag is None:
            tag = self.tags[key] = super().resolve(kind, value, implicit)
        return tag


_BOOL = "tag:yaml.org,2002:bool"
_ScalarNode = yaml.ScalarNode
_MappingNode = yaml.MappingNode
_JSON_SCALARS = frozenset({str, int, bool, float, type(None)})
_INT = "tag:yaml.org,2002:int"
_MERGE = "tag:yaml.org,2002:merge"
_KEY_KINDS = {
    "tag:yaml.org,2002:int": "a number",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:null": "null",
    "tag:yaml.org,2002:timestamp": "a date",
}


@dataclass
class Source:
    """A parsed file: its data, and the 1-based position of every value and key by path."""

    file: str
    data: dict[str, Any]
    values: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    # True when reading found only values JSON carries (no date, binary, NaN or infinity), so
    # validation need not look again; False (unknown) for a Source built any other way.
    json_safe: bool = False

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
    """One pass over the composed nodes: the data, every position, and the problems.

    Where the text holds no `&`, it has no anchors, so no node is shared: the alias checks
    (repeats, self-reference) are skipped, and the walk does a handful of operations per value.
    """

    def __init__(self, file: str, loader: Any, text: str, *, is_json: bool = False) -> None:
        self.file = file
        self.loader = loader
        self.text = text
        self.is_json = is_json
        self.shared = not is_json and "&" in text  # JSON has no anchors
        self.source = Source(file, {})
        self.values = self.source.values
        self.keys = self.source.keys
        self.problems: list[Problem] = []
        self.seen: set[int] = set()  # nodes walked so far (aliases share node objects)
        self.open: set[int] = set()  # collections being walked: the path from the root
        self.repeats = 0
        self.json_safe = True  # no value JSON cannot carry seen so far

    def walk(self, node: yaml.Node, loc: Loc) -> Any:
        mark = node.start_mark
        if node.__class__ is _ScalarNode:
            style = node.style
            block = style == "|" or style == ">"
            self.values[loc] = self._start(node) if block else (mark.line + 1, mark.column + 1)
            if self.shared:
                self._count(node, loc)
            if node.tag == _STR and not self.is_json:
                value = node.value
                if not value.isascii():
                    self._check_text(node, value)
                return value
            return self._scalar(node)
        self.values[loc] = (mark.line + 1, mark.column + 1)
        if self.shared:
            self._count(node, loc)
        if len(loc) >= MAX_DEPTH:
            self._fail(loc, f"the file is nested more than {MAX_DEPTH} levels deep")
        if not self.shared:
            return self._collection(node, loc)
        if id(node) in self.open:
            self._fail(loc, "a YAML alias refers to a value that contains it")
        self.open.add(id(node))
        try:
            return self._collection(node, loc)
        finally:
            self.open.discard(id(node))

    def _count(self, node: yaml.Node, loc: Loc) -> None:
        """Count a value seen again through an alias; too many is an alias bomb."""
        if id(node) in self.seen:
            self.repeats += 1
            if self.repeats > MAX_ALIAS_VALUES:
                self._fail(loc, f"YAML aliases expand to more than {MAX_ALIAS_VALUES} values")
        self.seen.add(id(node))

    def _collection(self, node: yaml.Node, loc: Loc) -> Any:
        if node.__class__ is _MappingNode:
            return self._mapping(node, loc)
        walk = self.walk
        return [walk(item, (*loc, i)) for i, item in enumerate(node.value)]

    def _fail(self, loc: Loc, message: str) -> NoReturn:
        line, column = self.source.position(loc, key=True)
        raise DefinitionError([Problem(self.file, line, column, message)])

    def _note(self, node: yaml.Node, message: str) -> None:
        mark = node.start_mark
        self.problems.append(Problem(self.file, mark.line + 1, mark.column + 1, message))

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
        """A scalar's value; an integer too long to read is a problem (and None)."""
        if self.is_json:
            literal = self.text[node.start_mark.index : node.end_mark.index]
            if _too_many_digits(literal):
                return self._too_long(node)
            # JSON's own reading of the literal: YAML 1.1 would read 1e3 as a string and
            # would not join a surrogate pair such as "\ud83d\ude00" into one character.
            value = json.loads(literal)
        elif node.tag == _STR:
            value = node.value
        elif node.tag == _INT and _too_many_digits(node.value):
            return self._too_long(node)
        elif (
            node.tag == _INT
            and node.value.isascii()
            and node.value.isdigit()
            and node.value[0] != "0"
        ):
            value = int(node.value)  # plain decimal: YAML 1.1 reads 012 as octal, 1_000 as 1000
        else:
            value = self.loader.construct_object(node, deep=True)
        if value.__class__ not in _JSON_SCALARS or (
            value.__class__ is float and not math.isfinite(value)
        ):
            self.json_safe = False  # validation places it (`validate.json_problems`)
        if isinstance(value, str) and not value.isascii():
            self._check_text(node, value)
        return value

    def _too_long(self, node: yaml.Node) -> None:
        self._note(node, f"a number with more than {MAX_NUMBER_DIGITS} digits")

    def _check_text(self, node: yaml.Node, value: str) -> None:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            self._note(
                node,
                f"the string holds an unpaired surrogate {value[exc.start]!r}; "
                "write the character itself",
            )

    def _key(self, node: yaml.Node) -> str | None:
        """A mapping key as the string written, or None (with a problem) if it is not one."""
        if isinstance(node, yaml.ScalarNode):
            if self.is_json:
                key = self._scalar(node)
                return key if isinstance(key, str) else None
            if node.tag in (_STR, _BOOL):  # `yes:` and `on:` are the words, not booleans
                self._check_text(node, node.value)
                return str(node.value)
            if node.tag == _MERGE:
                self._note(node, "YAML merge keys (<<) are not supported; write the keys out")
                return None
            kind = _KEY_KINDS.get(node.tag, f"a {node.tag} value")
            self._note(
                node, f"a mapping key must be a string, not {kind}; quote it: '{node.value}'"
            )
            return None
        self._note(node, "a mapping key must be a string, not a list or a mapping")
        return None

    def _mapping(self, node: yaml.MappingNode, loc: Loc) -> dict[str, Any]:
        result: dict[str, Any] = {}
        keys, values, walk, is_json = self.keys, self.values, self.walk, self.is_json
        plain = not is_json and not self.shared
        for key_node, value_node in node.value:
            if (
                key_node.__class__ is _ScalarNode
                and key_node.tag == _STR
                and not is_json
                and key_node.value.isascii()
            ):
                key = key_node.value
            else:
                key = self._key(key_node)
                if key is None:
                    continue
            mark = key_node.start_mark
            child = (*loc, key)
            if key in result:
                first = keys[child][0]
                self.problems.append(
                    Problem(
                        self.file,
                        mark.line + 1,
                        mark.column + 1,
                        f"duplicate key {key!r} (first defined on line {first})",
                    )
                )
                continue
            keys[child] = (mark.line + 1, mark.column + 1)
            if plain:  # the common cases as `walk` reads them, with fewer calls
                kind = value_node.__class__
                if kind is _ScalarNode and value_node.tag == _STR:
                    style = value_node.style
                    if style != "|" and style != ">":
                        mark = value_node.start_mark
                        values[child] = (mark.line + 1, mark.column + 1)
                        value = result[key] = value_node.value
                        if not value.isascii():
                            self._check_text(value_node, value)
                        continue
                elif kind is _MappingNode and len(child) < MAX_DEPTH:
                    mark = value_node.start_mark
                    values[child] = (mark.line + 1, mark.column + 1)
                    result[key] = self._mapping(value_node, child)
                    continue
            result[key] = walk(value_node, child)
        return result


def _too_many_digits(literal: str) -> bool:
    if len(literal) <= MAX_NUMBER_DIGITS:
        return False
    return sum(c.isdigit() for c in literal) > MAX_NUMBER_DIGITS and literal[:1] not in "\"'"


def _json_problem(file: str, text: str) -> Problem | None:
    """A JSON syntax error at its position. Numbers too long and nesting too deep are valid
    JSON syntax; the walk places them."""
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return Problem(file, exc.lineno, exc.colno, f"invalid JSON: {exc.msg}")
    except (ValueError, RecursionError):
        return None
    return None


@contextmanager
def paused_gc() -> Iterator[None]:
    """Hold Python's cyclic garbage collector while a file becomes data: composing and walking
    10,000 nodes allocates a few hundred thousand objects, all acyclic, and the collections
    they trigger (each traversing every live object) were half of validation's time. On
    resuming, what was made meanwhile (by any thread) goes to the oldest generation without
    a young collection: it is collected with that generation, at the next full collection."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        if gc.get_freeze_count() == 0:
            # Promote what was made to the oldest generation, unexamined: the young
            # collection the next allocation would start otherwise traverses all of it (a
            # few hundred thousand objects, acyclic, that live as long as the definition).
            # Garbage cycles among them, if any, go at the next full collection. Skipped
            # where a program froze objects itself (gc.freeze before fork): they stay frozen.
            gc.freeze()
            gc.unfreeze()
        gc.enable()


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def parse_text(text: str, file: str = "<string>", *, is_json: bool = False) -> Source:
    """Parse YAML or JSON text; syntax errors raise, duplicate keys are kept as problems.
    Text over `MAX_FILE_BYTES` (in UTF-8) is refused as a file of that size is."""
    if len(text) > MAX_FILE_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise DefinitionError(
            [Problem(file, 1, 1, f"the source is larger than {MAX_FILE_BYTES} bytes")]
        )
    if not text.strip():
        raise DefinitionError(
            [Problem(file, 1, 1, "the file is empty; expected a workflow mapping")]
        )
    if "\x00" in text:
        raise DefinitionError([Problem(file, 1, 1, "a binary file, not a YAML or JSON workflow")])
    if (lone := _LONE_SURROGATE.search(text)) is not None:  # text from JSON: not Unicode
        line, column = _line_column(text, lone.start())
        reason = f"the text holds a lone surrogate {lone[0]!r}, which is not a character"
        raise DefinitionError([Problem(file, line, column, reason)])
    if is_json and (problem := _json_problem(file, text)):
        raise DefinitionError([problem])
    # In valid JSON a tab can only be whitespace, which YAML does not accept between tokens;
    # one space for one tab keeps every line and column where it was.
    loader = _Loader(_for_libyaml(text) if is_json else text)
    try:
        with paused_gc():
            walker, data = _compose(loader, file, text, is_json=is_json)
    except yaml.MarkedYAMLError as exc:
        raise DefinitionError([_yaml_problem(file, text, exc)]) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow, by its index
        line, column = _line_column(text, exc.position)
        found = chr(exc.character) if isinstance(exc.character, int) else exc.character
        reason = f"invalid YAML: character {found!r} is not allowed ({exc.reason})"
        raise DefinitionError([Problem(file, line, column, reason)]) from None
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
    walker.source.json_safe = walker.json_safe
    return walker.source


# A JSON escape of one half of a surrogate pair (not itself an escaped backslash).
_SURROGATE_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _for_libyaml(json_text: str) -> str:
    """Valid JSON that libyaml reads with every line and column kept: in JSON a tab can only be
    whitespace, which YAML refuses between tokens (one space for one tab); libyaml refuses
    surrogate escapes such as \\ud83d, which JSON pairs into one character (an escape of the
    same length instead: the walk reads each scalar from the original text)."""
    return _SURROGATE_ESCAPE.sub(r"\1\\u0041", json_text.replace("\t", " "))


def _line_column(text: str, index: int) -> tuple[int, int]:
    index = max(0, min(index, len(text)))
    line_start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - line_start + 1


_LIBYAML_EXPECTED = re.compile(r"did not find expected (.+)")


def _compose(loader: Any, file: str, text: str, *, is_json: bool) -> tuple[_Walker, Any]:
    root = loader.get_single_node()
    if root is None:
        raise DefinitionError([Problem(file, 1, 1, "the file holds no document")])
    walker = _Walker(file, loader, text, is_json=is_json)
    return walker, walker.walk(root, ())


def _yaml_problem(file: str, text: str, exc: yaml.MarkedYAMLError) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    reason = f"invalid YAML: {exc.problem or exc.context or 'a syntax error'}"
    if exc.problem == "exceeded maximum nesting depth":  # libyaml's own limit, above ours
        reason = f"the file is nested more than {MAX_DEPTH} levels deep"
    elif mark is not None and text[mark.index : mark.index + 1] == "\t":
        reason = "invalid YAML: found character '\\t' where YAML allows only spaces"
    elif mark is not None and (expected := _LIBYAML_EXPECTED.match(exc.problem or "")):
        # libyaml's "did not find expected X" in the words of PyYAML's own parser
        what = "the node content" if expected[1] == "node content" else expected[1]
        found = text[mark.index : mark.index + 1]
        reason = (
            f"invalid YAML: expected {what}, but found {found!r}"
            if found
            else (f"invalid YAML: expected {what}, but found the end of the file")
        )
    return Problem(file, line, column, reason)


def read_file(path: str | Path) -> Source:
    """Read and parse a workflow file; unreadable, binary or huge files are one clear problem."""
    return parse_text(read_text(path), str(path), is_json=str(path).endswith(".json"))


def read_text(path: str | Path) -> str:
    """A workflow file's text (read no further than `MAX_FILE_BYTES`); unreadable, binary,
    huge or undecodable files are one clear problem."""
    name = str(path)
    try:
        raw = read_at_most(path, MAX_FILE_BYTES)
    except FileNotFoundError:
        raise DefinitionError([Problem(name, 1, 1, "no such file")]) from None
    except IsADirectoryError:
        raise DefinitionError(
            [Problem(name, 1, 1, "is a directory, not a workflow file")]
        ) from None
    except OSError as exc:
        raise DefinitionError([Problem(name, 1, 1, f"cannot read: {exc.strerror}")]) from None
    except ValueError:  # a NUL, or a lone surrogate the file system cannot encode
        shown = name.encode("utf-8", "backslashreplace").decode("utf-8")
        raise DefinitionError(
            [Problem(shown, 1, 1, "not a file name: it holds a NUL or a lone surrogate")]
        ) from None
    if len(raw) > MAX_FILE_BYTES:
        raise DefinitionError(
            [Problem(name, 1, 1, f"the file is larger than {MAX_FILE_BYTES} bytes")]
        )
    if b"\x00" in raw:  # before decoding: most binary files are not UTF-8 either
        raise DefinitionError([Problem(name, 1, 1, "a binary file, not a YAML or JSON workflow")])
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DefinitionError(
            [Problem(name, 1, 1, f"not UTF-8 text (byte {exc.start}); save the file as UTF-8")]
        ) from None
