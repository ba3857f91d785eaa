"""`wait`: park a node until a signal arrives (`signal`) or a durable timer fires (`for`,
`until`).

Waiting costs no thread: the attempt is a coroutine that sleeps, and the deadline counts
from the node's first attempt, which is stored, so a restart resumes the same wait rather
than starting it over. A signal sent before the node started waiting is kept in the store
and consumed here (oldest first), in the same transaction that completes the node.

In an engine that parks (a worker, a server), a wait that is still open `ctx.park_after`
seconds on (in this launch of it) raises `Parked` instead of sleeping on: its execution is
handed back to the store and wakes, on any worker, when its signal arrives or shortly before
its timer is due (so the last moments are slept here and the timer stays precise). While
other work of the execution is open, the machine launches a parked wait again at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime
from typing import Any

from fuchsia.errors import InputError, NodeTimeout
from fuchsia.nodes import NodeContext, Park, Parked, park_open
from fuchsia.nodes.kind import WaitSpec

POLL_MIN, POLL_MAX = 0.05, 1.0
WAKE_EARLY = 1.0  # a parked timer wakes this long before it is due (at most half park_after)


async def run(spec: WaitSpec, rendered: dict[str, Any], ctx: NodeContext) -> Any:
    since = ctx.since if ctx.since is not None else time.time()
    timeout_at = since + spec.timeout if spec.timeout is not None else None
    if spec.for_ is not None:
        return await _sleep_until(since + spec.for_, since, ctx)
    if spec.until is not None:
        return await _sleep_until(_timestamp(rendered.get("until")), since, ctx)
    assert spec.signal is not None  # validation: a wait has exactly one of the three
    return await _signal(ctx, spec.signal, timeout_at)


def _wake_at(deadline: float, park_after: float) -> float:
    return deadline - min(WAKE_EARLY, park_after / 2)


async def _sleep_until(deadline: float, since: float, ctx: NodeContext) -> dict[str, Any]:
    if ctx.park_after is not None:
        await asyncio.sleep(min(park_open(ctx.park_after), max(0.0, deadline - time.time())))
        if deadline - time.time() > ctx.park_after:
            raise Parked(Park(_wake_at(deadline, ctx.park_after)))
    await asyncio.sleep(max(0.0, deadline - time.time()))
    return {
        "waited": round(time.time() - since, 3),
        "until": datetime.fromtimestamp(deadline, UTC).isoformat(),
    }


def _timestamp(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            pass
        else:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return moment.timestamp()
    raise InputError(f"wait.until must be an ISO 8601 timestamp, got {value!r}")


async def _signal(ctx: NodeContext, name: str, timeout_at: float | None) -> Any:
    assert ctx.store is not None
    delay = POLL_MIN
    park_at = None if ctx.park_after is None else time.monotonic() + park_open(ctx.park_after)
    while True:
        found = await ctx.store.next_signal(ctx.execution_id, name)
        if found is not None:
            signal_id, payload = found
            ctx.consumed.append(signal_id)
            return payload
        if timeout_at is not None and time.time() >= timeout_at:
            raise NodeTimeout(f"no signal {name!r} arrived before the wait's timeout")
        if park_at is not None and time.monotonic() >= park_at:
            park_after = ctx.park_after
            assert park_after is not None
            if timeout_at is None:
                raise Parked(Park(None, name))
            if timeout_at - time.time() > park_after:
                raise Parked(Park(_wake_at(timeout_at, park_after), name))
        pause = delay if timeout_at is None else min(delay, max(0.0, timeout_at - time.time()))
        if ctx.wakeup is not None:
            ctx.wakeup.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(pause):
                    await ctx.wakeup.wait()
        else:
            await asyncio.sleep(pause)
        delay = min(delay * 2, POLL_MAX)
