"""The machine's side of the controls and the deadline, on the in-memory store: pause and
resume, cancel, the engine's stop, the hung check, and the execution's timeout."""

from __future__ import annotations

import pytest

from fuchsia.runtime.machine import ControlRequested, DeadlineReached
from fuchsia.runtime.machine.control import STOPPED
from fuchsia.states import AttemptStatus, Control
from support.machine import START, Machine, workflow

CHAIN = """\
    name: chain
    nodes:
      a: {transform: 1}
      b: {after: a, transform: 2, retry: {max_attempts: 2, backoff: fixed, initial_delay: 5s}}
      c: {after: b, transform: 3}
    """

GUARDED = """\
    name: guarded
    timeout: 60s
    on_failure: [alert]
    nodes:
      a: {transform: 1}
      b: {transform: 2}
      c: {after: a, transform: 3}
      alert: {transform: 4}
    """


def attempts(m: Machine, key: str) -> list[tuple[int, AttemptStatus]]:
    return [(a.number, a.status) for a in m.nodes()[key].attempts]


# -- pause and resume ------------------------------------------------------------------------


def test_a_pause_holds_new_starts_while_running_attempts_finish() -> None:
    m = Machine.of(CHAIN)
    m.begin()
    d = m.control(Control.PAUSE)
    assert d.launch == [] and not d.cancel_running and m.running.keys() == {"a"}
    assert m.execution().status == "paused" and m.event_types()[-1] == "execution_paused"
    d = m.succeed("a", 1)  # the attempt that ran finishes; its successor waits
    assert d.launch == [] and m.held() == {"b": True}
    assert m.statuses() == {"a": "succeeded"}
    d = m.control(Control.RESUME)
    assert d.launch == ["b"] and m.held() == {}
    assert m.execution().status == "running" and m.event_types()[-1] == "execution_running"


def test_pause_and_resume_are_idempotent() -> None:
    m = Machine.of(CHAIN)
    m.begin()
    m.control(Control.PAUSE)
    d = m.step(ControlRequested(Control.PAUSE))
    assert d.commit.events == [] and d.commit.execution is None
    m.control(Control.RESUME)
    d = m.control(Control.RESUME)
    assert d.launch == [] and d.commit.events == []
    assert m.event_types().count("execution_paused") == 1


def test_a_retry_coming_due_while_paused_waits_for_the_resume() -> None:
    m = Machine.of(CHAIN)
    m.begin()
    m.succeed("a", 1)
    m.fail("b")
    m.control(Control.PAUSE)
    d = m.due("b")
    assert d.launch == [] and m.held() == {"b": True}
    assert m.statuses()["b"] == "retrying"
    assert m.control(Control.RESUME).launch == ["b"]
    assert attempts(m, "b") == [(1, "failed"), (2, "running")]


def test_foreach_items_refilled_while_paused_start_on_resume() -> None:
    m = Machine.of(
        """\
        name: mapped
        nodes:
          each: {foreach: {items: "{{ data }}", concurrency: 1}, transform: 1}
        """
    )
    m.render["each"] = ["x", "y"]
    m.begin()
    m.control(Control.PAUSE)
    assert m.succeed("each[0]", "X").launch == []
    assert m.held() == {"each[1]": True}
    assert m.control(Control.RESUME).launch == ["each[1]"]
    assert m.succeed("each[1]", "Y").final == "completed"
    assert m.execution().result == ["X", "Y"]


def test_a_restart_while_paused_holds_the_units_whose_attempts_were_lost() -> None:
    m = Machine.of(CHAIN)
    m.begin()
    m.control(Control.PAUSE)
    r = m.restarted()
    assert r.state.paused  # from the stored request
    d = r.begin()
    assert d.launch == [] and r.held() == {"a": True}
    assert attempts(r, "a") == [(1, "interrupted")]
    assert r.execution().status == "paused"
    assert r.control(Control.RESUME).launch == ["a"]
    assert attempts(r, "a") == [(1, "interrupted"), (2, "running")]


