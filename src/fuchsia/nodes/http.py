"""`http`: one request with httpx; the output is `{status, headers, json | text}`.

Transport errors, 5xx and 429 are retryable; other unexpected statuses are not, because
sending the same request again will get the same answer. Responses are read (and inflated)
up to a cap while they stream, so a huge body fails the node instead of the process.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

import httpx

from fuchsia.errors import HttpError, InputError, NodeTimeout
from fuchsia.nodes import NodeContext
from fuchsia.nodes.kind import HttpSpec
from fuchsia.runtime.limits import DEFAULT_MAX_RESPONSE, LimitExceeded, size_text

MAX_RESPONSE_BYTES = DEFAULT_MAX_RESPONSE
DECODABLE = ("gzip", "deflate")


def _request(spec: HttpSpec, rendered: dict[str, Any]) -> dict[str, Any]:
    """The request: the method from the locked spec, the rest as the templates rendered it."""
    url = rendered["url"]
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise InputError(f"http.url must be an http:// or https:// URL, got {url!r}")
    headers = {
        name: _header(name, value) for name, value in (rendered.get("headers") or {}).items()
    }
    params = {
        k: v if isinstance(v, str) else json.dumps(v)
        for k, v in (rendered.get("query") or {}).items()
    }
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:  # a control character, say: not an httpx.HTTPError
        raise InputError(f"http.url is not a URL that can be sent: {exc}") from None
    if params:
        # httpx's `params=` replaces the URL's own query string; `query` adds to it instead
        url = str(parsed.copy_merge_params(params))
    request: dict[str, Any] = {
        "method": spec.method,
        "url": url,
        "headers": headers,
    }
    if rendered.get("json") is not None:
        request["json"] = rendered["json"]
    elif rendered.get("body") is not None:
        body = rendered["body"]
        request["content"] = body if isinstance(body, str) else json.dumps(body)
    return request


def _header(name: str, value: Any) -> str:
    """A header value: a string, or a number or boolean that a `{{ expr }}` kept native."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    raise InputError(
        f"http.headers.{name} must render to a string, number or boolean, "
        f"not {type(value).__name__}"
    )


def _expected(spec: HttpSpec, status: int) -> bool:
    return status in spec.expect if spec.expect else 200 <= status < 300


async def run(spec: HttpSpec, rendered: dict[str, Any], ctx: NodeContext) -> Any:
    request = _request(spec, rendered)
    # only encodings the node can decode within its cap (httpx would inflate a whole chunk)
    if not any(name.lower() == "accept-encoding" for name in request["headers"]):
        request["headers"]["accept-encoding"] = ", ".join(DECODABLE)
    # `http.timeout` limits the request even under a longer node (or defaults) timeout
    limits = [t for t in (spec.timeout, ctx.timeout) if t is not None]
    timeout = min(limits) if limits else None
    cap = ctx.max_response or MAX_RESPONSE_BYTES
    with ctx.telemetry.request(request["method"], request["url"], request["headers"]) as span:
        response, body = await _send(ctx, spec, request, timeout, cap)
        span.set("http.response.status_code", response.status_code)
        if not _expected(spec, response.status_code):
            span.fail(str(response.status_code), f"returned {response.status_code}")
    status = response.status_code
    output: dict[str, Any] = {
        "status": status,
        "headers": {k.lower(): v for k, v in response.headers.items()},
    }
    text = body.decode(response.encoding or "utf-8", errors="replace")
    content_type = response.headers.get("content-type", "")
    parsed = False
    if "json" in content_type:
        try:
            output["json"] = json.loads(text) if text else None
            parsed = True
        except (ValueError, RecursionError):  # not JSON, too deep, an integer too long
            pass
    if not parsed:
        output["text"] = text
    if not _expected(spec, status):
        retryable = status >= 500 or status == 429
        raise HttpError(
            f"{request['method']} {request['url']} returned {status}{_snippet(text)}",
            status=status,
            retryable=retryable,
        )
    return output


