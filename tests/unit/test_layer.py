"""`Layer`: a copy-on-write view of a dict. Reads see the layer's own writes first, the base
is untouched until `merge`, and merging writes exactly the layer's changes."""

from __future__ import annotations

import pytest

from fuchsia.runtime.machine.layer import Layer


def layered() -> tuple[dict[str, int], Layer[str, int]]:
    base = {"a": 1, "b": 2}
    return base, Layer(base)


def test_reads_fall_through_to_the_base() -> None:
    _, layer = layered()
    assert layer["a"] == 1 and layer.get("b") == 2 and layer.get("z", 9) == 9
    assert "a" in layer and "z" not in layer
    assert list(layer) == ["a", "b"] and len(layer) == 2
    with pytest.raises(KeyError):
        layer["z"]


def test_writes_are_seen_by_the_layer_and_not_by_the_base() -> None:
    base, layer = layered()
    layer["a"] = 10
    layer["c"] = 3
    assert layer["a"] == 10 and layer["c"] == 3 and layer.get("c") == 3
    assert dict(layer) == {"a": 10, "b": 2, "c": 3}
    assert list(layer) == ["a", "b", "c"]  # the base's order, then the new keys
    assert base == {"a": 1, "b": 2}


def test_a_delete_hides_the_base_key_until_it_is_set_again() -> None:
    base, layer = layered()
    assert layer.pop("a") == 1
    assert "a" not in layer and layer.get("a") is None and layer.get("a", 0) == 0
    with pytest.raises(KeyError):
        layer["a"]
    assert list(layer) == ["b"] and len(layer) == 1
    assert layer.pop("a", "gone") == "gone"  # deleted twice: the default
    assert layer.pop("z") is None  # a missing key pops to the default, None
    layer["a"] = 5
    assert layer["a"] == 5 and list(layer) == ["a", "b"]
    assert base == {"a": 1, "b": 2}


def test_a_key_set_then_deleted_in_the_layer_is_gone() -> None:
    base, layer = layered()
    layer["c"] = 3
    assert layer.pop("c") == 3
    assert "c" not in layer and dict(layer) == base


def test_setdefault_keeps_a_value_and_sets_a_missing_one() -> None:
    base, layer = layered()
    assert layer.setdefault("a", 100) == 1
    assert layer.setdefault("c", 3) == 3
    layer.pop("b")
    assert layer.setdefault("b", 20) == 20
    assert dict(layer) == {"a": 1, "b": 20, "c": 3} and base == {"a": 1, "b": 2}


def test_merge_writes_the_changes_into_the_base_and_starts_afresh() -> None:
    base, layer = layered()
    layer["a"] = 10
    layer["c"] = 3
    layer.pop("b")
    layer.pop("never-there")
    layer.merge()
    assert base == {"a": 10, "c": 3}
    assert layer.changes == {} and dict(layer) == base
    layer["d"] = 4  # a layer merged is a fresh layer over the new base
    assert base == {"a": 10, "c": 3}


def test_a_dropped_layer_changes_nothing() -> None:
    base, layer = layered()
    layer["a"] = 0
    layer.pop("b")
    del layer
    assert base == {"a": 1, "b": 2}


def test_a_layer_compares_as_the_mapping_it_shows() -> None:
    _, layer = layered()
    layer["b"] = 3
    assert layer == {"a": 1, "b": 3}
    assert sorted(layer.items()) == [("a", 1), ("b", 3)]
