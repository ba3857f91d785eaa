"""Idempotency keys: what a key may be, and what reusing one means.

A key names one request: starting workflow W with payload P. The same request again returns
the execution the key already names (a retried HTTP call, a redelivered webhook, a cron
instant fired twice). A different request under the same key is a mistake the caller must
hear about (`IdempotencyConflict`, 409 over HTTP), as Stripe answers a reused key with other
parameters: silently returning the first execution would drop the second request.
"""

from __future__ import annotations

import json
from typing import Any

from fuchsia.errors import IdempotencyConflict, RequestError
from fuchsia.store.records import ExecutionRecord

MAX_KEY_LENGTH = 255


def check_key(key: str, *, param: str = "idempotency_key") -> None:
    """Refuse a key that is empty, longer than 255 characters, or has characters outside
    visible ASCII (keys travel in HTTP headers and are shown in listings)."""
    if not isinstance(key, str):
        raise RequestError(f"{param} is text, not {type(key).__name__}", param=param)
    if not key:
        raise RequestError(f"{param} is empty", param=param)
    if len(key) > MAX_KEY_LENGTH:
        raise RequestError(
            f"{param} is {len(key)} characters; the limit is {MAX_KEY_LENGTH}", param=param
        )
    bad = next((c for c in key if not "!" <= c <= "~"), None)
    if bad is not None:
        raise RequestError(
            f"{param} may hold visible ASCII characters only (no spaces), not {bad!r}",
            param=param,
        )


def refuse_other_request(record: ExecutionRecord, workflow: str, payload: Any, key: str) -> None:
    """Raise IdempotencyConflict unless `record`, the execution `key` already names, was
    started for the same workflow name and the same payload (compared as canonical JSON: key
    order does not matter, and `1`, `1.0` and `true` differ as they do in JSON)."""
    if record.workflow_name != workflow or _canonical(record.payload) != _canonical(payload):
        raise IdempotencyConflict(key, record.id)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