def test_a_unit_held_after_a_restart_is_stored_pending() -> None:
    m = Machine.of(CHAIN)
    m.begin()
    m.control(Control.PAUSE)
    r = m.restarted()
    r.begin()
    assert r.statuses()["a"] == "pending"


def test_a_pause_and_a_resume_in_one_batch_leave_it_running() -> None:
    m = Machine.of(CHAIN)
    m.begin()
    d = m.step(m.outcome("a", 1), ControlRequested(Control.PAUSE), ControlRequested(Control.RESUME))
    assert d.launch == ["b"] and not m.state.paused
    assert m.execution().status == "running"


@pytest.mark.parametrize("abort", ["fail fast", "deadline"])
def test_an_abort_while_paused_finishes_once_its_failure_hooks_ran(abort: str) -> None:
    m = Machine.of(GUARDED)
    m.begin()
    m.control(Control.PAUSE)
    m.succeed("a", 1)
    assert m.held() == {"c": True}
    d = m.fail("b", retryable=False) if abort == "fail fast" else m.deadline()
    assert d.launch == ["alert"] and m.statuses()["c"] == "cancelled"
    d = m.succeed("alert", 1)
    assert d.final == ("failed" if abort == "fail fast" else "timed_out")


# -- cancel ----------------------------------------------------------------------------------


def test_a_cancel_stops_what_runs_and_ends_the_execution_cancelled() -> None:
    m = Machine.of(GUARDED)
    m.begin()
    m.advance(3)
    d = m.control(Control.CANCEL)
    assert d.final == "cancelled" and d.cancel_running and d.launch == []
    assert not d.cancel_children  # no sub-workflow node
    assert m.statuses() == {
        "a": "cancelled",
        "b": "cancelled",
        "c": "cancelled",
        "alert": "cancelled",
    }
    [row] = m.nodes()["a"].attempts
    assert row.status == "cancelled" and row.finished_at == START + 3
    record = m.execution()
    assert record.status == "cancelled" and record.result is None
    assert record.error == {"type": "cancelled", "message": "the execution was cancelled"}
    assert m.event_types()[-1] == "execution_cancelled"


def test_a_cancel_wins_over_the_outcomes_of_its_batch() -> None:
    m = Machine.of(CHAIN)
    m.begin()
    d = m.step(m.outcome("a", 1), ControlRequested(Control.CANCEL))
    assert d.final == "cancelled" and d.launch == []
    assert m.statuses() == {"a": "succeeded", "b": "cancelled", "c": "cancelled"}


def test_a_cancel_of_an_execution_with_sub_workflows_cancels_its_children() -> None:
    child = workflow("name: child\nnodes:\n  x: {transform: 1}\n")
    parent = "name: parent\nnodes:\n  sub: {workflow: {name: child}}\n"
    m = Machine.of(workflow(parent, deployed={("child", None): child}))
    m.begin()
    d = m.control(Control.CANCEL)
    assert d.final == "cancelled" and d.cancel_children


def test_a_cancel_while_hooks_run_cancels_the_hooks() -> None:
    m = Machine.of(GUARDED)
    m.begin()
    m.fail("b", retryable=False)  # fail fast: alert runs
    assert m.running.keys() == {"alert"}
    d = m.control(Control.CANCEL)
    assert d.final == "cancelled"
    assert m.statuses()["alert"] == "cancelled" and attempts(m, "alert") == [(1, "cancelled")]


# -- stop (the engine closing) ---------------------------------------------------------------


