"""CEL conditions (`branch[].when`, `repeat.until`), compiled once per expression.

Conditions see three variables: `data` (the node's input data), `context` and `execution`
(and `item` and `index` in a `foreach`).
They must produce a boolean: CEL does not coerce, so `size(data.items)` is not a condition
but `size(data.items) > 0` is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

_POSITION = re.compile(r"<input>:(\d+):(\d+): (.*?)(?:\n|$)")


class ExpressionError(Exception):
    """A condition did not compile or did not evaluate to a boolean."""


@lru_cache(maxsize=4096)
def _compile(source: str) -> Any:
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


def evaluate(source: str, variables: Mapping[str, Any]) -> bool:
    """Evaluate a condition; raise ExpressionError with a message fit for a user."""
    try:
        result = _compile(source).execute(dict(variables))
    except KeyError as exc:
        raise ExpressionError(f"{source!r}: no such key {exc.args[0]!r}") from None
    except (ValueError, TypeError, RuntimeError) as exc:
        raise ExpressionError(f"{source!r}: {str(exc).splitlines()[0]}") from None
    if not isinstance(result, bool):
        raise ExpressionError(
            f"{source!r} produced {type(result).__name__} {result!r}, not a boolean"
        )
    return result
