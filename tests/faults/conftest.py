"""Fixtures for the fault-injection suite: the module's loopback HTTP server (tests/conftest.py
`loopback`) under the name these tests use, and no proxies."""

from __future__ import annotations

import pytest

from support.httpserver import LoopbackServer, clear_proxies


@pytest.fixture(scope="module")
def server(loopback: LoopbackServer) -> LoopbackServer:
    return loopback


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback traffic must never go through a proxy the environment may name."""
    clear_proxies(monkeypatch)
