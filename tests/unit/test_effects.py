"""`SideEffects`: what a component attempt keeps until its success commits it."""

from __future__ import annotations

import pytest

from fuchsia.runtime.effects import ROW, SideEffects
from fuchsia.runtime.limits import LimitExceeded
from fuchsia.store.records import ArtifactRef, PendingArtifact


def test_an_attempt_reads_back_what_it_set_and_deleted() -> None:
    effects = SideEffects("execution:e1", cap=4 * ROW)
    assert effects.kv_get("a") == (False, None)  # the store answers
    effects.kv_set("a", "1")
    effects.kv_set("b", "2")
    effects.kv_set("b", None)
    assert effects.kv_get("a") == (True, "1")
    assert effects.kv_get("b") == (True, None)  # deleted: the store is not asked
    assert effects.kv.scope == "execution:e1"
    assert effects.kv.changes == {"a": "1", "b": None}


def test_a_key_written_again_counts_only_its_last_value() -> None:
    effects = SideEffects("s", cap=2 * ROW)
    for _ in range(100):
        effects.kv_set("key", "v" * 500)
    assert effects.size == ROW + len("key") + 500
    effects.kv_set("key", None)
    assert effects.size == ROW + len("key")


def test_the_write_over_the_cap_is_refused_and_every_later_one_too() -> None:
    effects = SideEffects("s", cap=3 * ROW)
    effects.kv_set("a", "x" * 1000)
    with pytest.raises(LimitExceeded) as refused:
        effects.reserve("big.bin", "application/octet-stream", ROW)
    assert "limits.side_effects" in refused.value.message
    assert f"{3 * ROW} bytes" in refused.value.message
    assert effects.exceeded is refused.value
    with pytest.raises(LimitExceeded):
        effects.kv_set("b", "")  # would fit, but the attempt has already failed
    assert effects.kv.changes == {"a": "x" * 1000}


def test_an_artifact_the_attempt_put_is_found_by_its_id() -> None:
    effects = SideEffects("s", cap=2 * ROW)
    ref = ArtifactRef("a1", "sha256:00", "r.txt", "text/plain", 3)
    effects.reserve(ref.name, ref.content_type, ref.size)
    effects.add_artifact(PendingArtifact("e1", "node", ref, 0.0))
    assert effects.artifact("a1") == ref
    assert effects.artifact("other") is None
    assert effects.size == ROW + len("r.txt") + len("text/plain") + 3


def test_empty_kv_keys_and_artifacts_are_not_free() -> None:
    """Each counts its row: an attempt wrote any number of empty ones (0 bytes each), each
    held in memory until the attempt ended and then committed as a row of its own."""
    effects = SideEffects("s", cap=4 * ROW)
    effects.kv_set("", "")
    effects.kv_set("a", None)
    effects.reserve("", "", 0)
    with pytest.raises(LimitExceeded):
        for _ in range(4):
            effects.reserve("", "", 0)
    assert effects.size == 3 * ROW + 1
