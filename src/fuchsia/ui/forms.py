"""What every UI route does with a request and its answer: read a posted form (bounded,
url-encoded only), redirect back after a post with a message shown once (a short-lived
cookie, so no message travels in an address a third party could craft), and send a page
with the browser cookie the CSRF tokens are derived from."""

from __future__ import annotations

from urllib.parse import parse_qs, quote, unquote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from fuchsia import payload as payloads
from fuchsia.ui.session import Viewer, remember_browser, set_cookie

FLASH = "fuchsia_flash"
MAX_FORM = 2 * payloads.MAX_PAYLOAD_BYTES + 64 * 1024  # BodyLimit's bound for these paths
MAX_FIELDS = 64


async def read_form(request: Request) -> dict[str, str]:
    """A url-encoded form (the only kind the UI posts), bounded, first value of each field."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if kind != "application/x-www-form-urlencoded" or len(body) > MAX_FORM:
        return {}
    try:
        fields = parse_qs(body.decode(), keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        return {}
    return {k: v[0] for k, v in fields.items()}


def flash_of(request: Request) -> str | None:
    value = request.cookies.get(FLASH)
    return unquote(value)[:500] if value else None


def back(url: str, message: str | None = None) -> Response:
    """A redirect to `url` (Post/Redirect/Get), with `message` shown there once."""
    response = RedirectResponse(url, 303)
    if message:
        set_cookie(response, FLASH, quote(message[:500]), 60)
    return response


def shown(response: Response, who: Viewer, request: Request) -> Response:
    """A page as sent: the browser cookie set when new, a shown message cleared."""
    remember_browser(response, who, secure=request.url.scheme == "https")
    if request.cookies.get(FLASH):
        response.delete_cookie(FLASH, path="/")
    return response
