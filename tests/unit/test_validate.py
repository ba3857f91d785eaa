"""Validation: every rule of DESIGN.md §3, each problem at its exact line and column, at once."""

from __future__ import annotations

import difflib
import importlib
import textwrap
from pathlib import Path
from typing import Any

import pytest

from fuchsia.definition import WorkflowDef, parse_text, read_file, validate
from fuchsia.definition.models import AtLeast
from fuchsia.errors import DefinitionError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hello.yaml"


def problems(text: str, file: str = "w.yaml") -> list[str]:
    """Every problem validation reports for `text`, as printed lines."""
    source = parse_text(textwrap.dedent(text), file, is_json=file.endswith(".json"))
    with pytest.raises(DefinitionError) as exc:
        validate(source)
    return [str(p) for p in exc.value.problems]


def valid(text: str) -> WorkflowDef:
    return validate(parse_text(textwrap.dedent(text), "w.yaml"))


# --- accepted files ------------------------------------------------------------------------


def test_the_example_workflow_is_valid() -> None:
    definition = validate(read_file(EXAMPLE))
    assert definition.name == "hello"
    assert list(definition.nodes) == ["greet", "shout", "spell", "summary"]
    assert definition.nodes["summary"].after == ["shout", "spell"]
    assert definition.nodes["summary"].join == "all"


def test_after_and_join_accept_their_short_and_long_spellings() -> None:
    definition = valid("""\
        name: spellings
        nodes:
          a: {transform: 1}
          b: {transform: 2}
          c: {after: a, transform: 3}
          d: {after: [a, b], join: any, transform: 4}
          e: {after: [a, b], join: {at_least: 2}, transform: 5}
        """)
    assert definition.nodes["c"].after == ["a"]
    assert definition.nodes["d"].join == "any"
    assert definition.nodes["e"].join == AtLeast(at_least=2)


def test_durations_are_read_as_seconds() -> None:
    definition = valid("""\
        name: durations
        timeout: 1h30m
        defaults: {timeout: 500ms, retry: {initial_delay: 2, max_delay: 1m}}
        nodes:
          a: {transform: 1, timeout: 1.5s}
        """)
    assert definition.timeout == 5400.0
    assert definition.defaults.timeout == 0.5
    assert definition.defaults.retry is not None
    assert definition.defaults.retry.initial_delay == 2.0
    assert definition.defaults.retry.max_delay == 60.0
    assert definition.nodes["a"].timeout == 1.5


# --- unknown keys --------------------------------------------------------------------------


def test_unknown_keys_are_reported_at_the_key_with_a_did_you_mean() -> None:
    assert problems("""\
        name: typos
        versoin: 2
        defaults:
          timout: 5s
          retry: {max_attempt: 3}
        trigger:
          tpye: manual
        nodes:
          a:
            http: {methd: GET, url: "https://example.com"}
            retries: 2
          b:
            after: a
            transform: 1
            on_eror: continue
        """) == [
        "w.yaml:2:1: workflow: unknown key 'versoin' (did you mean 'version'?)",
        "w.yaml:4:3: defaults: unknown key 'timout' (did you mean 'timeout'?)",
        "w.yaml:5:11: defaults.retry: unknown key 'max_attempt' (did you mean 'max_attempts'?)",
        "w.yaml:7:3: trigger: unknown key 'tpye' (did you mean 'type'?)",
        "w.yaml:10:12: node 'a': http: unknown key 'methd' (did you mean 'method'?)",
        "w.yaml:11:5: node 'a': unknown key 'retries' (did you mean 'retry'?)",
        "w.yaml:15:5: node 'b': unknown key 'on_eror' (did you mean 'on_error'?)",
    ]


def test_an_unknown_key_with_no_close_match_gets_no_suggestion() -> None:
    assert problems("""\
        name: typos
        nodes:
          a: {transform: 1, zzzzzz: 1}
        """) == ["w.yaml:3:21: node 'a': unknown key 'zzzzzz'"]


