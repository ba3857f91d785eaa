"""What a Python caller passes to `Engine`, checked before it reaches the store.

The HTTP API and the command line check their parameters on the way in (FastAPI's types,
typer's ranges); a program calling the engine has no such layer, so a `None` for an id, a NUL
(which PostgreSQL's text cannot hold) or a lone surrogate (which neither store can encode; a
command-line argument that is not UTF-8 arrives as one) would otherwise end in a TypeError or
a driver's error from deep inside. Each is a `RequestError` naming the argument instead, as an
HTTP request with the same fault is.
"""

from __future__ import annotations

from fuchsia.errors import RequestError

MAX_INTEGER = 2**63 - 1  # the stores' integer range


def text(value: object, param: str) -> str:
    """`value`, if it is text a store can hold: a str with no NUL and no lone surrogate."""
    if not isinstance(value, str):
        raise RequestError(f"{param} is text, not {type(value).__name__}", param=param)
    if "\x00" in value:
        raise RequestError(f"{param} holds a NUL character: {value[:60]!r}", param=param)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        lone = value[exc.start]
        raise RequestError(
            f"{param} holds a lone surrogate {lone!r}, which is not a character", param=param
        ) from None
    return value


def execution_id(value: object, param: str = "execution_id") -> str:
    """`text` that is not empty: an empty prefix would name every execution (the one
    execution of a store, say, which a `cancel("")` would then cancel)."""
    if text(value, param) == "":
        raise RequestError(f"{param} is empty", param=param)
    return str(value)


def optional_text(value: object, param: str) -> str | None:
    """`text`, or None."""
    return None if value is None else text(value, param)


def integer(value: object, param: str, *, least: int, most: int = MAX_INTEGER) -> int:
    """`value`, if it is a whole number (not a bool) from `least` to `most`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise RequestError(f"{param} is a whole number, not {type(value).__name__}", param=param)
    if not least <= value <= most:
        raise RequestError(f"{param} is {least} to {most}, not {value}", param=param)
    return value


def ids(value: object, param: str = "ids") -> list[str]:
    """A list of execution ids: a str (one id, which would be read as its characters) is
    refused, as is any item that is not `text`."""
    if isinstance(value, str) or not isinstance(value, list | tuple | set | frozenset):
        raise RequestError(
            f"{param} is a list of execution ids, not {type(value).__name__}"
            + (" (one id: [id])" if isinstance(value, str) else ""),
            param=param,
        )
    return [execution_id(item, param) for item in value]
