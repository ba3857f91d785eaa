"""The execution machine's decisions, one by one, on the in-memory store: beginning and
resuming, a finished attempt, retries and their budget, timeouts, fail fast, `on_error:
continue`, `repeat`, outcome hooks, the waiting status, the result cap, and that a decision
leaves the state it was given alone until it is merged.

Each test drives one execution with `support.machine.Machine` (decide, commit to memory,
merge, follow), choosing what every attempt reports, and asserts on the decisions and on
what the store holds afterwards.
"""

from __future__ import annotations

from fuchsia.errors import NodeError
from fuchsia.runtime import machine
from fuchsia.runtime.limits import Limits
from fuchsia.runtime.machine import Begin, Env, Event, Overlay, RetryDue
from fuchsia.runtime.machine.control import CRASHED
from fuchsia.runtime.work import Outcome
from fuchsia.states import AttemptStatus, Control, ExecutionStatus, NodeStatus
from fuchsia.store.records import AttemptWrite, ExecutionUpdate, NodeWrite
from support.machine import START, Machine, snapshot, unit

CHAIN = """\
    name: chain
    nodes:
      a: {transform: 1}
      b: {after: a, transform: 2}
      c: {after: b, transform: 3}
    """

RETRIED = """\
    name: retried
    nodes:
      a:
        transform: 1
        retry: {max_attempts: 3, backoff: exponential, initial_delay: 4s, jitter: true}
      b: {after: a, transform: 2}
    """


def attempts(m: Machine, key: str) -> list[tuple[int, AttemptStatus]]:
    return [(a.number, a.status) for a in m.nodes()[key].attempts]


# -- begin and resume ------------------------------------------------------------------------


def test_begin_runs_a_pending_execution_and_starts_its_roots() -> None:
    m = Machine.of(
        """\
        name: roots
        nodes:
          a: {transform: 1}
          b: {transform: 2}
          c: {after: [a, b], join: all, transform: 3}
        """
    )
    d = m.begin()
    assert d.launch == ["a", "b"]
    assert d.commit.execution == ExecutionUpdate(
        status=ExecutionStatus.RUNNING, started=True, context={}
    )
    assert d.commit.nodes == [
        NodeWrite("a", NodeStatus.RUNNING, 1),
        NodeWrite("b", NodeStatus.RUNNING, 1),
    ]
    assert d.commit.attempts == [
        AttemptWrite("a", 1, AttemptStatus.RUNNING, started_at=START),
        AttemptWrite("b", 1, AttemptStatus.RUNNING, started_at=START),
    ]
    assert m.event_types() == ["execution_running", "node_running", "node_running"]
    record = m.execution()
    assert record.status == "running" and record.started_at == START
    assert m.state.started_at == START and m.state.status == "running"


def test_a_resume_records_lost_attempts_interrupted_and_runs_them_again() -> None:
    m = Machine.of(CHAIN)
    m.begin()
    m.succeed("a", {"a": 1})
    m.advance(5)
    seen = len(m.events())
    r = m.restarted()  # the process died while b ran
    d = r.begin()
    assert d.launch == ["b"]  # a succeeded: it never runs again
    assert d.commit.execution is None  # started once: the start time stays
    assert attempts(r, "b") == [(1, "interrupted"), (2, "running")]
    lost = r.nodes()["b"].attempts[0]
    assert lost.error == {"type": "interrupted", "message": CRASHED, "retryable": True}
    assert lost.finished_at == START + 5
    assert r.event_types(after=seen) == [
        "execution_resumed",
        "node_interrupted",
        "node_running",
    ]
    r.succeed("b", 2)
    assert r.succeed("c", 3).final == "completed"
    assert r.execution().result == 3


def test_an_interrupted_attempt_does_not_count_against_the_retry_budget() -> None:
    m = Machine.of(RETRIED)
    m.begin()
    m.fail("a")
    m.due("a")
    r = m.restarted()
    r.begin()  # attempt 2 was lost: attempt 3 runs, and may still be retried
    assert attempts(r, "a") == [(1, "failed"), (2, "interrupted"), (3, "running")]
    d = r.fail("a")
    assert r.statuses()["a"] == "retrying" and "a" in d.timers


def test_a_resume_re_arms_the_retries_that_were_due() -> None:
    m = Machine.of(RETRIED)
    m.begin()
    m.fail("a")
    r = m.restarted()
    d = r.begin()
    assert d.launch == [] and d.timers == {"a": START + 4}
    assert r.due("a").launch == ["a"]