def test_a_stop_records_running_attempts_interrupted_and_leaves_the_execution_open() -> None:
    m = Machine.of(GUARDED)
    m.begin()
    m.succeed("a", 1)
    d = m.control(Control.STOP)
    assert d.final == "stopped" and d.cancel_running and d.launch == []
    assert m.statuses() == {"a": "succeeded", "b": "pending", "c": "pending"}
    [row] = m.nodes()["b"].attempts
    assert row.status == "interrupted" and row.error is not None
    assert row.error["message"] == STOPPED
    assert m.event_types()[-3:] == ["node_interrupted", "node_interrupted", "execution_interrupted"]
    record = m.execution()
    assert record.status == "running" and record.finished_at is None
    r = m.restarted()
    d = r.begin()
    assert d.launch == ["b", "c"]
    assert attempts(r, "b") == [(1, "interrupted"), (2, "running")]


def test_a_stop_drops_the_armed_retries_and_a_resume_arms_them_again() -> None:
    m = Machine.of(CHAIN)
    m.begin()
    m.succeed("a", 1)
    m.fail("b")
    assert m.control(Control.STOP).timers == {}
    assert m.restarted().begin().timers == {"b": START + 5}


# -- hung ------------------------------------------------------------------------------------


def test_an_execution_idle_while_running_fails_as_hung() -> None:
    m = Machine.of(CHAIN)
    m.begin()
    d = m.control(Control.HUNG, idle_for=0.0)  # it made progress: nothing happens
    assert d.final is None and d.commit.events == []
    d = m.control(Control.HUNG, idle_for=120.0)
    assert d.final == "failed" and d.cancel_running
    assert m.execution().error == {
        "type": "hung",
        "message": "the execution made no progress for 120s while running; failed as hung",
    }
    assert attempts(m, "a") == [(1, "cancelled")]


@pytest.mark.parametrize("situation", ["waiting", "paused", "hooks"])
def test_hung_is_only_decided_while_running_without_a_verdict(situation: str) -> None:
    m = Machine.of(
        """\
        name: idle
        on_success: [after]
        nodes:
          w: {wait: {signal: go}}
          a: {transform: 1}
          after: {transform: 2}
        """
    )
    m.begin()
    if situation == "waiting":
        m.succeed("a", 1)
        assert m.execution().status == "waiting"
    elif situation == "paused":
        m.control(Control.PAUSE)
    else:
        m.succeed("a", 1)
        m.succeed("w", 1)
        assert m.running.keys() == {"after"}
    d = m.control(Control.HUNG, idle_for=600.0)
    assert d.final is None and not d.cancel_running


# -- the execution's timeout -----------------------------------------------------------------


def test_the_deadline_times_out_what_runs_and_runs_the_failure_hooks() -> None:
    m = Machine.of(GUARDED)
    m.begin()
    m.succeed("a", 1)
    m.advance(60)
    d = m.deadline()
    assert d.cancel_running and d.launch == ["alert"] and d.final is None
    assert m.statuses() == {
        "a": "succeeded",
        "b": "timed_out",
        "c": "timed_out",
        "alert": "running",
    }
    assert attempts(m, "b") == [(1, "timed_out")]
    error = {"type": "timeout", "message": "the execution exceeded its timeout of 60.0s"}
    assert m.execution().settled == {"status": "timed_out", "error": error, "aborted": True}
    d = m.succeed("alert", 1)
    assert d.final == "timed_out"
    record = m.execution()
    assert record.status == "timed_out" and record.error == error and record.result is None


def test_the_deadline_is_ignored_once_a_verdict_is_stored() -> None:
    m = Machine.of(GUARDED)
    m.begin()
    m.fail("a", retryable=False)
    assert m.running.keys() == {"alert"}
    d = m.step(DeadlineReached())
    assert d.final is None and not d.cancel_running and d.commit.events == []
    assert m.succeed("alert", 1).final == "failed"  # the hooks run to their end


def test_the_deadline_of_an_execution_without_failure_hooks_ends_it_at_once() -> None:
    m = Machine.of(CHAIN)
    m.begin()
    d = m.deadline()
    assert d.final == "timed_out" and d.launch == []
    assert m.statuses() == {"a": "timed_out", "b": "cancelled", "c": "cancelled"}
