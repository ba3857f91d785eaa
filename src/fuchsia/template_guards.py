"""The Jinja environment templates run in: sandboxed, immutable, and bounded (issue 8, A1/C11).

What it adds to Jinja's `ImmutableSandboxedEnvironment`, and why:

- Every operator goes through `call_binop` (which also stops Jinja folding them at compile
  time, where `10 ** (10 ** 10)` used to hang validation): a result that would be too big
  (`'x' * 10**9`, `2 ** 10**8`, `'%999999999d' % 1`) is refused before it is computed.
- Every call (`environment.call`) and filter checks the deadline, and string methods and
  filters that size their result by an argument (`center`, `ljust`, `indent`, `wordwrap`,
  `replace`, `join`, `format`, `sum`, `slice`, `batch`, `tojson(indent)`, `lipsum`...) are
  sized before they run; what any call returns is counted against the size budget.
- `~` and the buffers of macros and blocks are joined by `join_text`/`concat`, which count
  what they are about to build.
- Data wins over methods: `order.items` is the key `items` of a mapping when it has one,
  never the dict method; attributes of other objects work as the sandbox allows.
"""

from __future__ import annotations

import math
import re
import types
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from jinja2 import StrictUndefined, nodes, pass_environment, pass_eval_context
from jinja2.compiler import CodeGenerator, Frame
from jinja2.filters import make_attrgetter
from jinja2.nodes import Concat, EvalContext
from jinja2.runtime import Context
from jinja2.sandbox import (
    ImmutableSandboxedEnvironment,
    SandboxedEscapeFormatter,
    SandboxedFormatter,
)
from jinja2.utils import generate_lorem_ipsum
from markupsafe import Markup

from fuchsia.budget import MAX_INT_BITS, BudgetExceeded, charge, tick

_PERCENT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?([diouxXeEfFgGcrsa%])")
_SPEC = re.compile(r"^(?:.?[<>=^])?[-+ ]?z?#?0?(\d*)[,_]?(?:\.(\d+))?[a-zA-Z%]?$")
_SEQUENCES = (str, bytes, list, tuple)
_MISSING = object()
_METHODS = (types.BuiltinMethodType, types.MethodType)  # str's own, and Markup's
_SIZED = frozenset({str, bytes, list, tuple, dict, set, frozenset})
_PLAIN = frozenset({int, float, bool, type(None)})


def size_of(value: Any) -> int:
    """Units a created value counts for: its length for text and collections."""
    kind = type(value)
    if kind in _SIZED:
        return len(value)
    if kind is int and value.bit_length() > MAX_INT_BITS:
        raise BudgetExceeded(f"an integer of more than {MAX_INT_BITS:,} bits is too big")
    return 0


def charge_text_of(value: Any, seen: dict[int, int] | None = None) -> None:
    """Count what turning `value` into text (str(), JSON) is about to create, before the one
    C-level call that does it: `str([l] * 1000)` prints `l` a thousand times."""
    if isinstance(value, str):
        charge(len(value), "the text of a value")
    elif isinstance(value, _CONTAINERS):
        _text_size(value, {} if seen is None else seen)


_CONTAINERS = (Mapping, list, tuple, set, frozenset)


def _text_size(value: Any, seen: dict[int, int]) -> int:
    """Charge and return the units of `value`'s text; a container met again (an alias) is
    charged again without walking it again."""
    known = seen.get(id(value))
    if known is not None:
        charge(known, "the text of a value")
        return known
    items = value.items() if isinstance(value, Mapping) else ((None, v) for v in value)
    own = nested = len(value) + 2
    nested = 0
    for key, item in items:
        for part in (key, item):
            if isinstance(part, str):
                own += len(part)
            elif isinstance(part, _CONTAINERS):
                nested += _text_size(part, seen)
    charge(own, "the text of a value")
    seen[id(value)] = own + nested
    return own + nested


def _number(text: str | None) -> int:
    if not text:
        return 0
    return int(text) if len(text) < 12 else 10**12


def _int_bits(left: int, right: int, op: str) -> None:
    if op == "**":
        if right <= 0 or abs(left) < 2:
            return
        bits = right * math.log2(abs(left))
    else:
        bits = left.bit_length() + right.bit_length()
    if bits > MAX_INT_BITS:
        raise BudgetExceeded(
            f"the result of {op} would have about {int(bits):,} bits; "
            f"integers are limited to {MAX_INT_BITS:,} bits"
        )


