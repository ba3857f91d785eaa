"""A real `fuchsia serve` app on a free loopback port, in a thread of the test process."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from fuchsia import Engine
from fuchsia.server.app import create_app
from fuchsia.server.auth import create_token
from support.ports import free_port


class Served:
    """`with Served(tmp) as served:` a server on `tmp/server.db` (or `db`, with components
    from `home`), with a token per scope in `served.tokens`."""

    def __init__(
        self,
        tmp: Path,
        *,
        db: str | None = None,
        home: Path | None = None,
        schedule: bool = True,
    ) -> None:
        self.db = db or str(tmp / "server.db")
        self.home = home or tmp / "home"  # never the working directory's .fuchsia
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tokens = asyncio.run(self._tokens())

        async def open_engine() -> Engine:
            return await Engine.open(self.db, home=self.home)

        self.app = create_app(open_engine, schedule=schedule)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    async def _tokens(self) -> dict[str, str]:
        async with await Engine.open(self.db, home=self.home) as engine:
            made = {}
            for scope in ("read", "run", "admin"):
                _, secret = await create_token(engine.store, f"{scope} token", [scope])
                made[scope] = secret
            return made

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def client(self, scope: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[scope]}"} if scope else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def wait_for(client: httpx.Client, execution_id: str, status: str) -> Any:
    deadline = time.monotonic() + 30
    while True:
        shown = client.get(f"/api/v1/executions/{execution_id}").json()
        if shown["status"] == status:
            return shown
        assert time.monotonic() < deadline, f"{execution_id} stayed {shown['status']}"
        time.sleep(0.05)
