"""Templates: native types for one expression, strings otherwise, strict and sandboxed."""

from __future__ import annotations

import collections
import math
import types
from pathlib import Path
from typing import Any

import pytest

from fuchsia import DefinitionError, budget, templates
from fuchsia.budget import Limits
from fuchsia.templates import RenderError, check_syntax, compile_value, is_template
from support.flows import run_text


def render(value: Any, scope: dict[str, Any] | None = None) -> Any:
    return compile_value(value)(scope or {})


def render_error(value: Any, scope: dict[str, Any] | None = None) -> RenderError:
    with pytest.raises(RenderError) as exc:
        render(value, scope)
    return exc.value


# --- native types and strings --------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ items }}", [1, "two", {"three": 3}]),
        ("{{ count }}", 3),
        ("{{ ratio }}", 0.5),
        ("{{ flag }}", True),
        ("{{ nothing }}", None),
        ("{{ order }}", {"id": 7, "lines": [1, 2]}),
        ("{{ order.id + 1 }}", 8),
        ("{{ items | length }}", 3),
        ("{{ name | list }}", ["A", "d", "a"]),
        ("{{ count > 2 }}", True),
        ("{{ [count, flag] }}", [3, True]),
        ("{{ {'k': count} }}", {"k": 3}),
        ("{{ (1, 2) }}", [1, 2]),
        ("{{ {1: 'one'} }}", {"1": "one"}),
        ("  {{ count }}\n", 3),
    ],
)
def test_a_single_expression_keeps_its_native_type(template: str, expected: Any) -> None:
    scope = {
        "items": [1, "two", {"three": 3}],
        "count": 3,
        "ratio": 0.5,
        "flag": True,
        "nothing": None,
        "order": {"id": 7, "lines": [1, 2]},
        "name": "Ada",
    }
    result = render(template, scope)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("Hello {{ name }}!", "Hello Ada!"),
        ("{{ count }} items", "3 items"),
        ("{{ count }}{{ count }}", "33"),
        ("{{ name }} and {{ count }}", "Ada and 3"),
        ("{% if flag %}yes{% else %}no{% endif %}", "yes"),
        ("{% for i in items %}{{ i }},{% endfor %}", "1,2,"),
        ("{# a comment #}{{ count }}", "3"),
        ("line\n{{ name }}\n", "line\nAda\n"),
    ],
)
def test_anything_but_a_single_expression_renders_to_a_string(template: str, expected: str) -> None:
    scope = {"name": "Ada", "count": 3, "flag": True, "items": [1, 2]}
    assert render(template, scope) == expected


@pytest.mark.parametrize(
    "value",
    [
        "plain text",
        "{ not: a template }",
        "price in {braces}",
        "",
        42,
        1.5,
        True,
        None,
        [1, "two", {"x": None}],
        {"a": {"b": ["c", 1]}},
    ],
)
def test_constants_are_returned_untouched(value: Any) -> None:
    assert render(value, {"unused": 1}) == value


def test_dicts_and_lists_are_rendered_recursively() -> None:
    value = {
        "to": "{{ user.email }}",
        "subject": "Hi {{ user.name }}",
        "lines": ["{{ count }}", "fixed", {"deep": "{{ user.tags }}"}],
        "n": 5,
    }
    scope = {"user": {"email": "a@example.com", "name": "Ada", "tags": ["x"]}, "count": 2}
    assert render(value, scope) == {
        "to": "a@example.com",
        "subject": "Hi Ada",
        "lines": [2, "fixed", {"deep": ["x"]}],
        "n": 5,
    }


def test_a_compiled_value_renders_again_with_a_new_scope() -> None:
    renderer = compile_value({"who": "{{ name }}"})
    assert renderer({"name": "Ada"}) == {"who": "Ada"}
    assert renderer({"name": "Grace"}) == {"who": "Grace"}


def test_a_scope_key_named_self_does_not_break_other_expressions() -> None:
    assert render("{{ x + 1 }}", {"self": "a payload field", "x": 1}) == 2
    assert render("{{ result }}", {"result": [1]}) == [1]


# --- strict undefined ----------------------------------------------------------------------


def test_an_undefined_name_fails_naming_the_variable() -> None:
    error = render_error("{{ missing }}")
    assert error.path == ""
    assert "'missing' is undefined" in error.message


def test_an_undefined_name_inside_a_string_template_fails_too() -> None:
    assert "'missing' is undefined" in render_error("Hello {{ missing }}!").message


def test_an_undefined_attribute_fails_naming_it() -> None:
    error = render_error("{{ user.emial }}", {"user": {"email": "a@example.com"}})
    assert "has no attribute 'emial'" in error.message