def percent_size(fmt: str, args: Any) -> int:
    """An upper bound on the length of `fmt % args`."""
    values = args if isinstance(args, tuple) else (args,)
    total, position = len(fmt), 0
    for match in _PERCENT.finditer(fmt):
        for part in match.group(1, 2):
            if part == "*":
                given = values[position] if position < len(values) else 0
                total += given if type(given) is int and given > 0 else 0
                position += 1
            else:
                total += _number(part)
        if match.group(3) != "%":
            value = values[position] if position < len(values) else None
            total += len(value) if isinstance(value, str) else 32
            position += 1
    return total


def _guard_binop(op: str, left: Any, right: Any) -> None:
    if type(left) is int and type(right) is int:
        if op in ("*", "**"):
            _int_bits(left, right, op)
    elif op == "*":
        seq, times = (left, right) if isinstance(left, _SEQUENCES) else (right, left)
        if isinstance(seq, _SEQUENCES) and isinstance(times, int):
            charge(len(seq) * max(times, 0), "the result of *")
    elif op == "+" and isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
        charge(len(left) + len(right), "the result of +")
    elif op == "%" and isinstance(left, str):
        for value in right if isinstance(right, tuple) else (right,):
            charge_text_of(value)
        charge(percent_size(left, right), "the result of %")


# --- string methods sized by an argument -----------------------------------------------------