def test_a_cancel_stored_while_nothing_drove_it_ends_the_execution_at_begin() -> None:
    m = Machine.of(CHAIN)
    m.begin()
    assert m.store_request(Control.CANCEL)
    r = m.restarted()
    d = r.begin()
    assert d.final == "cancelled" and d.launch == [] and d.cancel_running
    assert r.statuses() == {"a": "cancelled", "b": "cancelled", "c": "cancelled"}
    assert attempts(r, "a") == [(1, "cancelled")]
    assert r.execution().error == {"type": "cancelled", "message": "the execution was cancelled"}


def test_a_pause_stored_before_begin_holds_the_roots() -> None:
    m = Machine.of(CHAIN)
    m.store_request(Control.PAUSE)
    r = m.restarted()
    d = r.begin()
    assert d.launch == [] and r.held() == {"a": True}
    assert r.execution().status == "paused"
    assert r.control(Control.RESUME).launch == ["a"]


# -- a finished attempt ----------------------------------------------------------------------


def test_a_success_stores_the_output_and_starts_the_successor() -> None:
    m = Machine.of(CHAIN)
    m.begin()
    m.advance(2)
    d = m.succeed("a", {"x": 1}, inputs={"in": 1}, logs=[{"stream": "stdout", "line": "hi"}])
    assert d.launch == ["b"]
    [done, started] = d.commit.attempts
    assert done == AttemptWrite(
        "a",
        1,
        AttemptStatus.SUCCEEDED,
        inputs={"in": 1},
        output={"x": 1},
        started_at=START,
        finished_at=START + 2,
    )
    assert started == AttemptWrite("b", 1, AttemptStatus.RUNNING, started_at=START + 2)
    assert m.event_types()[-3:] == ["log", "node_succeeded", "node_running"]
    assert m.events()[-3].data == {"stream": "stdout", "line": "hi", "attempt": 1}
    assert m.nodes()["a"].output == {"x": 1} and m.state.outputs[unit("a")] == {"x": 1}


def test_a_join_starts_once_all_its_upstreams_settled() -> None:
    m = Machine.of(
        """\
        name: join
        nodes:
          x: {transform: 1}
          y: {transform: 2, on_error: continue}
          j: {after: [x, y], join: all, transform: 3}
          k: {after: [x, y], join: any, transform: 4}
        """
    )
    m.begin()
    assert m.succeed("x", 1).launch == ["k"]  # any: one upstream is enough
    d = m.fail("y", retryable=False)  # all: every upstream settled, one succeeded
    assert d.launch == ["j"]
    m.succeed("j", 3)
    assert m.succeed("k", 4).final == "completed_with_errors"


def test_an_unreachable_join_is_skipped_and_so_are_its_successors() -> None:
    m = Machine.of(
        """\
        name: skip
        nodes:
          x: {transform: 1, on_error: continue}
          j: {after: x, transform: 2}
          k: {after: j, transform: 3}
        """
    )
    m.begin()
    d = m.fail("x", retryable=False)
    assert [w for w in d.commit.nodes if w.status == "skipped"] == [
        NodeWrite("j", NodeStatus.SKIPPED, 0),
        NodeWrite("k", NodeStatus.SKIPPED, 0),
    ]
    assert d.final == "completed_with_errors"


def test_a_context_write_is_merged_into_the_execution_context() -> None:
    m = Machine.of(CHAIN, context={"tier": "gold"})
    m.begin()
    d = m.succeed("a", 1, context={"seen": True})
    assert d.commit.execution == ExecutionUpdate(context={"tier": "gold", "seen": True})
    assert m.execution().context == {"tier": "gold", "seen": True}


def test_signals_a_wait_consumed_are_marked_with_its_success() -> None:
    m = Machine.of("name: w\nnodes:\n  w: {wait: {signal: go}}\n")
    m.begin()
    signal = m.send_signal("go", {"ok": True})
    d = m.succeed("w", {"ok": True}, consumed=[signal])
    assert d.commit.consumed == [(signal, unit("w"))]
    assert m.next_signal("go") is None


# -- retries ---------------------------------------------------------------------------------