def test_a_render_error_names_the_field_path() -> None:
    value = {"a": {"b": ["fine", "{{ missing }}"]}, "c": "{{ ok }}"}
    error = render_error(value, {"ok": 1})
    assert error.path == "a.b[1]"
    assert str(error).startswith("a.b[1]: ")


def test_a_render_error_in_a_top_level_list_names_the_index() -> None:
    error = render_error([{"x": "{{ 1 / 0 }}"}])
    assert error.path == "[0].x"
    assert "division by zero" in error.message


def test_an_expression_that_yields_no_json_data_fails() -> None:
    error = render_error({"f": "{{ lipsum }}"})
    assert error.path == "f"
    assert "not JSON data" in error.message


# --- sandbox -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "x {{ ''.__class__ }}",
        "{{ x.__class__ }}",
        "{{ lipsum.__globals__ }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ items.__len__ }}",
        "{{ (items | first).__class__ }}",
    ],
)
def test_the_sandbox_blocks_attribute_escapes(template: str) -> None:
    error = render_error(template, {"x": 1, "items": [1]})
    assert "is unsafe" in error.message


@pytest.mark.parametrize(
    "template",
    [
        "{{ items.append(4) }}",
        "{{ items.pop() }}",
        "{{ data.update({'x': 2}) }}",
        "{{ data.clear() }}",
    ],
)
def test_the_sandbox_forbids_changing_values_in_the_scope(template: str) -> None:
    items, data = [1, 2, 3], {"x": 1}
    error = render_error(template, {"items": items, "data": data})
    assert "unsafe" in error.message
    assert items == [1, 2, 3] and data == {"x": 1}


def test_the_sandbox_refuses_huge_ranges() -> None:
    assert "Range too big" in render_error("{{ range(10 ** 9) | list }}").message


# --- syntax checks -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "template"),
    [
        ("{{ x }}", True),
        ("{% if x %}{% endif %}", True),
        ("{# note #}", True),
        ("plain", False),
        ("{ x }", False),
        ("}} {{", True),
    ],
)
def test_is_template_looks_for_jinja_markers(text: str, template: bool) -> None:
    assert is_template(text) is template


def test_check_syntax_accepts_good_templates_and_plain_text() -> None:
    assert check_syntax("{{ a | upper }} and {% if b %}b{% endif %}") is None
    assert check_syntax("no template here") is None


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("{{ x ", 1, "unexpected end of template, expected 'end of print statement'."),
        ("{% if %}", 1, "Expected an expression, got 'end of statement block'"),
        ("a\nb\n{% for %}", 3, "Expected an expression, got 'end of statement block'"),
        ("{% if x %}never closed", 1, "Unexpected end of template."),
        ("{{ x | nosuchfilter }}", 1, "No filter named 'nosuchfilter'."),
    ],
)
def test_check_syntax_reports_the_line_and_message_of_an_error(
    text: str, line: int, message: str
) -> None:
    result = check_syntax(text)
    assert result is not None
    assert result[0] == line
    assert result[1].startswith(message)


# --- budgets (issue 8, A1) -----------------------------------------------------------------

QUICK = Limits(seconds=0.2)


