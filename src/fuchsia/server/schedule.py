"""Cron and poll triggers: the server's scheduler.

For each workflow name, the current deployed version's trigger fires (the pinned version if
active, else the newest active one). Exactly one execution per scheduled instant, across
restarts and servers sharing a store: an instant's execution is started with an idempotency
key made of the workflow and the instant, and the instant is recorded afterwards, so a crash
in between starts nothing twice. Instants missed while no server ran are coalesced: the
latest one runs once (`catch_up: true`, the default) or is skipped.
"""

from __future__ import annotations

import asyncio
import math
import time
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from croniter import CroniterBadDateError, croniter

from fuchsia.definition.lock import LockedWorkflow
from fuchsia.errors import FuchsiaError
from fuchsia.logs import logger
from fuchsia.observe import metrics
from fuchsia.runtime.engine import Engine
from fuchsia.runtime.views import iso

MAX_PER_TICK = 100
log = logger(__name__)


def next_instant(trigger: dict[str, Any], after: float) -> float:
    """The first scheduled instant strictly after `after`; infinity when there is none (a
    cron expression whose seventh field, the year, is past)."""
    if trigger["type"] == "poll":
        every = float(trigger["poll"]["every"])
        return (math.floor(after / every) + 1) * every
    cron = trigger["cron"]
    start = datetime.fromtimestamp(after, ZoneInfo(cron["timezone"]))
    try:
        return float(croniter(cron["schedule"], start).get_next(float))
    except CroniterBadDateError:
        return math.inf


def previous_instant(trigger: dict[str, Any], at: float) -> float:
    """The last scheduled instant at or before `at`."""
    if trigger["type"] == "poll":
        every = float(trigger["poll"]["every"])
        return math.floor(at / every) * every
    cron = trigger["cron"]
    start = datetime.fromtimestamp(at + 1e-6, ZoneInfo(cron["timezone"]))
    return float(croniter(cron["schedule"], start).get_prev(float))


class Scheduler:
    """Fires the cron and poll triggers of deployed workflows, every `tick` seconds."""

    def __init__(self, engine: Engine, tick: float = 0.2) -> None:
        self.engine = engine
        self.tick = tick
        self.started = time.time()
        self.failing: dict[str, str] = {}  # workflow name -> the kind of its last failure

    async def run(self) -> None:
        """Fire what is due every tick, for good: a failure (the store unavailable, or a bug)
        is logged when it starts or changes, not every tick, and the next tick tries again."""
        failing: str | None = None  # the kind of failure the last tick had
        while True:
            try:
                await self.fire_due()
            except FuchsiaError as exc:
                if failing != exc.code:
                    log.warning("triggers cannot fire: %s", exc, extra={"error": exc.code})
                failing = exc.code
            except Exception as exc:
                if failing != type(exc).__name__:
                    log.exception("triggers cannot fire: internal error")
                failing = type(exc).__name__
            else:
                if failing is not None:
                    log.info("triggers fire again")
                failing = None
            await asyncio.sleep(self.tick)

    async def fire_due(self, now: float | None = None) -> int:
        """Fire every instant that is due; return how many executions were started. A
        workflow whose trigger fails to fire (its component trigger errs, its time zone is
        gone) is logged when that starts or changes, and keeps no other from firing."""
        now = time.time() if now is None else now
        fired = 0
        for deployment in await self.engine.current_deployments():
            try:
                text = await self.engine.store.get_workflow(deployment.hash)
                locked = LockedWorkflow.from_json(text)
                trigger = locked.document["trigger"]
                if trigger["type"] in ("cron", "poll"):
                    last = await self.engine.store.last_fire(locked.name)
                    fired += await self._fire(locked, trigger, last or deployment.deployed_at, now)
            except Exception as exc:
                self._failed(deployment.name, exc)
            else:
                if self.failing.pop(deployment.name, None) is not None:
                    log.info("%s: its trigger fires again", deployment.name)
        return fired

    def _failed(self, name: str, exc: Exception) -> None:
        kind = exc.code if isinstance(exc, FuchsiaError) else type(exc).__name__
        if self.failing.get(name) == kind:
            return
        self.failing[name] = kind
        if isinstance(exc, FuchsiaError):
            log.warning("%s: its trigger cannot fire: %s", name, exc, extra={"error": kind})
        else:
            log.exception("%s: its trigger cannot fire: internal error", name)

    async def _fire(
        self, locked: LockedWorkflow, trigger: dict[str, Any], last: float, now: float
    ) -> int:
        kind = trigger["type"]
        fired = 0
        if next_instant(trigger, last) < self.started:  # instants missed while down
            missed = previous_instant(trigger, min(self.started, now))
            catch_up = bool(trigger[kind].get("catch_up", True))
            await self._one(locked, kind, missed, start=catch_up)
            fired += int(catch_up)
            last = missed
        instant = next_instant(trigger, last)
        while instant <= now and fired < MAX_PER_TICK:
            await self._one(locked, kind, instant, start=True)
            fired += 1
            instant = next_instant(trigger, instant)
        return fired

    async def _one(self, locked: LockedWorkflow, kind: str, instant: float, *, start: bool) -> None:
        attributes = {"fuchsia.workflow.name": locked.name, "fuchsia.trigger.instant": iso(instant)}
        with self.engine.telemetry.trigger(kind, attributes):
            await self._instant(locked, kind, instant, start=start)

    async def _instant(
        self, locked: LockedWorkflow, kind: str, instant: float, *, start: bool
    ) -> None:
        execution_id = None
        component = locked.document["trigger"].get("poll", {}) or {}
        component = component.get("component") if kind == "poll" else None
        if start and isinstance(component, dict):
            # a component trigger decides: ready (with its payload) or pending (nothing)
            answer = await self.engine.poll_trigger(locked, component)
            key = f"{kind}:{locked.name}:{datetime.fromtimestamp(instant, UTC).isoformat()}"
            execution_id = await self.engine.start_triggered(locked, answer, key)
        elif start:
            payload = {"trigger": kind, "scheduled_at": iso(instant)}
            key = f"{kind}:{locked.name}:{datetime.fromtimestamp(instant, UTC).isoformat()}"
            execution_id = await self.engine.start(locked, payload, idempotency_key=key)
        if execution_id is not None:
            metrics.recorder.trigger_fired(locked.name, kind, time.time() - instant)
        await self.engine.store.record_fire(locked.name, instant, kind, execution_id)
