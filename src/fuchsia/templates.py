"""Sandboxed Jinja templates with native types (DESIGN.md §4), bounded in time and size.

A string that is exactly one `{{ expr }}` evaluates to the expression's own value (a list
stays a list, a number a number); any other string with template syntax renders to a string;
everything else is a constant. Templates are compiled once per source string, so a locked
workflow compiles each of its templates once per process no matter how many runs use it.
Undefined names fail loudly (`StrictUndefined`): a typo is an error, never an empty string.

Every compile and every render of a value runs within `budget.Limits` (default 1 s and 16 MiB
of created values, see `fuchsia.budget` and `fuchsia.template_guards`): going over fails with
a `RenderError` naming the field, which the engine reports as the node's `input_error`.
Mapping keys win over attribute names: `{{ order.items }}` is the order's `items` field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import TemplateError, TemplateSyntaxError, Undefined, meta, nodes
from jinja2.environment import TemplateExpression
from jinja2.parser import Parser

from fuchsia import budget
from fuchsia.budget import DEFAULT_LIMITS, MAX_INT_BITS, BudgetExceeded, Limits, charge
from fuchsia.template_guards import BoundedEnvironment

Scope = Mapping[str, Any]
Renderer = Callable[[Scope], Any]

_ENV = BoundedEnvironment()
_SINGLE = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\{\{|\}\}).)*)\}\}\s*$", re.DOTALL)
_MARKERS = ("{{", "{%", "{#")
_JSON_INT_BITS = 14_000  # about 4,200 digits: Python refuses to print more than 4,300
# what a template may raise for a user's mistake; anything else is a bug of ours
_USER_ERRORS = (
    TemplateError,
    BudgetExceeded,
    TypeError,
    ValueError,
    ArithmeticError,
    LookupError,
    AttributeError,
    RuntimeError,  # RecursionError: a macro calling itself
    MemoryError,
)


class RenderError(Exception):
    """A template failed to render; `path` names the field inside the rendered value."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


@dataclass(frozen=True)
class _Compiled:
    render: Renderer
    constant: bool  # it reads no variable: rendering it at validation tells its fate


def is_template(text: str) -> bool:
    return any(marker in text for marker in _MARKERS)


def check_syntax(text: str, limits: Limits = DEFAULT_LIMITS) -> tuple[int, str] | None:
    """Return (line within the template, message) for a template that cannot run, or None:
    a syntax error, a compile over its budget, or a template reading no variable that goes
    over its budget when rendered (other errors of such a template surface at run time)."""
    if not is_template(text):
        return None
    try:
        compiled = budget.run(lambda: _compile_string(text), limits)
    except TemplateSyntaxError as exc:
        return (exc.lineno or 1, exc.message or "invalid template")
    except (BudgetExceeded, RecursionError, MemoryError) as exc:
        return (1, _compile_message(exc))
    if compiled.constant:
        try:
            budget.run(lambda: compiled.render({}), limits)
        except BudgetExceeded as exc:
            return (1, str(exc))
        except _USER_ERRORS:
            pass  # reported with its node when it runs
    return None


def _compile_message(exc: BaseException) -> str:
    if isinstance(exc, BudgetExceeded):
        return f"the template cannot be compiled: {exc}"
    return "the template is nested too deeply"


def _native(value: Any) -> Any:
    """Turn what a Jinja expression may return into plain JSON-shaped data, counting what it
    holds against the size budget; a container met again (`[l] * 1000`) is counted again
    (it will be stored that many times) but copied once."""
    return _copy(value, {})[0]


