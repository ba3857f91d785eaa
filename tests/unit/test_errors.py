"""The error tree's wire form: every class has its own stable snake_case code, and what the
API sends (`details`) turns back into the same class with the same fields (`restore`)."""

from __future__ import annotations

import re

import fuchsia.components.build
import fuchsia.server.webhooks
import fuchsia.store.base
from fuchsia import errors
from fuchsia.errors import (
    MAX_NODE_MESSAGE,
    DefinitionError,
    ExecutionNotFound,
    FuchsiaError,
    HttpError,
    IdempotencyConflict,
    InvalidParameters,
    Problem,
    TaskFailed,
    clipped,
    error_classes,
)

DEFINED_ELSEWHERE = (fuchsia.components.build, fuchsia.server.webhooks, fuchsia.store.base)


def every_class() -> list[type[FuchsiaError]]:
    """Every class in the tree, with those of DEFINED_ELSEWHERE imported."""
    found: list[type[FuchsiaError]] = []
    pending: list[type[FuchsiaError]] = [FuchsiaError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def test_every_error_class_has_its_own_snake_case_code() -> None:
    classes = every_class()
    codes = [cls.code for cls in classes]
    assert len(codes) == len(set(codes)), sorted(codes)
    for cls in classes:
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", cls.code), cls
    assert error_classes() == {cls.code: cls for cls in classes}


def test_node_error_codes_are_the_stored_record_types() -> None:
    for cls in every_class():
        if issubclass(cls, errors.NodeError):
            assert cls.kind == cls.code
            assert cls("boom").to_record()["type"] == cls.code


def test_details_round_trip_to_the_same_class_and_fields() -> None:
    samples: list[FuchsiaError] = [
        ExecutionNotFound("abc"),
        IdempotencyConflict("order-7", "0123"),
        DefinitionError([Problem("flow.yaml", 3, 5, "unknown key 'nodez'")]),
        HttpError("503 from the shop", status=503, retryable=True),
        InvalidParameters([{"param": "query.after", "message": "too big"}]),
    ]
    for error in samples:
        wire = error.details()
        assert wire["code"] == error.code and wire["message"] == str(error)
        fields = {k: v for k, v in wire.items() if k not in ("code", "message")}
        back = error_classes()[wire["code"]].restore(wire["message"], fields)
        assert type(back) is type(error) and str(back) == str(error)
        assert back.details() == wire


def test_a_node_error_message_is_clipped_to_its_start_and_end_on_character_boundaries() -> None:
    assert clipped("short") == "short"
    message = "é" * MAX_NODE_MESSAGE + "the last frame"
    error = TaskFailed(message)
    assert error.message == error.to_record()["message"] == str(error)
    assert len(error.message.encode()) <= MAX_NODE_MESSAGE + 100
    assert error.message.startswith("éé") and error.message.endswith("the last frame")
    assert f"[... {len(message.encode()) - MAX_NODE_MESSAGE} bytes" in error.message
