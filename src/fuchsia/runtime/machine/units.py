"""The writes every part of the machine makes: a unit starting, and a unit's status."""

from __future__ import annotations

from typing import Any

from fuchsia.runtime.machine.decisions import Decision
from fuchsia.runtime.machine.state import Overlay
from fuchsia.states import AttemptStatus, NodeStatus
from fuchsia.store.records import AttemptWrite, Event, NodeWrite


def start(o: Overlay, d: Decision, key: str, now: float, inputs: Any = None) -> int:
    """Record the next attempt of `key` running; its number."""
    number: int = o.numbers.get(key, 0) + 1
    o.numbers[key] = number
    o.discard("retry_at", key)  # a retry coming due starts here
    o.first_started.setdefault(key, now)
    o.statuses[key] = NodeStatus.RUNNING
    t = d.commit
    t.nodes.append(NodeWrite(key, NodeStatus.RUNNING, number))
    t.attempts.append(
        AttemptWrite(key, number, AttemptStatus.RUNNING, inputs=inputs, started_at=now)
    )
    t.events.append(Event("node_running", key, {"attempt": number}))
    return number


def skip(o: Overlay, d: Decision, key: str) -> None:
    o.statuses[key] = NodeStatus.SKIPPED
    d.commit.nodes.append(NodeWrite(key, NodeStatus.SKIPPED, o.numbers.get(key, 0)))
    d.commit.events.append(Event("node_skipped", key))
