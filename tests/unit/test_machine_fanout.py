"""The machine's `foreach` and `branch` decisions on the in-memory store: expansion within
the concurrency, refill, items failing with `on_error: fail` or `continue`, an empty list,
items that fail to render, item retries (which keep their backoff across a restart), a
restart that reuses settled items, and the
successors a branch skips."""

from __future__ import annotations

from fuchsia.errors import InputError
from fuchsia.runtime.limits import Limits
from fuchsia.runtime.machine import Begin
from fuchsia.states import AttemptStatus, Control, NodeStatus
from fuchsia.store.records import AttemptWrite, NodeWrite
from support.machine import START, Machine

FOREACH = """\
    name: mapped
    nodes:
      each:
        foreach: {{items: "{{{{ data }}}}", concurrency: 2}}
        transform: 1
        on_error: {on_error}
        retry: {{max_attempts: 2, initial_delay: 3s}}
      done: {{after: each, transform: 2}}
    """


def mapped(items: list[object], on_error: str = "fail") -> Machine:
    m = Machine.of(FOREACH.format(on_error=on_error))
    m.render["each"] = items
    return m


def attempts(m: Machine, key: str) -> list[tuple[int, AttemptStatus]]:
    return [(a.number, a.status) for a in m.units()[key].attempts]


def test_a_foreach_starts_its_items_within_its_concurrency_in_one_commit() -> None:
    m = mapped(["a", "b", "c"])
    d = m.begin()
    assert d.launch == ["each[0]", "each[1]"] and d.expand == []
    [parent, *items] = d.commit.attempts
    assert parent == AttemptWrite(
        "each", 1, AttemptStatus.RUNNING, inputs={"items": ["a", "b", "c"]}, started_at=START
    )
    assert [(a.node_id, a.item, a.number) for a in items] == [("each", 0, 1), ("each", 1, 1)]
    assert m.nodes()["each"].attempts[0].inputs == {"items": ["a", "b", "c"]}
    assert m.journal[0].rendered[0][0].items == ["a", "b", "c"]
    fan = m.state.fanouts["each"]
    assert (fan.total, fan.running, fan.settled, fan.next_index) == (3, 2, 0, 2)
    # it was running throughout: never `waiting` between its start and its items' start
    assert [e.type for e in d.commit.events if e.type.startswith("execution_")] == [
        "execution_running"
    ]


def test_an_item_settling_starts_the_next_and_the_last_settles_the_parent() -> None:
    m = mapped(["a", "b", "c"])
    m.begin()
    assert m.succeed("each[1]", "B").launch == ["each[2]"]
    assert m.succeed("each[0]", "A").launch == []  # nothing left to start
    d = m.succeed("each[2]", "C")
    assert d.requeue == [] and d.launch == ["done"]
    node = m.nodes()["each"]
    assert node.status == "succeeded" and node.output == ["A", "B", "C"]
    assert node.attempts[0].inputs == {"items": ["a", "b", "c"]}
    assert "each" not in m.state.fanouts


def test_an_item_failing_with_on_error_fail_fails_the_foreach_once_all_settled() -> None:
    m = mapped(["a", "b", "c"])
    m.begin()
    d = m.fail("each[0]", "bad item", retryable=False)
    assert d.launch == ["each[2]"] and d.final is None  # the others still run
    assert m.statuses()["each[0]"] == "failed"
    m.succeed("each[1]", "B")
    d = m.succeed("each[2]", "C")
    assert d.final == "failed"
    error = m.nodes()["each"].error
    assert error is not None and error["message"] == "item 0 of 3 failed: bad item"
    assert m.statuses()["done"] == "cancelled"


def test_an_item_failing_with_on_error_continue_leaves_its_error_in_the_output() -> None:
    m = mapped(["a", "b"], on_error="continue")
    m.begin()
    m.fail("each[1]", "bad item", retryable=False)
    d = m.succeed("each[0]", "A")
    assert d.launch == ["done"]
    output = m.nodes()["each"].output
    assert output[0] == "A"
    assert output[1] == {
        "error": {
            "type": "node_error",
            "message": "bad item",
            "retryable": False,
            "node": "each",
            "item": 1,
            "attempt": 1,
        }
    }
    assert m.succeed("done", 1).final == "completed_with_errors"
    record = m.execution()
    assert record.error is not None and record.error["nodes"] == ["each"]


def test_item_outputs_over_the_output_cap_together_fail_the_foreach() -> None:
    m = Machine.of(FOREACH.format(on_error="fail"), limits=Limits(output=1024))
    m.render["each"] = ["a", "b"]
    m.begin()
    m.succeed("each[0]", "x" * 600)
    d = m.succeed("each[1]", "y" * 600)  # each within the cap, the list over it
    assert d.final == "failed"
    error = m.nodes()["each"].error
    assert error is not None and error["type"] == "limit_exceeded"
    assert "the node's output" in error["message"]
    assert m.nodes()["each"].output is None


def test_an_item_is_retried_on_its_own() -> None:
    m = mapped(["a"])
    m.begin()
    d = m.fail("each[0]")
    assert d.timers == {"each[0]": START + 3}
    assert m.state.fanouts["each"].running == 1  # its slot stays taken
    assert m.due("each[0]").launch == ["each[0]"]
    m.succeed("each[0]", "A")
    assert attempts(m, "each[0]") == [(1, "failed"), (2, "succeeded")]
    assert m.nodes()["each"].output == ["A"]


