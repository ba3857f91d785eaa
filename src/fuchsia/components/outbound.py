"""Outbound HTTP for components: the host makes the request, only to hosts the manifest allows.

The `allowed_hosts` patterns are parsed by `hosts`, the parser manifest validation uses
too. A denied request is an answer the component receives (`denied`, naming the pattern that
would allow it), never a trap. Requests run on the engine's event loop, so that the attempt's
timeout or cancellation can cancel one in flight (`imports.wait`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from fuchsia.components import hosts

MAX_RESPONSE_BYTES = 10 * 1024 * 1024
DEFAULT_TIMEOUT = 30.0
_METHOD = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # a token (RFC 9110), as h11 checks it


def check(url: str, patterns: Sequence[str]) -> str | None:
    """None when the URL is allowed, else the reason to return to the component."""
    target = hosts.parse_target(url)
    if target is None:
        return f"{url!r} is not an http:// or https:// URL with a host"
    if hosts.allowed(target, hosts.parse_all(list(patterns))):
        return None
    host = f"[{target.host}]" if ":" in target.host else target.host
    return (
        f"{target.scheme}://{host}:{target.port} is not in the component's allowed_hosts; "
        f"add {target.pattern!r} to capabilities.allowed_hosts in component.yaml"
    )


@dataclass(frozen=True)
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True)
class Failure:
    kind: str  # denied | timeout | too-large | failed
    message: str


async def fetch(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    headers: list[tuple[str, str]],
    body: bytes | None,
    timeout: float | None,
    patterns: Sequence[str],
) -> Response | Failure:
    """Perform one request for a component, or say why not."""
    reason = check(url, patterns)
    if reason is not None:
        return Failure("denied", reason)
    if not _METHOD.fullmatch(method):
        return Failure("failed", f"{method!r} is not an HTTP method (a token such as GET or PATCH)")
    try:
        async with client.stream(
            method.upper(),
            url,
            headers=headers,
            content=body,
            timeout=timeout or DEFAULT_TIMEOUT,
            follow_redirects=False,
        ) as response:
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) > MAX_RESPONSE_BYTES:
                    return Failure("too-large", f"response larger than {MAX_RESPONSE_BYTES} bytes")
            return Response(response.status_code, list(response.headers.multi_items()), bytes(data))
    except httpx.TimeoutException:
        return Failure(
            "timeout", f"{method.upper()} {url} timed out after {timeout or DEFAULT_TIMEOUT}s"
        )
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:  # InvalidURL is neither
        return Failure("failed", f"{method.upper()} {url} failed: {exc}")