@pytest.mark.parametrize(
    "template",
    [
        "{{ 10 ** (10 ** 10) }}",
        "{{ 2 ** 100000000 }}",
        "{{ 10 ** 100000 * 10 ** 100000 }}",
        "{{ 'x' * 10 ** 9 }}",
        "{{ 10 ** 9 * 'x' }}",
        "{{ [1] * 10 ** 9 }}",
        "{{ 'x' | center(10 ** 9) }}",
        "{{ '%999999999d' % 1 }}",
        "{{ '%*d' % (10 ** 9, 1) }}",
        "{{ '%.999999999f' % 1.0 }}",
        "{{ '{:999999999}'.format(1) }}",
        "{{ '{:{}}'.format(1, 10 ** 9) }}",
        "{{ '{0:999999999}'.format_map({}) if false else '{x:999999999}'.format_map({'x': 1}) }}",
        "{{ 'a\nb' | indent(10 ** 9) }}",
        "{{ 'a b c' | wordwrap(1, wrapstring='x' * 10000000) }}",
        "{{ '%s' | format('x') * 10 ** 9 }}",
        "{{ '%999999999s' | format('x') }}",
        "{{ range(100000) | join('x' * 1000) }}",
        "{{ 'x'.join(['y' * 1000000] * 100) }}",
        "{{ 'x'.ljust(10 ** 9) }}",
        "{{ 'x'.rjust(10 ** 9) }}",
        "{{ 'x'.center(10 ** 9) }}",
        "{{ '1'.zfill(10 ** 9) }}",
        "{{ ('\t' * 1000).expandtabs(10 ** 7) }}",
        "{{ ('x' * 1000).replace('', 'y' * 100000) }}",
        "{{ ('x' * 1000) | replace('x', 'y' * 100000) }}",
        "{{ ('x' * 10000000) ~ ('x' * 10000000) }}",
        "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
        "{% endfor %}{{ ns.s | length }}",
        "{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}"
        "{% endfor %}{{ ns.l | length }}",
        "{{ ([[0] * 100000] * 1000) | sum(start=[]) }}",
        "{{ range(1000) | map('center', 8000000) | list | length }}",
        "{{ [1] | slice(10 ** 9) | list }}",
        "{{ [1] | batch(10 ** 9, 'x') | list }}",
        "{{ {'a': [1] * 100} | tojson(indent=10 ** 8) }}",
        "{{ lipsum(10 ** 6) }}",
        "{% set l = range(100000) | list %}{{ [l] * 1000 }}",
        "{% set l = range(100000) | list %}{{ ([l] * 1000) | tojson }}",
        "{% set l = range(100000) | list %}{{ 'a' ~ [l] * 1000 }}",
        "{{ [range(100000) | list] * 1000 }}",
        "{% set l = range(100000) | list %}{{ '{!r}'.format([l] * 1000) }}",
        "{% set l = range(100000) | list %}{{ ([l] * 1000) | sort | length }}",
        "{{ ('x' | safe).center(10 ** 9) }}",
        "{{ ('x' | safe) * 10 ** 9 }}",
        "{{ ('{:999999999}' | safe).format(1) }}",
        "{{ 'x'.encode() * 10 ** 9 }}",
        "{% macro m() %}{% for i in range(100000) %}" + "x" * 1000 + "{% endfor %}{% endmacro %}"
        "{{ m() | length }}",
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "{% for i in range(100000) %}{% for j in range(100000) %}{{ j }}{% endfor %}{% endfor %}",
        "{% for i in range(100000) %}{{ range(100000) | sort | first }}{% endfor %}",
    ],
)
def test_a_render_over_its_budget_fails_naming_the_budget(template: str) -> None:
    with pytest.raises(RenderError) as exc:
        compile_value({"field": template}, QUICK)({})
    assert "budget" in exc.value.message or "integers are limited" in exc.value.message
    # the field is named, unless the deadline passed while the error was on its way out
    assert exc.value.path == "field" or "time budget" in exc.value.message


def test_a_template_over_its_budget_without_variables_is_reported_at_validation(
    tmp_path: Path,
) -> None:
    problem = check_syntax("{{ 10 ** (10 ** 10) }}")
    assert problem is not None
    assert "integers are limited to 65,536 bits" in problem[1]
    assert check_syntax("{{ 'x' * 10 ** 9 }}") is not None
    assert check_syntax("{{ 1 / 0 }}") is None  # a plain error waits for its node, as before
    with pytest.raises(DefinitionError) as exc:
        run_text(tmp_path, SLOW.replace("range(size)", "range(100000)"))
    assert "flow.yaml:6:10: node 'spin': transform.n: template error: it ran longer" in str(
        exc.value
    )


def test_a_render_that_runs_out_of_time_leaves_nothing_pending() -> None:
    """The watchdog's asynchronous exception never reaches code after the render: renders
    with deadlines close to their own length end either way, and the code after each keeps
    running undisturbed."""
    renderer = compile_value("{% for i in range(n) %}{{ i }}{% endfor %}", Limits(seconds=0.005))
    outcomes = set()
    for n in [1000, 3000, 10000, 30000] * 10:
        try:
            outcomes.add(type(renderer({"n": n})).__name__)
        except RenderError as exc:
            assert "time budget" in exc.message
            outcomes.add("timeout")
        total = 0
        for i in range(200_000):  # a pending exception would surface here
            total += i
        assert total == 199_999 * 100_000
    assert "timeout" in outcomes


def test_renders_within_their_budget_are_unchanged() -> None:
    assert render("{{ 'x' * 1000 }}") == "x" * 1000
    assert render("{{ 2 ** 1000 }}") == 2**1000
    assert render("{{ '%5d' % 3 }}") == "    3"
    assert render("{{ '{:>4}'.format('a') }}") == "   a"
    assert render("{{ [[1], [2]] | sum(start=[]) }}") == [1, 2]
    assert render("{{ items | join(', ') }}", {"items": [1, "b"]}) == "1, b"
    assert render("{{ 'a' ~ 1 ~ [2] }}") == "a1[2]"
    assert render("{{ 'ab' | center(6) }}") == "  ab  "