def test_unknown_keys_inside_modifiers_suggest_that_modifiers_fields() -> None:
    assert problems("""\
        name: typos
        nodes:
          a:
            transform: 1
            foreach: {items: "{{ xs }}", concurency: 2}
            repeat: {until: "data.done", max_iteration: 3}
        """) == [
        "w.yaml:5:34: node 'a': foreach: unknown key 'concurency' (did you mean 'concurrency'?)",
        "w.yaml:6:34: node 'a': repeat: unknown key 'max_iteration' "
        "(did you mean 'max_iterations'?)",
    ]


# --- the graph -----------------------------------------------------------------------------


def test_dangling_after_is_reported_at_the_reference_with_a_did_you_mean() -> None:
    assert problems("""\
        name: dangling
        nodes:
          fetch: {transform: 1}
          parse:
            after: fecth
            transform: 2
          store:
            after: [fetch, nowhere]
            join: all
            transform: 3
        """) == [
        "w.yaml:5:12: node 'parse': `after` names unknown node 'fecth' (did you mean 'fetch'?)",
        "w.yaml:8:20: node 'store': `after` names unknown node 'nowhere'",
    ]


def test_a_node_after_itself_is_reported() -> None:
    lines = problems("""\
        name: selfish
        nodes:
          a:
            after: a
            transform: 1
        """)
    assert "w.yaml:4:12: node 'a': `after` names the node itself" in lines


def test_a_cycle_is_reported_once_and_printed_as_a_path() -> None:
    assert problems("""\
        name: cyclic
        nodes:
          start: {transform: 0}
          a:
            after: c
            transform: 1
          b:
            after: a
            transform: 2
          c:
            after: b
            transform: 3
          tail:
            after: c
            transform: 4
        """) == ["w.yaml:5:12: cycle: a -> b -> c -> a"]


def test_two_separate_cycles_are_both_reported() -> None:
    assert problems("""\
        name: cyclic
        nodes:
          a: {after: b, transform: 1}
          b: {after: a, transform: 2}
          x: {after: y, transform: 3}
          y: {after: x, transform: 4}
        """) == [
        "w.yaml:3:14: cycle: a -> b -> a",
        "w.yaml:5:14: cycle: x -> y -> x",
    ]


def test_more_than_one_upstream_without_join_is_reported() -> None:
    assert problems("""\
        name: joins
        nodes:
          a: {transform: 1}
          b: {transform: 2}
          c:
            after: [a, b]
            transform: 3
        """) == [
        "w.yaml:6:12: node 'c' has 2 upstream nodes and needs `join: all`, `join: any` "
        "or `join: {at_least: N}`"
    ]


def test_an_upstream_written_twice_counts_once() -> None:
    definition = valid("""\
        name: joins
        nodes:
          a: {transform: 1}
          b: {after: [a, a], transform: 2}
        """)
    assert definition.nodes["b"].after == ["a", "a"]


@pytest.mark.parametrize(
    ("after", "count", "column"),
    [("after: a", 1, 11), ("", 0, 11)],
)
def test_a_join_with_fewer_than_two_upstreams_is_reported(
    after: str, count: int, column: int
) -> None:
    text = f"name: joins\nnodes:\n  a: {{transform: 1}}\n  b:\n    {after}\n    join: any\n"
    text += "    transform: 2\n"
    assert problems(text) == [
        f"w.yaml:6:{column}: node 'b': `join` needs two or more upstream nodes in `after`, "
        f"it has {count}"
    ]


def test_join_at_least_more_than_the_upstreams_is_reported() -> None:
    assert problems("""\
        name: joins
        nodes:
          a: {transform: 1}
          b: {transform: 2}
          c:
            after: [a, b]
            join: {at_least: 3}
            transform: 3
        """) == ["w.yaml:7:22: node 'c': join needs at least 3 of only 2 upstream nodes"]


