"""`http`: one request with httpx; the output is `{status, headers, json | text}`.

Transport errors, 5xx and 429 are retryable; other unexpected statuses are not, because
sending the same request again will get the same answer. Responses are read up to a cap so a
huge body fails the node instead of the process.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from fuchsia.errors import HttpError, InputError, NodeTimeout
from fuchsia.nodes import NodeContext

MAX_RESPONSE_BYTES = 10 * 1024 * 1024


def _request(spec: dict[str, Any]) -> dict[str, Any]:
    url = spec["url"]
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise InputError(f"http.url must be an http:// or https:// URL, got {url!r}")
    headers = {name: _header(name, value) for name, value in (spec.get("headers") or {}).items()}
    params = {
        k: v if isinstance(v, str) else json.dumps(v) for k, v in (spec.get("query") or {}).items()
    }
    if params:
        # httpx's `params=` replaces the URL's own query string; `query` adds to it instead
        url = str(httpx.URL(url).copy_merge_params(params))
    request: dict[str, Any] = {
        "method": spec.get("method", "GET"),
        "url": url,
        "headers": headers,
    }
    if spec.get("json") is not None:
        request["json"] = spec["json"]
    elif spec.get("body") is not None:
        body = spec["body"]
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


def _expected(spec: dict[str, Any], status: int) -> bool:
    expect = spec.get("expect")
    return status in expect if expect else 200 <= status < 300


async def run(spec: dict[str, Any], ctx: NodeContext) -> Any:
    request = _request(spec)
    # `http.timeout` limits the request even under a longer node (or defaults) timeout
    limits = [t for t in (spec.get("timeout"), ctx.timeout) if t is not None]
    timeout = min(limits) if limits else None
    try:
        async with ctx.http.stream(
            **request, timeout=timeout, follow_redirects=bool(spec.get("follow_redirects"))
        ) as response:
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_RESPONSE_BYTES:
                    raise HttpError(
                        f"response larger than {MAX_RESPONSE_BYTES} bytes",
                        status=response.status_code,
                        retryable=False,
                    )
    except httpx.TimeoutException:
        raise NodeTimeout(
            f"{request['method']} {request['url']} timed out after {timeout}s"
        ) from None
    except httpx.HTTPError as exc:
        raise HttpError(f"{request['method']} {request['url']} failed: {exc}") from None
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
        except json.JSONDecodeError:
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


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return f": {text[:200]}" if text else ""
