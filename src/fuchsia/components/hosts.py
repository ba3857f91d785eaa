"""`allowed_hosts` patterns: one parser for the manifest's validation and the outbound check.

A pattern is a host name (`api.example.com`), a wildcard for subdomains (`*.example.com`),
an IPv4 address, or an IPv6 address (`::1`, `[::1]`, `[::1]:8080`), each optionally with a
scheme (`http://`, `https://`) and, except for a bare IPv6 address, a port. A pattern
without a scheme allows https only; one without a port allows the scheme's default port
only.

Both sides normalise hosts the same way (lower case, no trailing dot, IP addresses in their
canonical form, IPv6 without brackets), so a pattern the manifest accepts is the pattern the
outbound check compares: `[::1]:8080`, `[0:0::1]:8080` and `http://[::1]:8080` all name
the host `::1`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}

_LABEL = r"[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?"
_HOSTNAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")
_PATTERN = re.compile(
    r"^(?:(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://)?"
    r"(?P<host>\[[^\]]*\]|[^:/\[\]]*)"
    r"(?::(?P<port>[^/]*))?(?P<rest>/.*)?$"
)


@dataclass(frozen=True)
class HostPattern:
    """One `allowed_hosts` entry, parsed: `scheme` and `port` are None when not written;
    `wildcard` means `host` is the domain under `*.` (which matches its subdomains)."""

    scheme: str | None
    host: str
    port: int | None
    wildcard: bool

    def allows(self, target: Target) -> bool:
        if (self.scheme or "https") != target.scheme:
            return False
        if (self.port or DEFAULT_PORTS[target.scheme]) != target.port:
            return False
        if self.wildcard:
            return target.host.endswith(f".{self.host}")
        return self.host == target.host


@dataclass(frozen=True)
class Target:
    """Where a request goes: scheme, normalised host and port (the default one if unwritten)."""

    scheme: str
    host: str
    port: int

    @property
    def pattern(self) -> str:
        """The narrowest `allowed_hosts` entry that allows this target."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = DEFAULT_PORTS.get(self.scheme)
        if self.scheme == "https" and self.port == default:
            return host
        port = "" if self.port == default else f":{self.port}"
        return f"{self.scheme}://{host}{port}"


def parse_host_pattern(text: str) -> HostPattern:
    """Parse `example.com`, `*.example.com`, `https://api.example.com`, `http://127.0.0.1:8080`,
    `::1` or `[::1]:9000`; raise ValueError naming what is wrong."""
    stripped = text.strip()
    scheme, sep, rest = stripped.partition("://")
    bare = rest if sep else stripped
    if _ip(bare) is not None and ":" in bare:  # `::1`: an IPv6 address without brackets
        return HostPattern(_scheme(text, scheme) if sep else None, _ip(bare) or "", None, False)
    match = _PATTERN.match(stripped)
    if match is None or not match.group("host"):
        raise ValueError(f"{text!r} is not a host; expected e.g. api.example.com or *.example.com")
    if match.group("rest"):
        raise ValueError(f"{text!r}: allowed_hosts name hosts, not URLs with paths")
    written = match.group("scheme")
    host, wildcard = _host(text, match.group("host").lower())
    return HostPattern(
        scheme=None if written is None else _scheme(text, written),
        host=host,
        port=_port(text, match.group("port")),
        wildcard=wildcard,
    )


def _scheme(text: str, scheme: str) -> str:
    scheme = scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError(f"{text!r}: the scheme must be http or https, not {scheme!r}")
    return scheme


def _port(text: str, digits: str | None) -> int | None:
    if digits is None:
        return None
    if not digits.isdigit() or not 0 < int(digits) < 65536:
        raise ValueError(f"{text!r}: the port must be a number from 1 to 65535")
    return int(digits)


def _host(text: str, host: str) -> tuple[str, bool]:
    """The normalised host of a pattern and whether it is a `*.` wildcard."""
    wildcard = host.startswith("*.")
    if wildcard:
        host = host[2:]
    if host.startswith("[") and not wildcard:
        address = _ip(host[1:-1]) if host.endswith("]") else None
        if address is None or ":" not in address:
            raise ValueError(f"{text!r}: {host} is not an IPv6 address")
        return address, False
    host = host.rstrip(".")
    if "*" in host or host == "" or (wildcard and "." not in host):
        raise ValueError(
            f"{text!r}: a wildcard is only allowed as a leading `*.` before a domain with a dot, "
            "e.g. *.example.com; list the hosts the component needs"
        )
    if not _HOSTNAME.match(host):
        raise ValueError(f"{text!r}: {host!r} is not a valid host name")
    return _ip(host) or host, wildcard


def _ip(text: str) -> str | None:
    """`text` as a canonical IP address, or None when it is not one."""
    try:
        return ipaddress.ip_address(text).compressed
    except ValueError:
        return None


def parse_target(url: str) -> Target | None:
    """The target of an http(s) URL, or None when it is not one with a host."""
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        hostname = parts.hostname
        if scheme not in DEFAULT_PORTS or not hostname:
            return None
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError:
        return None
    host = hostname.lower().rstrip(".")
    return Target(scheme, _ip(host) or host, port)


def allowed(target: Target, patterns: tuple[HostPattern, ...]) -> bool:
    return any(pattern.allows(target) for pattern in patterns)


def parse_all(texts: tuple[str, ...] | list[str]) -> tuple[HostPattern, ...]:
    """Patterns already validated by the manifest; one that no longer parses allows nothing."""
    parsed = []
    for text in texts:
        try:
            parsed.append(parse_host_pattern(text))
        except ValueError:
            continue
    return tuple(parsed)