@pytest.mark.parametrize(
    ("join", "expected"),
    [
        (
            "some",
            "w.yaml:7:11: node 'c': join: join must be 'all', 'any' or {at_least: N}, not 'some'",
        ),
        ("{at_least: 0}", "w.yaml:7:22: node 'c': join.at_least: Input should be greater than or "),
        ("{at_most: 1}", "w.yaml:7:11: node 'c': join: join must be 'all', 'any' or {at_least: N}"),
    ],
)
def test_a_malformed_join_is_reported_at_its_value(join: str, expected: str) -> None:
    text = (
        "name: j\nnodes:\n  a: {transform: 1}\n  b: {transform: 2}\n  c:\n"
        f"    after: [a, b]\n    join: {join}\n    transform: 3\n"
    )
    [line] = problems(text)
    assert line.startswith(expected)


def test_a_branch_target_must_be_a_direct_successor() -> None:
    assert problems("""\
        name: branches
        nodes:
          route:
            branch:
              - {when: "data.ok", then: good}
            default: [bad]
          good: {after: route, transform: 1}
          bad: {transform: 2}
        """) == [
        "w.yaml:6:15: node 'route': branch target 'bad' must be a direct successor "
        "(a node with `after: route`)"
    ]


# --- node ids, kinds and shapes ------------------------------------------------------------


def test_node_ids_must_be_identifiers_and_not_reserved_names() -> None:
    assert problems("""\
        name: ids
        nodes:
          9lives: {transform: 1}
          has-dash: {transform: 2}
          context: {transform: 3}
          ok_id: {transform: 4}
        """) == [
        "w.yaml:3:3: node id '9lives' must be a letter or _ followed by letters, digits or _",
        "w.yaml:4:3: node id 'has-dash' must be a letter or _ followed by letters, digits or _",
        "w.yaml:5:3: node id 'context' is reserved (templates use it); choose another name",
    ]


def test_node_kind_rules_are_each_reported_at_the_node() -> None:
    assert problems("""\
        name: kinds
        nodes:
          none: {description: nothing to do}
          two: {transform: 1, http: {url: "https://example.com"}}
          comp: {component: shop}
          task_on_transform: {transform: 1, task: t}
          default_on_transform: {transform: 1, default: x}
          wait_two: {wait: {signal: go, for: 5s}}
          wait_none: {wait: {timeout: 5s}}
          both_bodies: {http: {url: "https://example.com", json: {}, body: "text"}}
        """) == [
        "w.yaml:3:9: node 'none': a node needs exactly one kind: one of component, python, "
        "http, transform, branch, wait, workflow",
        "w.yaml:4:8: node 'two': a node has exactly one kind, this one has http and transform",
        "w.yaml:5:9: node 'comp': a component node needs `task`",
        "w.yaml:6:22: node 'task_on_transform': `task` belongs to component nodes",
        "w.yaml:7:25: node 'default_on_transform': `default` belongs to branch nodes",
        "w.yaml:8:20: node 'wait_two': wait: a wait takes exactly one of `signal`, `for` or "
        "`until`",
        "w.yaml:9:21: node 'wait_none': wait: a wait takes exactly one of `signal`, `for` or "
        "`until`",
        "w.yaml:10:23: node 'both_bodies': http: an http node takes either `json` or `body`, "
        "not both",
    ]


def test_workflow_level_shapes_are_reported() -> None:
    assert problems("""\
        name: Not A Name
        version: 0
        nodes: {}
        """) == [
        "w.yaml:1:7: name: String should match pattern '^[a-z0-9][a-z0-9_-]*$'",
        "w.yaml:2:10: version: Input should be greater than or equal to 1",
        "w.yaml:3:8: nodes: Dictionary should have at least 1 item after validation, not 0",
    ]


def test_missing_required_keys_are_reported_at_their_parent() -> None:
    assert problems("""\
        description: no name, no nodes
        """) == [
        "w.yaml:1:1: workflow: missing required key 'name'",
        "w.yaml:1:1: workflow: missing required key 'nodes'",
    ]
    assert problems("""\
        name: m
        nodes:
          a: {http: {method: GET}}
        """) == ["w.yaml:3:13: node 'a': http: missing required key 'url'"]


