"""Server-sent events that tell an open page its data changed, so htmx re-fetches the
fragments that show it.

The streams read the store, not this engine's commits: an execution driven by another
process (a detached `fuchsia run`, a worker elsewhere) updates the page the same way. A run's
stream polls its events after the last sequence number it reported (an index range read) and
its status, every RUN_POLL and at once when this engine commits for that execution (the
engine's listeners: no poll's wait for the runs it drives itself), and tells a change at once
but at most once a MIN_GAP; the runs stream polls the
first page of the runs list. Each stream is bounded: it ends when the run ends, when the
client goes away (Starlette cancels the generator), or after MAX_STREAM seconds, after which
the browser's EventSource reconnects on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as Segment
from starlette.responses import Response, StreamingResponse

from fuchsia.errors import FuchsiaError
from fuchsia.runtime.engine import Engine
from fuchsia.states import FINAL_STATUSES
from fuchsia.ui.render import page
from fuchsia.ui.session import Viewer, viewer

RUN_POLL = 0.2  # seconds between a run stream's reads of the store
RUNS_POLL = 1.0  # seconds between the runs stream's reads
# seconds at least between two `changed` of a run: the first change after a quiet spell is
# told at once, and a run that changes all the time (a big foreach) costs the page one
# refresh a second, not five
MIN_GAP = 1.0
MAX_STREAM = 600.0  # seconds one stream stays open
Who = Annotated[Viewer, Depends(viewer)]
router = APIRouter(include_in_schema=False)
STREAM_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


def _message(kind: str, data: str) -> str:
    return f"event: {kind}\ndata: {data}\n\n"


@router.get("/live/runs/{execution_id}")
async def run_stream(
    request: Request,
    who: Who,
    execution_id: Annotated[str, Segment(min_length=1, max_length=64)],
    after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    status: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    """`after`: the last event the page shows; `status`: the status it shows (a page read
    between a status change and its event would otherwise wait for the next change)."""
    engine: Engine = request.app.state.engine
    try:
        full = await engine.store.resolve_id(execution_id)
    except FuchsiaError as exc:
        return page("error.html", 404, who=who, message=str(exc))

    committed = asyncio.Event()

    def heard(changed: str, _: object) -> None:
        if changed == full:
            committed.set()

    async def stream() -> AsyncIterator[str]:
        unsubscribe = engine.subscribe(heard)
        try:
            async for message in _run_messages(request, engine, full, after, status, committed):
                yield message
        finally:
            unsubscribe()

    return StreamingResponse(stream(), media_type="text/event-stream", headers=STREAM_HEADERS)


async def _run_messages(
    request: Request,
    engine: Engine,
    full: str,
    after: int,
    status: str | None,
    committed: asyncio.Event,
) -> AsyncIterator[str]:
    """What a run's stream says: `changed` (with the last event's sequence number) when its
    events or status moved, `ended` once it is final."""
    seq, shown, told, due = after, status, -MIN_GAP, False
    deadline = time.monotonic() + MAX_STREAM
    yield "retry: 1000\n\n"
    while time.monotonic() < deadline and not await request.is_disconnected():
        committed.clear()  # a commit from here on wakes the wait below
        events = await engine.store.get_events(full, seq)
        record = await engine.store.get_execution(full)
        if events or record.status != shown:
            seq = events[-1].seq if events else seq
            shown, due = record.status, True
        if due and time.monotonic() - told >= MIN_GAP:  # a busy run: one refresh a gap
            yield _message("changed", str(seq))
            told, due = time.monotonic(), False
        if record.status in FINAL_STATUSES and not due:
            yield _message("ended", str(record.status))
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(RUN_POLL):
                await committed.wait()


@router.get("/live/runs")
async def runs_stream(
    request: Request,
    who: Who,
    status: Annotated[str | None, Query(max_length=40)] = None,
    workflow: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    from fuchsia.ui.runs import PAGE

    engine: Engine = request.app.state.engine
    statuses = {"pending", "running", "waiting", "paused", *map(str, FINAL_STATUSES)}
    wanted = status if status in statuses else None

    async def stream() -> AsyncIterator[str]:
        seen: list[tuple[str, str]] | None = None
        deadline = time.monotonic() + MAX_STREAM
        yield "retry: 2000\n\n"
        while time.monotonic() < deadline and not await request.is_disconnected():
            records = await engine.list(limit=PAGE, status=wanted, workflow=workflow or None)
            now = [(r.id, str(r.status)) for r in records]
            if now != seen:  # the first read too: the page may be older than it
                yield _message("changed", now[0][0] if now else "")
            seen = now
            await asyncio.sleep(RUNS_POLL)

    return StreamingResponse(stream(), media_type="text/event-stream", headers=STREAM_HEADERS)
