"""Helpers the integration and fault tests share: a workflow locked from YAML text, and a
wait on state (poll a coroutine predicate until it holds). The wait has a ceiling only so a
hang fails the test instead of the run; it is never a timing assertion."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from fuchsia.definition import LockedWorkflow, lock, parse_text, validate

CEILING = 60.0  # seconds: a hang guard for the waits on state, never a timing assertion


def locked(text: str, file: str = "test.yaml") -> LockedWorkflow:
    """Parse, validate and lock `text`; `file` is the name its problems are reported under."""
    source = parse_text(text, file)
    return lock(validate(source), source)


async def until(what: str, check: Callable[[], Awaitable[bool]]) -> None:
    """Poll `check` until it holds (the ceiling only guards against a hang)."""
    give_up = time.monotonic() + CEILING
    while not await check():
        assert time.monotonic() < give_up, f"gave up waiting for {what}"
        await asyncio.sleep(0.02)
