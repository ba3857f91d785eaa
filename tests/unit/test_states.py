"""The states' enums: each member is the string the store keeps and the API prints."""

from __future__ import annotations

import json

from fuchsia.states import (
    ACTIVE,
    ERRORED,
    FINAL_STATUSES,
    OPEN_STATUSES,
    SETTLED,
    AttemptStatus,
    ExecutionStatus,
    NodeStatus,
)


def test_a_member_is_its_stored_string_in_comparisons_keys_and_json() -> None:
    status: NodeStatus = NodeStatus.SUCCEEDED
    assert status == "succeeded" and hash(status) == hash("succeeded")
    assert {"succeeded": 1}[NodeStatus.SUCCEEDED] == 1
    assert json.dumps({"status": ExecutionStatus.TIMED_OUT}) == '{"status": "timed_out"}'
    assert f"execution_{ExecutionStatus.COMPLETED}" == "execution_completed"
    assert NodeStatus("retrying") is NodeStatus.RETRYING


def test_every_execution_status_is_open_or_final_and_never_both() -> None:
    assert set(OPEN_STATUSES) | set(FINAL_STATUSES) == set(ExecutionStatus)
    assert not set(OPEN_STATUSES) & set(FINAL_STATUSES)
    assert [s for s in ExecutionStatus if s.is_final] == list(FINAL_STATUSES)


def test_a_node_is_settled_active_or_pending_and_errored_is_settled() -> None:
    assert SETTLED | ACTIVE | {NodeStatus.PENDING} == set(NodeStatus)
    assert not SETTLED & ACTIVE and ERRORED <= SETTLED
    assert [s for s in NodeStatus if s.is_settled] == [s for s in NodeStatus if s in SETTLED]


def test_an_attempt_ends_in_a_node_status_or_interrupted() -> None:
    shared = {s.value for s in AttemptStatus} - {AttemptStatus.INTERRUPTED.value}
    assert shared <= {s.value for s in NodeStatus}
