"""What a template refers to, read from Jinja's syntax tree without compiling it.

Validation needs two things from every template: that it parses (with the line of the first
error) and which top-level names it reads, to catch a name that is the id of a node the
template cannot see (single-hop visibility, DESIGN.md §4). Parsing alone is a fraction of what
compiling costs and never evaluates anything (compiling folds constants: `{{ 10**10**10 }}`
would run), so this is safe on any input and fast enough for 10,000 nodes.

A string that is exactly one `{{ expr }}` is parsed as an expression, as `fuchsia.templates`
compiles it, so its errors read the same. Unknown filters and tests are errors here as they
are when compiling. Names a template assigns anywhere (`set`, `for`, macro arguments, `with`)
are never reported as read: that may miss a shadowed name, but never flags a local.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from jinja2 import TemplateSyntaxError, nodes
from jinja2.parser import Parser

from fuchsia.template_guards import BoundedEnvironment

# the environment templates render in, so the filters and tests checked are the ones they have
_ENV = BoundedEnvironment()
_SINGLE = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\{\{|\}\}).)*)\}\}\s*$", re.DOTALL)
# `{{ name }}` or `{{ name.field.field }}`: most templates, read without the parser.
_DOTTED = re.compile(r"^\{\{\s*([A-Za-z_][A-Za-z0-9_]*)(?:\s*\.\s*[A-Za-z_][A-Za-z0-9_]*)*\s*\}\}$")
_KEYWORDS = frozenset(
    {"true", "false", "none", "True", "False", "None", "not", "and", "or", "in", "is", "if"}
    | {"else"}
)


@dataclass(frozen=True)
class Reading:
    """A parsed template: its first error (line within the template, message), else the
    top-level names it reads."""

    error: tuple[int, str] | None
    names: frozenset[str]
    lines: tuple[tuple[str, int], ...] = ()  # each name and the first line it is read on

    def line_of(self, name: str) -> int:
        return next((line for n, line in self.lines if n == name), 1)


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text or "{#" in text  # Jinja's three openers


@lru_cache(maxsize=16384)
def read(text: str) -> Reading:
    """Parse `text` once (cached by text: repeated templates cost nothing)."""
    dotted = _DOTTED.match(text)
    if dotted and dotted.group(1) not in _KEYWORDS:
        return _name_reading(dotted.group(1))
    return _simple(text) or _parsed(text)


def _name_reading(name: str) -> Reading:
    """`{{ name }}` or `{{ name.field }}`: one Reading per name, shared."""
    return _reading(((name, 1),))


# Arithmetic on names and integers (`{{ value + 1 }}`, `{{ a.b * 2 - c }}`): an expression
# Jinja's parser accepts, whose names are the identifiers not after a dot. A template of such
# expressions in plain text is read without the parser (a tenth of its time, or less).
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_OPERAND = rf"(?:{_IDENT}(?:\.{_IDENT})*|0|[1-9][0-9]*)"
_ARITHMETIC = re.compile(rf"[ \t]*{_OPERAND}(?:[ \t]*(?://|[-+*/%])[ \t]*{_OPERAND})*[ \t]*")
_EXPRESSION = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_FIRST_NAMES = re.compile(rf"(?<![.A-Za-z0-9_]){_IDENT}")
# names the parser path never reports as read (always bound, or run as constants)
_NOT_READ = _KEYWORDS | {"loop", "caller", "varargs", "kwargs", "self", "super"}


def _simple(text: str) -> Reading | None:
    """The Reading the parser would give, for text whose every `{{ }}` is arithmetic on names
    and integers and which has no statement or comment; None for anything else."""
    if "{%" in text or "{#" in text or "\r" in text:
        return None
    opened, stripped = text.count("{{"), text.strip()
    if opened == 1 and stripped[:2] == "{{" and stripped[-2:] == "}}":
        # one expression and only whitespace around it: parsed alone, all on line 1
        bodies = [(stripped[2:-2], 1)]
    else:
        matches = list(_EXPRESSION.finditer(text))
        if len(matches) != opened:  # an opener left unclosed
            return None
        bodies = [(m.group(1), text.count("\n", 0, m.start()) + 1) for m in matches]
    lines: dict[str, int] = {}
    for body, line in bodies:
        if not _ARITHMETIC.fullmatch(body):
            return None
        for name in _FIRST_NAMES.findall(body):
            if name in _NOT_READ or name in _ENV.globals:
                return None
            lines.setdefault(name, line)
    return _reading(tuple(lines.items())) if lines else None  # no name: a constant, run below


@lru_cache(maxsize=1024)
def _reading(lines: tuple[tuple[str, int], ...]) -> Reading:
    """One Reading per set of names and lines, shared by the templates that have it."""
    return Reading(None, frozenset(name for name, _ in lines), lines)


def _parsed(text: str) -> Reading:
    try:
        tree = _parse(text)
        _check_names_exist(tree)
    except TemplateSyntaxError as exc:
        return Reading((exc.lineno or 1, exc.message or "invalid template"), frozenset())
    except RecursionError:
        return Reading((1, "the template is nested too deeply"), frozenset())
    loaded = _loaded(tree)
    names = frozenset(loaded) - _stored(tree)
    if not names - _ENV.globals.keys():  # a constant: it renders as at run time; run it now
        from fuchsia.templates import check_syntax

        return Reading(check_syntax(text), names)
    return Reading(None, names, tuple((n, line) for n, line in loaded.items() if n in names))


def _parse(text: str) -> nodes.Node:
    single = _SINGLE.match(text)
    if not single:
        return _ENV.parse(text)
    # as Environment.compile_expression parses it, so its messages are the same
    parser = Parser(_ENV, single.group("expr"), state="variable")
    expression = parser.parse_expression()
    if not parser.stream.eos:
        raise TemplateSyntaxError("chunk after expression", parser.stream.current.lineno)
    return expression


def _check_names_exist(tree: nodes.Node) -> None:
    for node in [tree, *tree.find_all((nodes.Filter, nodes.Test))]:
        if not isinstance(node, nodes.Filter | nodes.Test):
            continue
        known = _ENV.filters if isinstance(node, nodes.Filter) else _ENV.tests
        if node.name not in known:
            kind = "filter" if isinstance(node, nodes.Filter) else "test"
            raise TemplateSyntaxError(
                f"No {kind} named {node.name!r}.",
                node.lineno,
            )


def _loaded(tree: nodes.Node) -> dict[str, int]:
    """Each name read, with the first line (within the template) it is read on."""
    found = [tree] if isinstance(tree, nodes.Name) else []  # `{{ name }}` as an expression
    lines: dict[str, int] = {}
    for name in [*found, *tree.find_all(nodes.Name)]:
        if name.ctx == "load":
            lines[name.name] = min(lines.get(name.name, name.lineno), name.lineno)
    return lines


def _stored(tree: nodes.Node) -> set[str]:
    names = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    for macro in tree.find_all((nodes.Macro, nodes.CallBlock)):
        names.update(arg.name for arg in macro.args)  # type: ignore[attr-defined]
    for block in tree.find_all((nodes.Macro,)):
        names.add(block.name)
    names.update({"loop", "caller", "varargs", "kwargs", "self", "super"})
    return names