def test_a_retryable_failure_within_budget_is_retried_after_the_jittered_backoff() -> None:
    m = Machine.of(RETRIED)
    m.jitter = 0.5
    m.begin()
    d = m.fail("a", "flaky")
    when = START + 4 * 0.5
    assert d.timers == {"a": when} and d.launch == []
    error = {"type": "node_error", "message": "flaky", "retryable": True, "node": "a", "attempt": 1}
    assert d.commit.nodes == [NodeWrite("a", NodeStatus.RETRYING, 1, ready_at=when, error=error)]
    assert m.nodes()["a"].ready_at == when and m.nodes()["a"].error == error
    assert attempts(m, "a") == [(1, "failed")]
    assert m.state.retry_at == {unit("a"): when}
    # the second delay doubles (exponential), the jitter drawn again
    m.due("a")
    m.jitter = 1.0
    assert m.fail("a").timers == {"a": m.now + 8}


def test_a_retry_coming_due_starts_the_next_attempt() -> None:
    m = Machine.of(RETRIED)
    m.begin()
    m.fail("a")
    d = m.due("a")
    assert d.launch == ["a"] and m.now == START + 4
    assert attempts(m, "a") == [(1, "failed"), (2, "running")]
    assert m.state.retry_at == {}
    assert m.succeed("a", 1).launch == ["b"]


def test_a_retry_due_for_a_unit_no_longer_retrying_is_ignored() -> None:
    m = Machine.of(CHAIN)
    m.begin()
    d = m.step(RetryDue(unit("a")))
    assert d.launch == [] and d.commit.nodes == [] and d.commit.attempts == []


def test_a_retry_budget_spent_fails_the_node_and_the_execution() -> None:
    m = Machine.of(RETRIED)
    m.begin()
    for _ in range(2):
        m.fail("a")
        m.due("a")
    d = m.fail("a", "third")
    assert d.final == "failed" and d.timers == {}
    assert attempts(m, "a") == [(1, "failed"), (2, "failed"), (3, "failed")]
    assert m.statuses() == {"a": "failed", "b": "cancelled"}
    assert m.execution().error == {
        "type": "node_error",
        "message": "third",
        "retryable": True,
        "node": "a",
        "attempt": 3,
    }


def test_a_failure_that_is_not_retryable_fails_at_once() -> None:
    m = Machine.of(RETRIED)
    m.begin()
    d = m.fail("a", retryable=False)
    assert d.final == "failed" and d.timers == {}
    assert attempts(m, "a") == [(1, "failed")]


def test_a_node_timeout_is_timed_out_once_its_retries_are_spent() -> None:
    m = Machine.of(
        "name: slow\nnodes:\n  a: {transform: 1, retry: {max_attempts: 2, initial_delay: 1s}}\n"
    )
    m.begin()
    assert m.time_out("a").timers == {"a": START + 1}  # a timeout may be retried
    m.due("a")
    d = m.time_out("a")
    assert d.final == "failed"
    assert attempts(m, "a") == [(1, "timed_out"), (2, "timed_out")]
    assert m.statuses() == {"a": "timed_out"}
    error = m.execution().error
    assert error is not None and error["type"] == "timeout"


# -- fail fast and on_error: continue --------------------------------------------------------


def test_fail_fast_aborts_what_runs_with_the_failed_nodes_error() -> None:
    m = Machine.of(
        """\
        name: fast
        nodes:
          a: {transform: 1}
          b: {transform: 2, retry: {max_attempts: 3, initial_delay: 1s}}
          c: {transform: 3}
          d: {after: a, transform: 4}
        """
    )
    m.begin()
    m.fail("b")  # b waits for a retry
    d = m.fail("a", "fatal", retryable=False)
    assert d.final == "failed" and d.cancel_running and d.launch == [] and d.timers == {}
    assert m.statuses() == {"a": "failed", "b": "cancelled", "c": "cancelled", "d": "cancelled"}
    assert attempts(m, "c") == [(1, "cancelled")]
    assert attempts(m, "b") == [(1, "failed")]  # it was not running: nothing to cancel
    record = m.execution()
    assert record.error is not None and record.error["message"] == "fatal"
    assert record.error["node"] == "a" and record.result is None
    assert m.running == {} and m.timers == {}


def test_the_outcome_of_an_attempt_an_abort_settled_changes_nothing() -> None:
    m = Machine.of(
        """\
        name: stale
        on_failure: [alert]
        nodes:
          a: {transform: 1}
          c: {transform: 3}
          alert: {transform: 9}
        """
    )
    m.begin()
    m.fail("a", "fatal", retryable=False)  # c is cancelled, the failure hook runs
    assert m.statuses()["c"] == "cancelled" and "alert" in m.running
    events = len(m.events())
    # c's task had finished before it was cancelled: its outcome arrives all the same
    d = m.step(Outcome(unit("c"), 1, START, output={"late": True}))
    assert d.commit.nodes == [] and d.commit.attempts == [] and d.launch == []
    assert m.statuses()["c"] == "cancelled" and attempts(m, "c") == [(1, "cancelled")]
    assert "node_succeeded" not in [e.type for e in m.events()[events:]]
    m.succeed("alert")
    assert m.execution().status == "failed"


