"""Trigger payloads: parsed, bounded and checked against the trigger's schema before anything
is stored, so a bad payload is a clear error and never a half-created execution."""

from __future__ import annotations

import functools
import json
from typing import Any

from fuchsia.errors import PayloadError, PayloadTooLarge

MAX_PAYLOAD_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64
MAX_INTEGER_DIGITS = 4300  # Python's own default limit for converting digits to an int


def parse(text: str | bytes, *, source: str = "payload") -> Any:
    """Parse a JSON payload, refusing oversized or too deeply nested documents."""
    if len(text) > MAX_PAYLOAD_BYTES:  # perhaps cut one byte past the limit, by its reader
        raise PayloadTooLarge(
            f"{source} is too large; the limit is {MAX_PAYLOAD_BYTES} bytes",
            limit=MAX_PAYLOAD_BYTES,
        )
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise PayloadError(f"{source} is not UTF-8 text") from None
    try:
        value = json.loads(text, parse_int=functools.partial(_integer, source=source))
    except json.JSONDecodeError as exc:
        raise PayloadError(
            f"{source} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise PayloadError(f"{source} is nested more than {MAX_DEPTH} levels deep") from None
    check(value, source=source)
    return value


def check(value: Any, *, source: str = "payload", schema: dict[str, Any] | None = None) -> Any:
    """Refuse values that are not JSON data, too deep, too large, or against `schema`; the
    value as JSON data otherwise: what it is stored as and read back, a Python caller's
    tuple a list and its keys text, so what reads it before it is stored (the schema, the
    trigger's context, the first run of its nodes) sees what a resumed run sees."""
    plain = _check_depth(value, source)
    try:
        encoded = json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        if isinstance(exc, UnicodeEncodeError):  # JSON's "\ud800" escape: not Unicode text
            lone = exc.object[exc.start : exc.end]
            raise PayloadError(
                f"{source} holds text that is not Unicode: a lone surrogate {lone!r}"
            ) from None
        raise PayloadError(f"{source} is not JSON data: {exc}") from None
    if len(encoded) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge(
            f"{source} is {len(encoded)} bytes as JSON; the limit is {MAX_PAYLOAD_BYTES} bytes",
            limit=MAX_PAYLOAD_BYTES,
        )
    if not plain:
        value = json.loads(encoded)
    if schema is not None:
        from fuchsia import schemas  # only a schema check pays for the validator

        try:
            errors = schemas.errors(schema, value)
        except schemas.SchemaUnusable as exc:
            raise PayloadError(f"the trigger schema cannot be applied to {source}: {exc}") from None
        if errors:
            lines = [f"{source}{_path(e.absolute_path)}: {e.message}" for e in errors[:10]]
            raise PayloadError(
                "payload does not match the trigger schema:\n  " + "\n  ".join(lines)
            )
    return value


def _integer(digits: str, *, source: str) -> int:
    """A JSON integer, refused past MAX_INTEGER_DIGITS (converting more digits is quadratic
    and Python refuses it with a bare ValueError)."""
    if len(digits.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise PayloadError(
            f"{source} holds an integer of {len(digits.lstrip('-'))} digits; "
            f"the limit is {MAX_INTEGER_DIGITS} digits"
        )
    return int(digits)


def _path(parts: Any) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)


def _check_depth(value: Any, source: str) -> bool:
    """Refuse a value nested deeper than MAX_DEPTH (a tuple nests as the list it is stored
    as); whether it is plain JSON data already (lists, and dicts keyed by text)."""
    plain = True
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise PayloadError(f"{source} is nested more than {MAX_DEPTH} levels deep")
        if isinstance(item, dict):
            plain = plain and all(type(k) is str for k in item)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list | tuple):
            plain = plain and type(item) is list
            stack.extend((v, depth + 1) for v in item)
    return plain
