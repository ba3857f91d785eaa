"""Text no store can hold, refused where it enters: a NUL character (U+0000).

PostgreSQL's text cannot hold a NUL, so an id, a name or a cursor holding one reached the
store only to fail there (a 500 for a read, a `store_error` for a write), while SQLite stored
it: the same request meant different things on the two backends. `TextParams`, a pure ASGI
middleware outside routing, answers 422 `invalid_parameters` for a path or a query parameter
holding one, on every route (the API's, the UI's, the streams'); `Text` is the same rule for
the text fields of a body. A payload may still hold NULs: it is stored as JSON, escaped.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qsl

from pydantic import AfterValidator

from fuchsia.definition.models import HOLDS_NUL, NUL, no_nul
from fuchsia.errors import InvalidParameters
from fuchsia.server.bodies import ASGIApp, Receive, Scope, Send
from fuchsia.server.problems import answer

Text = Annotated[str, AfterValidator(no_nul)]


def nul_params(scope: Scope) -> list[dict[str, str]]:
    """The parts of a request's address that hold a NUL: the path, each query parameter."""
    found = [{"param": "path", "message": HOLDS_NUL}] if NUL in scope["path"] else []
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):  # as Starlette reads it
        if NUL in name + value:
            found.append({"param": f"query.{name.replace(NUL, '')}", "message": HOLDS_NUL})
    return found


class TextParams:
    """Refuse a request whose path or query holds a NUL (422 naming each), before routing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = nul_params(scope) if scope["type"] == "http" else []
        if not found:
            await self.app(scope, receive, send)
            return
        await answer(InvalidParameters(found))(scope, receive, send)