def test_wrong_types_name_the_field() -> None:
    assert problems("""\
        name: types
        nodes:
          a: 5
          b:
            transform: 1
            on_error: ignore
          c:
            http: {url: "https://example.com", method: FETCH}
        """) == [
        "w.yaml:3:6: node 'a': expected a mapping with the keys description, after, join, "
        "foreach, repeat, timeout, retry, on_error, context, component, task, inputs, config, "
        "http, transform, branch, default, wait, workflow, python, capabilities, not the "
        "number 5",
        "w.yaml:6:15: node 'b': on_error: Input should be 'fail' or 'continue'",
        "w.yaml:8:48: node 'c': http.method: Input should be 'GET', 'POST', 'PUT', 'PATCH', "
        "'DELETE', 'HEAD' or 'OPTIONS'",
    ]


def test_nodes_that_are_not_a_mapping_are_reported() -> None:
    assert problems("""\
        name: list
        nodes:
          - a
        """) == ["w.yaml:3:3: nodes: Input should be a valid dictionary"]


# --- durations -----------------------------------------------------------------------------


def test_bad_durations_are_reported_wherever_they_appear() -> None:
    assert problems("""\
        name: durations
        timeout: soon
        defaults:
          timeout: -5
          retry: {initial_delay: 1 s}
        nodes:
          a:
            transform: 1
            timeout: 5 parsecs
            repeat: {until: "data.done", delay: 1y}
          b:
            wait: {for: .inf}
        """) == [
        "w.yaml:2:10: timeout: invalid duration 'soon': expected e.g. 500ms, 30s, 10m, 1h30m",
        "w.yaml:4:12: defaults.timeout: invalid duration -5: must not be negative",
        "w.yaml:5:26: defaults.retry.initial_delay: invalid duration '1 s': expected e.g. "
        "500ms, 30s, 10m, 1h30m",
        "w.yaml:9:14: node 'a': timeout: invalid duration '5 parsecs': expected e.g. "
        "500ms, 30s, 10m, 1h30m",
        "w.yaml:10:41: node 'a': repeat.delay: invalid duration '1y': expected e.g. "
        "500ms, 30s, 10m, 1h30m",
        "w.yaml:12:17: node 'b': wait.for: inf is not a JSON number",
        "w.yaml:12:17: node 'b': wait.for: invalid duration inf: must be a finite number of "
        "seconds",
    ]


def test_huge_numbers_anywhere_in_a_workflow_are_located_problems() -> None:
    assert problems("""\
        name: big
        version: 99999999999
        nodes:
          a:
            transform: 1
            timeout: 10000000000000000000d
            retry: {max_attempts: 99999999999999999999, initial_delay: 99999999999999999999999}
            repeat: {until: "true", max_iterations: 9999999999999}
            foreach: {items: x, concurrency: 9999999999999999}
          b:
            after: a
            http: {url: x, expect: [99999999999999999999]}
            timeout: 1000000000
          c: {wait: {for: 4000d}}
          d: {workflow: {name: x, version: 99999999999}}
        """) == [
        "w.yaml:2:10: version: Input should be less than or equal to 2147483647",
        "w.yaml:6:14: node 'a': timeout: invalid duration '10000000000000000000d': "
        "at most 3650d (ten years)",
        "w.yaml:7:27: node 'a': retry.max_attempts: Input should be less than or equal to 1000",
        "w.yaml:7:64: node 'a': retry.initial_delay: invalid duration 99999999999999999999999: "
        "at most 3650d (ten years)",
        "w.yaml:8:45: node 'a': repeat.max_iterations: Input should be less than or equal to "
        "100000",
        "w.yaml:9:38: node 'a': foreach.concurrency: Input should be less than or equal to 10000",
        "w.yaml:12:29: node 'b': http.expect[0]: Input should be less than or equal to 599",
        "w.yaml:13:14: node 'b': timeout: invalid duration 1000000000: at most 3650d (ten years)",
        "w.yaml:14:19: node 'c': wait.for: invalid duration '4000d': at most 3650d (ten years)",
        "w.yaml:15:36: node 'd': workflow.version: Input should be less than or equal to "
        "2147483647",
    ]