def test_sum_does_not_extend_the_scope_list_it_starts_from() -> None:
    start = [0]
    assert render("{{ [[1]] | sum(start=s) }}", {"s": start}) == [0, 1]
    assert start == [0]


def test_a_recursing_macro_fails_as_a_render_error() -> None:
    error = render_error("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}")
    assert "too deeply" in error.message


def test_a_template_nested_too_deeply_is_a_syntax_problem_not_a_crash() -> None:
    text = "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}"
    assert check_syntax(text) == (1, "the template is nested too deeply")
    assert "too deeply" in render_error(text).message


def test_an_integer_too_long_to_store_is_refused() -> None:
    assert "too long to store" in render_error("{{ 10 ** 5000 }}").message


@pytest.mark.parametrize(
    "template", ["{{ 1e308 * 10 }}", "{{ [-1e308 * 10] }}", "{{ {'a': nan} }}"]
)
def test_a_number_json_cannot_carry_is_refused_as_the_templates_error(template: str) -> None:
    message = render_error(template, {"nan": float("nan")}).message
    assert "not a JSON number" in message


# --- data wins over methods (issue 8, C11) -------------------------------------------------

METHODS = [
    "items", "keys", "values", "get", "update", "pop", "popitem", "copy", "clear",
    "setdefault", "fromkeys", "count", "index",
]  # fmt: skip


@pytest.mark.parametrize("name", METHODS)
def test_a_key_named_like_a_dict_method_is_the_data(name: str) -> None:
    order = {name: [1, 2]}
    assert render(f"{{{{ order.{name} }}}}", {"order": order}) == [1, 2]
    assert render(f"n={{{{ order.{name} | length }}}}", {"order": order}) == "n=2"
    assert (
        render(f"{{% for x in order.{name} %}}{{{{ x }}}}{{% endfor %}}", {"order": order}) == "12"
    )
    assert render(f"{{{{ '{{0.{name}}}'.format(order) }}}}", {"order": order}) == "[1, 2]"


def test_methods_still_work_where_no_key_shadows_them() -> None:
    assert render("{{ order.items() | list }}", {"order": {"a": 1}}) == [["a", 1]]
    assert render("{{ order.get('a') }}", {"order": {"a": 1}}) == 1
    assert render("{{ 'abc'.upper() }}") == "ABC"
    assert render("{{ words.count('a') }}", {"words": ["a", "b", "a"]}) == 2


# --- through the engine ---------------------------------------------------------------------

SLOW = """
name: slow
nodes:
  spin:
    transform:
      n: "{% for i in range(size) %}{% for j in range(size) %}{% endfor %}{% endfor %}"
  after_spin: {after: spin, transform: {ok: true}}
"""


def test_a_transform_over_its_time_budget_fails_its_node_with_an_input_error(
    tmp_path: Path,
) -> None:
    execution = run_text(tmp_path, SLOW, {"size": 100_000})
    assert execution.status == "failed"
    assert execution.error is not None
    assert execution.error["type"] == "input_error"
    assert execution.error["node"] == "spin"
    assert "transform.n: it ran longer than its time budget of 1 s" in execution.error["message"]


SHADOWED = """
name: shadowed
trigger:
  context: {first: "{{ order.items[0] }}", keys: "{{ order.keys }}"}
nodes:
  each:
    foreach: {items: "{{ order.items }}"}
    transform: {values: "{{ item }}", count: "{{ order.items | length }}"}
    context: {got: "{{ context.keys }}"}
  route:
    after: each
    branch:
      - when: "size(data) == 2"
        then: two
    default: other
  two:
    after: route
    transform: {keys: "{{ context.got }}", lines: "{{ data | map(attribute='values') | list }}"}
  other: {after: route, transform: {wrong: true}}
"""


def test_keys_named_like_methods_are_the_data_in_every_kind_of_template(tmp_path: Path) -> None:
    order = {"items": ["a", "b"], "keys": "k"}
    execution = run_text(tmp_path, SHADOWED, {"order": order})
    assert execution.status == "completed", execution.error
    assert execution.node("each").status == "succeeded"
    assert execution.result == {"two": {"keys": "k", "lines": ["a", "b"]}}


def test_a_template_that_cannot_compile_fails_when_it_renders_not_when_it_is_locked() -> None:
    """A stored workflow is locked again when it is loaded: its bad template (validated by
    another version) fails its node, never the loading."""
    renderer = compile_value({"x": "{{ x ", "y": 1})
    with pytest.raises(RenderError) as exc:
        renderer({})
    assert exc.value.path == "x"
    assert "unexpected end of template" in exc.value.message


