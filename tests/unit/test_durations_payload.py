"""Durations as users write them, and trigger payloads: parsed, bounded and schema-checked."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fuchsia import payload
from fuchsia.durations import parse_duration
from fuchsia.errors import PayloadError

# --- durations -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("30s", 30.0),
        ("10m", 600.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
        ("1h30m", 5400.0),
        ("1m30s250ms", 90.25),
        ("1.5s", 1.5),
        ("0s", 0.0),
        (" 45s ", 45.0),
        (5, 5.0),
        (0.25, 0.25),
        (0, 0.0),
    ],
)
def test_a_duration_is_read_as_seconds(text: object, seconds: float) -> None:
    value = parse_duration(text)
    assert value == seconds
    assert isinstance(value, float)


@pytest.mark.parametrize(
    "text",
    ["", "   ", "5", "s", "1 s", "30 seconds", "1y", "-5s", "1.s", ".5s", "5s!", "1h 30m", "5S"],
)
def test_a_malformed_duration_is_refused_naming_it(text: str) -> None:
    with pytest.raises(ValueError, match=r"invalid duration .*expected e\.g\. 500ms, 30s"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (-1, "must not be negative"),
        (-0.5, "must not be negative"),
        (float("nan"), "must be a finite number of seconds"),
        (float("inf"), "must be a finite number of seconds"),
        (True, "expected e.g."),
        (None, "expected e.g."),
        ([1], "expected e.g."),
    ],
)
def test_a_duration_that_is_no_finite_non_negative_number_is_refused(
    value: object, reason: str
) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_duration(value)


# --- payload parsing -----------------------------------------------------------------------


def test_a_json_payload_is_parsed_from_text_or_bytes() -> None:
    assert payload.parse('{"order": {"id": 7, "items": [1, 2]}}') == {
        "order": {"id": 7, "items": [1, 2]}
    }
    assert payload.parse(b'["caf\xc3\xa9", null, true]') == ["café", None, True]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "{not json}",
            "payload is not valid JSON: Expecting property name enclosed in double "
            "quotes at line 1 column 2",
        ),
        ('{"a": 1,\n "b": }', "payload is not valid JSON: Expecting value at line 2 column 7"),
        ("", "payload is not valid JSON: Expecting value at line 1 column 1"),
    ],
)
def test_invalid_json_is_refused_with_its_position(text: str, message: str) -> None:
    with pytest.raises(PayloadError) as exc:
        payload.parse(text)
    assert str(exc.value) == message


def test_a_payload_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(PayloadError, match="payload is not UTF-8 text"):
        payload.parse(b'{"name": "caf\xe9"}')


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity", '{"x": NaN}'])
def test_non_standard_json_numbers_are_refused(constant: str) -> None:
    with pytest.raises(PayloadError, match="payload is not JSON data"):
        payload.parse(constant)


def test_ten_thousand_nested_lists_are_refused_without_a_crash() -> None:
    with pytest.raises(PayloadError, match="nested more than 64 levels deep"):
        payload.parse("[" * 10_000 + "]" * 10_000)


def test_nesting_is_allowed_up_to_the_limit_and_refused_beyond_it() -> None:
    at_limit = "[" * payload.MAX_DEPTH + "]" * payload.MAX_DEPTH
    assert payload.parse(at_limit) is not None
    deeper = '{"a": ' * (payload.MAX_DEPTH + 1) + "1" + "}" * (payload.MAX_DEPTH + 1)
    with pytest.raises(PayloadError, match="nested more than 64 levels deep"):
        payload.parse(deeper)


def test_a_payload_over_the_size_limit_is_refused_before_parsing() -> None:
    big = '"' + "x" * payload.MAX_PAYLOAD_BYTES + '"'
    with pytest.raises(PayloadError, match=r"payload is too large; the limit is 4194304 bytes"):
        payload.parse(big)
    with pytest.raises(PayloadError, match="the limit is 4194304 bytes"):
        payload.parse(big.encode())


def test_the_source_name_appears_in_the_message() -> None:
    with pytest.raises(PayloadError, match=r"^--input is not valid JSON"):
        payload.parse("nope", source="--input")


# --- payload checks ------------------------------------------------------------------------

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["order"],
    "properties": {
        "order": {
            "type": "object",
            "required": ["id"],
            "properties": {
                "id": {"type": "integer"},
                "lines": {"type": "array", "items": {"type": "string"}},
            },
        }
    },
}


def test_a_payload_that_matches_the_schema_passes() -> None:
    payload.check({"order": {"id": 7, "lines": ["a"]}}, schema=SCHEMA)


def test_a_schema_violation_names_the_field() -> None:
    with pytest.raises(PayloadError) as exc:
        payload.check({"order": {"id": "seven"}}, schema=SCHEMA)
    assert str(exc.value) == (
        "payload does not match the trigger schema:\n"
        "  payload.order.id: 'seven' is not of type 'integer'"
    )


def test_a_missing_required_field_is_named() -> None:
    with pytest.raises(PayloadError, match="payload: 'order' is a required property"):
        payload.check({}, schema=SCHEMA)


def test_every_schema_violation_is_listed_with_its_path() -> None:
    with pytest.raises(PayloadError) as exc:
        payload.check({"order": {"lines": ["ok", 2, 3]}}, schema=SCHEMA)
    assert str(exc.value).splitlines()[1:] == [
        "  payload.order: 'id' is a required property",
        "  payload.order.lines[1]: 2 is not of type 'string'",
        "  payload.order.lines[2]: 3 is not of type 'string'",
    ]


@pytest.mark.parametrize("value", [{1, 2}, {"when": object()}, float("nan")])
def test_a_value_that_is_not_json_data_is_refused(value: Any) -> None:
    with pytest.raises(PayloadError, match="payload is not JSON data"):
        payload.check(value)


def test_a_value_too_large_as_json_is_refused() -> None:
    value = ["x" * 1024] * (payload.MAX_PAYLOAD_BYTES // 1024)
    assert len(json.dumps(value)) > payload.MAX_PAYLOAD_BYTES
    with pytest.raises(PayloadError, match="bytes as JSON; the limit is 4194304 bytes"):
        payload.check(value)


def test_a_deeply_nested_value_is_refused_without_recursion() -> None:
    value: Any = []
    for _ in range(10_000):
        value = [value]
    with pytest.raises(PayloadError, match="nested more than 64 levels deep"):
        payload.check(value)


def test_deeply_nested_tuples_are_refused_too_not_a_recursion_error() -> None:
    """A Python caller's tuples nest as the lists they are stored as (they went past the
    depth check, and `json.dumps` then raised RecursionError: a traceback)."""
    value: Any = ()
    for _ in range(10_000):
        value = (value,)
    with pytest.raises(PayloadError, match="nested more than 64 levels deep"):
        payload.check({"a": value})


def test_a_checked_payload_is_its_json_form() -> None:
    """What a payload is stored as is what it is read as before it is stored too: tuples are
    lists, keys are text; plain JSON data is returned as it is, not copied."""
    assert payload.check({1: (1, {2: None}), "b": [True]}) == {"1": [1, {"2": None}], "b": [True]}
    plain = {"a": [1, {"b": "c"}]}
    assert payload.check(plain) is plain


@pytest.mark.parametrize(
    "text", ["9" * 5000, "[-" + "1" * 4301 + "]", '{"a": {"b": 1%s}}' % ("0" * 5000)]
)
def test_an_integer_past_the_digit_limit_is_a_payload_error(text: str) -> None:
    with pytest.raises(PayloadError, match=r"--input holds an integer of \d+ digits; the limit is"):
        payload.parse(text, source="--input")


def test_an_integer_at_the_digit_limit_is_parsed() -> None:
    assert payload.parse("9" * payload.MAX_INTEGER_DIGITS) == int("9" * payload.MAX_INTEGER_DIGITS)


def test_a_schema_that_refers_to_itself_without_end_for_this_payload_is_a_payload_error() -> None:
    """Only an object with `x` sends validation round the loop: no probe at validation
    finds it, and it was a RecursionError from the schema library at every start."""
    schema = {"if": {"required": ["x"]}, "then": {"$ref": "#"}}
    assert payload.check({"y": 1}, schema=schema) == {"y": 1}
    with pytest.raises(PayloadError, match="the trigger schema cannot be applied to payload: "):
        payload.check({"x": 1}, schema=schema)
