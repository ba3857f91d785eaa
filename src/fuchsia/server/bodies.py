"""Request bodies: bounded before anything reads them, then parsed as JSON with reasons.

`BodyLimit` is a pure ASGI middleware, outside routing and authentication: a request whose
`Content-Length` is over its route's limit is answered 413 without reading a byte of it, and a
streamed body (no length) is counted chunk by chunk and cut at the limit. So no body, signed,
authenticated or not, ever costs more memory than its route allows.

`JsonRoute` parses a route's JSON body before FastAPI does, so every refusal says why: not
UTF-8, not JSON (with the position), nested too deeply, an integer with too many digits, or
sent as something that is not JSON. A body without `Content-Type`, or with curl's default
`application/x-www-form-urlencoded`, or `text/plain`, is read as JSON; any other type is a 415.
"""

from __future__ import annotations

import email.message
import json
from collections.abc import Awaitable, Callable, Coroutine, MutableMapping
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from fuchsia import payload as payloads
from fuchsia.definition.source import MAX_FILE_BYTES
from fuchsia.errors import PayloadTooLarge, RequestError, UnsupportedMediaType

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# A workflow source travels as a JSON string, whose escapes can double its size on the wire;
# its own limit (the CLI's, MAX_FILE_BYTES) is checked on the decoded text.
DEPLOY_BODY_BYTES = 2 * MAX_FILE_BYTES + 64 * 1024
# A payload's limit applies to its compact JSON; the body around it may be indented.
API_BODY_BYTES = 2 * payloads.MAX_PAYLOAD_BYTES + 64 * 1024
# The largest `max_body` a webhook trigger may declare; each route checks its own.
WEBHOOK_BODY_BYTES = 64 * 1024 * 1024
MAX_INT_DIGITS = 4300  # Python's own limit for converting integers from text
# What curl -d, a browser's fetch() of a string and a bare form post declare: read as JSON.
JSON_TYPES = frozenset({"application/json", "application/x-www-form-urlencoded", "text/plain"})


def body_limit(method: str, path: str) -> int:
    """The most bytes a request to `path` may send."""
    if path.startswith("/hooks/"):
        return WEBHOOK_BODY_BYTES
    if method == "POST" and path.rstrip("/") == "/api/v1/workflows":
        return DEPLOY_BODY_BYTES
    return API_BODY_BYTES


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the request body is larger than {limit} bytes", limit=limit)


class BodyLimit:
    """Refuse bodies over `body_limit` before reading them (413 with the limit)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope["method"], scope["path"])
        refusal = _declared_refusal(scope, limit)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise too_large(limit)
            return message

        await self.app(scope, counted, send)


def _declared_refusal(scope: Scope, limit: int) -> Response | None:
    """The answer to a `Content-Length` that is malformed or over `limit`, if it is."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            if not text.isdigit() or len(text) > 20:
                error: RequestError = RequestError(
                    f"Content-Length {text[:40]!r} is not a byte count", param="Content-Length"
                )
                return JSONResponse({"error": error.details()}, 400)
            if int(text) > limit:
                return JSONResponse({"error": too_large(limit).details()}, 413)
    return None


class JsonRoute(APIRoute):
    """An APIRoute whose JSON body is parsed by `parse_body` before FastAPI reads it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def parse_first(request: Request) -> Response:
            await parse_body(request)
            return await handler(request)

        return parse_first


async def parse_body(request: Request) -> None:
    """Parse the body as JSON (leaving an empty one to FastAPI's required-body check), and
    have FastAPI treat it as JSON whatever JSON-compatible type was declared."""
    headers: list[tuple[bytes, bytes]] = list(request.scope["headers"])
    declared = next((v.decode("latin-1") for k, v in headers if k == b"content-type"), None)
    body = await request.body()
    if not body:
        return
    if declared is not None and not _is_json_type(declared):
        raise UnsupportedMediaType(declared)
    request._json = parse_json(body)  # what FastAPI's request.json() returns
    if declared is None or not _is_json_type(declared, strict=True):
        headers = [(k, v) for k, v in headers if k != b"content-type"]
        request.scope["headers"] = [*headers, (b"content-type", b"application/json")]
        request.__dict__.pop("_headers", None)


def _is_json_type(content_type: str, *, strict: bool = False) -> bool:
    message = email.message.Message()
    message["content-type"] = content_type
    kind = message.get_content_type()
    if kind == "application/json" or kind.endswith("+json"):
        return True
    return not strict and kind in JSON_TYPES


def parse_json(body: bytes, source: str = "body") -> Any:
    """A JSON document from a request body, or a RequestError (400) saying what is wrong."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(f"{source} is not UTF-8 text (byte {exc.start})", param=source) from None
    try:
        value = json.loads(text, parse_int=_bounded_int)
    except json.JSONDecodeError as exc:
        raise RequestError(
            f"{source} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            param=source,
        ) from None
    except RecursionError:
        raise RequestError(
            f"{source} is nested more than {payloads.MAX_DEPTH} levels deep", param=source
        ) from None
    except ValueError as exc:
        raise RequestError(f"{source}: {exc}", param=source) from None
    if _depth_over(value, payloads.MAX_DEPTH):
        raise RequestError(
            f"{source} is nested more than {payloads.MAX_DEPTH} levels deep", param=source
        )
    return value


def _depth_over(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return False


def _bounded_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise ValueError(f"an integer has {digits} digits; the limit is {MAX_INT_DIGITS}")
    return int(text)