def test_values_json_cannot_carry_are_located_problems() -> None:
    assert problems("""\
        name: data
        nodes:
          a:
            transform: {when: 2024-01-01, at: 2024-01-01 10:00:00, big: .inf, no: .nan}
            context: {raw: !!binary aGVsbG8=}
        """) == [
        "w.yaml:4:23: node 'a': transform.when: a date is not a JSON value; quote it to make it "
        "a string",
        "w.yaml:4:39: node 'a': transform.at: a datetime is not a JSON value; quote it to make "
        "it a string",
        "w.yaml:4:65: node 'a': transform.big: inf is not a JSON number",
        "w.yaml:4:75: node 'a': transform.no: nan is not a JSON number",
        "w.yaml:5:20: node 'a': context.raw: a bytes is not a JSON value; quote it to make it a "
        "string",
    ]


def test_a_duration_of_ten_years_is_accepted() -> None:
    definition = valid("""\
        name: long
        nodes:
          a: {wait: {for: 3650d}}
        """)
    assert definition.nodes["a"].wait is not None
    assert definition.nodes["a"].wait.for_ == 3650 * 86400


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("0 0 30 2 *", "'0 0 30 2 *' names no date that exists: it would never fire"),
        ("0 0 31 4 *", "'0 0 31 4 *' names no date that exists: it would never fire"),
        ("0 " + ",".join(["1"] * 200) + " * * *", "String should have at most 256 characters"),
    ],
)
def test_a_cron_schedule_that_never_fires_or_is_huge_is_a_located_problem(
    schedule: str, message: str
) -> None:
    assert problems(f"""\
        name: cron
        trigger:
          type: cron
          cron: {{schedule: "{schedule}"}}
        nodes:
          a: {{transform: 1}}
        """) == [f"w.yaml:4:20: trigger.cron.schedule: {message}"]


# --- templates -----------------------------------------------------------------------------


def test_template_syntax_errors_are_reported_at_the_value() -> None:
    assert problems("""\
        name: templates
        trigger:
          context: {who: "{{ name "}
        nodes:
          a:
            transform: {x: "{% if %}", ok: "{{ fine }}"}
          b:
            http: {url: "https://example.com/{{ id", headers: {A: "{{ }}"}}
        """) == [
        "w.yaml:3:18: trigger.context.who: template error: unexpected end of template, "
        "expected 'end of print statement'.",
        "w.yaml:6:20: node 'a': transform.x: template error: Expected an expression, "
        "got 'end of statement block'",
        "w.yaml:8:17: node 'b': http.url: template error: unexpected end of template, "
        "expected 'end of print statement'.",
        "w.yaml:8:59: node 'b': http.headers.A: template error: unexpected 'end of template'",
    ]


def test_a_template_error_inside_a_literal_block_is_reported_on_its_own_line() -> None:
    assert problems("""\
        name: templates
        nodes:
          a:
            transform:
              text: |
                Dear {{ name }},
                {% if %}
                your order is on its way.
                {% endif %}
        """) == [
        "w.yaml:7:9: node 'a': transform.text: template error: Expected an expression, "
        "got 'end of statement block'",
    ]


def test_cel_conditions_are_not_checked_as_templates() -> None:
    definition = valid("""\
        name: conditions
        nodes:
          a:
            transform: 1
            repeat: {until: "data.x == '{{'"}
          route:
            after: a
            branch:
              - {when: "data.y == '{%'", then: b}
          b: {after: route, transform: 2}
        """)
    assert definition.nodes["a"].repeat is not None
    assert definition.nodes["a"].repeat.until == "data.x == '{{'"


def test_a_value_named_when_or_until_outside_a_condition_is_still_a_template() -> None:
    assert problems("""\
        name: not-conditions
        nodes:
          a:
            transform: {when: "{{ date ", until: "{{ end }"}
        """) == [
        "w.yaml:4:23: node 'a': transform.when: template error: unexpected end of template, "
        "expected 'end of print statement'.",
        "w.yaml:4:42: node 'a': transform.until: template error: unexpected '}'",
    ]


