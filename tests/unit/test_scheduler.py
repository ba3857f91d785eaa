"""The scheduler as a pure function: readiness, skips, joins, outcomes and results (DESIGN §4)."""

from __future__ import annotations

import textwrap

import pytest

from fuchsia.definition import LockedWorkflow, lock, parse_text, validate
from fuchsia.scheduler import Step, advance, is_fatal, outcome, result
from fuchsia.states import ExecutionStatus, NodeStatus

PENDING, READY, RUNNING, RETRYING = (
    NodeStatus.PENDING,
    NodeStatus.READY,
    NodeStatus.RUNNING,
    NodeStatus.RETRYING,
)
SUCCEEDED, FAILED, TIMED_OUT = NodeStatus.SUCCEEDED, NodeStatus.FAILED, NodeStatus.TIMED_OUT
CANCELLED, SKIPPED = NodeStatus.CANCELLED, NodeStatus.SKIPPED
COMPLETED = ExecutionStatus.COMPLETED
COMPLETED_WITH_ERRORS = ExecutionStatus.COMPLETED_WITH_ERRORS


def workflow(nodes: str, defaults: str = "") -> LockedWorkflow:
    text = f"name: sched\n{defaults}nodes:\n" + textwrap.indent(textwrap.dedent(nodes), "  ")
    source = parse_text(text, "w.yaml")
    return lock(validate(source), source)


CHAIN = workflow("""\
    a: {transform: 1}
    b: {after: a, transform: 2}
    c: {after: b, transform: 3}
    d: {after: c, transform: 4}
    """)


def fan_in(join: str) -> LockedWorkflow:
    return workflow(f"""\
        x: {{transform: 1}}
        y: {{transform: 2}}
        z: {{transform: 3}}
        j: {{after: [x, y, z], join: {join}, transform: 4}}
        """)


# --- starting and single upstreams ---------------------------------------------------------


def test_at_the_start_only_the_roots_are_ready() -> None:
    wf = workflow("""\
        a: {transform: 1}
        b: {transform: 2}
        c: {after: [a, b], join: all, transform: 3}
        """)
    assert advance(wf, {}) == Step(ready=["a", "b"], skipped=[])


def test_nodes_already_under_way_are_not_offered_again() -> None:
    assert advance(CHAIN, {"a": RUNNING}) == Step()
    assert advance(CHAIN, {"a": SUCCEEDED, "b": READY}, ["a"]) == Step()


def test_a_node_with_one_upstream_is_ready_when_it_succeeds() -> None:
    assert advance(CHAIN, {"a": SUCCEEDED}, ["a"]) == Step(ready=["b"])


def test_a_node_with_one_upstream_waits_while_it_is_still_open() -> None:
    for status in (PENDING, READY, RUNNING, RETRYING):
        assert advance(CHAIN, {"a": status}, ["a"]) == Step()


@pytest.mark.parametrize("status", [FAILED, TIMED_OUT, CANCELLED, SKIPPED])
def test_a_node_whose_only_upstream_settled_without_success_is_skipped(status: NodeStatus) -> None:
    step = advance(CHAIN, {"a": SUCCEEDED, "b": status}, ["b"])
    assert step.ready == []
    assert step.skipped == ["c", "d"]


def test_skips_propagate_through_a_whole_chain_in_one_call() -> None:
    assert advance(CHAIN, {"a": SKIPPED}, ["a"]) == Step(ready=[], skipped=["b", "c", "d"])


def test_evaluating_every_node_finds_the_whole_consequence() -> None:
    states = {"a": SUCCEEDED, "b": FAILED}
    assert advance(CHAIN, states) == Step(ready=[], skipped=["c", "d"])
    assert states == {"a": SUCCEEDED, "b": FAILED}  # the caller's mapping is not changed


def test_settled_nodes_are_never_reconsidered() -> None:
    states = {"a": SUCCEEDED, "b": SUCCEEDED, "c": FAILED, "d": SUCCEEDED}
    assert advance(CHAIN, states) == Step()


# --- join: all -----------------------------------------------------------------------------


def test_join_all_waits_for_every_upstream_to_settle() -> None:
    wf = fan_in("all")
    assert advance(wf, {"x": SUCCEEDED, "y": SUCCEEDED, "z": RUNNING}, ["x", "y"]) == Step()


def test_join_all_runs_once_all_settled_if_one_succeeded() -> None:
    wf = fan_in("all")
    step = advance(wf, {"x": FAILED, "y": SKIPPED, "z": SUCCEEDED}, ["z"])
    assert step == Step(ready=["j"])


def test_join_all_is_skipped_when_all_settled_and_none_succeeded() -> None:
    wf = fan_in("all")
    assert advance(wf, {"x": FAILED, "y": SKIPPED, "z": TIMED_OUT}, ["z"]) == Step(skipped=["j"])


# --- join: any -----------------------------------------------------------------------------


def test_join_any_runs_on_the_first_success_without_waiting_for_the_others() -> None:
    wf = fan_in("any")
    assert advance(wf, {"x": RUNNING, "y": SUCCEEDED, "z": PENDING}, ["y"]) == Step(ready=["j"])


def test_join_any_runs_only_once() -> None:
    wf = fan_in("any")
    states = {"x": SUCCEEDED, "y": SUCCEEDED, "z": RUNNING, "j": RUNNING}
    assert advance(wf, states, ["y"]) == Step()