def test_an_item_retry_keeps_its_stored_backoff_across_a_restart() -> None:
    m = mapped(["a", "b", "c"])
    m.begin()
    m.fail("each[1]")  # due at START + 3
    m.succeed("each[0]", "A")  # item 2 takes its place
    r = m.restarted()
    d = r.begin()
    assert d.launch == ["each[2]"]  # the lost item runs again; the retrying one waits
    assert d.timers == {"each[1]": START + 3}
    assert r.statuses()["each[1]"] == "retrying"
    fan = r.state.fanouts["each"]
    assert (fan.settled, fan.running) == (1, 2)  # the retrying item keeps its slot
    assert r.due("each[1]").launch == ["each[1]"]
    r.succeed("each[1]", "B")
    assert r.succeed("each[2]", "C").launch == ["done"]
    assert r.nodes()["each"].output == ["A", "B", "C"]
    assert attempts(r, "each[1]") == [(1, "failed"), (2, "succeeded")]


def test_an_item_whose_retry_came_due_while_paused_starts_once_on_resume() -> None:
    m = mapped(["a", "b"])
    m.begin()
    m.fail("each[0]")
    m.control(Control.PAUSE)
    r = m.restarted()  # paused: the foreach and the retrying item are both held
    assert r.begin().launch == []
    assert r.due("each[0]").launch == []
    d = r.control(Control.RESUME)
    assert sorted(d.launch) == ["each[0]", "each[1]"]
    assert [str(w.unit) for w in d.commit.attempts].count("each[0]") == 1
    r.succeed("each[0]", "A")
    assert r.succeed("each[1]", "B").final is None
    assert r.nodes()["each"].output == ["A", "B"]


def test_an_empty_item_list_succeeds_at_once_with_an_empty_output() -> None:
    m = mapped([])
    d = m.begin()
    assert d.launch == [] and [str(o.unit) for o in d.requeue] == ["each"]
    assert m.journal[-1].events == d.requeue  # handed back: a commit of its own
    assert m.nodes()["each"].output == [] and m.running.keys() == {"done"}


def test_items_that_fail_to_render_fail_the_foreach() -> None:
    m = Machine.of(FOREACH.format(on_error="fail"))
    m.render["each"] = InputError("foreach.items: 'data' is undefined")
    d = m.begin()
    assert d.launch == [] and [o.error for o in d.requeue] == [m.render["each"]]
    assert m.final == "failed"
    assert attempts(m, "each") == [(1, "failed")]
    error = m.nodes()["each"].error
    assert error is not None and error["type"] == "input_error"


def test_a_restart_reuses_the_settled_items_and_runs_the_lost_ones_again() -> None:
    m = mapped(["a", "b", "c", "d"], on_error="continue")
    m.begin()
    m.succeed("each[0]", "A")
    m.fail("each[1]", "bad", retryable=False)  # settled for good
    assert m.running.keys() == {"each[2]", "each[3]"}
    m.render.clear()  # a restart does not render the items again: they are stored
    r = m.restarted()
    d = r.begin()
    assert d.launch == ["each[2]", "each[3]"]
    assert [(str(w.unit), w.number, w.status) for w in d.commit.attempts] == [
        ("each", 1, "interrupted"),
        ("each[2]", 1, "interrupted"),
        ("each[3]", 1, "interrupted"),
        ("each", 2, "running"),
        ("each[2]", 2, "running"),
        ("each[3]", 2, "running"),
    ]
    assert d.commit.attempts[3].inputs == {"items": ["a", "b", "c", "d"]}
    fan = r.state.fanouts["each"]
    assert (fan.number, fan.settled, fan.running) == (2, 2, 2)
    r.succeed("each[2]", "C")
    r.succeed("each[3]", "D")
    output = r.nodes()["each"].output
    assert output[0] == "A" and output[1]["error"]["message"] == "bad" and output[2:] == ["C", "D"]
    assert attempts(r, "each[0]") == [(1, "succeeded")]


def test_a_restart_before_a_foreach_settled_settles_it_from_its_stored_items() -> None:
    m = mapped([])
    m.step(Begin(), follow=False)  # killed before the outcome it handed back was decided
    m.render.clear()
    r = m.restarted()
    d = r.begin()
    assert d.launch == [] and [str(o.unit) for o in d.requeue] == ["each"]
    assert attempts(r, "each") == [(1, "interrupted"), (2, "succeeded")]
    assert r.nodes()["each"].output == [] and r.running.keys() == {"done"}


def test_a_branch_skips_the_successors_it_did_not_choose() -> None:
    m = Machine.of(
        """\
        name: route
        nodes:
          pick:
            branch: [{when: "data.x > 1", then: big}]
            default: small
          big: {after: pick, transform: 1}
          small: {after: pick, transform: 2}
          tail: {after: small, transform: 3}
          merge: {after: [big, small], join: any, transform: 4}
        """
    )
    m.begin()
    d = m.succeed("pick", {"taken": ["big"], "data": {"x": 5}})
    assert d.launch == ["big"]
    assert [w for w in d.commit.nodes if w.status == "skipped"] == [
        NodeWrite("small", NodeStatus.SKIPPED, 0),
        NodeWrite("tail", NodeStatus.SKIPPED, 0),
    ]
    assert m.succeed("big", 1).launch == ["merge"]
    assert m.succeed("merge", 2).final == "completed"
    assert m.execution().result == {"merge": 2}  # the skipped terminal is left out