def test_an_invalid_trigger_schema_is_reported() -> None:
    lines = problems("""\
        name: schema
        trigger:
          schema: {type: object, properties: {a: {type: 5}}}
        nodes:
          a: {transform: 1}
        """)
    assert len(lines) == 1
    assert lines[0].startswith("w.yaml:3:")
    assert "trigger.schema is not a valid JSON Schema" in lines[0]


# --- all at once ---------------------------------------------------------------------------


def test_every_problem_is_reported_at_once_in_file_order() -> None:
    lines = problems("""\
        name: many
        nodes:
          a:
            transform: {x: "{{ y "}
            retries: 3
          b:
            after: zz
            transform: 1
          c:
            after: [a, b]
            transform: 2
            timeout: later
          d: {after: d, transform: 3}
          a: {transform: 4}
        """)
    assert lines == [
        "w.yaml:4:20: node 'a': transform.x: template error: unexpected end of template, "
        "expected 'end of print statement'.",
        "w.yaml:5:5: node 'a': unknown key 'retries' (did you mean 'retry'?)",
        "w.yaml:7:12: node 'b': `after` names unknown node 'zz'",
        "w.yaml:10:12: node 'c' has 2 upstream nodes and needs `join: all`, `join: any` or "
        "`join: {at_least: N}`",
        "w.yaml:12:14: node 'c': timeout: invalid duration 'later': expected e.g. 500ms, 30s, "
        "10m, 1h30m",
        "w.yaml:13:14: cycle: d -> d",
        "w.yaml:13:14: node 'd': `after` names the node itself",
        "w.yaml:14:3: duplicate key 'a' (first defined on line 3)",
    ]


def test_a_type_error_in_one_node_does_not_hide_a_cycle_elsewhere() -> None:
    lines = problems("""\
        name: independent
        nodes:
          broken: {http: {url: 5}}
          a: {after: b, transform: 1}
          b: {after: a, transform: 2}
        """)
    assert lines == [
        "w.yaml:3:24: node 'broken': http.url: Input should be a valid string",
        "w.yaml:4:14: cycle: a -> b -> a",
    ]


def test_json_files_get_positions_for_every_problem() -> None:
    text = (
        "{\n"
        '  "name": "json",\n'
        '  "nodes": {\n'
        '    "a": {"transform": 1, "retires": 1},\n'
        '    "b": {"after": ["a", "c"], "transform": 2, "timeout": "1 hour"}\n'
        "  }\n"
        "}\n"
    )
    assert problems(text, "w.json") == [
        "w.json:4:27: node 'a': unknown key 'retires' (did you mean 'retry'?)",
        "w.json:5:20: node 'b' has 2 upstream nodes and needs `join: all`, `join: any` or "
        "`join: {at_least: N}`",
        "w.json:5:26: node 'b': `after` names unknown node 'c'",
        "w.json:5:59: node 'b': timeout: invalid duration '1 hour': expected e.g. 500ms, 30s, "
        "10m, 1h30m",
    ]


# --- templates read only what they can see (single-hop visibility) --------------------------


def not_visible(name: str, sees: str) -> str:
    return (
        f"the template reads {name!r}, the id of a node, but it is not visible here: this "
        f"template sees {sees} (single-hop visibility; a field of that name is `data.{name}`)"
    )


def test_a_template_naming_a_node_two_hops_up_is_a_located_problem() -> None:
    assert problems("""\
        name: hops
        nodes:
          fetch_user: {transform: {email: a@b.c}}
          price:
            after: fetch_user
            transform: {total: 3}
          confirm:
            after: price
            transform:
              to: "{{ fetch_user.email }}"
              text: |
                Total {{ total }}
                for {{ fetch_user.email }}
            context: {mail: "{{ fetch_user }}"}
        """) == [
        "w.yaml:10:11: node 'confirm': transform.to: "
        + not_visible("fetch_user", "the output of 'price' at top level"),
        "w.yaml:13:9: node 'confirm': transform.text: "
        + not_visible("fetch_user", "the output of 'price' at top level"),
        "w.yaml:14:21: node 'confirm': context.mail: "
        + not_visible("fetch_user", "its own output"),
    ]