def _copy(value: Any, seen: dict[int, tuple[Any, int]]) -> tuple[Any, int]:
    """(JSON-shaped copy of `value`, its size), charging the size as it goes."""
    if value is None or type(value) is bool:
        return value, 1
    if type(value) is float:
        if not math.isfinite(value):  # JSON has no NaN or infinity
            raise ValueError(f"the expression produced {value}, which is not a JSON number")
        return value, 1
    if isinstance(value, str):
        charge(len(value), "the result")
        return value, len(value)
    if isinstance(value, int):
        return _json_int(value), 1
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if not isinstance(value, Mapping | list | tuple | range | set | frozenset):
        raise TypeError(f"the expression produced a {type(value).__name__}, which is not JSON data")
    known = seen.get(id(value))
    if known is not None:
        charge(known[1], "the result")
        return known
    charge(len(value), "the result")
    size = len(value)
    copy: Any
    if isinstance(value, Mapping):
        copy = {}
        for key, item in value.items():
            copy[str(key)], part = _copy(item, seen)
            size += part
    else:
        copy = []
        for item in value:
            inner, part = _copy(item, seen)
            copy.append(inner)
            size += part
    seen[id(value)] = (copy, size)
    return copy, size


def _json_int(value: int) -> int:
    if value.bit_length() > _JSON_INT_BITS:
        try:
            str(value)
        except ValueError:
            raise TypeError("the expression produced an integer too long to store") from None
    return value


@lru_cache(maxsize=8192)
def _compile_string(text: str) -> _Compiled:
    single = _SINGLE.match(text)
    if single:
        parser = Parser(_ENV, single.group("expr"), state="variable")
        expr = parser.parse_expression()
        if not parser.stream.eos:
            raise TemplateSyntaxError("chunk after expression", parser.stream.current.lineno)
        body = [nodes.Assign(nodes.Name("result", "store"), expr, lineno=1)]
        tree = nodes.Template(body, lineno=1)
        tree.set_environment(_ENV)
        # the scope goes in as one mapping: as keywords, a key `self` would collide
        expression = TemplateExpression(_ENV.from_string(tree), undefined_to_none=False)
        direct = _direct(single.group("expr"))
        if direct is None:
            return _Compiled(lambda scope: _native(expression(scope)), _reads_nothing(tree))

        def evaluate(scope: Scope) -> Any:
            value = direct(scope)
            return _native(expression(scope) if value is _UNSURE else value)

        return _Compiled(evaluate, _reads_nothing(tree))
    tree = _ENV.parse(text)
    template = _ENV.from_string(tree)

    def render(scope: Scope) -> str:
        parts = []
        for part in template.root_render_func(template.new_context(dict(scope))):
            charge(len(part), "the output")
            parts.append(part)
        return "".join(parts)

    return _Compiled(render, _reads_nothing(tree))


# `{{ name }}`, `{{ name.field.field }}` and sums and products of those and integers
# (`{{ value + 1 }}`, `{{ item * item }}`, `{{ data.a - data.b * 2 }}`): most templates, and
# the hot ones. `_direct` evaluates them by look-ups, as Jinja would (a name from the scope; a
# field of a mapping by its key, which wins over attributes, as `BoundedEnvironment.getattr`
# has it; on numbers, `*` before `+` and `-`, each from the left), skipping Jinja's context,
# which copies the whole scope per render. Where a step is anything else (a name not in the
# scope, a field of a non-mapping or missing, an operand not an int or float, a product over
# the integer size Jinja refuses) it answers `_UNSURE` and Jinja evaluates the expression: the
# same value, or the error it always gave. `tests/unit/test_templates.py` checks they agree.
_PATH = r"[A-Za-z_][A-Za-z0-9_]*(?:\s*\.\s*[A-Za-z_][A-Za-z0-9_]*)*"
_OPERAND = rf"(?:{_PATH}|0|[1-9][0-9]{{0,17}})"
_SUM = re.compile(rf"\s*{_OPERAND}(?:\s*[-+*]\s*{_OPERAND})*\s*")
_SIGN = re.compile(r"\s*([-+*])\s*")
# names Jinja reads as literals or operators, never as variables, and `self` (the template)
_NOT_NAMES = frozenset(
    {"true", "false", "none", "True", "False", "None", "not", "and", "or", "in", "is", "if"}
    | {"else", "self"}
)
_UNSURE: Any = object()
_NUMBERS = (int, float)