def test_on_error_continue_completes_with_errors_naming_the_failed_nodes() -> None:
    m = Machine.of(
        """\
        name: lenient
        nodes:
          a: {transform: 1, on_error: continue}
          b: {transform: 2, on_error: continue}
          c: {transform: 3}
        """
    )
    m.begin()
    m.fail("b", retryable=False)
    m.time_out("a")
    d = m.succeed("c", 3)
    assert d.final == "completed_with_errors"
    record = m.execution()
    assert record.error == {
        "type": "node_errors",
        "message": "2 node(s) failed with on_error: continue",
        "nodes": ["a", "b"],
    }
    assert record.result == {"c": 3}  # the terminals that succeeded


# -- repeat ----------------------------------------------------------------------------------

REPEAT = """\
    name: loop
    nodes:
      poll:
        repeat: {{until: "{until}", max_iterations: 3, delay: 2s}}
        transform: 1
      next: {{after: poll, transform: 2}}
    """


def test_a_repeat_whose_until_holds_succeeds_with_that_output() -> None:
    m = Machine.of(REPEAT.format(until="data.n >= 2"))
    m.begin()
    d = m.succeed("poll", {"n": 1})
    assert d.timers == {"poll": START + 2} and d.launch == []
    assert m.statuses()["poll"] == "retrying" and m.nodes()["poll"].ready_at == START + 2
    [iterated] = [e for e in m.events() if e.type == "node_iterated"]
    assert iterated.node_id == "poll" and iterated.data == {"iteration": 1}
    assert m.state.iterations == {"poll": 1} and m.state.previous == {"poll": {"n": 1}}
    assert m.due("poll").launch == ["poll"]
    d = m.succeed("poll", {"n": 2})
    assert d.launch == ["next"]
    assert attempts(m, "poll") == [(1, "succeeded"), (2, "succeeded")]
    assert m.nodes()["poll"].output == {"n": 2}


def test_a_repeat_that_never_holds_is_exhausted() -> None:
    m = Machine.of(REPEAT.format(until="data.done"))
    m.begin()
    for _ in range(2):
        m.succeed("poll", {"done": False})
        m.due("poll")
    d = m.succeed("poll", {"done": False})
    assert d.final == "failed"
    assert m.statuses() == {"poll": "failed", "next": "cancelled"}
    error = m.nodes()["poll"].error
    assert error is not None and error["type"] == "loop_exhausted"
    assert error["message"] == "`until` did not hold after 3 iterations"
    assert m.execution().error == error


def test_a_repeat_whose_until_cannot_be_evaluated_fails_as_a_node_does() -> None:
    m = Machine.of(REPEAT.format(until="data.missing == 1"))
    m.begin()
    d = m.succeed("poll", {"n": 1})
    assert d.final == "failed"
    error = m.nodes()["poll"].error
    assert error is not None and error["type"] == "input_error"
    assert error["message"].startswith("repeat.until: ")
    assert attempts(m, "poll") == [(1, "failed")]


def test_a_failed_iteration_is_retried_then_the_loop_goes_on() -> None:
    m = Machine.of(
        """\
        name: loop
        nodes:
          poll:
            repeat: {until: "data.n >= 2", max_iterations: 5}
            retry: {max_attempts: 2, backoff: fixed, initial_delay: 1s}
            transform: 1
        """
    )
    m.begin()
    m.succeed("poll", {"n": 1})
    assert m.timers == {"poll": START}  # no delay: due at once
    m.due("poll")
    assert m.fail("poll").timers == {"poll": START + 1}
    m.due("poll")
    assert m.succeed("poll", {"n": 2}).final == "completed"
    assert attempts(m, "poll") == [(1, "succeeded"), (2, "failed"), (3, "succeeded")]


