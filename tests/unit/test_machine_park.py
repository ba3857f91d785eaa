"""Parking, on the in-memory store: when the machine hands an execution back to the store
(every running unit is a parked wait, nothing else is open), what wakes it, and how a worker
that claims it goes on (the same attempts, not interrupted ones)."""

from __future__ import annotations

from fuchsia.states import AttemptStatus, Control
from fuchsia.store.records import PARKED_FOREVER, Parking
from support.machine import START, Machine

APPROVAL = """\
    name: approval
    nodes:
      ask: {wait: {signal: approve}}
      done: {after: ask, transform: 1}
    """

BESIDE = """\
    name: beside
    nodes:
      ask: {wait: {signal: approve}}
      work: {transform: 2}
    """

TIMED = """\
    name: timed
    timeout: 20s
    nodes:
      nap: {wait: {for: 50s}}
      ask: {wait: {signal: approve, timeout: 30s}}
    """


def attempts(m: Machine, key: str) -> list[tuple[int, AttemptStatus]]:
    return [(a.number, a.status) for a in m.nodes()[key].attempts]


def parked(m: Machine) -> Machine:
    m.begin()
    d = m.park("ask", signal="approve")
    assert d.final == "parked"
    return m


def test_a_wait_that_parks_with_nothing_else_open_parks_the_execution() -> None:
    m = Machine.of(APPROVAL)
    m.begin()
    d = m.park("ask", signal="approve")
    assert d.final == "parked" and d.launch == []
    assert d.commit.execution is not None
    assert d.commit.execution.park == Parking(PARKED_FOREVER, ("approve",))
    record = m.execution()
    assert (record.owner, record.parked_until, record.status) == (None, PARKED_FOREVER, "waiting")
    assert attempts(m, "ask") == [(1, "running")]  # the attempt stays open in the store
    assert m.event_types()[-1] == "execution_parked"


def test_a_park_waits_until_nothing_else_runs() -> None:
    """A wait that parks while other work runs goes on here (its signal must still be
    seen): the execution parks when that wait parks again with nothing else open."""
    m = Machine.of(BESIDE)
    m.begin()
    d = m.park("ask", signal="approve")
    assert d.final is None and d.launch == ["ask"]  # `work` still runs: the wait goes on
    assert m.succeed("work", 2).final is None  # `ask` runs, and parks by itself
    assert m.park("ask", signal="approve").final == "parked"
    assert attempts(m, "ask") == [(1, "running")]  # the same attempt throughout


def test_waits_that_park_one_after_the_other_park_the_execution() -> None:
    """Two waits beside each other: the first to park stays parked while the other still
    runs, as that one parks by itself too (relaunching it would never let both be parked)."""
    m = Machine.of(TIMED)
    m.begin()
    d = m.park("nap", wake_at=START + 49)
    assert d.final is None and d.launch == []
    assert m.park("ask", wake_at=START + 29, signal="approve").final == "parked"


def test_the_earliest_timer_and_the_executions_deadline_set_the_wake() -> None:
    m = Machine.of(TIMED)
    m.begin()
    m.park("nap", wake_at=START + 49)
    d = m.park("ask", wake_at=START + 29, signal="approve")
    assert d.commit.execution is not None
    assert d.commit.execution.park == Parking(START + 20, ("approve",))  # the deadline


def test_a_parked_execution_is_not_claimable_until_its_signal_arrives() -> None:
    m = parked(Machine.of(APPROVAL))
    assert not m.store_claim()
    m.send_signal("unrelated", None)
    assert not m.store_claim()
    m.send_signal("approve", {"ok": True})
    assert m.store_claim()


def test_a_woken_execution_goes_on_with_the_same_attempt() -> None:
    m = parked(Machine.of(APPROVAL))
    m.send_signal("approve", {"ok": True})
    w = m.claimed()
    d = w.begin()
    assert d.launch == ["ask"] and d.commit.execution is not None and d.commit.execution.unpark
    assert "node_interrupted" not in w.event_types()
    assert w.execution().parked_until is None
    assert attempts(w, "ask") == [(1, "running")]
    d = w.succeed("ask", {"ok": True})
    assert d.launch == ["done"] and attempts(w, "ask") == [(1, "succeeded")]


