"""Templates: native types for one expression, strings otherwise, strict and sandboxed."""

from __future__ import annotations

from typing import Any

import pytest

from fuchsia.templates import RenderError, check_syntax, compile_value, is_template


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
