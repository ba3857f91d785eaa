"""The states an execution, a node and an attempt move through, and the control requests.

They sit below the store and the scheduler: both speak them, neither owns them. Each is a
`StrEnum`, so a stored string, a JSON field and a test's `"succeeded"` all compare equal to
its member, and what the store writes and the API prints does not change.
"""

from __future__ import annotations

from enum import StrEnum


class ExecutionStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    WAITING = "waiting"  # only wait nodes are running: it waits for a signal or a time
    PAUSED = "paused"
    COMPLETED = "completed"
    COMPLETED_WITH_ERRORS = "completed_with_errors"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


OPEN_STATUSES = (
    ExecutionStatus.PENDING,
    ExecutionStatus.RUNNING,
    ExecutionStatus.WAITING,
    ExecutionStatus.PAUSED,
)
FINAL_STATUSES = (
    ExecutionStatus.COMPLETED,
    ExecutionStatus.COMPLETED_WITH_ERRORS,
    ExecutionStatus.FAILED,
    ExecutionStatus.CANCELLED,
    ExecutionStatus.TIMED_OUT,
)


class NodeStatus(StrEnum):
    """A node's (or a foreach item's) state. `READY` is decided but not yet started: the
    scheduler's answer, never left in the store by a commit that started the node."""

    PENDING = "pending"
    READY = "ready"
    RUNNING = "running"
    RETRYING = "retrying"  # failed, another attempt is due at `ready_at`
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    @property
    def is_settled(self) -> bool:
        return self in SETTLED


SETTLED = frozenset(
    {
        NodeStatus.SUCCEEDED,
        NodeStatus.FAILED,
        NodeStatus.SKIPPED,
        NodeStatus.CANCELLED,
        NodeStatus.TIMED_OUT,
    }
)
ACTIVE = frozenset({NodeStatus.READY, NodeStatus.RUNNING, NodeStatus.RETRYING})
ERRORED = frozenset({NodeStatus.FAILED, NodeStatus.TIMED_OUT})


class AttemptStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # its process died or stopped before the attempt committed


class Control(StrEnum):
    """A request any process leaves on an execution for whichever process drives it."""

    CANCEL = "cancel"
    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"  # the driving engine is closing: record running attempts interrupted
    HUNG = "hung"  # no progress for longer than the hung threshold
