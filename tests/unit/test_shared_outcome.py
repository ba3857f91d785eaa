"""A shared attempt's outcome as its worker stores it and its owner reads it back
(`work.to_json` / `from_json`): the same error class, fields and retryability, logs, context
and the side effects the owner commits with the success."""

from __future__ import annotations

import json

from fuchsia.errors import HttpError, NodeError, NodeTimeout
from fuchsia.runtime.effects import SideEffects
from fuchsia.runtime.limits import LimitExceeded
from fuchsia.runtime.work import Outcome, from_json, to_json
from fuchsia.store.records import ArtifactRef, PendingArtifact, UnitKey

UNIT = UnitKey("each", 3)


def round_trip(o: Outcome) -> Outcome:
    return from_json(o.unit, o.attempt, json.loads(json.dumps(to_json(o))))


def test_a_success_keeps_its_output_logs_context_and_side_effects() -> None:
    o = Outcome(UNIT, 2, 1700000000.25, inputs={"url": "x"}, output={"n": 1})
    o.context = {"seen": True}
    o.logs = [{"level": "info", "message": "hi", "fields": {"k": 1}}]
    o.effects = SideEffects("execution:e1", cap=1 << 20)
    o.effects.kv_set("a", "1")
    o.effects.kv_set("gone", None)
    ref = ArtifactRef("art1", "h" * 64, "report.txt", "text/plain", 12)
    o.effects.add_artifact(PendingArtifact("e1", "each", ref, 1700000001.0))
    back = round_trip(o)
    assert (back.unit, back.attempt, back.started_at) == (UNIT, 2, 1700000000.25)
    assert (back.inputs, back.output, back.context) == ({"url": "x"}, {"n": 1}, {"seen": True})
    assert back.logs == o.logs and back.error is None
    assert back.effects is not None
    assert back.effects.kv.scope == "execution:e1"
    assert back.effects.kv.changes == {"a": "1", "gone": None}
    assert back.effects.artifacts == o.effects.artifacts


def test_errors_come_back_as_their_own_class_with_their_fields() -> None:
    for error in (
        HttpError("503 from upstream", status=503),
        NodeTimeout("node timed out after 2.0s"),
        LimitExceeded("over the cap"),
        NodeError("not again", retryable=False),
    ):
        o = Outcome(UNIT, 1, 1.0, error=error)
        back = round_trip(o).error
        assert type(back) is type(error)
        assert back.to_record() == error.to_record()
        assert back.retryable == error.retryable


def test_an_error_class_this_process_does_not_know_keeps_its_code() -> None:
    o = from_json(
        UNIT,
        1,
        {"started_at": 1.0, "error": {"code": "wasm_trap", "message": "boom", "retryable": False}},
    )
    assert isinstance(o.error, NodeError)
    assert o.error.to_record() == {"type": "wasm_trap", "message": "boom", "retryable": False}
