"""JSON Schemas users write (a trigger's `schema`, a task's input and output schemas): checked
when the file is read, applied without a traceback.

The schema library checks a schema against its meta-schema only, and resolves a `$ref` when
validation first reaches it: a reference to a URL (Fuchsia fetches no schema, so it is
unresolvable) or to a pointer that names nothing was a traceback at every start, and
references that lead back to themselves without looking into the value (`{$ref: '#/$defs/a'}`
where `a` is that same `$ref`) a RecursionError. `check` refuses both where they stand;
`errors` turns what only a particular value reaches (a loop behind an `if`) into
`SchemaUnusable`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema
import referencing.exceptions
from referencing import Registry
from referencing.jsonschema import DRAFT202012

# Values validation is tried on when a schema is checked: a loop of references that every
# value (or every value of a type) goes round is found before the first start.
_PROBES: tuple[Any, ...] = ({}, [], "", 0, None, True)


class SchemaUnusable(Exception):
    """Validating a value against the schema could not be done (a reference that leads
    nowhere, or round without end); the message says which."""


class TooDeep(SchemaUnusable):
    """Validation went deeper than Python's stack: a value nested deep under a schema that
    refers to itself, or references that lead round without end."""


def check(schema: dict[str, Any]) -> None:
    """Refuse a schema that is not a JSON Schema (2020-12), whose `$ref` names nothing inside
    it, or whose references lead back to themselves without end, as `jsonschema.SchemaError`
    placed at the mistake (`absolute_path`)."""
    jsonschema.Draft202012Validator.check_schema(schema)
    for ref, path in _unresolvable(schema):
        fetched = "" if ref.startswith("#") else " (Fuchsia fetches no schema)"
        raise jsonschema.SchemaError(
            f"$ref {ref!r} names nothing inside the schema{fetched}", path=path
        )
    for probe in _PROBES:
        try:
            errors(schema, probe)
        except TooDeep:  # a probe is shallow: the references themselves go round
            raise jsonschema.SchemaError(
                "its references lead back to themselves without end"
            ) from None
        except SchemaUnusable as exc:
            raise jsonschema.SchemaError(str(exc)) from None


def errors(schema: dict[str, Any], value: Any) -> list[jsonschema.ValidationError]:
    """Where `value` does not match `schema`, in the order of their paths; `SchemaUnusable`
    when validation cannot be done."""
    validator = jsonschema.Draft202012Validator(schema)
    try:
        return sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    except referencing.exceptions.Unresolvable as exc:
        raise SchemaUnusable(f"a $ref names nothing inside the schema: {exc}") from None
    except RecursionError:
        raise TooDeep(
            "the value is nested deeper than it can be checked against it, or its references "
            "lead back to themselves without end"
        ) from None


def _unresolvable(schema: dict[str, Any]) -> Iterator[tuple[str, list[str | int]]]:
    """Each `$ref` (and `$dynamicRef`) of `schema` that no part of it answers, with the path
    of the subschema holding it."""
    root = DRAFT202012.create_resource(schema)
    stack: list[tuple[Any, Any, list[str | int]]] = [
        (schema, Registry().resolver_with_root(root), [])
    ]
    while stack:
        subschema, resolver, path = stack.pop()
        if not isinstance(subschema, dict):
            continue
        resolver = resolver.in_subresource(DRAFT202012.create_resource(subschema))
        for keyword in ("$ref", "$dynamicRef"):
            ref = subschema.get(keyword)
            if isinstance(ref, str):
                try:
                    resolver.lookup(ref)
                except referencing.exceptions.Unresolvable:
                    yield ref, [*path, keyword]
        for key, value in subschema.items():
            stack.extend((child, resolver, [*path, *at]) for child, at in _children(key, value))


def _children(key: str, value: Any) -> Iterator[tuple[Any, tuple[str | int, ...]]]:
    """The subschemas under `key` of a schema, with their path below it (the keywords that
    hold schemas, as the 2020-12 specification lists them)."""
    if key in _ONE:
        yield value, (key,)
    elif key in _MANY and isinstance(value, list):
        yield from ((item, (key, i)) for i, item in enumerate(value))
    elif key in _BY_NAME and isinstance(value, dict):
        yield from ((item, (key, name)) for name, item in value.items())


_ONE = frozenset(
    {
        "additionalProperties",
        "contains",
        "contentSchema",
        "else",
        "if",
        "items",
        "not",
        "propertyNames",
        "then",
        "unevaluatedItems",
        "unevaluatedProperties",
    }
)
_MANY = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_BY_NAME = frozenset(
    {"$defs", "definitions", "dependentSchemas", "patternProperties", "properties"}
)
