"""API tokens: random secrets handed out once, stored only as sha256 hashes, with scopes.

| scope | allows |
|-------|--------|
| read  | listing and showing workflows, executions, events |
| run   | read, plus starting, cancelling, pausing, resuming, retrying and signalling |
| admin | run, plus deploying, enabling and disabling workflows |
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fuchsia.errors import FuchsiaError
from fuchsia.store.base import Store
from fuchsia.store.records import TokenRecord, new_id

SCOPES = ("read", "run", "admin")
PREFIX = "fct_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def matches(sent: str, expected: str) -> bool:
    """Whether a value a client sent (a signature, a CSRF token) is `expected`, in constant
    time. Compared as UTF-8 bytes: `hmac.compare_digest` refuses two strings of which one
    holds a non-ASCII character with a TypeError, and a client chooses what it sends."""
    return hmac.compare_digest(
        sent.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


def grants(token: TokenRecord, scope: str) -> bool:
    """Whether a token's scopes cover `scope` (admin > run > read)."""
    rank = max((SCOPES.index(s) for s in token.scopes if s in SCOPES), default=-1)
    return rank >= SCOPES.index(scope)


async def create_token(store: Store, name: str, scopes: list[str]) -> tuple[TokenRecord, str]:
    """A new token: its record, and the secret (shown once, never stored)."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise FuchsiaError(f"scopes are {', '.join(SCOPES)}; got {', '.join(unknown) or 'none'}")
    secret = PREFIX + secrets.token_urlsafe(32)
    token_id = new_id()
    await store.add_token(token_id, name, hash_token(secret), tuple(dict.fromkeys(scopes)))
    record = next(t for t in await store.tokens() if t.id == token_id)
    return record, secret