def test_a_restart_in_the_middle_of_a_loop_keeps_its_iterations() -> None:
    m = Machine.of(REPEAT.format(until="data.done"))
    m.begin()
    m.succeed("poll", {"done": False, "n": 1})
    m.due("poll")
    r = m.restarted()  # killed while iteration 2 ran
    assert r.state.iterations == {"poll": 1}
    assert r.state.previous == {"poll": {"done": False, "n": 1}}
    r.begin()
    assert attempts(r, "poll") == [(1, "succeeded"), (2, "interrupted"), (3, "running")]
    r.succeed("poll", {"done": False, "n": 2})
    r.due("poll")
    d = r.succeed("poll", {"done": False, "n": 3})  # the third iteration: exhausted
    assert d.final == "failed"
    error = r.nodes()["poll"].error
    assert error is not None and error["type"] == "loop_exhausted"


# -- outcome hooks ---------------------------------------------------------------------------

HOOKED = """\
    name: hooked
    on_success: [yay]
    on_failure: [alert, page]
    nodes:
      a: {transform: 1}
      b: {transform: 2}
      yay: {transform: 3}
      alert: {transform: 4}
      page: {transform: 5}
    """


def test_success_hooks_start_once_the_graph_settles_with_the_verdict_stored() -> None:
    m = Machine.of(HOOKED)
    m.begin()
    m.succeed("a", 1)
    d = m.succeed("b", 2)
    assert d.launch == ["yay"] and d.final is None
    assert m.execution().settled == {"status": "completed", "error": None, "aborted": False}
    assert m.events()[-2].type == "execution_settled"
    assert m.events()[-2].data == {"status": "completed", "hooks": ["yay"]}
    d = m.succeed("yay", {"said": "yay"})
    assert d.final == "completed"
    assert m.statuses() == {
        "a": "succeeded",
        "b": "succeeded",
        "yay": "succeeded",
        "alert": "skipped",
        "page": "skipped",
    }
    assert m.execution().result == {"a": 1, "b": 2}  # hooks are not part of the result


def test_completed_with_errors_runs_the_success_hooks() -> None:
    m = Machine.of(HOOKED.replace("a: {transform: 1}", "a: {transform: 1, on_error: continue}"))
    m.begin()
    m.fail("a", retryable=False)
    d = m.succeed("b", 2)
    assert d.launch == ["yay"]
    settled = m.execution().settled
    assert settled is not None and settled["status"] == "completed_with_errors"
    assert m.succeed("yay", 3).final == "completed_with_errors"


def test_failure_hooks_start_for_a_failure_and_it_keeps_its_error() -> None:
    m = Machine.of(HOOKED)
    m.begin()
    m.succeed("b", 2)
    d = m.fail("a", "bad", retryable=False)
    assert d.launch == ["alert", "page"] and not d.final
    settled = m.execution().settled
    assert settled is not None and settled["status"] == "failed" and settled["aborted"]
    assert m.succeed("alert", 1).final is None  # page still runs
    d = m.succeed("page", 1)
    assert d.final == "failed"
    record = m.execution()
    assert record.error is not None and record.error["message"] == "bad"
    assert record.result is None  # an abort leaves no result
    assert m.statuses()["yay"] == "skipped"


def test_an_abort_runs_the_failure_hooks_after_cancelling_what_ran() -> None:
    m = Machine.of(HOOKED)
    m.begin()
    d = m.fail("a", retryable=False)
    assert d.cancel_running and d.launch == ["alert", "page"]
    assert m.statuses()["b"] == "cancelled" and attempts(m, "b") == [(1, "cancelled")]
    assert "yay" not in m.statuses()  # decided when the execution finishes
    assert m.execution().status == "running"


def test_the_verdict_is_stored_with_the_context_the_last_node_wrote() -> None:
    m = Machine.of(HOOKED, context={"k": 0})
    m.begin()
    m.succeed("a", 1)
    d = m.succeed("b", 2, context={"k": 2})
    assert d.commit.execution is not None and d.commit.execution.context == {"k": 2}
    record = m.execution()
    assert record.context == {"k": 2} and record.settled is not None
    assert record.settled["status"] == "completed"


def test_hooks_interrupted_by_a_restart_run_again_for_the_stored_verdict() -> None:
    m = Machine.of(HOOKED)
    m.begin()
    m.succeed("a", 1)
    m.succeed("b", 2)
    r = m.restarted()
    d = r.begin()
    assert d.launch == ["yay"]
    assert "execution_settled" not in [e.type for e in d.commit.events]  # settled once
    assert r.succeed("yay", 3).final == "completed"


def test_a_failing_success_hook_does_not_change_the_outcome() -> None:
    m = Machine.of(HOOKED.replace("on_success: [yay]", "on_success: [yay, alert]"))
    m.begin()
    m.succeed("a", 1)
    m.succeed("b", 2)
    d = m.fail("yay", retryable=False)
    assert not d.cancel_running and d.final is None  # alert runs to its end
    assert m.succeed("alert", 1).final == "completed"
    assert m.execution().error is None


