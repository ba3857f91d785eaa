"""The writes every part of the machine makes: a unit starting, and a unit's status."""

from __future__ import annotations

from typing import Any

from fuchsia.runtime.machine.decisions import Decision
from fuchsia.runtime.machine.state import Overlay
from fuchsia.states import AttemptStatus, NodeStatus
from fuchsia.store.records import AttemptWrite, Event, NodeWrite, UnitKey


def start(o: Overlay, d: Decision, key: UnitKey, now: float, inputs: Any = None) -> int:
    """Record the next attempt of `key` running; its number."""
    number: int = o.numbers.get(key, 0) + 1
    o.numbers[key] = number
    o.discard("retry_at", key)  # a retry coming due starts here
    o.first_started.setdefault(key, now)
    o.statuses[key] = NodeStatus.RUNNING
    t = d.commit
    node, item = key
    t.nodes.append(NodeWrite(node, NodeStatus.RUNNING, number, item=item))
    t.attempts.append(
        AttemptWrite(node, number, AttemptStatus.RUNNING, inputs=inputs, started_at=now, item=item)
    )
    t.events.append(Event("node_running", node, {"attempt": number}, item))
    return number


def write(
    d: Decision,
    key: UnitKey,
    status: NodeStatus,
    number: int,
    ready_at: float | None = None,
    error: dict[str, Any] | None = None,
) -> None:
    """Store `key`'s status (its node-run row)."""
    d.commit.nodes.append(NodeWrite(key.node, status, number, ready_at, error, key.item))


def event(d: Decision, type: str, key: UnitKey, data: dict[str, Any] | None = None) -> None:
    """Record an event about `key`."""
    d.commit.events.append(Event(type, key.node, data, key.item))


def skip(o: Overlay, d: Decision, key: UnitKey) -> None:
    o.statuses[key] = NodeStatus.SKIPPED
    write(d, key, NodeStatus.SKIPPED, o.numbers.get(key, 0))
    event(d, "node_skipped", key)
