"""A `foreach`: its items start within its concurrency; when all settled, the parent does.

Items are units of their own (`UnitKey(node, index)`), with their own attempts, retries and
errors. The parent's bookkeeping is a `Fanout` of counters; its output is assembled once,
from the items' units, when the last one settles. After a restart, an item that settled is
not run again and one waiting for its retry keeps its stored backoff (`next_items`).
"""

from __future__ import annotations

from typing import Any

from fuchsia.errors import NodeError
from fuchsia.runtime.limits import Limits
from fuchsia.runtime.machine.decisions import Decision
from fuchsia.runtime.machine.env import Env
from fuchsia.runtime.machine.state import Fanout, Overlay
from fuchsia.runtime.machine.units import start
from fuchsia.runtime.work import Outcome
from fuchsia.states import NodeStatus
from fuchsia.store.records import UnitKey

_UNDER_WAY = (NodeStatus.RETRYING, NodeStatus.RUNNING)


def begin(o: Overlay, d: Decision, node_id: str, items: list[Any], env: Env) -> list[UnitKey]:
    """Begin (or, after a restart, continue) a foreach over `items` (kept with the parent's
    attempt, so a restart maps the same items): reuse every item already settled and start
    as many as `concurrency` allows; the keys started."""
    node = o.workflow.nodes[node_id]
    assert node.foreach is not None
    number = o.numbers[o.keys[node_id]]
    for row in reversed(d.commit.attempts):
        if row.node_id == node_id and row.item is None and row.number == number:
            row.inputs = {"items": items}
            break
    o.items[node_id] = items
    settled = sum(1 for index in range(len(items)) if _settled(o, UnitKey(node_id, index)))
    o.fanouts[node_id] = Fanout(
        number, env.now, len(items), int(node.foreach["concurrency"]), settled=settled
    )
    keys = next_items(o, node_id)
    for key in keys:
        start(o, d, key, env.now)
    if o.fanouts[node_id].finished:  # every item settled before a restart, or there are none
        d.requeue.append(outcome(o, node_id, env.limits))
    return keys


def _settled(o: Overlay, key: UnitKey) -> bool:
    """An item settled for good: a restart does not run it again."""
    return o.statuses.get(key) == NodeStatus.SUCCEEDED or key in o.unit_errors


def next_items(o: Overlay, node_id: str) -> list[UnitKey]:
    """The items to start now, within the foreach's concurrency. An item waiting for its
    retry (found so only after a restart) takes its place in the concurrency and starts
    when the retry comes due; one a resume started before its foreach (it came due while
    both were held) is running already."""
    fan = o.fanouts[node_id]
    keys: list[UnitKey] = []
    running, index = fan.running, fan.next_index
    while running < fan.concurrency and index < fan.total:
        key = UnitKey(node_id, index)
        index += 1
        if not _settled(o, key):
            running += 1
            if o.statuses.get(key) not in _UNDER_WAY:
                keys.append(key)
    o.fanouts[node_id] = fan.started(running, index)
    return keys


def item_settled(o: Overlay, node_id: str, to_start: list[UnitKey], env: Env) -> Outcome | None:
    """An item settled: queue the next ones; the parent's outcome once all have."""
    fan = o.fanouts.get(node_id)
    if fan is None:
        return None
    fan = fan.item_done()
    o.fanouts[node_id] = fan
    if fan.finished:
        return outcome(o, node_id, env.limits)
    to_start.extend(next_items(o, node_id))
    return None


def outcome(o: Overlay, node_id: str, limits: Limits) -> Outcome:
    """The parent's own outcome: the list of the items' outputs (a failed item's place holds
    its error), or with `on_error: fail` the first failed item's error."""
    fan = o.fanouts.pop(node_id)
    node = o.workflow.nodes[node_id]
    items = o.items[node_id]
    result = Outcome(o.keys[node_id], fan.number, fan.started_at, inputs={"items": items})
    errors: dict[int, dict[str, Any]] = {}
    for index in range(fan.total):
        error = o.unit_errors.get(UnitKey(node_id, index))
        if error is not None:
            errors[index] = {**error, "item": index}
    if errors and node.on_error == "fail":
        index = min(errors)
        result.error = NodeError(
            f"item {index} of {fan.total} failed: {errors[index]['message']}", retryable=False
        )
        return result
    result.output = [
        {"error": errors[i]} if i in errors else o.outputs.get(UnitKey(node_id, i))
        for i in range(fan.total)
    ]
    try:  # each item's output was within the cap; together they may not be
        limits.check(result.output, "the node's output")
    except NodeError as exc:
        result.error, result.output = exc, None
    return result
