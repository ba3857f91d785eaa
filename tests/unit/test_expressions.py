"""CEL conditions: compiled once, bounded before they run, every failure a message for a user."""

from __future__ import annotations

from typing import Any

import pytest

from fuchsia.expressions import (
    MAX_COST,
    MAX_SOURCE,
    ExpressionError,
    check_syntax,
    estimated_cost,
    evaluate,
)


def items(n: int) -> dict[str, Any]:
    return {"data": {"l": list(range(n))}}


def failure(source: str, variables: dict[str, Any] | None = None) -> str:
    with pytest.raises(ExpressionError) as exc:
        evaluate(source, variables or {})
    return str(exc.value)


def test_a_condition_evaluates_to_its_boolean() -> None:
    assert evaluate("data.n > 1 && context.flag", {"data": {"n": 2}, "context": {"flag": True}})
    assert not evaluate("size(data.l) > 3", items(3))


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("1 / 0 == 1", "division by zero"),
        ("1 % 0 == 1", "modulo by zero"),
        ("[1][5] == 1", "index out of bounds"),
        ("9223372036854775807 + 1 > 0", "overflow"),
        ("uint(-1) > 0u", "overflow"),
        ("int('abc') == 1", "int"),
        ("data.missing == 1", "no such key 'missing'"),
        ("'a' + 1 == 'b'", "string + int"),
        ("nothing == 1", "nothing"),
    ],
)
def test_every_failure_is_an_expression_error_naming_the_condition(
    source: str, message: str
) -> None:
    text = failure(source, {"data": {}})
    assert source in text
    assert message in text


def test_a_condition_that_is_not_a_boolean_says_what_it_produced() -> None:
    assert "produced int 3, not a boolean" in failure("size(data.l)", items(3))


def test_a_triple_map_over_a_thousand_items_is_refused_before_it_runs() -> None:
    source = "size(data.l.map(x, data.l.map(y, data.l.map(z, z)))) > 0"
    text = failure(source, items(1000))
    assert "refused before it runs" in text
    assert f"{MAX_COST:,}" in text


@pytest.mark.parametrize(
    ("source", "n"),
    [
        ("size(data.l.map(x, data.l.map(y, x + y))) > 0", 100),
        ("size(data.l.map(x, x + 1)) > 0", 1000),
        ("data.l.exists(x, x == -1)", 100_000),
        ("data.l.all(x, data.l.exists(y, y == x))", 300),
    ],
)
def test_comprehensions_within_the_estimate_run(source: str, n: int) -> None:
    assert estimated_cost(source, items(n)) <= MAX_COST
    assert isinstance(evaluate(source, items(n)), bool)


def test_the_estimate_grows_with_nesting_and_not_with_strings_that_look_like_code() -> None:
    flat = estimated_cost("data.l.all(x, x > 0)", items(100))
    nested = estimated_cost("data.l.all(x, data.l.all(y, y > x))", items(100))
    assert nested > 50 * flat
    assert estimated_cost("data.s == '.map(x, .map(y, y))'", {"data": {"s": ""}}) == 0


def test_a_condition_too_long_to_compile_quickly_is_refused_at_validation() -> None:
    source = " && ".join(["true"] * 50_000)
    problem = check_syntax(source)
    assert problem is not None
    assert f"longer than {MAX_SOURCE:,} characters" in problem[2]
    assert "longer than" in failure(source)


def test_nesting_deeper_than_the_parser_allows_is_a_located_problem() -> None:
    problem = check_syntax("(" * 200 + "1" + ")" * 200 + " == 1")
    assert problem is not None
    assert problem[0] == 1


def test_a_map_copying_long_strings_is_refused_before_it_runs() -> None:
    variables = {"data": {"l": list(range(100)), "s": "x" * 1_000_000}}
    assert "refused before it runs" in failure(
        "size(data.l.map(x, data.s + data.s)) > 0", variables
    )
    assert "refused before it runs" in failure("size(data.l.map(x, data.s)) > 0", variables)
    assert evaluate("data.l.all(x, x >= 0)", variables)


@pytest.mark.parametrize(
    ("source", "n"),
    [
        (r"data.l.all(x, x.matches('^\\w{100}$'))", 1000),  # about 20 ms a compile
        (r"data.l.exists(x, data.l.exists(y, y.matches('[\\pL\\pN]{20}')))", 100),
        ("data.l.all(x, x.matches(data.pattern))", 1000),  # unknown until it runs: the worst
    ],
)
def test_a_pattern_compiled_at_every_step_of_a_comprehension_counts_in_the_estimate(
    source: str, n: int
) -> None:
    """CEL compiles a `matches` pattern at each call: a large one (Unicode classes
    repeated, up to the engine's size limit) takes milliseconds each time, so 1,000 steps
    of such a call are far more than 1,000 steps."""
    variables = {"data": {"l": ["ab"] * n, "pattern": r"\w{200}"}}
    assert "refused before it runs" in failure(source, variables)


def test_small_patterns_in_comprehensions_still_run() -> None:
    variables = {"data": {"l": ["abc"] * 1000}}
    assert evaluate(r"data.l.all(x, x.matches('^[a-z]+$'))", variables)
    assert evaluate(r"data.l.all(x, x.matches('^\\w+$'))", variables)
    dates = {"data": {"l": ["2026-12-08"] * 100}}
    assert evaluate(r"data.l.all(x, x.matches('^\\d{4}-\\d{2}-\\d{2}$'))", dates)
