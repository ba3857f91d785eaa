"""`allowed_hosts`: the pattern the manifest accepts is the pattern the outbound check applies.

Each case goes through `parse_host_pattern` (what manifest validation runs) and then the
outbound check (what a component's request meets), so the two can no longer disagree.
"""

from __future__ import annotations

import pytest

from fuchsia.components import outbound
from fuchsia.components.manifest import Capabilities


@pytest.mark.parametrize(
    ("pattern", "url"),
    [
        ("api.example.com", "https://api.example.com/v1"),
        ("API.example.com.", "https://api.example.com./v1"),
        ("*.example.com", "https://a.b.example.com/"),
        ("https://api.example.com:8443", "https://api.example.com:8443/"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/x"),
        ("127.0.0.1", "https://127.0.0.1/"),
        ("[::1]:8080", "https://[::1]:8080/"),
        ("http://[::1]:8080", "http://[::1]:8080/"),
        ("[::1]", "https://[::1]/"),
        ("::1", "https://[::1]/"),
        ("http://::1", "http://[::1]/"),
        ("[0:0:0:0:0:0:0:1]", "https://[::1]/"),
        ("http://[2001:DB8::1]:9000", "http://[2001:db8:0::1]:9000/"),
    ],
)
def test_a_pattern_the_manifest_accepts_allows_its_hosts(pattern: str, url: str) -> None:
    Capabilities(allowed_hosts=[pattern])  # what validating component.yaml runs
    assert outbound.check(url, [pattern]) is None


@pytest.mark.parametrize(
    ("pattern", "url"),
    [
        ("api.example.com", "http://api.example.com/"),  # no scheme: https only
        ("api.example.com", "https://api.example.com:8443/"),  # no port: the default only
        ("*.example.com", "https://example.com/"),  # a wildcard needs a subdomain
        ("*.example.com", "https://badexample.com/"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8081/"),
        ("[::1]:8080", "https://[::1]:8081/"),
        ("[::1]:8080", "http://[::1]:8080/"),
        ("::1", "https://[::2]/"),
        ("::1", "https://127.0.0.1/"),
        ("127.0.0.1", "https://[::ffff:127.0.0.1]/"),
    ],
)
def test_a_pattern_allows_nothing_else(pattern: str, url: str) -> None:
    Capabilities(allowed_hosts=[pattern])
    reason = outbound.check(url, [pattern])
    assert reason is not None
    assert "capabilities.allowed_hosts" in reason


@pytest.mark.parametrize(
    ("url", "suggested"),
    [
        ("http://[::1]:8080/x", "http://[::1]:8080"),
        ("https://[::1]/", "[::1]"),
        ("https://api.example.com/", "api.example.com"),
        ("http://127.0.0.1/", "http://127.0.0.1"),
    ],
)
def test_a_denied_request_names_the_pattern_that_would_allow_it(url: str, suggested: str) -> None:
    reason = outbound.check(url, [])
    assert reason is not None
    assert repr(suggested) in reason
    Capabilities(allowed_hosts=[suggested])
    assert outbound.check(url, [suggested]) is None
