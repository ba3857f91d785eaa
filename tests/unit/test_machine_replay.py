"""Replaying an execution through the machine.

A recorded history (the journal of every batch of events and the environment it was
decided in) replayed from the execution's initial records gives the same decisions, commit
for commit; and the records a kill leaves after any commit, loaded afresh, give the decision
a resume must make: the lost attempts run again, nothing settled runs again, and driving on
reaches the outcome the uninterrupted run reached (DESIGN.md §2, issue 9).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from fuchsia.errors import NodeError
from fuchsia.runtime.work import Outcome
from fuchsia.states import AttemptStatus, Control, NodeStatus
from support.machine import Machine, replay, summary, unit

Answer = Callable[[Machine, str], Outcome]

CHAIN = """\
    name: chain
    nodes:
      a: {transform: 1}
      b:
        after: a
        transform: 2
        retry: {max_attempts: 3, initial_delay: 2s, jitter: true}
      c: {after: b, transform: 3}
    """

FOREACH = """\
    name: mapped
    nodes:
      numbers: {transform: 1}
      each:
        after: numbers
        foreach: {items: "{{ data }}", concurrency: 2}
        transform: 2
        on_error: continue
        retry: {max_attempts: 2, backoff: fixed, initial_delay: 1s}
      total: {after: each, transform: 3}
    """

HOOKS = """\
    name: hooked
    on_success: [celebrate]
    on_failure: [alert, page]
    nodes:
      a: {transform: 1}
      slow: {transform: 2}
      b: {after: a, transform: 3}
      celebrate: {transform: 4}
      alert: {transform: 5}
      page: {transform: 6}
    """


def chain_answer(m: Machine, key: str) -> Outcome:
    """b fails once (retryable), then every node succeeds with its name."""
    if key == "b" and m.state.failures.get(unit(key), 0) == 0:
        return m.outcome(key, error=NodeError("flaky"))
    return m.outcome(key, {"from": key})


def foreach_answer(m: Machine, key: str) -> Outcome:
    """Item 1 fails for good, item 2 fails once, the rest double their item."""
    base, index = unit(key)
    if index == 1:
        return m.outcome(key, error=NodeError("bad item", retryable=False))
    if index == 2 and m.state.failures.get(unit(key), 0) == 0:
        return m.outcome(key, error=NodeError("flaky item"))
    if index is not None:
        return m.outcome(key, m.state.items[base][index] * 2)
    return m.outcome(key, {"node": key})


def hooks_answer(m: Machine, key: str) -> Outcome:
    """b fails fast while slow runs; the hooks succeed."""
    if key == "b":
        return m.outcome(key, error=NodeError("fatal", retryable=False))
    return m.outcome(key, {"hook": key})


def begun(text: str, render: dict[str, Any] | None = None) -> Machine:
    m = Machine.of(text, {"in": 1})
    m.render.update(render or {})
    m.jitter = 0.75
    m.begin()
    return m


RUNS: dict[str, tuple[str, dict[str, Any], Answer]] = {
    "chain with a retry": (CHAIN, {}, chain_answer),
    "foreach with failures": (FOREACH, {"each": [1, 2, 3, 4, 5]}, foreach_answer),
    "hooks after fail fast": (HOOKS, {}, hooks_answer),
}


def recorded(name: str) -> Machine:
    text, render, answer = RUNS[name]
    m = begun(text, render)
    m.run(answer)
    return m


def paused_and_resumed() -> Machine:
    m = begun(CHAIN)
    m.control(Control.PAUSE)
    m.succeed("a", 1)  # b is held
    m.control(Control.RESUME)  # b starts
    m.fail("b")
    m.control(Control.PAUSE)
    m.due("b")  # held again
    m.control(Control.RESUME)
    m.succeed("b", 2)
    m.succeed("c", 3)
    return m


PAUSED = "pause and resume"
HISTORIES = [*RUNS, PAUSED]


def history(name: str) -> Machine:
    return paused_and_resumed() if name == PAUSED else recorded(name)


def test_the_recorded_runs_reach_their_outcomes() -> None:
    """What the replays below replay: the histories are the ones intended."""
    chain = recorded("chain with a retry")
    assert chain.final == "completed" and chain.execution().result == {"from": "c"}
    assert [a.status for a in chain.nodes()["b"].attempts] == ["failed", "succeeded"]
    mapped = recorded("foreach with failures")
    assert mapped.final == "completed_with_errors"
    output = mapped.nodes()["each"].output
    assert (
        output[0] == 2 and output[1]["error"]["message"] == "bad item" and output[2:] == [6, 8, 10]
    )
    hooked = recorded("hooks after fail fast")
    assert hooked.final == "failed"
    assert hooked.statuses()["slow"] == "cancelled" and hooked.nodes()["page"].output == {
        "hook": "page"
    }
    paused = paused_and_resumed()
    assert paused.final == "completed"
    assert paused.event_types().count("execution_paused") == 2


@pytest.mark.parametrize("name", HISTORIES)
def test_a_recorded_history_replays_to_the_same_decisions(name: str) -> None:
    m = history(name)
    assert len(m.journal) >= 5
    decisions = replay(m.journal, m.initial())
    assert [summary(d) for d in decisions] == [summary(e.decision) for e in m.journal]


@pytest.mark.parametrize("name", HISTORIES)
def test_the_replayed_commits_are_the_stored_events_and_records(name: str) -> None:
    m = history(name)
    decided = [
        (ev.type, ev.node_id, ev.data)
        for d in replay(m.journal, m.initial())
        for ev in d.commit.events
    ]
    assert decided == [(e.type, e.node_id, e.data) for e in m.events()]
    assert m.after(len(m.journal)).records() == m.records()


def test_a_replay_in_another_environment_decides_otherwise() -> None:
    """The comparison above is not vacuous: the jitter the retry drew is in the decision."""
    m = recorded("chain with a retry")
    journal = list(m.journal)
    index = next(i for i, e in enumerate(journal) if e.decision.timers)
    entry = journal[index]
    journal[index] = replace(entry, env=replace(entry.env, jitter=0.5))
    decisions = replay(journal[: index + 1], m.initial())
    assert decisions[index].timers != entry.decision.timers
    assert decisions[index].commit != entry.decision.commit


# -- kill-style replay -----------------------------------------------------------------------

SETTLED = {
    NodeStatus.SUCCEEDED,
    NodeStatus.FAILED,
    NodeStatus.TIMED_OUT,
    NodeStatus.SKIPPED,
    NodeStatus.CANCELLED,
}


@pytest.mark.parametrize("name", RUNS)
def test_the_records_a_kill_leaves_resume_to_the_same_outcome(name: str) -> None:
    """After every commit k: the stored records, loaded afresh and begun, record the lost
    attempts interrupted and run their units again, start nothing that settled, decide the
    same from the same records, and, driven on with the same answers, end as the
    uninterrupted run ended."""
    answer = RUNS[name][2]
    m = recorded(name)
    for k in range(1, len(m.journal)):
        killed = m.after(k)
        if killed.execution().status.is_final:
            break
        stored = killed.statuses()
        running = {key for key, status in stored.items() if status == NodeStatus.RUNNING}
        settled = {key for key, status in stored.items() if status in SETTLED}
        d = killed.begin()
        again = m.after(k)
        assert summary(again.begin().decision) == summary(d.decision), k  # the same decision
        interrupted = {
            str(a.unit) for a in d.commit.attempts if a.status == AttemptStatus.INTERRUPTED
        }
        assert interrupted == running, k
        started = {str(a.unit) for a in d.commit.attempts if a.status == AttemptStatus.RUNNING}
        assert not started & settled, k
        assert running <= started, k  # every lost unit runs again
        parents = {key for key in started if key in m.wf.nodes and m.wf.nodes[key].foreach}
        assert set(d.launch) == started - parents, k  # a foreach parent runs as its items
        if killed.final is None:
            killed.run(answer)
        assert killed.final == m.final, k
        assert killed.execution().result == m.execution().result, k
        assert outputs(killed) == outputs(m), k


def outputs(m: Machine) -> dict[str, Any]:
    """Every unit's output, an item error's attempt number left out (a lost attempt took
    a number)."""

    def plain(value: Any) -> Any:
        if isinstance(value, list):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items() if k != "attempt"}
        return value

    return {key: plain(node.output) for key, node in m.units().items()}