def test_a_crash_after_the_wake_interrupts_the_wait_as_any_crash_does() -> None:
    m = parked(Machine.of(APPROVAL))
    m.send_signal("approve", None)
    w = m.claimed()
    w.begin()  # woken and taken: from here it is an execution like any other
    again = w.restarted()
    d = again.begin()
    assert d.launch == ["ask"] and attempts(again, "ask") == [(1, "interrupted"), (2, "running")]


def test_a_parked_timer_is_claimable_once_it_is_due() -> None:
    m = Machine.of(TIMED)
    m.begin()
    m.park("nap", wake_at=START + 49)
    m.park("ask", wake_at=START + 29, signal="approve")
    m.advance(19)
    assert not m.store_claim()
    m.advance(1)
    assert m.store_claim()


def test_a_cancel_wakes_a_parked_execution_and_cancels_its_wait() -> None:
    m = parked(Machine.of(APPROVAL))
    assert m.store_request(Control.CANCEL)
    w = m.claimed()
    d = w.begin()
    assert d.final == "cancelled" and attempts(w, "ask") == [(1, "cancelled")]


def test_a_park_with_its_signal_already_sent_is_woken_at_once() -> None:
    m = Machine.of(APPROVAL)
    m.begin()
    m.send_signal("approve", None)  # after the wait last looked, before the park commits
    m.park("ask", signal="approve")
    assert m.store_claim()


RETRIED = """\
    name: retried
    nodes:
      a: {transform: 1, retry: {max_attempts: 3, backoff: fixed, initial_delay: 60s}}
      b: {after: a, transform: 2}
    """


def test_a_retry_due_later_than_park_after_parks_the_execution_until_it_is_due() -> None:
    m = Machine.of(RETRIED)
    m.park_after = 2.0
    m.begin()
    d = m.fail("a")
    assert d.final == "parked" and d.commit.execution is not None
    park = d.commit.execution.park
    assert park is not None and park.until == m.timers["a"] == START + 60
    assert not m.store_claim()
    m.advance(60)
    w = m.claimed()
    d = w.begin()
    assert w.timers == {"a": START + 60}  # re-armed from the stored due time
    assert w.due("a").launch == ["a"] and attempts(w, "a") == [(1, "failed"), (2, "running")]


def test_a_retry_due_sooner_than_park_after_is_kept_in_process() -> None:
    m = Machine.of(RETRIED)
    m.park_after = 120.0
    m.begin()
    assert m.fail("a").final is None


def test_an_engine_that_does_not_park_keeps_its_retries() -> None:
    m = Machine.of(RETRIED)  # park_after None: `fuchsia run`
    m.begin()
    assert m.fail("a").final is None and m.execution().owner is not None


DEADLINED = """\
    name: deadlined
    timeout: 20s
    nodes:
      ask: {wait: {signal: approve}}
    """


def test_a_woken_execution_past_its_deadline_times_out_instead_of_parking_again() -> None:
    """Woken at its deadline, the execution's wait parks again at once (its park_after
    passed long ago) before the shell looks at the deadline. Before, that parked it again
    with a wake-up already due: claimed, woken, re-parked, over and over, never timed out
    (seen on PostgreSQL, where the claim is slower than the shell's deadline check)."""
    m = Machine.of(DEADLINED)
    m.begin()
    m.park("ask", signal="approve")
    m.advance(20)
    w = m.claimed()
    assert w.begin().launch == ["ask"]
    d = w.park("ask", signal="approve")
    assert d.final == "timed_out"
    assert attempts(w, "ask") == [(1, "timed_out")]


def test_a_pause_stored_before_the_park_and_not_acted_on_wakes_it() -> None:
    m = Machine.of(APPROVAL)
    m.begin()
    assert m.store_request(Control.PAUSE)  # after the driver last took requests
    assert m.park("ask", signal="approve").final == "parked"
    assert m.store_claim()  # woken: the worker that takes it pauses it
    w = m.claimed()
    w.begin()
    assert w.execution().status == "paused"
    assert w.park("ask", signal="approve").final == "parked"
    assert not w.store_claim()  # paused now: asleep until a resume (or its signal)