def test_a_single_upstream_is_read_by_its_fields_not_by_its_id() -> None:
    assert problems("""\
        name: hops
        nodes:
          a: {transform: {x: 1}}
          b: {after: a, http: {url: "https://x.example/{{ a.x }}"}}
        """) == [
        "w.yaml:4:29: node 'b': http.url: " + not_visible("a", "the output of 'a' at top level")
    ]


def test_roots_hooks_and_trigger_context_see_no_node() -> None:
    assert problems("""\
        name: scopes
        trigger:
          context: {x: "{{ b.y }}"}
        nodes:
          a: {transform: {v: "{{ b }}"}}
          b: {after: a, transform: 1}
          done: {transform: {r: "{{ result }}", s: "{{ status }}", bad: "{{ a }}"}}
        on_success: done
        """) == [
        "w.yaml:3:16: trigger.context.x: " + not_visible("b", "the trigger's payload"),
        "w.yaml:5:22: node 'a': transform.v: " + not_visible("b", "the trigger's payload"),
        "w.yaml:7:65: node 'done': transform.bad: "
        + not_visible("a", "the execution's status, error and result"),
    ]


def test_names_in_scope_that_equal_node_ids_are_not_flagged() -> None:
    valid("""\
        name: scopes
        trigger:
          schema: {type: object, properties: {order: {type: object}}}
        nodes:
          order: {transform: {id: "{{ order.id }}"}}
          quote: {after: order, http: {url: "https://x.example/{{ id }}"}}
          status: {after: quote, transform: {code: "{{ status }}", body: "{{ json }}"}}
          pick:
            after: status
            branch: [{when: "true", then: [total]}]
          total: {after: pick, transform: {c: "{{ code }}"}}
          both:
            after: [status, total]
            join: all
            foreach: {items: "{{ total.c }}"}
            transform: {s: "{{ status.code }}", t: "{{ total }}", i: "{{ item }}{{ index }}"}
          locals:
            after: both
            transform:
              a: "{% for order in data %}{{ order }}{% endfor %}"
              b: "{% set quote = 1 %}{{ quote }}"
              c: "{{ execution.id }}{{ context.x }}{{ secrets.k }}{{ data }}"
              d: "{{ [1, 2] | map('string') | join(',') }}{{ 1 is odd }}"
            repeat: {until: "true"}
            context: {l: "{{ loop.iteration }}{{ a }}"}
        """)


def test_a_foreach_upstream_shows_no_fields_at_top_level() -> None:
    assert problems("""\
        name: scopes
        nodes:
          total: {transform: 1}
          each: {foreach: {items: "{{ [1] }}"}, transform: {total: "{{ item }}"}}
          next: {after: each, transform: {t: "{{ total }}"}}
        """) == [
        "w.yaml:5:38: node 'next': transform.t: "
        + not_visible("total", "the output of 'each' at top level")
    ]


@pytest.mark.parametrize(
    "template",
    [
        "{{ name ",
        "{% if %}",
        "{{ }}",
        "{{ x | no_such_filter }}",
        "{{ x is no_such_test }}",
        "a {{ x | no_such_filter }} b",
        "{{ a b }}",
        "{% for %}",
        "{{ x.}}",
        "{% endfor %}",
        "{{ 1 + }}",
    ],
)
def test_template_errors_read_as_compiling_the_template_reports_them(template: str) -> None:
    from fuchsia.definition import scope
    from fuchsia.templates import check_syntax

    assert scope.read(template).error == check_syntax(template)


def test_a_node_named_yes_is_that_word_and_after_yes_says_to_quote_it() -> None:
    assert problems("""\
        name: words
        nodes:
          yes: {transform: 1}
          no: {after: yes, transform: 2}
          on: {after: ["yes", off], join: all, transform: 3}
        """) == [
        "w.yaml:4:15: node 'no': after: YAML reads yes, no, on, off, true and false as booleans: "
        "quote a name spelled so",
        "w.yaml:5:15: node 'on': after: YAML reads yes, no, on, off, true and false as booleans: "
        "quote a name spelled so",
    ]
    definition = valid("""\
        name: words
        nodes:
          yes: {transform: 1}
          no: {after: "yes", transform: 2}
        """)
    assert list(definition.nodes) == ["yes", "no"]
    assert definition.nodes["no"].after == ["yes"]


