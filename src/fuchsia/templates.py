"""Sandboxed Jinja templates with native types (DESIGN.md §4).

A string that is exactly one `{{ expr }}` evaluates to the expression's own value (a list
stays a list, a number a number); any other string with template syntax renders to a string;
everything else is a constant. Templates are compiled once per source string, so a locked
workflow compiles each of its templates once per process no matter how many runs use it.
Undefined names fail loudly (`StrictUndefined`): a typo is an error, never an empty string.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

Scope = Mapping[str, Any]
Renderer = Callable[[Scope], Any]

_ENV = ImmutableSandboxedEnvironment(
    undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
)
_SINGLE = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\{\{|\}\}).)*)\}\}\s*$", re.DOTALL)
_MARKERS = ("{{", "{%", "{#")


class RenderError(Exception):
    """A template failed to render; `path` names the field inside the rendered value."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


def is_template(text: str) -> bool:
    return any(marker in text for marker in _MARKERS)


def check_syntax(text: str) -> tuple[int, str] | None:
    """Return (line within the template, message) for a syntax error, or None."""
    if not is_template(text):
        return None
    try:
        _compile_string(text)
    except TemplateSyntaxError as exc:
        return (exc.lineno or 1, exc.message or "invalid template")
    return None


def _native(value: Any) -> Any:
    """Turn what a Jinja expression may return into plain JSON-shaped data."""
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, Mapping):
        return {str(k): _native(v) for k, v in value.items()}
    if isinstance(value, list | tuple | range | set | frozenset):
        return [_native(v) for v in value]
    raise TypeError(f"the expression produced a {type(value).__name__}, which is not JSON data")


@lru_cache(maxsize=8192)
def _compile_string(text: str) -> Renderer:
    single = _SINGLE.match(text)
    if single:
        expression = _ENV.compile_expression(single.group("expr"), undefined_to_none=False)
        # the scope goes in as one mapping: as keywords, a key `self` would collide
        return lambda scope: _native(expression(scope))
    template = _ENV.from_string(text)
    return lambda scope: template.render(scope)


def compile_value(value: Any) -> Renderer:
    """Compile a JSON-shaped value whose strings may be templates into a renderer."""
    if isinstance(value, str):
        if not is_template(value):
            return lambda scope: value
        return _guard(_compile_string(value), "")
    if isinstance(value, dict):
        parts = {k: _nested(compile_value(v), str(k)) for k, v in value.items()}
        if not any(_is_dynamic(v) for v in value.values()):
            return lambda scope: value
        return lambda scope: {k: part(scope) for k, part in parts.items()}
    if isinstance(value, list):
        items = [_nested(compile_value(v), f"[{i}]") for i, v in enumerate(value)]
        if not any(_is_dynamic(v) for v in value):
            return lambda scope: value
        return lambda scope: [item(scope) for item in items]
    return lambda scope: value


def _is_dynamic(value: Any) -> bool:
    if isinstance(value, str):
        return is_template(value)
    if isinstance(value, dict):
        return any(_is_dynamic(v) for v in value.values())
    if isinstance(value, list):
        return any(_is_dynamic(v) for v in value)
    return False


def _guard(render: Renderer, path: str) -> Renderer:
    def guarded(scope: Scope) -> Any:
        try:
            return render(scope)
        except TemplateError as exc:
            raise RenderError(path, exc.message or type(exc).__name__) from None
        except (TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as exc:
            raise RenderError(path, str(exc)) from None

    return guarded


def _nested(render: Renderer, step: str) -> Renderer:
    def nested(scope: Scope) -> Any:
        try:
            return render(scope)
        except RenderError as exc:
            inner = exc.path
            joined = step + ("" if not inner else inner if inner.startswith("[") else "." + inner)
            raise RenderError(joined, exc.message) from None

    return nested