def _direct(expr: str) -> Callable[[Scope], Any] | None:
    """A direct evaluator of `expr` when it is a path, or a sum or product of paths and
    integers, that reads at least one name, else None (see above)."""
    if _SUM.fullmatch(expr) is None:
        return None
    parts = _SIGN.split(expr.strip())
    operands: list[tuple[str, ...] | int] = []
    for part in parts[::2]:
        if part[0].isdigit():
            operands.append(int(part))
            continue
        path = tuple(step.strip() for step in part.split("."))
        if path[0] in _NOT_NAMES:
            return None
        operands.append(path)
    if all(isinstance(o, int) for o in operands):
        return None  # a constant: Jinja folds it
    operators = parts[1::2]
    if len(operands) == 1:
        only = operands[0]
        assert isinstance(only, tuple)
        return lambda scope: _look(scope, only)

    def total(scope: Scope) -> Any:
        values = [o if isinstance(o, int) else _look(scope, o) for o in operands]
        if any(type(v) not in _NUMBERS for v in values):
            return _UNSURE  # bool, str, list, missing...: Jinja's own operators
        return _arithmetic(values, operators)

    return total


def _arithmetic(values: list[Any], operators: list[str]) -> Any:
    """`values` (numbers) joined by `operators`: `*` first, then `+` and `-`, each from the
    left; `_UNSURE` for a product of integers too big for Jinja, which refuses it."""
    terms, signs = [values[0]], []
    for operator, value in zip(operators, values[1:], strict=True):
        if operator != "*":
            terms.append(value)
            signs.append(operator)
            continue
        left = terms[-1]
        both_int = type(left) is int and type(value) is int
        if both_int and left.bit_length() + value.bit_length() > MAX_INT_BITS:
            return _UNSURE
        terms[-1] = left * value
    result = terms[0]
    for sign, term in zip(signs, terms[1:], strict=True):
        result = result + term if sign == "+" else result - term
    return result


def _look(scope: Scope, path: tuple[str, ...]) -> Any:
    value = scope.get(path[0], _UNSURE)
    for field in path[1:]:
        if value is _UNSURE or not isinstance(value, Mapping):
            return _UNSURE
        value = value.get(field, _UNSURE)
    return value


def _reads_nothing(tree: nodes.Template) -> bool:
    return not (meta.find_undeclared_variables(tree) - set(_ENV.globals))


def compile_value(value: Any, limits: Limits = DEFAULT_LIMITS) -> Renderer:
    """Compile a JSON-shaped value whose strings may be templates into a renderer. Each call
    of the renderer runs within `limits`; a template that cannot compile (it was validated
    before, so: a stored workflow from another version) fails when it renders."""
    render = _compile_value(value, limits)
    if not _is_dynamic(value):
        return render

    def bounded(scope: Scope) -> Any:
        try:
            return budget.run(lambda: render(scope), limits)
        except BudgetExceeded as exc:
            raise RenderError("", str(exc)) from None

    return bounded


def _compile_value(value: Any, limits: Limits) -> Renderer:
    if isinstance(value, str):
        if not is_template(value):
            return lambda scope: value
        try:
            compiled = budget.run(lambda: _compile_string(value), limits)
        except TemplateSyntaxError as exc:
            return _failing(exc.message or "invalid template")
        except (BudgetExceeded, RecursionError, MemoryError) as exc:
            return _failing(_compile_message(exc))
        return _guard(compiled.render, "")
    if isinstance(value, dict):
        parts = {k: _nested(_compile_value(v, limits), str(k)) for k, v in value.items()}
        if not any(_is_dynamic(v) for v in value.values()):
            return lambda scope: value
        return lambda scope: {k: part(scope) for k, part in parts.items()}
    if isinstance(value, list):
        items = [_nested(_compile_value(v, limits), f"[{i}]") for i, v in enumerate(value)]
        if not any(_is_dynamic(v) for v in value):
            return lambda scope: value
        return lambda scope: [item(scope) for item in items]
    return lambda scope: value


def _failing(message: str) -> Renderer:
    def fail(scope: Scope) -> Any:
        raise RenderError("", message)

    return fail


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
        except RecursionError:
            raise RenderError(path, "it nests or recurses too deeply") from None
        except _USER_ERRORS as exc:
            raise RenderError(path, str(exc) or type(exc).__name__) from None
        except budget.Expired:
            raise RenderError(path, budget.time_message()) from None

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
