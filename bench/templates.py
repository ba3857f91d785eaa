"""Template render cost with and without the budgets of issue 8 (A1); prints a Markdown table.

Each case renders a node spec the way the engine does (`compile_value(spec)(scope)`) and,
in the same run, the same templates through a plain Jinja `ImmutableSandboxedEnvironment`
(no budget, no guards): the difference is what the budgets cost per render. A second table
times how fast over-budget templates are stopped. Usage: python bench/templates.py [--quick]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from jinja2 import StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from fuchsia.templates import _SINGLE, RenderError, compile_value

CASES: dict[str, Any] = {
    "W1 step `{value: '{{ value + 1 }}'}`": {"value": "{{ value + 1 }}"},
    "text `Hello {{ user.name }}, {{ n }} items`": {"t": "Hello {{ user.name }}, {{ n }} items"},
    "5 fields, filters and a loop": {
        "a": "{{ user.name | upper }}",
        "b": "{{ items | length }}",
        "c": "{% for i in items %}{{ i }},{% endfor %}",
        "d": "{{ user }}",
        "e": "{{ 'id-%d' % n }}",
    },
}
SCOPE = {"value": 1, "user": {"name": "Ada", "items": [1, 2]}, "n": 3, "items": [1, 2, 3]}
HOSTILE = [
    "{{ 10 ** (10 ** 10) }}",
    "{{ 'x' * 10 ** 9 }}",
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{% set l = range(100000) | list %}{{ [l] * 1000 }}",
]


def _plain(spec: dict[str, Any]) -> Callable[[dict[str, Any]], Any]:
    """The renderer as it was before the budgets: the same native types, no limits."""
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)

    def native(value: Any) -> Any:
        if value is None or isinstance(value, str | bool | int | float):
            return value
        if isinstance(value, dict):
            return {str(k): native(v) for k, v in value.items()}
        return [native(v) for v in value]

    def one(text: str) -> Callable[[dict[str, Any]], Any]:
        single = _SINGLE.match(text)
        if single:
            expression = env.compile_expression(single.group("expr"), undefined_to_none=False)
            return lambda scope: native(expression(scope))
        return env.from_string(text).render

    parts = {k: one(v) for k, v in spec.items()}
    return lambda scope: {k: part(scope) for k, part in parts.items()}


def _best_us(renders: list[Callable[[dict[str, Any]], Any]], count: int) -> list[float]:
    """Best time per render of each renderer, timed in alternation so that load from other
    processes falls on all of them alike."""
    best = [float("inf")] * len(renders)
    for render in renders:
        render(SCOPE)
    for _ in range(9):
        for i, render in enumerate(renders):
            started = time.perf_counter()
            for _ in range(count):
                render(SCOPE)
            best[i] = min(best[i], (time.perf_counter() - started) / count * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer renders")
    count = 500 if parser.parse_args().quick else 5000
    print("| render | bounded (µs) | as before the budgets (µs) |\n|---|---|---|")
    for name, spec in CASES.items():
        bounded, plain = _best_us([compile_value(spec), _plain(spec)], count)
        print(f"| {name} | {bounded:.1f} | {plain:.1f} |")
    print("\n| over-budget template | stopped after (s) | error |\n|---|---|---|")
    for text in HOSTILE:
        started = time.perf_counter()
        try:
            compile_value(text)({})
            message = "(rendered)"
        except RenderError as exc:
            message = exc.message[:70]
        print(f"| `{text[:60]}` | {time.perf_counter() - started:.3f} | {message} |")


if __name__ == "__main__":
    main()
