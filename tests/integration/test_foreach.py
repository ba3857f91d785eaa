"""`foreach`: a node mapped over a list, items committed one by one, outputs in item order."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from fuchsia import Engine, EventRecord, Execution, ItemCounts
from fuchsia.cli.render import event_json, event_line
from fuchsia.definition import lock, parse_text, validate
from fuchsia.states import NodeStatus
from support.flows import run_text
from support.httpserver import LoopbackServer


def run(tmp_path: Path, text: str, payload: Any = None) -> Execution:
    return run_text(tmp_path, text, payload, "map.yaml")


def test_items_map_in_order_and_a_reduce_sees_the_list(tmp_path: Path) -> None:
    execution = run(
        tmp_path,
        """
name: mapreduce
nodes:
  numbers: {transform: {values: "{{ range(1, 11) | list }}"}}
  square:
    after: numbers
    foreach: {items: "{{ values }}", concurrency: 3}
    transform: {n: "{{ item }}", square: "{{ item * item }}", at: "{{ index }}"}
  total:
    after: square
    transform: {sum: "{{ data | map(attribute='square') | sum }}", count: "{{ data | length }}"}
""",
    )
    assert execution.status == "completed", execution.error
    squares = execution.node("square").output
    assert [s["square"] for s in squares] == [n * n for n in range(1, 11)]
    assert [s["at"] for s in squares] == list(range(10))
    assert execution.result == {"sum": 385, "count": 10}


def test_an_empty_list_gives_an_empty_output(tmp_path: Path) -> None:
    execution = run(
        tmp_path,
        """
name: empty
nodes:
  each: {foreach: {items: "{{ [] }}"}, transform: {x: "{{ item }}"}}
  after_each: {after: each, transform: {n: "{{ data | length }}"}}
""",
    )
    assert execution.status == "completed", execution.error
    assert execution.node("each").output == []
    assert execution.result == {"n": 0}


def test_items_that_are_not_a_list_fail_the_node_clearly(tmp_path: Path) -> None:
    execution = run(
        tmp_path,
        """
name: notalist
nodes:
  each: {foreach: {items: "{{ 'abc' }}"}, transform: {x: "{{ item }}"}}
""",
    )
    assert execution.status == "failed"
    assert execution.error is not None
    assert "foreach.items must render to a list, got str" in execution.error["message"]


def test_a_failed_item_fails_the_node_unless_on_error_continue(tmp_path: Path) -> None:
    template = """
name: partial
nodes:
  each:
    foreach: {{items: "{{{{ [1, 0, 2] }}}}"}}
    transform: {{inverse: "{{{{ 1 / item }}}}"}}
    {on_error}
"""
    failed = run(tmp_path, template.format(on_error=""))
    assert failed.status == "failed"
    assert failed.error is not None
    assert failed.error["message"].startswith("item 1 of 3 failed:")

    tolerant = run(tmp_path / "b", template.format(on_error="on_error: continue"))
    assert tolerant.status == "completed_with_errors"  # the node succeeded, an item did not
    assert tolerant.error is not None and tolerant.error["nodes"] == ["each"]
    slots = tolerant.node("each").output
    assert slots[0] == {"inverse": 1.0} and slots[2] == {"inverse": 0.5}
    assert slots[1]["error"]["item"] == 1


def test_http_items_run_concurrently_up_to_the_limit(
    tmp_path: Path, loopback: LoopbackServer
) -> None:
    # four items meet at a barrier of four: only possible if four run at once
    url = loopback.url("/barrier/foreach-four?n=4")
    execution = run(
        tmp_path,
        f"""
name: fanout
nodes:
  fetch:
    foreach: {{items: "{{{{ range(4) | list }}}}", concurrency: 4}}
    http: {{url: "{url}", timeout: 20s}}
""",
    )
    assert execution.status == "completed", execution.error
    assert [r["status"] for r in execution.node("fetch").output] == [200, 200, 200, 200]


def test_item_retries_follow_the_node_retry_policy(
    tmp_path: Path, loopback: LoopbackServer
) -> None:
    execution = run(
        tmp_path,
        f"""
name: flaky
nodes:
  fetch:
    foreach: {{items: "{{{{ ['a', 'b'] }}}}", concurrency: 2}}
    retry: {{max_attempts: 3, initial_delay: 10ms}}
    http: {{url: "{loopback.url("/flaky/")}{{{{ item }}}}-items?fail=1"}}
""",
    )
    assert execution.status == "completed", execution.error
    assert [r["status"] for r in execution.node("fetch").output] == [200, 200]


def test_a_thousand_items_with_concurrency_fifty_complete(tmp_path: Path) -> None:
    execution = run(
        tmp_path,
        """
name: thousand
nodes:
  each:
    foreach: {items: "{{ range(1000) | list }}", concurrency: 50}
    transform: {double: "{{ item * 2 }}"}
  total: {after: each, transform: {sum: "{{ data | map(attribute='double') | sum }}"}}
""",
    )
    assert execution.status == "completed", execution.error
    assert execution.result == {"sum": 999000}
    assert len(execution.node("each").output) == 1000


def test_items_are_counted_on_their_node_and_their_events_name_them_by_index(
    tmp_path: Path,
) -> None:
    source = parse_text(
        """
name: counted
nodes:
  each:
    foreach: {items: "{{ [3, 0, 1] }}", concurrency: 3}
    transform: {inverse: "{{ 1 // item }}"}
    on_error: continue
  plain: {transform: 1}
""",
        "counted.yaml",
    )
    workflow = lock(validate(source), source)

    async def main() -> tuple[Execution, list[EventRecord]]:
        async with await Engine.open(str(tmp_path / "f.db")) as engine:
            done = await engine.run(workflow)
            return done, await engine.events(done.id)

    done, events = asyncio.run(main())
    assert done.status == "completed_with_errors", done.error
    each = done.node("each")
    assert each.items == ItemCounts(3, {NodeStatus.FAILED: 1, NodeStatus.SUCCEEDED: 2})
    assert done.node("plain").items is None  # only a foreach has items
    assert Execution.from_json(done.to_json()) == done
    assert done.to_json()["nodes"][0]["items"] == {
        "total": 3,
        "statuses": {"failed": 1, "succeeded": 2},
    }
    failed = [e for e in events if e.type == "node_failed"]
    assert [(e.node_id, e.item) for e in failed] == [("each", 1)]
    assert (
        failed[0].to_json()["item"] == 1 and EventRecord.from_json(failed[0].to_json()) == failed[0]
    )
    assert event_json(failed[0])["item"] == 1 and event_line(failed[0]).split()[2] == "each[1]"
    assert each.output[1]["error"]["node"] == "each" and each.output[1]["error"]["item"] == 1
