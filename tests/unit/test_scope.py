"""Reading templates without Jinja's parser: the fast paths give what the parser gives."""

from __future__ import annotations

import random

import pytest

from fuchsia.definition import scope

SIMPLE = [
    "{{ value + 1 }}",
    "{{value+1}}",
    "x {{ a.b * 2 - c }} y",
    "{{ a }}\n{{ b + c }}\n\n{{ d.e // 3 }}",
    "  {{ a + b }}\n",
    "\n{{ a + b }}",
    "a }} b {{ c + 1 }}",
    "{ {{ a + 1 }} }",
    "{{ a+1 }}{{ b+2 }}",
    "line1\nline2 {{ x + y }} and {{ y * z }}",
    "{{ a\t%\tb }}",
]
# not for the fast path: the parser reads them (errors, constants, bound names, globals)
OTHERS = [
    "{{ a + }}",
    "{{ a + 1",
    "{{ a }} {{ b",
    "{{ 1 + 2 }}",
    "{{ loop.index + 1 }}",
    "{{ range + 1 }}",
    "{{ true + a }}",
    "{{ a + 007 }}",
    "{{ not + 1 }}",
    "{{{ a + 1 }}}",
    "{{ a ** 2 }}",
    "{{- a + 1 }}",
    "{{ a + 1 -}}",
    "{% if a %}{{ a + 1 }}{% endif %}",
    "{# note #}{{ a + 1 }}",
    "a\r\n{{ b + 1 }}",
]


def _generated(count: int) -> list[str]:
    rnd = random.Random(8)
    operands = ["a", "b.c", "1", "0", "x1.y2.z3", "n9", "value"]
    texts = []
    for _ in range(count):
        parts = []
        for _ in range(rnd.randint(1, 3)):
            terms = [rnd.choice(operands) for _ in range(rnd.randint(0, 3))]
            terms.insert(rnd.randint(0, len(terms)), rnd.choice(operands[4:]))  # a name
            ops = [rnd.choice(["+", "-", "*", "/", "//", "%"]) for _ in terms[1:]]
            pairs = zip(ops, terms[1:], strict=True)
            expr = terms[0] + "".join(f" {op} {term}" for op, term in pairs)
            parts.append(rnd.choice(["", "text ", "\n", " x\n y "]) + "{{ " + expr + " }}")
        texts.append("".join(parts) + rnd.choice(["", "\n", " end"]))
    return texts


def _shape(reading: scope.Reading) -> tuple[object, ...]:
    return reading.error, reading.names, dict(reading.lines)


@pytest.mark.parametrize("text", [*SIMPLE, *_generated(200)])
def test_arithmetic_templates_read_without_the_parser_as_the_parser_reads_them(text: str) -> None:
    fast = scope._simple(text)
    assert fast is not None, text
    assert _shape(fast) == _shape(scope._parsed(text))


@pytest.mark.parametrize("text", OTHERS)
def test_other_templates_are_left_to_the_parser(text: str) -> None:
    assert scope._simple(text) is None
    assert _shape(scope.read.__wrapped__(text)) == _shape(scope._parsed(text))


def test_a_dotted_name_reading_is_shared_between_templates() -> None:
    assert scope.read("{{ value.f1 }}") is scope.read("{{ value.f2 }}")