# --- bounded work on big files --------------------------------------------------------------


def test_did_you_mean_is_bounded_and_every_dangling_name_is_still_located(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    validate_module = importlib.import_module("fuchsia.definition.validate")
    calls: list[int] = []
    real = difflib.get_close_matches

    def counted(word: str, names: Any, **options: Any) -> list[str]:
        calls.append(len(names))
        return real(word, names, **options)

    monkeypatch.setattr(difflib, "get_close_matches", counted)
    count = 3 * validate_module.MAX_SUGGESTIONS
    nodes = "".join(f"  n{i}: {{after: missing_{i}, transform: 1}}\n" for i in range(count))
    found = problems("name: many\nnodes:\n" + nodes)
    assert len(found) == count
    assert found[0] == "w.yaml:3:15: node 'n0': `after` names unknown node 'missing_0'"
    assert len(calls) == validate_module.MAX_SUGGESTIONS
    assert max(calls) <= validate_module.MAX_CANDIDATES


def test_many_cycles_are_reported_up_to_the_limit() -> None:
    from fuchsia.definition.validate import MAX_CYCLES

    nodes = "".join(
        f"  a{i}: {{after: b{i}, transform: 1}}\n  b{i}: {{after: a{i}, transform: 1}}\n"
        for i in range(2 * MAX_CYCLES)
    )
    found = problems("name: loops\nnodes:\n" + nodes)
    assert len(found) == MAX_CYCLES
    assert all(": cycle: a" in p for p in found)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "name: c\ntrigger: {type: cron, cron: '* * * * *'}\nnodes: {a: {wait: {signal: s}}}\n",
            "w.yaml:2:29: trigger.cron: expected a mapping with the keys schedule, timezone, "
            "catch_up, not the string '* * * * *'",
        ),
        (
            "name: c\nnodes:\n  a: {foreach: '{{ x }}', transform: {ok: 1}}\n",
            "w.yaml:3:16: node 'a': foreach: expected a mapping with the keys items, "
            "concurrency, not the string '{{ x }}'",
        ),
        (
            "name: c\nnodes:\n  a: 5\n",
            "w.yaml:3:6: node 'a': expected a mapping with the keys ",
        ),
        (
            "name: c\nnodes:\n  a: {wait: [1, 2]}\n",
            "w.yaml:3:13: node 'a': wait: expected a mapping with the keys ",
        ),
    ],
)
def test_a_value_where_a_mapping_belongs_names_the_keys_it_takes_not_a_python_class(
    text: str, expected: str
) -> None:
    found = problems(text)
    assert any(p.startswith(expected) for p in found), found
    assert not any("instance of" in p for p in found), found


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        (
            "{properties: {a: {$ref: 'http://127.0.0.1:9/a.json'}}}",
            "w.yaml:3:35: trigger.schema is not a valid JSON Schema: $ref "
            "'http://127.0.0.1:9/a.json' names nothing inside the schema (Fuchsia fetches "
            "no schema)",
        ),
        (
            "{properties: {a: {$ref: '#/$defs/missing'}}}",
            "w.yaml:3:35: trigger.schema is not a valid JSON Schema: $ref '#/$defs/missing' "
            "names nothing inside the schema",
        ),
        (
            "{$ref: '#/$defs/a', $defs: {a: {$ref: '#/$defs/a'}}}",
            "w.yaml:3:11: trigger.schema is not a valid JSON Schema: its references lead back "
            "to themselves without end",
        ),
    ],
)
def test_a_trigger_schema_whose_references_lead_nowhere_is_a_problem_at_validation(
    schema: str, expected: str
) -> None:
    """Each passed validation and then failed every start with a traceback from the
    schema library (Unresolvable, RecursionError)."""
    lines = problems(
        f"name: refs\ntrigger:\n  schema: {schema}\nnodes:\n  a: {{transform: {{ok: 1}}}}\n"
    )
    assert len(lines) == 1, lines
    assert lines[0].startswith(expected), lines
