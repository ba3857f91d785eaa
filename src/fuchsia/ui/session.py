"""Who is looking at the UI, and whether a form they post is their own.

With tokens on, the login page takes a token once; the session cookie then holds the token's
*id* (never the secret) with an expiry, signed with HMAC-SHA256 under a key kept in the
store (`stored_key`: servers sharing a store accept each other's sessions, and a restart keeps
them). Each request looks the token up by that id, so a
revoked token's session ends at once. The cookie is HttpOnly and SameSite=Strict.

Every form carries a CSRF token: the HMAC of a random per-browser value kept in its own
SameSite=Strict cookie (with tokens off too), checked in constant time on every POST.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from fuchsia.errors import FuchsiaError
from fuchsia.server.auth import grants, hash_token, matches

if TYPE_CHECKING:
    from fuchsia.store import Store
    from fuchsia.store.records import TokenRecord

SESSION = "fuchsia_session"
BROWSER = "fuchsia_browser"
SESSION_SECONDS = 12 * 3600
MAX_TOKEN = 512  # characters of a token the login form reads


@dataclass(frozen=True)
class Viewer:
    """The person behind a request: `name` (the token's, or None with tokens off) and
    whether their scope lets them act (`run`) or deploy (`admin`)."""

    name: str | None
    can_run: bool
    can_admin: bool
    csrf: str
    browser: str  # the per-browser value `csrf` is derived from
    new_browser: bool  # the browser cookie must be set on the response


class LoginRequired(Exception):
    """No valid session (tokens on): the page sends the browser to the login page."""


class CsrfRefused(Exception):
    """A form post without this browser's CSRF token."""


KEY_SCOPE, KEY_NAME = "fuchsia:ui", "session_key"


async def stored_key(store: Store) -> bytes:
    """The key sessions are signed with, kept in the store (its kv, encrypted at rest when
    the store is): every server on one store accepts the others' sessions, and a restart
    keeps them. A store that cannot be written gets a key of this process's own."""
    try:
        found = await store.kv_get(KEY_SCOPE, KEY_NAME)
        if found is None:
            await store.kv_set(KEY_SCOPE, KEY_NAME, secrets.token_hex(32))
            found = await store.kv_get(KEY_SCOPE, KEY_NAME)  # another server's, if it won
    except FuchsiaError:
        found = None
    return bytes.fromhex(found) if found else secrets.token_bytes(32)


def key_of(request: Request) -> bytes:
    key: bytes = request.app.state.ui_key
    return key


def _sign(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def session_value(key: bytes, token_id: str, now: float | None = None) -> str:
    expires = int((now if now is not None else time.time()) + SESSION_SECONDS)
    body = f"{token_id}.{expires}"
    return f"{body}.{_sign(key, 'session|' + body)}"


def session_token_id(key: bytes, value: str, now: float | None = None) -> str | None:
    """The token id a session cookie names, if its signature holds and it has not expired."""
    parts = value.split(".")
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    token_id, expires, signature = parts
    if not matches(signature, _sign(key, f"session|{token_id}.{expires}")):
        return None
    if int(expires) < (now if now is not None else time.time()):
        return None
    return token_id


def browser_of(request: Request) -> tuple[str, bool]:
    value = request.cookies.get(BROWSER, "")
    if len(value) == 43 and value.replace("-", "").replace("_", "").isalnum():
        return value, False
    return secrets.token_urlsafe(32), True


def csrf_of(key: bytes, browser: str) -> str:
    return _sign(key, "csrf|" + browser)


async def token_of(request: Request) -> TokenRecord | None:
    """The live token the request's session names, if any."""
    value = request.cookies.get(SESSION)
    token_id = session_token_id(key_of(request), value) if value else None
    if token_id is None:
        return None
    store = request.app.state.engine.store
    tokens: list[TokenRecord] = await store.tokens()
    record = next((t for t in tokens if t.id == token_id), None)
    if record is None or record.revoked_at is not None:
        return None
    return record


async def viewer(request: Request) -> Viewer:
    """A FastAPI dependency: who is asking (LoginRequired without a session, tokens on)."""
    browser, new = browser_of(request)
    csrf = csrf_of(key_of(request), browser)
    if not request.app.state.auth:
        return Viewer(None, True, True, csrf, browser, new)
    record = await token_of(request)
    if record is None:
        raise LoginRequired
    return Viewer(record.name, grants(record, "run"), grants(record, "admin"), csrf, browser, new)


def check_csrf(request: Request, sent: str | None) -> None:
    browser = request.cookies.get(BROWSER, "")
    if not browser or not sent:
        raise CsrfRefused
    if not matches(sent, csrf_of(key_of(request), browser)):
        raise CsrfRefused


async def login_token(request: Request, token: str) -> TokenRecord | None:
    """The live token record of the secret `token`, if there is one."""
    token = token.strip()
    if not token or len(token) > MAX_TOKEN:
        return None
    store = request.app.state.engine.store
    record: TokenRecord | None = await store.token_by_hash(hash_token(token))
    if record is None or record.revoked_at is not None:
        return None
    return record


def set_cookie(
    response: Response, name: str, value: str, max_age: int, *, secure: bool = False
) -> None:
    """An HttpOnly, SameSite=Strict cookie for the whole UI (`secure`: served over https)."""
    response.set_cookie(
        name, value, max_age=max_age, httponly=True, samesite="strict", path="/", secure=secure
    )


def remember_browser(response: Response, who: Viewer, *, secure: bool = False) -> None:
    if who.new_browser:
        set_cookie(response, BROWSER, who.browser, 10 * 365 * 24 * 3600, secure=secure)