def test_a_template_loop_stops_at_its_deadline_without_the_watchdog(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each pass of a `{% for %}` checks the deadline, so a loop doing nothing else stops
    there itself; the watchdog (held off here) is only the backstop."""
    from fuchsia import budget

    monkeypatch.setattr(budget, "_GRACE", 3600.0)
    render = compile_value({"n": "{% for i in items %}{% endfor %}"}, limits=Limits(seconds=0.01))
    with pytest.raises(RenderError, match="time budget"):
        render({"items": range(3_000_000)})


# --- the direct evaluation of paths and sums ------------------------------------------------

_SCOPE: dict[str, Any] = {
    "value": 3,
    "big": 2**20000,
    "f": 1.5,
    "nan": float("nan"),
    "yes": True,
    "text": "ab",
    "items": [1, 2],
    "none": "a key named none",
    "self": "a payload field",
    "loop": 1,
    "caller": 2,
    "varargs": 3,
    "kwargs": 4,
    "result": {"x": 1},
    "data": {
        "a": {"b": 5, "items": "an items field", "if": 1, "true": 2, "none": None},
        "n": 7,
        "list": [1, 2, 3],
        "s": "xy",
        "proxy": types.MappingProxyType({"k": 9}),
        "chain": collections.ChainMap({"k": 10}, {"j": 11}),
    },
}
_EXPRESSIONS = [
    *("value", "f", "yes", "text", "items", "none", "self", "loop", "caller", "varargs"),
    *("kwargs", "result", "result.x", "range", "namespace", "lipsum", "missing"),
    *("data", "data.a", "data.a.b", "data . a . b", "data.a.items", "data.a.keys"),
    *("data.a.if", "data.a.true", "data.a.none", "data.a.missing", "data.n.real"),
    *("data.list.count", "data.s.upper", "data.proxy.k", "data.chain.j", "data.chain.k"),
    *("data.proxy.items", "value.real", "text.x", "true", "True", "None"),
    *("value + 1", "value - 1", "value+1-2", "1 + value", "0 - value", "value + f"),
    *("value + data.n", "data.a.b - data.n + 10", "big + 1", "nan + 1", "f + 1e3"),
    *("yes + 1", "text + text", "items + items", "value + text", "value + missing"),
    *("value + data.a.none", "value + range", "1 + 2", "value + 999999999999999999"),
    *("value * 2", "value * value", "2 * value + 1", "1 + value * 2 - data.n * data.n"),
    *("value - data.n * 2 * 3", "data.n * f", "big * 2", "big * big", "f * nan", "yes * 2"),
    *("value * text", "text * value", "items * 2", "value * missing", "value*2+1*value"),
    *("value * -1", "value ** 2", "2 * 3 + value", "value * 0 - f * 1e3", "value -  - 1"),
]


@pytest.mark.parametrize("expression", _EXPRESSIONS)
def test_paths_and_sums_evaluate_as_jinja_evaluates_them(
    expression: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The direct evaluation of `{{ a.b }}` and `{{ a + 1 }}` gives Jinja's value, or the
    same error, for every kind of value and name (`fuchsia.templates._direct`)."""

    def outcome(compiled: Any) -> tuple[str, Any]:
        try:
            return "value", budget.run(lambda: compiled.render(_SCOPE))
        except Exception as exc:  # the error, as the user would read it
            return type(exc).__name__, str(exc)

    text = f"{{{{ {expression} }}}}"
    direct = outcome(templates._compile_string.__wrapped__(text))
    monkeypatch.setattr(templates, "_direct", lambda expr: None)
    jinja = outcome(templates._compile_string.__wrapped__(text))
    if direct[0] == "value" and isinstance(direct[1], float) and math.isnan(direct[1]):
        assert jinja[0] == "value" and math.isnan(jinja[1])
    else:
        assert direct == jinja, text


def test_a_path_or_a_sum_is_evaluated_without_jinja() -> None:
    """The forms read directly are the ones `_direct` takes: not a constant, a literal
    name, an operator Jinja has and these do not, or an integer of many digits."""
    for taken in ("value", "data.a.b", "a + 1", "a.b - c.d + 2", " x ", "a * b + 2 * c"):
        assert templates._direct(taken) is not None, taken
    for left in (
        "1 + 2",
        "none",
        "true",
        "self",
        "-a",
        "a / 2",
        "a ** 2",
        "a.0",
        "a[0]",
        "a | length",
    ):
        assert templates._direct(left) is None, left
    assert templates._direct("a + 1234567890123456789") is None