async def _send(
    ctx: NodeContext, spec: HttpSpec, request: dict[str, Any], timeout: float | None, cap: int
) -> tuple[httpx.Response, bytes]:
    """Send the request; its response and body (refused past `cap` bytes)."""
    try:
        async with ctx.http().stream(
            **request, timeout=timeout, follow_redirects=spec.follow_redirects
        ) as response:
            return response, await _read(response, cap, f"{request['method']} {request['url']}")
    except httpx.TimeoutException:
        raise NodeTimeout(
            f"{request['method']} {request['url']} timed out after {timeout}s"
        ) from None
    except httpx.HTTPError as exc:
        raise HttpError(f"{request['method']} {request['url']} failed: {exc}") from None


async def _read(response: httpx.Response, cap: int, what: str) -> bytes:
    """The response body, decoded, refused as soon as it passes `cap` bytes: what arrives
    is inflated at most `cap + 1` bytes at a time, so neither a long body nor a small
    compressed one that inflates to gigabytes is ever held whole."""
    decoder = _Decoder(response.headers.get("content-encoding", ""), what, response.status_code)
    body = bytearray()
    async for raw in response.aiter_raw():
        for piece in decoder.feed(raw, cap + 1 - len(body)):
            body += piece
            if len(body) > cap:
                raise LimitExceeded(
                    f"{what}: the response body is larger than the cap of {size_text(cap)} "
                    "(limits.response)"
                )
    return bytes(body)


class _Decoder:
    """Content-Encoding `identity`, `gzip` or `deflate` (several, in the order applied),
    inflated with a bound on each step's output."""

    def __init__(self, header: str, what: str, status: int) -> None:
        codings = [c.strip().lower() for c in header.split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        unknown = [c for c in codings if c not in DECODABLE]
        if unknown:
            raise HttpError(
                f"{what}: the response is encoded as {', '.join(unknown)}, which the http "
                f"node does not decode (it asks for {', '.join(DECODABLE)})",
                status=status,
                retryable=False,
            )
        self.stages = [_Inflater(c) for c in reversed(codings)]

    def feed(self, data: bytes, room: int) -> list[bytes]:
        pieces = [data]
        for stage in self.stages:
            pieces = [out for piece in pieces for out in stage.feed(piece, room)]
        return pieces


class _Inflater:
    """One gzip or deflate layer. `deflate` is zlib-wrapped by the standard and raw from some
    servers: like httpx, the raw form is tried when the wrapped one fails at the start. A
    gzip body may hold several members, one after the other."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self.wbits = zlib.MAX_WBITS | 16 if coding == "gzip" else zlib.MAX_WBITS
        self.stage = zlib.decompressobj(self.wbits)
        self.started = False

    def feed(self, data: bytes, room: int) -> list[bytes]:
        """Inflate `data`; stop early once more than `room` bytes came out (the caller then
        refuses the body, so what is left is never inflated)."""
        out: list[bytes] = []
        produced = 0
        while data and produced <= room:
            piece = self._decompress(data, max(room - produced + 1, 1))
            out.append(piece)
            produced += len(piece)
            data = self.stage.unconsumed_tail
            if self.stage.eof and self.stage.unused_data:  # the next gzip member
                data = self.stage.unused_data
                self.stage = zlib.decompressobj(self.wbits)
            elif not piece and not data:
                break
        return out

    def _decompress(self, data: bytes, limit: int) -> bytes:
        try:
            piece = self.stage.decompress(data, limit)
        except zlib.error as exc:
            if self.coding != "deflate" or self.started:
                raise HttpError(
                    f"the response body does not decode as {self.coding}: {exc}", retryable=False
                ) from None
            self.wbits = -zlib.MAX_WBITS
            self.stage = zlib.decompressobj(self.wbits)
            self.started = True
            return self._decompress(data, limit)
        self.started = True
        return piece


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return f": {text[:200]}" if text else ""