def test_join_any_waits_while_an_upstream_may_still_succeed() -> None:
    wf = fan_in("any")
    assert advance(wf, {"x": FAILED, "y": SKIPPED, "z": RUNNING}, ["x", "y"]) == Step()


def test_join_any_is_skipped_when_every_upstream_settled_without_success() -> None:
    wf = fan_in("any")
    assert advance(wf, {"x": FAILED, "y": SKIPPED, "z": CANCELLED}, ["z"]) == Step(skipped=["j"])


# --- join: at_least ------------------------------------------------------------------------


def test_join_at_least_runs_once_enough_upstreams_succeeded() -> None:
    wf = fan_in("{at_least: 2}")
    assert advance(wf, {"x": SUCCEEDED, "y": RUNNING, "z": PENDING}, ["x"]) == Step()
    assert advance(wf, {"x": SUCCEEDED, "y": SUCCEEDED, "z": RUNNING}, ["y"]) == Step(ready=["j"])


def test_join_at_least_waits_while_enough_may_still_succeed() -> None:
    wf = fan_in("{at_least: 2}")
    assert advance(wf, {"x": SUCCEEDED, "y": FAILED, "z": RUNNING}, ["y"]) == Step()


def test_join_at_least_is_skipped_as_soon_as_it_can_no_longer_be_met() -> None:
    wf = fan_in("{at_least: 2}")
    step = advance(wf, {"x": FAILED, "y": SKIPPED, "z": RUNNING}, ["x", "y"])
    assert step == Step(skipped=["j"])


# --- skips into joins ----------------------------------------------------------------------


def test_a_skipped_branch_lets_a_join_all_run_on_the_other_branch() -> None:
    wf = workflow("""\
        start: {transform: 0}
        left: {after: start, transform: 1}
        left2: {after: left, transform: 2}
        right: {after: start, transform: 3}
        both: {after: [left2, right], join: all, transform: 4}
        after_both: {after: both, transform: 5}
        """)
    states = {"start": SUCCEEDED, "left": FAILED, "right": SUCCEEDED}
    assert advance(wf, states, ["left"]) == Step(ready=["both"], skipped=["left2"])


def test_a_skip_reaches_through_a_join_when_every_branch_is_skipped() -> None:
    wf = workflow("""\
        start: {transform: 0}
        left: {after: start, transform: 1}
        right: {after: start, transform: 2}
        both: {after: [left, right], join: any, transform: 3}
        end: {after: both, transform: 4}
        """)
    step = advance(wf, {"start": FAILED}, ["start"])
    assert step.ready == []
    assert sorted(step.skipped) == ["both", "end", "left", "right"]


# --- outcome -------------------------------------------------------------------------------

ERRORS = workflow("""\
    strict: {transform: 1}
    lenient: {transform: 2, on_error: continue}
    """)


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ({"strict": SUCCEEDED, "lenient": SUCCEEDED}, COMPLETED),
        ({"strict": SUCCEEDED, "lenient": SKIPPED}, COMPLETED),
        ({"strict": SUCCEEDED, "lenient": FAILED}, COMPLETED_WITH_ERRORS),
        ({"strict": SUCCEEDED, "lenient": TIMED_OUT}, COMPLETED_WITH_ERRORS),
        ({"strict": FAILED, "lenient": SUCCEEDED}, FAILED),
        ({"strict": TIMED_OUT, "lenient": SUCCEEDED}, FAILED),
        ({"strict": FAILED, "lenient": FAILED}, FAILED),
    ],
)
def test_the_outcome_follows_each_failed_nodes_on_error(
    states: dict[str, NodeStatus], expected: ExecutionStatus
) -> None:
    assert outcome(ERRORS, states) == expected


def test_defaults_on_error_continue_makes_failures_completed_with_errors() -> None:
    wf = workflow("a: {transform: 1}\n", defaults="defaults: {on_error: continue}\n")
    assert outcome(wf, {"a": FAILED}) == COMPLETED_WITH_ERRORS


def test_only_failures_of_on_error_fail_nodes_are_fatal() -> None:
    assert is_fatal(ERRORS.nodes["strict"], FAILED)
    assert is_fatal(ERRORS.nodes["strict"], TIMED_OUT)
    assert not is_fatal(ERRORS.nodes["strict"], SUCCEEDED)
    assert not is_fatal(ERRORS.nodes["strict"], SKIPPED)
    assert not is_fatal(ERRORS.nodes["lenient"], FAILED)


# --- result --------------------------------------------------------------------------------


def test_the_result_of_one_terminal_is_its_output() -> None:
    outputs = {"a": 1, "b": 2, "c": 3, "d": {"final": True}}
    states = dict.fromkeys(outputs, SUCCEEDED)
    assert result(CHAIN, states, outputs) == {"final": True}


def test_the_result_of_many_terminals_is_a_map_of_those_that_succeeded() -> None:
    wf = workflow("""\
        root: {transform: 0}
        one: {after: root, transform: 1}
        two: {after: root, transform: 2}
        three: {after: root, transform: 3}
        """)
    assert wf.terminals == ("one", "two", "three")
    states = {"root": SUCCEEDED, "one": SUCCEEDED, "two": SKIPPED, "three": SUCCEEDED}
    outputs = {"root": 0, "one": [1], "three": {"x": 3}}
    assert result(wf, states, outputs) == {"one": [1], "three": {"x": 3}}
