"""Fixtures shared by the integration tests: no proxy for any test (their HTTP goes to the
loopback server, tests/conftest.py `loopback`), and the `chatter` component installed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fuchsia.components.registry import Registry
from support.components import CACHE, built_component
from support.httpserver import clear_proxies

COMPONENTS = Path(__file__).resolve().parents[1] / "components"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback traffic must never go through a proxy the environment may name."""
    clear_proxies(monkeypatch)


@pytest.fixture(scope="module")
def chatter_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A home with the `chatter` test component installed, and its reference."""
    cache = CACHE / "compiled-cache"
    cache.mkdir(parents=True, exist_ok=True)
    home = tmp_path_factory.mktemp("chatter") / "home"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FUCHSIA_CACHE", str(cache))
        build = built_component(COMPONENTS / "chatter").parent
        yield home, Registry(home / "components").install(build).ref
