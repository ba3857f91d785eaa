"""JSON Schemas users write (a trigger's `schema`, a task's input and output schemas): checked
when the file is read, applied without a traceback.

The schema library checks a schema against its meta-schema only, and resolves a `$ref` when
validation first reaches it: a reference to a URL (Fuchsia fetches no schema, so it is
unresolvable) or to a pointer that names nothing was a traceback at every start, and
references that lead back to themselves without looking into the value (`{$ref: '#/$defs/a'}`
where `a` is that same `$ref`) a RecursionError. `check` refuses both where they stand;
`errors` turns what only a particular value reaches (a loop behind an `if`) into
`SchemaUnusable`.

Patterns (`pattern`, the keys of `patternProperties`, and `additionalProperties` beside them)
are matched with RE2, in time linear in the string, not with Python's backtracking `re`: a
payload could otherwise make `^(a+)+$` run for hours on the event loop. `check` refuses a
pattern RE2 does not take (look-around, back-references) where it stands, and
`unevaluatedProperties` in a schema that has `patternProperties` (the schema library matches
those with `re` there).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from typing import Any

import jsonschema
import jsonschema.validators
import re2
import referencing.exceptions
from jsonschema.exceptions import ValidationError
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
    for problem, path in _unmatchable(schema):
        raise jsonschema.SchemaError(problem, path=path)
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
    validator = _Validator(schema)
    try:
        return sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    except referencing.exceptions.Unresolvable as exc:
        raise SchemaUnusable(f"a $ref names nothing inside the schema: {exc}") from None
    except re2.error as exc:  # a schema stored before patterns were checked
        raise SchemaUnusable(f"a pattern RE2 does not take: {_reason(exc)}") from None
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


# -- patterns, matched in linear time ---------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _regex(pattern: str) -> Any:
    options = re2.Options()
    options.log_errors = False
    return re2.compile(pattern, options=options)


def _reason(exc: Exception) -> str:
    text = exc.args[0] if exc.args else exc
    return text.decode(errors="replace") if isinstance(text, bytes) else str(text)


def _pattern(
    validator: Any, pattern: str, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and _regex(pattern).search(instance) is None:
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Any, patterns: Mapping[str, Any], instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        regex = _regex(pattern)
        for key, value in instance.items():
            if regex.search(key) is not None:
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(
    validator: Any, additional: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    properties = schema.get("properties", {})
    patterns = [_regex(p) for p in schema.get("patternProperties", {})]
    extras = [
        key
        for key in instance
        if key not in properties and not any(r.search(key) is not None for r in patterns)
    ]
    if validator.is_type(additional, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], additional, path=extra)
    elif not additional and extras:
        listed = ", ".join(repr(each) for each in sorted(extras, key=str))
        if "patternProperties" in schema:
            names = ", ".join(repr(each) for each in sorted(schema["patternProperties"]))
            yield ValidationError(f"{listed} do not match any of the regexes: {names}")
        else:
            yield ValidationError(f"Additional properties are not allowed ({listed} unexpected)")


_Validator: Any = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
    jsonschema.Draft202012Validator,
    {
        "pattern": _pattern,
        "patternProperties": _pattern_properties,
        "additionalProperties": _additional_properties,
    },
)


def _unmatchable(schema: dict[str, Any]) -> Iterator[tuple[str, list[str | int]]]:
    """Each pattern of `schema` RE2 does not take, and an `unevaluatedProperties` in a schema
    with `patternProperties`, with the path where it stands."""
    stack: list[tuple[Any, list[str | int]]] = [(schema, [])]
    unevaluated: list[str | int] | None = None
    with_patterns = False
    while stack:
        subschema, path = stack.pop()
        if not isinstance(subschema, dict):
            continue
        found = subschema.get("pattern")
        places: list[tuple[Any, list[str | int]]] = []
        if isinstance(found, str):
            places.append((found, [*path, "pattern"]))
        named = subschema.get("patternProperties")
        if isinstance(named, dict):
            with_patterns = with_patterns or bool(named)
            places.extend((key, [*path, "patternProperties", key]) for key in named)
        for pattern, at in places:
            try:
                _regex(pattern)
            except re2.error as exc:
                yield (
                    f"pattern {pattern!r} is not one Fuchsia can match (RE2 syntax, matched "
                    f"in linear time: no look-around or back-references): {_reason(exc)}",
                    at,
                )
        if "unevaluatedProperties" in subschema and unevaluated is None:
            unevaluated = [*path, "unevaluatedProperties"]
        for key, value in subschema.items():
            stack.extend((child, [*path, *where]) for child, where in _children(key, value))
    if unevaluated is not None and with_patterns:
        yield (
            "unevaluatedProperties cannot be used in a schema with patternProperties "
            "(their patterns would be matched by a backtracking engine)",
            unevaluated,
        )


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
