"""Real `fuchsia worker` and `fuchsia serve --no-worker` processes on one store, for tests.

`Cluster` starts each process as `sys.executable -m fuchsia ...` with its output in a log
file (a pipe nobody reads could fill and stall it), stops them as a test asks (SIGKILL,
SIGSTOP/SIGCONT, SIGTERM), and kills whatever is left when it closes. `wait_for` polls a
state with a generous ceiling and fails with the logs of the processes it watches; it is a
hang guard, never a timing assertion. `rows` reads the store directly with psycopg, as an
independent witness of what the workers committed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import psycopg
import pytest

CEILING = 120.0  # seconds to wait for any one state before the test fails
POLL = 0.1  # seconds between two looks at a state
CLI_TIMEOUT = 60.0


def rows(db: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    """The rows of one query on the store (a connection of its own, closed at once)."""
    with psycopg.connect(db, autocommit=True) as conn:
        return conn.execute(query, params).fetchall()


@dataclass
class Process:
    """One `fuchsia` process a cluster started, and where its output goes."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def signal(self, signum: int) -> None:
        os.kill(self.pid, signum)

    def kill(self) -> None:
        """SIGKILL it and reap it, as after a crash its parent noticed."""
        self.signal(signal.SIGKILL)
        self.popen.wait(timeout=CLI_TIMEOUT)

    def terminate(self) -> int:
        """SIGTERM it and return its exit status once it has drained."""
        self.signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=CLI_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.name} did not stop within {CLI_TIMEOUT}s\n{self.output()}")


@dataclass
class Cluster:
    """Workers and servers sharing the store `db`, run with `env` from `root`."""

    db: str
    env: dict[str, str]
    root: Path
    processes: list[Process] = field(default_factory=list)
    clients: list[httpx.Client] = field(default_factory=list)

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "fuchsia", *args]

    def popen(self, name: str, *args: str) -> Process:
        log = self.root / f"{name}.log"
        with log.open("ab") as sink:
            popen = subprocess.Popen(
                self.command(*args),
                env=self.env,
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        process = Process(name, popen, log)
        self.processes.append(process)
        return process

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                self.command(*args),
                env=self.env,
                cwd=self.root,
                capture_output=True,
                text=True,
                timeout=CLI_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"`fuchsia {' '.join(args)}` did not finish within {CLI_TIMEOUT}s: {exc}")

    def json(self, *args: str) -> Any:
        """Run `fuchsia ARGS --json --db DB`, insist on exit 0, and parse what it printed."""
        result = self.run(*args, "--json", "--db", self.db)
        if result.returncode != 0:
            pytest.fail(
                f"`fuchsia {' '.join(args)}` exited {result.returncode}\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return json.loads(result.stdout)

    # -- workers --------------------------------------------------------------------------

    def worker(self, name: str, *, concurrency: int = 4, lease: str = "2s") -> Process:
        """Start `fuchsia worker --name NAME` (it is not yet alive: see `wait_alive`)."""
        return self.popen(
            name,
            "worker",
            "--db",
            self.db,
            "--name",
            name,
            "--lease",
            lease,
            "--concurrency",
            str(concurrency),
        )

    def workers(self) -> dict[str, dict[str, Any]]:
        """`fuchsia workers list --json`, by name."""
        return {w["name"]: w for w in self.json("workers", "list")}

    def wait_alive(self, *workers: Process) -> None:
        """Until `fuchsia workers list` shows every one of `workers` alive."""

        def alive() -> bool:
            listed = self.workers()
            return all(w.name in listed and listed[w.name]["alive"] for w in workers)

        wait_for(f"{', '.join(w.name for w in workers)} alive in `workers list`", alive, workers)

    # -- the server ---------------------------------------------------------------------

    def serve(self, port: int, name: str = "serve") -> httpx.Client:
        """Start `fuchsia serve --no-worker --no-auth` and return a client once it answers
        (closed with the cluster); `name`: its log's."""
        server = self.popen(
            name, "serve", "--no-worker", "--no-auth", "--port", str(port), "--db", self.db
        )
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=CLI_TIMEOUT)
        self.clients.append(client)

        def healthy() -> bool:
            try:
                return client.get("/healthz").status_code == 200
            except httpx.TransportError:
                return False

        wait_for("`fuchsia serve` to answer /healthz", healthy, [server])
        return client

    # -- lifecycle ----------------------------------------------------------------------

    def close(self) -> None:
        for client in self.clients:
            client.close()
        for process in self.processes:
            if process.running():
                process.kill()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def wait_for(
    what: str,
    check: Callable[[], Any],
    watched: Iterable[Process] = (),
    ceiling: float = CEILING,
) -> Any:
    """Poll `check` every POLL seconds until it returns something true, and return that;
    fail at once if a watched process exits, and after `ceiling` seconds."""
    watched = list(watched)
    give_up = time.monotonic() + ceiling
    while True:
        value = check()
        if value:
            return value
        for process in watched:
            if not process.running():
                pytest.fail(
                    f"{process.name} exited {process.popen.returncode} before {what}\n"
                    f"{process.output()}"
                )
        if time.monotonic() > give_up:
            logs = "\n".join(f"--- {p.name}\n{p.output()[-3000:]}" for p in watched)
            pytest.fail(f"gave up waiting for {what} after {ceiling}s\n{logs}")
        time.sleep(POLL)
