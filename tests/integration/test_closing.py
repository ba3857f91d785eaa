"""A closing engine ends its loops however close the close comes to what they wait for, on
SQLite and PostgreSQL alike (the `store_url` fixture).

The claim loop, the heartbeat, a driver and a wait for a signal each wait for something with
a timeout and are ended by a cancel. On Python 3.11, `asyncio.wait_for` drops a cancel that
reaches its task in the turn that what it waits for completes: a wake-up (a NOTIFY, a freed
slot) arriving with the close, a renewal answered with it, an event put in a driver's inbox
with it, a signal sent with a stop. The loop went on, and the close that waited for it hung
with the event loop idle. Each test here makes that turn happen: what the loop waits for
completes, and the loop is cancelled before it runs again. Each waits on state (a ceiling
only guards against a hang).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from fuchsia import Engine
from fuchsia.states import Control
from support.waiting import CEILING, locked, until


async def _true(value: bool) -> bool:
    return value


async def _first(*tasks: asyncio.Task[Any]) -> None:
    """Wait until one of `tasks` is done (a hang guard: the ceiling)."""
    await asyncio.wait(tasks, timeout=CEILING, return_when=asyncio.FIRST_COMPLETED)


def test_a_worker_woken_as_it_closes_stops_claiming(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim loop waits for a wake-up between rounds. One that arrives in the turn the
    engine closes (a NOTIFY, a driver freeing its slot) no longer swallows the cancel: the
    loop runs no round after the close began, and the close returns."""

    async def main() -> tuple[bool, bool]:
        engine = await Engine.open(store_url, slots=1, name="closing-worker")
        rounds = 0
        in_round = False
        closing = False
        after_close = asyncio.Event()
        original = engine._claim_round

        async def claim_round() -> None:
            nonlocal rounds, in_round
            if closing:
                after_close.set()  # the cancel was lost: the loop went on
            in_round = True
            try:
                await original()
            finally:
                in_round = False
                rounds += 1

        monkeypatch.setattr(engine, "_claim_round", claim_round)
        engine._wake.set()
        # between rounds: the loop waits for its next wake-up
        await until("a claim round to end", lambda: _true(rounds >= 1 and not in_round))
        closing = True
        asyncio.get_running_loop().call_soon(engine._wake.set)  # woken in the turn it is
        close = asyncio.create_task(engine.close())  # closed, just before the close
        went_on = asyncio.create_task(after_close.wait())
        await _first(close, went_on)
        went_on.cancel()
        if not close.done():
            close.cancel()
        return close.done() and not close.cancelled(), after_close.is_set()

    closed, went_on = asyncio.run(main())
    assert not went_on  # no claim round after the close began
    assert closed


def test_an_engine_whose_renewal_answers_as_it_closes_stops_renewing(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The heartbeat waits for each renewal with a timeout. One answered in the turn the
    engine closes no longer swallows the cancel: the heartbeat renews no more, and the
    close returns."""

    async def main() -> tuple[bool, int]:
        engine = await Engine.open(store_url, name="closing-owner")
        entered = asyncio.Event()
        answer = asyncio.Event()
        renewals = 0
        closing = False
        after_close = asyncio.Event()

        async def beat() -> None:
            nonlocal renewals
            renewals += 1
            if closing:
                after_close.set()  # the cancel was lost: the heartbeat went on
                return
            entered.set()
            await answer.wait()

        monkeypatch.setattr(engine, "_beat", beat)
        engine.heartbeat_every = 0.0  # renew on every turn of the heartbeat loop
        await entered.wait()  # a renewal is in flight
        closing = True
        asyncio.get_running_loop().call_soon(answer.set)  # answered in the turn the engine
        close = asyncio.create_task(engine.close())  # is closed, just before the close
        went_on = asyncio.create_task(after_close.wait())
        await _first(close, went_on)
        went_on.cancel()
        if not close.done():
            close.cancel()
        return close.done() and not close.cancelled(), renewals

    closed, renewals = asyncio.run(main())
    assert renewals == 1  # none after the close began
    assert closed


TIMED = locked("""
name: timed
timeout: 1h
nodes:
  hold: {wait: {signal: go}}
""")


def test_a_driver_cancelled_as_an_event_arrives_stops(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A driver of an execution with a timeout waits for its next event with one. An event
    put in its inbox in the turn the driver is cancelled (a closing engine cancels the
    drivers that could not record their stop in time) no longer swallows the cancel: the
    driver takes no step after it, and ends cancelled."""

    async def main() -> tuple[bool, bool]:
        async with await Engine.open(store_url) as engine:
            eid = await engine.start(TIMED)
            driver, task = engine._driving[eid], engine._drivers[eid]
            cancelled = False
            stepped = asyncio.Event()
            original = driver._step

            async def step(events: list[Any]) -> str | None:
                if cancelled:
                    stepped.set()  # the cancel was lost: the driver went on
                return await original(events)

            monkeypatch.setattr(driver, "_step", step)

            async def waiting() -> bool:  # the wait node runs; the driver awaits its inbox
                return bool(driver.tasks) and not driver.busy and driver.inbox.empty()

            await until("the driver to wait for its next event", waiting)
            driver.request(Control.PAUSE)  # an event, in the turn the driver is cancelled
            task.cancel()
            cancelled = True
            went_on = asyncio.create_task(stepped.wait())
            await _first(task, went_on)
            went_on.cancel()
            if not task.done():
                driver.request(Control.STOP)
                await asyncio.wait({task}, timeout=CEILING)
            return task.cancelled(), stepped.is_set()

    ended, stepped = asyncio.run(main())
    assert not stepped  # the event the cancel met was not acted on
    assert ended


WAITING = locked("""
name: waiting
nodes:
  hold: {wait: {signal: go}}
""")


def test_a_wait_for_a_signal_cancelled_as_it_is_woken_stops(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wait for a signal sleeps on the execution's wake-up between its looks at the
    store, with a timeout. Woken (a signal sent from this process) in the turn its attempt
    is cancelled (a stop, a cancel, a lease that passed), it no longer swallows the cancel:
    it looks for no signal after it, and its attempt ends cancelled."""

    async def main() -> tuple[bool, bool]:
        async with await Engine.open(store_url) as engine:
            eid = await engine.start(WAITING)
            driver = engine._driving[eid]
            looks = 0
            looking = False
            cancelled = False
            after_cancel = asyncio.Event()
            original = engine.store.next_signal

            async def next_signal(execution_id: str, name: str) -> Any:
                nonlocal looks, looking
                if cancelled:
                    after_cancel.set()  # the cancel was lost: the wait went on
                looking = True
                try:
                    return await original(execution_id, name)
                finally:
                    looking = False
                    looks += 1

            monkeypatch.setattr(engine.store, "next_signal", next_signal)
            await until("the wait to look for its signal", lambda: _true(looks >= 1))
            await until("the wait to sleep", lambda: _true(not looking))
            [attempt] = driver.tasks.values()
            engine._runtime.wakeup(eid).set()  # woken in the turn its attempt is cancelled
            attempt.cancel()
            cancelled = True
            went_on = asyncio.create_task(after_cancel.wait())
            await _first(attempt, went_on)
            went_on.cancel()
            if not attempt.done():
                attempt.cancel()
                await asyncio.wait({attempt}, timeout=CEILING)
            return attempt.cancelled(), after_cancel.is_set()

    ended, went_on = asyncio.run(main())
    assert not went_on  # no look for the signal after the cancel
    assert ended
