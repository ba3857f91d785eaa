"""CEL conditions (`branch[].when`, `repeat.until`), compiled once per expression.

Conditions see three variables: `data` (the node's input data), `context` and `execution`
(and `item` and `index` in a `foreach`).
They must produce a boolean: CEL does not coerce, so `size(data.items)` is not a condition
but `size(data.items) > 0` is.

The CEL library has no cost limit and runs without the GIL, so nothing can stop it once
started; conditions are bounded before they run instead (issue 8, A2):

- compiling: at most `MAX_SOURCE` characters (compile time grows faster than the length:
  a 50,000-term `&&` took 4 s); the parser itself refuses nesting deeper than 96;
- evaluating: the comprehensions (`map`, `filter`, `all`, `exists`, `exists_one`) are the
  only loops. Their cost is estimated from their nesting and the largest collection in the
  variables (N): a comprehension nested d deep takes N^(d+1) steps, and `map` and `filter`
  also copy their growing result at every step (N^(d+2) elements, times N per accumulating
  comprehension inside them, each element costing about a twentieth of a step, more when
  it is a long string: see `estimated_cost`).
  Above `MAX_COST` steps (about 1 µs each on the machine they were measured on: a 1,000,000
  item `all` took 0.8 s, a `map` over 4,000 items 0.81 s, a map in a map over 100 items
  0.11 s) the condition is refused before it runs, naming the estimate;
- `matches` compiles its pattern at every call (the library keeps no compiled regex), and a
  large one takes milliseconds: `\\w{100}` 20 ms, up to about 40 ms at the engine's size
  limit. A call inside a comprehension counts as the steps its pattern may take to compile
  (see `pattern_cost`; a pattern that is not a literal counts as the largest).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

MAX_SOURCE = 10_000
MAX_COST = 500_000

_POSITION = re.compile(r"<input>:(\d+):(\d+): (.*?)(?:\n|$)")
_MACRO = re.compile(r"\.\s*(map|filter|all|exists_one|exists)\s*$")
_STRING = re.compile(
    r"""[rRbB]{0,2}('''.*?'''|\"\"\".*?\"\"\"|'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*")""", re.S
)
_ACCUMULATING = {"map", "filter"}
_MATCHES = re.compile(r"\.\s*matches\s*$")
_LITERAL = re.compile(r"""\s*(r?)('(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*")\s*\)""")
# Steps a pattern's pieces take to compile, at every call (measured: `\w` 0.26 ms, `\w{100}`
# 21 ms, `.{10000}` 31 ms, `[a-z]{10000}` 1 ms); a pattern past the size limit is refused
# after about 18 ms, and none compiles for much longer than 40 ms.
_CLASS = re.compile(r"\\[wWdDsSpP]")
_COUNT = re.compile(r"\{(\d+)(?:,(\d*))?\}")
_PIECE = re.compile(r"\[(?:\\.|[^\]\\])*\]?|\\[pP]\{[^}]*\}?|\\.?|.", re.S)
CLASS_STEPS, ANY_STEPS, CALL_STEPS, WORST_PATTERN_STEPS = 300, 3, 30, 50_000


class ExpressionError(Exception):
    """A condition did not compile, would cost too much, or did not evaluate to a boolean."""


@lru_cache(maxsize=4096)
def _compile(source: str) -> Any:
    if len(source) > MAX_SOURCE:
        raise ValueError(f"the condition is longer than {MAX_SOURCE:,} characters")
    # imported on first use: the package also imports its command line (prompt_toolkit, ~90
    # ms), which a workflow without conditions should not pay for at start-up
    import cel

    return cel.compile(source)


def check_syntax(source: str) -> tuple[int, int, str] | None:
    """(line, column, message) of a compile error within `source` (1-based), or None."""
    try:
        _compile(source)
    except (ValueError, RuntimeError) as exc:
        match = _POSITION.search(str(exc))
        if match:
            return int(match.group(1)), int(match.group(2)), match.group(3).strip()
        return 1, 1, str(exc).splitlines()[0]
    return None


@lru_cache(maxsize=4096)
def _comprehensions(source: str) -> tuple[tuple[bool, int, int], ...]:
    """Each comprehension of `source`: (accumulates its result, number of comprehensions
    enclosing it, number of accumulating comprehensions inside it)."""
    return _scan(source)[0]


@lru_cache(maxsize=4096)
def _matches_calls(source: str) -> tuple[tuple[int, int], ...]:
    """Each `matches` call of `source`: (number of comprehensions enclosing it, the steps
    its pattern may take to compile)."""
    return _scan(source)[1]


def _scan(source: str) -> tuple[tuple[tuple[bool, int, int], ...], tuple[tuple[int, int], ...]]:
    # strings blanked where they stand, so a position in `code` is one in `source`
    code = _STRING.sub(lambda m: '"' + " " * (len(m[0]) - 2) + '"', source)
    found: list[list[Any]] = []
    calls: list[tuple[int, int]] = []
    stack: list[int] = []  # one per open parenthesis: the comprehension it opens, or -1
    for position, char in enumerate(code):
        if char == "(":
            macro = _MACRO.search(code, 0, position)
            if macro is None:
                if _MATCHES.search(code, 0, position):
                    steps = _literal_cost(_LITERAL.match(source, position + 1))
                    calls.append((sum(i >= 0 for i in stack), steps))
                stack.append(-1)
                continue
            accumulates = macro.group(1) in _ACCUMULATING
            enclosing = [i for i in stack if i >= 0]
            for outer in enclosing:
                found[outer][2] += accumulates
            found.append([accumulates, len(enclosing), 0])
            stack.append(len(found) - 1)
        elif char == ")" and stack:
            stack.pop()
    return tuple((a, d, i) for a, d, i in found), tuple(calls)


def _literal_cost(literal: re.Match[str] | None) -> int:
    """What the pattern a `matches` call passes may cost: its string's, when it is one."""
    if literal is None:
        return WORST_PATTERN_STEPS
    text = literal[2][1:-1]
    return pattern_cost(text if literal[1] else text.replace("\\\\", "\\"))


def pattern_cost(pattern: str) -> int:
    """Steps compiling `pattern` may take (more than it does, rarely much less): a Unicode
    class (`\\w`, `\\d`, `\\s`, `\\p{..}`, their negations, a set holding one) 300, a `.`
    3, anything else 1, each once per copy a counted repetition (`{n}`, `{n,m}`) makes of
    the piece or group before it."""
    groups = [0]  # the steps of each open group's pieces so far
    last = position = 0  # the steps of the piece a count after it repeats
    while position < len(pattern):
        count = _COUNT.match(pattern, position)
        if count is not None:
            groups[-1] += last * (max(int(count[1]), int(count[2] or 0), 1) - 1)
            position = count.end()
            if groups[-1] > WORST_PATTERN_STEPS:
                return WORST_PATTERN_STEPS
            continue
        piece = _PIECE.match(pattern, position)
        assert piece is not None  # one character matches at least
        text, position = piece[0], piece.end()
        if text == "(":
            groups.append(0)
            continue
        if text == ")":
            last = groups.pop() if len(groups) > 1 else 0
        elif text == ".":
            last = ANY_STEPS
        else:
            last = CLASS_STEPS if _CLASS.search(text) else 1
        groups[-1] += last
    return min(CALL_STEPS + sum(groups), WORST_PATTERN_STEPS)


def _largest(value: Any, depth: int = 0) -> tuple[int, int]:
    """(size of the largest list or map, length of the longest string) in `value`, looked
    at 100 levels deep at most."""
    if isinstance(value, str):
        return 0, len(value)
    if depth > 100:
        return 0, 0
    if isinstance(value, Mapping):
        items: Any = value.values()
    elif isinstance(value, list | tuple):
        items = value
    else:
        return 0, 0
    size, text = len(value), 0
    for item in items:
        inner_size, inner_text = _largest(item, depth + 1)
        size, text = max(size, inner_size), max(text, inner_text)
    return size, text


def estimated_cost(source: str, variables: Mapping[str, Any]) -> int:
    """Steps the comprehensions of `source` may take over `variables` (0 without any).

    Per step of a comprehension: 1, plus the bytes a `+` may copy (strings of the longest
    length in the variables, 2,000 bytes a step); per element an accumulating one copies:
    a twentieth of a step, plus its bytes (5,000 a step), where an element may be as long as
    the longest string times the number of `+` (measured: a `map` over 100 items returning a
    1 MB string from the data took 2.2 s)."""
    found = _comprehensions(source)
    if not found:
        return 0
    largest, longest = _largest(dict(variables))
    n = max(largest, source.count(",") + 1, 1)
    pluses = source.count("+")
    step = 1 + longest * pluses // 2_000
    element = longest * (pluses + 1)
    cost = 0
    for accumulates, depth, inside in found:
        cost += n ** (depth + 1) * step
        if accumulates:
            cost += n ** (depth + 2) * n**inside * (250 + element) // 5_000
    for depth, steps in _matches_calls(source):
        cost += n**depth * steps
    return cost


def evaluate(source: str, variables: Mapping[str, Any]) -> bool:
    """Evaluate a condition; raise ExpressionError with a message fit for a user."""
    try:
        program = _compile(source)
    except (ValueError, RuntimeError) as exc:
        raise ExpressionError(f"{source[:200]!r}: {str(exc).splitlines()[0]}") from None
    cost = estimated_cost(source, variables)
    if cost > MAX_COST:
        raise ExpressionError(
            f"{source[:200]!r} is refused before it runs: its comprehensions (map, filter, "
            f"all, exists) could take about {cost:,} steps over these values (lists of up "
            f"to {_largest(dict(variables))[0]:,} items), more than the {MAX_COST:,} a "
            "condition may take"
        )
    try:
        result = program.execute(dict(variables))
    except KeyError as exc:
        raise ExpressionError(f"{source!r}: no such key {exc.args[0]!r}") from None
    except ZeroDivisionError as exc:
        raise ExpressionError(f"{source!r}: {_first_line(exc, 'division by zero')}") from None
    except Exception as exc:  # the library's own errors, each a mistake of the condition
        raise ExpressionError(f"{source!r}: {_first_line(exc, type(exc).__name__)}") from None
    if not isinstance(result, bool):
        raise ExpressionError(
            f"{source!r} produced {type(result).__name__} {result!r}, not a boolean"
        )
    return result


def _first_line(exc: BaseException, default: str) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else default
