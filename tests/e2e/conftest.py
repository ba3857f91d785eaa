"""Fixtures for end-to-end tests: one loopback HTTP server per session, and a private
FUCHSIA_HOME and SQLite store per test that every `fuchsia` subprocess gets through its env."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.httpserver import PROXY_VARS, LoopbackServer

CLI_TIMEOUT = 60.0  # seconds; a generous ceiling so a hang fails the test instead of the run


@pytest.fixture(scope="session")
def http_server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as server:
        yield server


@dataclass
class FuchsiaEnv:
    """A private FUCHSIA_HOME and store, and helpers that run `fuchsia` against them."""

    home: Path
    db: Path
    env: dict[str, str]

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "fuchsia", *args]

    def run(
        self, *args: str, input: str | None = None, timeout: float = CLI_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        """Run `fuchsia ARGS` to the end and return what it printed."""
        try:
            return subprocess.run(
                self.command(*args),
                env=self.env,
                cwd=self.home,
                input=input,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"`fuchsia {' '.join(args)}` did not finish within {timeout}s: {exc}")

    def popen(self, *args: str) -> subprocess.Popen[str]:
        """Start `fuchsia ARGS` in the background; the caller must wait for or kill it."""
        return subprocess.Popen(
            self.command(*args),
            env=self.env,
            cwd=self.home,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def json(self, *args: str) -> Any:
        """Run `fuchsia ARGS --json`, insist on exit 0, and parse standard output."""
        result = self.run(*args, "--json")
        if result.returncode != 0:
            pytest.fail(
                f"`fuchsia {' '.join(args)} --json` exited {result.returncode}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return json.loads(result.stdout)


def make_fuchsia_env(root: Path) -> FuchsiaEnv:
    """A fresh FUCHSIA_HOME under `root` with its own `fuchsia.db`, exported as FUCHSIA_HOME and
    FUCHSIA_DB to the subprocesses it starts (the test's own environment is not changed)."""
    home = root / "home"
    home.mkdir()
    db = home / "fuchsia.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FUCHSIA_", "OTEL_"))}
    for name in PROXY_VARS:
        env.pop(name, None)
    env.update(
        FUCHSIA_HOME=str(home),
        FUCHSIA_DB=str(db),
        NO_PROXY="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
    )
    return FuchsiaEnv(home=home, db=db, env=env)


@pytest.fixture
def fuchsia_env(tmp_path: Path) -> FuchsiaEnv:
    """A private home and store for one test."""
    return make_fuchsia_env(tmp_path)


def wait_until(
    what: str,
    check: Any,
    process: subprocess.Popen[str] | None = None,
    deadline: float = 60.0,
) -> None:
    """Poll `check` until it holds; fail at once if `process` exits first. `deadline` is a
    hang guard, not a timing assertion."""
    give_up = time.monotonic() + deadline
    while not check():
        if process is not None and process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"the run exited {process.returncode} before {what}\n{out}\n{err}")
        assert time.monotonic() < give_up, f"gave up waiting for {what}"
        time.sleep(0.02)


def error_of(response: httpx.Response) -> dict[str, Any]:
    """An API refusal's `error` object, after checking the shape every refusal has: only
    `error`, a snake_case `code` and a message."""
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert re.fullmatch(r"[a-z]+(_[a-z]+)*", error["code"]), error
    assert isinstance(error["message"], str) and error["message"], error
    return error
