"""Where a command's operations go: `--server URL --token T` (or FUCHSIA_SERVER,
FUCHSIA_TOKEN) to a running `fuchsia serve` through `fuchsia.AsyncClient`, else a local
`Engine` on the store. Both are `fuchsia.operations.Operations`: a command opens one with
`with_operations` and does not ask which it got."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from fuchsia.cli.common import with_engine

if TYPE_CHECKING:
    from fuchsia.client import Client
    from fuchsia.operations import Operations

T = TypeVar("T")
_target: dict[str, str | None] = {"server": None, "token": None}


def configure(server: str | None, token: str | None) -> None:
    _target.update(server=server, token=token)


def client_configured() -> bool:
    return bool(_target["server"])


def client() -> Client | None:
    """A synchronous client for the configured server (for what only a server offers), or
    None to work on the local store."""
    server = _target["server"]
    if not server:
        return None
    from fuchsia.client import Client  # httpx only when a server is named

    return Client(server, token=_target["token"])


def with_operations(
    db: str | None, work: Callable[[Operations], Awaitable[T]], *, create: bool = False
) -> T:
    """Run `work` on the configured server's API, or on a local engine (`with_engine`:
    the store must exist unless `create`), and close what was opened."""
    server = _target["server"]
    if not server:
        return with_engine(db, work, create=create)
    import asyncio

    from fuchsia.client import AsyncClient  # httpx only when a server is named

    async def main() -> T:
        async with AsyncClient(server, token=_target["token"]) as remote:
            return await work(remote)

    return asyncio.run(main())
