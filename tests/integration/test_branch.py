"""`branch` nodes: CEL rules choose successors; the rest are skipped, and skips propagate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fuchsia import DefinitionError, Execution
from fuchsia.definition import parse_text, validate
from support.flows import run_text
from support.httpserver import LoopbackServer

ROUTE = """
name: route
trigger:
  context: {tier: "{{ tier }}"}
nodes:
  price: {transform: {total: "{{ total }}"}}
  route:
    after: price
    branch:
      - when: "data.total > 1000"
        then: review
      - when: "context.tier == 'gold'"
        then: [fast, notify]
    default: confirm
  review: {after: route, transform: {reviewed: "{{ total }}"}}
  fast: {after: route, transform: {fast: "{{ total }}"}}
  notify: {after: route, transform: {notified: true}}
  confirm: {after: route, transform: {confirmed: "{{ total }}"}}
  audit: {after: route, transform: {seen: "{{ total }}"}}
  after_review: {after: review, transform: {done: true}}
  settle:
    after: [review, confirm]
    join: all
    transform: {paths: "{{ data | list | sort }}"}
"""


def run(tmp_path: Path, text: str, payload: Any) -> Execution:
    return run_text(tmp_path, text, payload, "route.yaml")


def statuses(execution: Execution) -> dict[str, str]:
    return {node.id: node.status for node in execution.nodes}


def test_the_first_true_rule_chooses_and_the_others_are_skipped(tmp_path: Path) -> None:
    execution = run(tmp_path, ROUTE, {"total": 5000, "tier": "gold"})
    assert execution.status == "completed", execution.error
    assert statuses(execution) == {
        "price": "succeeded",
        "route": "succeeded",
        "review": "succeeded",
        "fast": "skipped",
        "notify": "skipped",
        "confirm": "skipped",
        "audit": "succeeded",
        "after_review": "succeeded",
        "settle": "succeeded",
    }
    # successors of a branch see what the branch saw; a join after it sees the path taken
    assert execution.node("review").output == {"reviewed": 5000}
    assert execution.node("settle").output == {"paths": ["review"]}


def test_a_later_rule_can_choose_several_targets(tmp_path: Path) -> None:
    execution = run(tmp_path, ROUTE, {"total": 10, "tier": "gold"})
    assert execution.status == "completed", execution.error
    chosen = {n for n, s in statuses(execution).items() if s == "succeeded"}
    assert {"fast", "notify", "audit"} <= chosen
    assert statuses(execution)["review"] == statuses(execution)["after_review"] == "skipped"
    assert statuses(execution)["settle"] == "skipped"  # join all with no succeeded upstream


def test_default_runs_when_no_rule_holds(tmp_path: Path) -> None:
    execution = run(tmp_path, ROUTE, {"total": 10, "tier": "bronze"})
    assert execution.status == "completed", execution.error
    assert statuses(execution)["confirm"] == "succeeded"
    assert execution.node("settle").output == {"paths": ["confirm"]}


def test_a_condition_that_fails_to_evaluate_fails_the_branch_clearly(tmp_path: Path) -> None:
    text = """
name: broken
nodes:
  a: {transform: {x: 1}}
  pick:
    after: a
    branch: [{when: "data.missing > 1", then: b}]
  b: {after: pick, transform: {}}
"""
    execution = run(tmp_path, text, {})
    assert execution.status == "failed"
    assert execution.error is not None
    assert "branch[0].when" in execution.error["message"]
    assert "no such key 'missing'" in execution.error["message"]


def test_a_condition_that_is_not_boolean_is_an_error(tmp_path: Path) -> None:
    text = """
name: notbool
nodes:
  a: {transform: {x: 1}}
  pick: {after: a, branch: [{when: "data.x + 1", then: b}]}
  b: {after: pick, transform: {}}
"""
    execution = run(tmp_path, text, {})
    assert execution.status == "failed"
    assert execution.error is not None
    assert "not a boolean" in execution.error["message"]


def test_conditions_compile_when_validating_with_their_position() -> None:
    text = """name: bad
nodes:
  a: {transform: {x: 1}}
  pick:
    after: a
    branch:
      - when: "data.x =="
        then: b
  b: {after: pick, transform: {}}
"""
    with pytest.raises(DefinitionError) as caught:
        validate(parse_text(text, "bad.yaml"))
    [problem] = caught.value.problems
    assert (problem.line, problem.column) == (7, 15)
    assert "node 'pick': branch[0].when: CEL error at column 10" in problem.message


def test_join_any_after_two_slow_branches_runs_once(tmp_path: Path) -> None:
    with LoopbackServer() as server:
        text = f"""
name: race
nodes:
  start: {{transform: {{x: 1}}}}
  fast: {{after: start, http: {{url: "{server.url("/slow?seconds=0.1")}"}}}}
  slow: {{after: start, http: {{url: "{server.url("/slow?seconds=0.6")}"}}}}
  first:
    after: [fast, slow]
    join: any
    transform: {{winner: "{{{{ 'fast' if fast else 'slow' }}}}", saw: "{{{{ data | list }}}}"}}
"""
        execution = run(tmp_path, text, {})
    assert execution.status == "completed", execution.error
    assert len(execution.node("first").attempts) == 1
    assert execution.node("first").output == {"winner": "fast", "saw": ["fast"]}
    assert execution.node("slow").status == "succeeded"  # it finished, but `first` ran once


def test_a_foreach_branch_routes_each_item_and_runs_what_any_item_chose(
    tmp_path: Path,
) -> None:
    text = """
name: sort
nodes:
  orders: {transform: {amounts: [5, 50, 7]}}
  route:
    after: orders
    foreach: {items: "{{ data.amounts }}"}
    branch:
      - when: "item > 100"
        then: huge
      - when: "item > 10"
        then: big
    default: small
  huge: {after: route, transform: {n: "{{ data | length }}"}}
  big: {after: route, transform: {seen: "{{ data | length }}"}}
  small: {after: route, transform: {seen: "{{ data | length }}"}}
"""
    execution = run(tmp_path, text, {})
    assert execution.status == "completed", execution.error
    assert statuses(execution) == {
        "orders": "succeeded",
        "route": "succeeded",
        "huge": "skipped",  # no item chose it
        "big": "succeeded",
        "small": "succeeded",
    }
    assert [route["taken"] for route in execution.node("route").output] == [
        ["small"],
        ["big"],
        ["small"],
    ]
    assert execution.node("big").output == {"seen": 3}  # the items' data, one per item


def test_rules_see_the_execution(tmp_path: Path) -> None:
    text = """
name: self-aware
nodes:
  start: {transform: {x: 1}}
  route:
    after: start
    branch:
      - when: "execution.workflow == 'self-aware' && size(execution.id) > 10"
        then: known
    default: unknown
  known: {after: route, transform: {ok: true}}
  unknown: {after: route, transform: {ok: false}}
"""
    execution = run(tmp_path, text, {})
    assert execution.status == "completed", execution.error
    assert statuses(execution)["known"] == "succeeded"
    assert statuses(execution)["unknown"] == "skipped"