# -- the execution's status and result -------------------------------------------------------


def test_an_execution_where_only_wait_nodes_run_is_waiting() -> None:
    m = Machine.of(
        """\
        name: waits
        nodes:
          w: {wait: {signal: go}}
          a: {transform: 1}
        """
    )
    m.begin()
    assert m.execution().status == "running"
    d = m.succeed("a", 1)
    assert d.commit.execution == ExecutionUpdate(status=ExecutionStatus.WAITING)
    assert m.event_types()[-1] == "execution_waiting" and m.state.status == "waiting"
    assert m.succeed("w", {"ok": 1}).final == "completed"


def test_a_result_over_the_output_cap_fails_the_execution() -> None:
    m = Machine.of(
        "name: big\nnodes:\n  a: {transform: 1}\n  b: {transform: 2}\n",
        limits=Limits(output=1024),
    )
    m.begin()
    m.succeed("a", "x" * 600)
    d = m.succeed("b", "y" * 600)  # each within the cap, together over it
    assert d.final == "failed"
    record = m.execution()
    assert record.status == "failed" and record.result is None
    assert record.error is not None and record.error["type"] == "limit_exceeded"
    assert "the execution's result" in record.error["message"]


def test_more_events_pending_in_the_shell_keep_the_execution_open() -> None:
    m = Machine.of("name: one\nnodes:\n  a: {transform: 1}\n")
    m.begin()
    d = m.step(m.outcome("a", 1), pending=True)
    assert d.final is None and m.execution().finished_at is None
    assert m.step().final == "completed"


def test_a_draining_shell_holds_what_became_ready() -> None:
    m = Machine.of(CHAIN)
    m.begin()
    m.draining = True
    d = m.succeed("a", 1)
    assert d.launch == [] and m.held() == {"b": True}
    assert m.execution().status == "running"


# -- purity ----------------------------------------------------------------------------------


def test_decide_leaves_the_state_alone_until_the_overlay_is_merged() -> None:
    m = Machine.of(
        """\
        name: pure
        on_failure: [alert]
        nodes:
          a: {transform: 1, retry: {max_attempts: 2, initial_delay: 1s}}
          each: {foreach: {items: "{{ [1, 2] }}", concurrency: 2}, transform: 1}
          c: {after: a, transform: 3, context: {seen: "{{ data }}"}}
          alert: {transform: 4}
        """,
        context={"k": 1},
    )
    m.render["each"] = [1, 2]
    m.begin()
    m.fail("a")
    env = Env(now=m.now + 10, jitter=0.7, running=frozenset(unit(k) for k in m.running))
    batches: list[list[Event]] = [
        [RetryDue(unit("a"))],
        [m.outcome("each[0]", 10)],
        [m.outcome("each[0]", error=NodeError("no", retryable=False))],
        [m.outcome("each[1]", 20), m.outcome("each[0]", 10)],
        [machine.ControlRequested(Control.PAUSE)],
        [machine.ControlRequested(Control.CANCEL)],
        [machine.ControlRequested(Control.STOP)],
        [machine.DeadlineReached()],
        [Begin()],
    ]
    for events in batches:
        before = snapshot(m.state)
        overlay = Overlay(m.state)
        d = machine.decide(overlay, events, env)
        while d.expand:
            rendered = [machine.ItemsRendered(n, [1, 2]) for n in d.expand]
            d = machine.decide(overlay, rendered, env, into=d)
        assert d.commit.nodes or d.commit.events  # it decided something
        assert snapshot(m.state) == before, events
    overlay = Overlay(m.state)
    machine.decide(overlay, [Outcome(unit("each[0]"), 1, START, output=10)], env)
    overlay.merge()
    item = unit("each[0]")
    assert m.state.statuses[item] == "succeeded" and m.state.outputs[item] == 10


def test_the_loaded_state_knows_which_edges_a_branch_did_not_take() -> None:
    m = Machine.of(
        """\
        name: route
        nodes:
          pick: {branch: [{when: "data.x > 1", then: big}], default: small}
          big: {after: pick, transform: 1}
          small: {after: pick, transform: 2}
        """
    )
    m.begin()
    m.succeed("pick", {"taken": ["big"], "data": {"x": 5}})
    assert m.restarted().state.skipped_edges == {("pick", "small"): True}