def _width(s: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    width = args[0] if args else kwargs.get("width", 0)
    if type(width) is int:
        charge(max(width, len(s)), "a padded string")
    return args


def _expandtabs(s: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    size = args[0] if args else kwargs.get("tabsize", 8)
    if type(size) is int:
        charge(len(s) + s.count("\t") * max(size, 0), "the result of expandtabs")
    return args


def _replace(s: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    if len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        old, new = args[0], args[1]
        times = s.count(old) if old else len(s) + 1
        if len(args) > 2 and type(args[2]) is int and args[2] >= 0:
            times = min(times, args[2])
        charge(len(s) + times * max(len(new) - len(old), 0), "the result of replace")
    return args


def _join(s: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    if len(args) != 1:
        return args
    parts = list(args[0])
    lengths = sum(len(p) for p in parts if isinstance(p, str))
    charge(lengths + len(s) * max(len(parts) - 1, 0), "the result of join")
    return (parts,)


def _translate(s: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    table = args[0] if args else None
    if isinstance(table, Mapping):
        longest = max((len(v) for v in table.values() if isinstance(v, str)), default=1)
        charge(len(s) * max(longest, 1), "the result of translate")
    return args


_MethodGuard = Callable[[str, tuple[Any, ...], dict[str, Any]], tuple[Any, ...]]
_STR_METHODS: dict[str, _MethodGuard] = {
    "center": _width,
    "ljust": _width,
    "rjust": _width,
    "zfill": _width,
    "expandtabs": _expandtabs,
    "replace": _replace,
    "join": _join,
    "translate": _translate,
}


# --- filters ------------------------------------------------------------------------------


def _pre_center(value: Any, width: Any = 80, *_: Any, **__: Any) -> None:
    if type(width) is int:
        charge(max(width, len(str(value))), "the result of center")


def _pre_indent(s: Any, width: Any = 4, *_: Any, **__: Any) -> None:
    text = str(s)
    pad = width if type(width) is int else len(str(width))
    charge(len(text) + (text.count("\n") + 1) * max(pad, 0), "the result of indent")


def _pre_wordwrap(
    s: Any, width: Any = 79, _b: Any = True, wrapstring: Any = None, *_: Any, **kw: Any
) -> None:
    text, wrap = str(s), kw.get("wrapstring", wrapstring)
    step = len(wrap) if isinstance(wrap, str) else 1
    if type(width) is int and width > 0:
        lines = len(text) // width + text.count(" ") + text.count("\n") + 1
        charge(len(text) + min(lines, len(text) + 1) * step, "the result of wordwrap")


def _pre_replace(s: Any, old: Any = "", new: Any = "", count: Any = None, **__: Any) -> None:
    _replace(str(s), (old, new) if count is None else (old, new, count), {})


def _pre_format(value: Any, *args: Any, **kwargs: Any) -> None:
    charge(percent_size(str(value), kwargs or args), "the result of format")


def _pre_slice(value: Any, slices: Any = 1, *_: Any, **__: Any) -> None:
    if type(slices) is int:
        charge(slices, "the result of slice")


def _pre_batch(value: Any, linecount: Any = 1, fill_with: Any = None, **kw: Any) -> None:
    if type(linecount) is int and kw.get("fill_with", fill_with) is not None:
        charge(linecount, "the result of batch")


def _pre_tojson(value: Any, indent: Any = None, **kw: Any) -> None:
    indent = kw.get("indent", indent)
    if type(indent) is int and indent > 0:
        charge(indent * _count(value), "the result of tojson")


def _pre_urlize(value: Any, *args: Any, **kwargs: Any) -> None:
    extra = sum(len(v) for v in (*args, *kwargs.values()) if isinstance(v, str))
    text = str(value)
    charge(len(text) * 3 + (text.count(" ") + 1) * extra, "the result of urlize")


def _count(value: Any, depth: int = 0) -> int:
    if isinstance(value, Mapping):
        return 1 + sum(_count(v, depth + 1) for v in value.values())
    if isinstance(value, list | tuple):
        return 1 + sum(_count(v, depth + 1) for v in value)
    return 1


_PRECHECKS: dict[str, Callable[..., None]] = {
    "center": _pre_center,
    "indent": _pre_indent,
    "wordwrap": _pre_wordwrap,
    "replace": _pre_replace,
    "format": _pre_format,
    "slice": _pre_slice,
    "batch": _pre_batch,
    "tojson": _pre_tojson,
    "urlize": _pre_urlize,
}
_PASSES_FIRST = {"context", "eval_context", "environment"}
# filters that turn their value into text, or compare its items (comparing `[l] * 1000`
# to itself may walk `l` each time, in one C-level sort): their value is measured first
_TEXT_FILTERS = frozenset(
    [
        "capitalize",
        "center",
        "e",
        "escape",
        "forceescape",
        "format",
        "indent",
        "lower",
        "pprint",
        "replace",
        "string",
        "striptags",
        "title",
        "tojson",
        "trim",
        "truncate",
        "upper",
        "urlencode",
        "urlize",
        "wordcount",
        "wordwrap",
        "xmlattr",
        "sort",
        "unique",
        "min",
        "max",
        "dictsort",
        "groupby",
    ]
)


def _wrap_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    pre = _PRECHECKS.get(name)
    passes = getattr(func, "jinja_pass_arg", None)
    skip = 1 if passes is not None and passes.name in _PASSES_FIRST else 0
    text = name in _TEXT_FILTERS

    def bounded(*args: Any, **kwargs: Any) -> Any:
        tick()
        if text and len(args) > skip:
            charge_text_of(args[skip])
        if pre is not None:
            pre(*args[skip:], **kwargs)
        result = func(*args, **kwargs)
        charge(size_of(result), f"the result of the filter {name!r}")
        return result

    if passes is not None:
        bounded.jinja_pass_arg = passes  # type: ignore[attr-defined]
    return bounded


@pass_eval_context
def _do_join(
    eval_ctx: EvalContext, value: Iterable[Any], d: str = "", attribute: Any = None
) -> str:
    if attribute is not None:
        value = map(make_attrgetter(eval_ctx.environment, attribute), value)
    parts: list[str] = []
    seen: dict[int, int] = {}
    for part in value:
        if not isinstance(part, str):
            charge_text_of(part, seen)
            part = str(part)
        parts.append(part)
    sep = str(d)
    charge(sum(map(len, parts)) + len(sep) * max(len(parts) - 1, 0), "the result of join")
    return sep.join(parts)


@pass_environment
def _do_sum(
    environment: Any, iterable: Iterable[Any], attribute: Any = None, start: Any = 0
) -> Any:
    get = make_attrgetter(environment, attribute) if attribute is not None else None
    total = list(start) if type(start) is list else start  # never extend the caller's list
    for item in iterable:
        value = get(item) if get is not None else item
        if isinstance(value, _SEQUENCES):
            charge(len(value), "the result of sum")
        if type(total) is list and type(value) is list:
            total.extend(value)
        else:
            total = total + value
            size_of(total)
    return total


# Every `{% for %}` iterates through this, so a loop checks the deadline on each pass: Python-
# level loops stop cooperatively, and the watchdog's asynchronous exception is only a backstop.
LOOP_GUARD = "_fuchsia_loop"


def _ticking(items: Iterable[Any]) -> Iterable[Any]:
    for item in items:
        tick()
        yield item


def _guard_loops(tree: nodes.Template) -> nodes.Template:
    for loop in tree.find_all(nodes.For):
        guard = nodes.Name(LOOP_GUARD, "load", lineno=loop.lineno)
        loop.iter = nodes.Call(guard, [loop.iter], [], None, None, lineno=loop.lineno)
    return tree


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    charge(abs(int(n)) * abs(int(max)) * 12, "the result of lipsum")
    return generate_lorem_ipsum(n, html, min, max)


class _BoundedFields:
    """`str.format` sizes each field before formatting it: `'{:999999999}'.format(1)`."""

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if conversion is not None:
            charge_text_of(value)  # `{!r}` prints the whole value in one call
        return super().convert_field(value, conversion)  # type: ignore[misc]

    def format_field(self, value: Any, format_spec: str) -> Any:
        tick()
        charge_text_of(value)
        spec = _SPEC.match(format_spec)
        if spec:
            charge(_number(spec.group(1)) + _number(spec.group(2)), "a formatted field")
        result = super().format_field(value, format_spec)  # type: ignore[misc]
        charge(len(result), "a formatted field")
        return result


class _Formatter(_BoundedFields, SandboxedFormatter):
    pass


class _EscapeFormatter(_BoundedFields, SandboxedEscapeFormatter):
    pass


def _finalize(value: Any) -> Any:
    """Every `{{ }}` of a text template: its value is about to become text."""
    if type(value) not in _PLAIN:
        charge_text_of(value)
    return value


class _Generator(CodeGenerator):
    def visit_Concat(self, node: Concat, frame: Frame) -> None:
        self.write("environment.join_text((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """See the module docstring."""

    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})
    code_generator_class = _Generator

    def __init__(self) -> None:
        super().__init__(
            undefined=StrictUndefined,
            autoescape=False,
            keep_trailing_newline=True,
            finalize=_finalize,
        )
        self.filters["join"] = _do_join
        self.filters["sum"] = _do_sum
        self.filters = {name: _wrap_filter(name, f) for name, f in self.filters.items()}
        self.globals["lipsum"] = _lipsum
        self.globals[LOOP_GUARD] = _ticking

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = _guard_loops(super()._parse(source, name, filename))
        tree.set_environment(self)
        return tree

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        tick()
        _guard_binop(operator, left, right)
        return self.binop_table[operator](left, right)

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict or isinstance(obj, Mapping):
            value = obj.get(attribute, _MISSING)
            if value is not _MISSING:
                return value
        return super().getattr(obj, attribute)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        tick()
        if isinstance(__obj, _METHODS) and isinstance(__obj.__self__, str):
            guard = _STR_METHODS.get(__obj.__name__)
            if guard is not None:
                args = guard(__obj.__self__, args, kwargs)
        result = super().call(__context, __obj, *args, **kwargs)
        charge(size_of(result), "the result of a call")
        return result

    def join_text(self, parts: tuple[Any, ...]) -> str:
        for part in parts:
            if type(part) is not str:
                charge_text_of(part)
        texts = [p if type(p) is str else str(p) for p in parts]
        charge(sum(map(len, texts)), "the result of ~")
        return "".join(texts)

    def concat(self, parts: Iterable[str]) -> str:
        texts = list(parts)
        charge(sum(map(len, texts)), "a block's output")
        return "".join(texts)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        if not isinstance(value, types.MethodType | types.BuiltinMethodType):
            return None
        if value.__name__ not in ("format", "format_map") or not isinstance(value.__self__, str):
            return None
        text: str = value.__self__
        formatter: SandboxedFormatter
        if isinstance(text, Markup):
            formatter = _EscapeFormatter(self, escape=text.escape)
        else:
            formatter = _Formatter(self)
        is_map = value.__name__ == "format_map"

        def bounded(*args: Any, **kwargs: Any) -> str:
            if is_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                kwargs, args = args[0], ()
            return type(text)(formatter.vformat(text, args, kwargs))

        return bounded
