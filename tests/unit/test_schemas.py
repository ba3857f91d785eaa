"""Patterns in users' JSON Schemas are matched by RE2, in linear time (`fuchsia.schemas`)."""

from __future__ import annotations

import re
from typing import Any

import jsonschema
import pytest

from fuchsia import payload, schemas
from fuchsia.errors import PayloadError

EVIL = "^(a+)+$"  # Python's backtracking `re` takes hours on "a" * 40 + "!"
HOSTILE = "a" * 40 + "!"


@pytest.mark.parametrize(
    "schema, value, refused",
    [
        ({"properties": {"x": {"pattern": EVIL}}}, {"x": HOSTILE}, "does not match"),
        ({"patternProperties": {EVIL: {"type": "string"}}}, {HOSTILE: 1}, None),
        (
            {"patternProperties": {EVIL: True}, "additionalProperties": False},
            {HOSTILE: 1},
            "do not match any of the regexes",
        ),
    ],
)
def test_a_backtracking_pattern_answers_a_hostile_payload_at_once(
    schema: dict[str, Any], value: Any, refused: str | None
) -> None:
    """Each ran for hours, on the event loop of the server that took the payload."""
    schemas.check(schema)
    if refused is None:
        assert payload.check(value, schema={"type": "object", **schema}) == value
        return
    with pytest.raises(PayloadError, match=refused):
        payload.check(value, schema={"type": "object", **schema})


def test_patterns_match_as_before_where_they_are_plain() -> None:
    schema = {
        "properties": {"sku": {"pattern": "^[A-Z]{3}-\\d+$"}},
        "patternProperties": {"^x-": {"type": "string"}},
        "additionalProperties": False,
    }
    assert schemas.errors(schema, {"sku": "ABC-12", "x-note": "ok"}) == []
    problems = schemas.errors(schema, {"sku": "abc", "x-n": 1, "other": 2})
    messages = sorted(p.message for p in problems)
    assert messages == [
        "'abc' does not match '^[A-Z]{3}-\\\\d+$'",
        "'other' do not match any of the regexes: '^x-'",
        "1 is not of type 'string'",
    ]


@pytest.mark.parametrize(
    "schema, where, message",
    [
        (
            {"properties": {"a": {"pattern": "(?=x)x"}}},
            ["properties", "a", "pattern"],
            "pattern '(?=x)x' is not one Fuchsia can match",
        ),
        (
            {"patternProperties": {"(a)\\1": {}}},
            ["patternProperties", "(a)\\1"],
            "no look-around or back-references",
        ),
        (
            {"patternProperties": {"^a": {}}, "unevaluatedProperties": False},
            ["unevaluatedProperties"],
            "unevaluatedProperties cannot be used in a schema with patternProperties",
        ),
    ],
)
def test_a_pattern_re2_does_not_take_is_refused_where_it_stands(
    schema: dict[str, Any], where: list[str], message: str
) -> None:
    with pytest.raises(jsonschema.SchemaError, match=re.escape(message)) as caught:
        schemas.check(schema)
    assert list(caught.value.path) == where
