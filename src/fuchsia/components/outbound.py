"""Outbound HTTP for components: the host makes the request, only to hosts the manifest allows.

A pattern is a host name (`api.example.com`), a wildcard for subdomains (`*.example.com`),
or either with a scheme and/or port (`http://127.0.0.1:8080`, `https://*.example.com`). A
pattern without a scheme allows https only; a pattern without a port allows the scheme's
default port only. A denied request is an answer the component receives (`denied`, naming
the pattern that would allow it), never a trap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

MAX_RESPONSE_BYTES = 10 * 1024 * 1024
DEFAULT_TIMEOUT = 30.0
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int

    @property
    def pattern(self) -> str:
        """The narrowest `allowed_hosts` entry that allows this target."""
        default = _DEFAULT_PORTS.get(self.scheme)
        if self.scheme == "https" and self.port == default:
            return self.host
        port = "" if self.port == default else f":{self.port}"
        return f"{self.scheme}://{self.host}{port}"


def parse_target(url: str) -> Target | None:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    try:
        port = parts.port or _DEFAULT_PORTS[scheme]
    except ValueError:
        return None
    return Target(scheme, parts.hostname.lower().rstrip("."), port)


def allows(pattern: str, target: Target) -> bool:
    scheme, sep, rest = pattern.partition("://")
    if not sep:
        scheme, rest = "https", pattern
    host, _, port_text = rest.rstrip("/").rpartition(":") if ":" in rest else (rest, "", "")
    host = host.lower()
    if scheme.lower() != target.scheme:
        return False
    port = int(port_text) if port_text.isdigit() else _DEFAULT_PORTS[target.scheme]
    if port != target.port:
        return False
    if host.startswith("*."):
        return target.host.endswith(host[1:]) and target.host != host[2:]
    return host == target.host


def check(url: str, patterns: Sequence[str]) -> str | None:
    """None when the URL is allowed, else the reason to return to the component."""
    target = parse_target(url)
    if target is None:
        return f"{url!r} is not an http:// or https:// URL with a host"
    if any(allows(p, target) for p in patterns):
        return None
    return (
        f"{target.scheme}://{target.host}:{target.port} is not in the component's allowed_hosts; "
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


def fetch(
    client: httpx.Client,
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
    try:
        with client.stream(
            method.upper(),
            url,
            headers=headers,
            content=body,
            timeout=timeout or DEFAULT_TIMEOUT,
            follow_redirects=False,
        ) as response:
            data = bytearray()
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) > MAX_RESPONSE_BYTES:
                    return Failure("too-large", f"response larger than {MAX_RESPONSE_BYTES} bytes")
            return Response(response.status_code, list(response.headers.multi_items()), bytes(data))
    except httpx.TimeoutException:
        return Failure(
            "timeout", f"{method.upper()} {url} timed out after {timeout or DEFAULT_TIMEOUT}s"
        )
    except (httpx.HTTPError, ValueError) as exc:
        return Failure("failed", f"{method.upper()} {url} failed: {exc}")
