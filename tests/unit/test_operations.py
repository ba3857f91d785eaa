"""`Operations` is one surface: the local `Engine` and the remote `AsyncClient` offer every
operation of it under the same name, with the same parameters and the same return types."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

from fuchsia.client import AsyncClient
from fuchsia.operations import Operations
from fuchsia.runtime.engine import Engine

OPERATIONS = sorted(
    name
    for name, member in vars(Operations).items()
    if not name.startswith("_") and inspect.isfunction(member)
)


def _annotation(value: Any) -> str:
    """An annotation as written (they are strings here), without the `builtins.` an engine
    whose own method is called `list` has to write."""
    return str(value).replace("builtins.", "")


def _shape(function: Callable[..., Any]) -> tuple[list[tuple[str, Any, Any, str]], str]:
    signature = inspect.signature(function)
    parameters = [
        (p.name, p.kind, p.default, _annotation(p.annotation))
        for p in signature.parameters.values()
    ]
    return parameters, _annotation(signature.return_annotation)


def test_the_protocol_names_the_operations_both_sides_offer() -> None:
    assert {
        "get",
        "executions",
        "events",
        "cancel",
        "retry",
        "deployments",
        "wait",
        "workers",
    } <= set(OPERATIONS)
    assert len(OPERATIONS) == 21


@pytest.mark.parametrize("implementation", [Engine, AsyncClient], ids=["engine", "client"])
@pytest.mark.parametrize("name", OPERATIONS)
def test_each_side_implements_each_operation_as_the_protocol_says(
    implementation: type, name: str
) -> None:
    method = getattr(implementation, name, None)
    assert method is not None, f"{implementation.__name__} has no {name}"
    assert inspect.iscoroutinefunction(method), f"{implementation.__name__}.{name} is not async"
    wanted_parameters, wanted_return = _shape(getattr(Operations, name))
    parameters, returned = _shape(method)
    assert returned == wanted_return, f"{implementation.__name__}.{name} returns {returned}"
    if implementation is Engine and name == "deploy":  # the engine takes more than a path
        parameters = [(n, k, d, "Path" if n == "workflow" else a) for n, k, d, a in parameters]
    assert parameters == wanted_parameters


def test_both_sides_are_operations_for_the_type_checker() -> None:
    """mypy --strict checks these assignments: a method's types differing fails the build."""
    engine_side: Callable[[Engine], Operations] = lambda e: e  # noqa: E731
    client_side: Callable[[AsyncClient], Operations] = lambda c: c  # noqa: E731
    assert callable(engine_side) and callable(client_side)
