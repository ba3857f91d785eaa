"""Locking: node kinds this version cannot run, canonical JSON and its hash, merged defaults."""

from __future__ import annotations

import hashlib
import json
import textwrap
from pathlib import Path

import pytest

from fuchsia.definition import LockedWorkflow, RetryPolicy, load, lock, parse_text, validate
from fuchsia.definition.lock import MAX_LOCKED_BYTES, MAX_NESTING, canonical_json
from fuchsia.errors import DefinitionError, StoreError
from fuchsia.nodes.kind import DEFAULT_HTTP_TIMEOUT, HttpSpec

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hello.yaml"


def locked(text: str, file: str = "w.yaml") -> LockedWorkflow:
    source = parse_text(textwrap.dedent(text), file, is_json=file.endswith(".json"))
    return lock(validate(source), source)


def lock_problems(text: str) -> list[str]:
    source = parse_text(textwrap.dedent(text), "w.yaml")
    definition = validate(source)  # the file is valid: only locking refuses it
    with pytest.raises(DefinitionError) as exc:
        lock(definition, source)
    return [str(p) for p in exc.value.problems]


# --- node kinds and modifiers --------------------------------------------------------------


def test_a_sub_workflow_that_cannot_be_found_is_refused_at_its_key() -> None:
    text = "name: kinds\nnodes:\n  subject:\n    workflow: {name: nowhere-to-be-found}\n"
    [problem] = lock_problems(text)
    assert problem.startswith("w.yaml:4:15: node 'subject': no workflow nowhere-to-be-found")


def test_a_component_node_without_a_registry_is_refused_at_its_component_key() -> None:
    text = (
        "name: kinds\ncomponents: {shop: acme/shop@1.2.0}\nnodes:\n"
        "  subject:\n    component: shop\n    task: check\n"
    )
    assert lock_problems(text) == ["w.yaml:5:16: node 'subject': component nodes need a registry"]


def test_every_unsupported_node_is_reported_at_once() -> None:
    problems = lock_problems("""\
        name: many
        nodes:
          c: {component: acme/shop@1.0.0, task: t}
          w: {workflow: {name: other, version: 1}}
          v: {workflow: {name: another, version: 2}}
        """)
    assert [p.split(": ", 2)[1] for p in problems] == ["node 'c'", "node 'w'", "node 'v'"]
    assert [p.split(":")[1] for p in problems] == ["3", "4", "5"]


def test_every_modifier_parses_on_a_supported_node() -> None:
    workflow = locked("""\
        name: modifiers
        nodes:
          a: {transform: 1}
          b: {transform: 2}
          c:
            description: all the modifiers this version runs
            after: [a, b]
            join: {at_least: 1}
            timeout: 10s
            retry: {max_attempts: 4, backoff: fixed, initial_delay: 1s, max_delay: 2s, jitter: true}
            on_error: continue
            context: {seen: "{{ status }}"}
            http:
              method: POST
              url: "https://example.com/{{ a }}"
              headers: {X-Id: "{{ b }}"}
              query: {q: 1}
              json: {a: "{{ a }}"}
              expect: [200, 201]
              follow_redirects: true
        """)
    node = workflow.nodes["c"]
    assert node.kind == "http"
    assert node.after == ("a", "b")
    assert node.join == 1
    assert node.timeout == 10.0
    assert node.retry == RetryPolicy(4, "fixed", 1.0, 2.0, True)
    assert node.on_error == "continue"
    assert node.context == {"seen": "{{ status }}"}
    assert isinstance(node.spec, HttpSpec)
    assert node.spec.json == {"a": "{{ a }}"}
    assert node.spec.expect == (200, 201)
    assert workflow.document["nodes"]["c"]["description"] == "all the modifiers this version runs"


def test_joins_are_stored_as_all_any_or_a_count() -> None:
    workflow = locked("""\
        name: joins
        nodes:
          a: {transform: 1}
          b: {transform: 2}
          all: {after: [a, b], join: all, transform: 3}
          any: {after: [a, b], join: any, transform: 4}
          two: {after: [a, b], join: {at_least: 2}, transform: 5}
          one: {after: a, transform: 6}
        """)
    joins = {n: workflow.nodes[n].join for n in ("all", "any", "two", "one")}
    assert joins == {"all": "all", "any": "any", "two": 2, "one": None}


# --- the graph -----------------------------------------------------------------------------


def test_the_locked_graph_spells_out_downstream_roots_terminals_and_order() -> None:
    workflow = locked("""\
        name: graph
        nodes:
          z_last: {after: [m, b], join: all, transform: 4}
          m: {after: a, transform: 2}
          b: {after: a, transform: 3}
          a: {transform: 1}
          lone: {transform: 5}
        """)
    assert workflow.nodes["a"].downstream == ("b", "m")
    assert workflow.nodes["z_last"].after == ("m", "b")
    assert workflow.roots == ("a", "lone")
    assert workflow.terminals == ("z_last", "lone")
    assert workflow.order == ("a", "b", "lone", "m", "z_last")


# --- canonical form and hash ---------------------------------------------------------------

BASE = """\
name: same
description: one meaning
timeout: 10m
defaults:
  timeout: 30s
  retry: {max_attempts: 3, backoff: fixed, initial_delay: 500ms}
trigger:
  schema: {type: object, required: [name]}
  context: {who: "{{ name }}"}
nodes:
  a: {transform: {greeting: "Hello {{ name }}", n: 1}}
  b: {after: a, transform: {v: "{{ greeting }}"}, retry: {max_attempts: 5}}
  c: {after: a, transform: 3}
"""


def test_the_hash_is_the_sha256_of_the_canonical_json() -> None:
    workflow = locked(BASE)
    text = workflow.to_json()
    assert workflow.hash == "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
    assert canonical_json({"b": 1, "a": ["é", 2]}) == '{"a":["é",2],"b":1}'


def test_locking_the_same_file_twice_gives_the_same_hash() -> None:
    assert locked(BASE).hash == locked(BASE).hash


def test_files_that_mean_the_same_lock_to_the_same_hash() -> None:
    reordered = """\
        # comments, key order, node order and spelling do not change the meaning
        nodes:
          c:
            transform: 3
            after: [a]
          b:
            retry: {max_attempts: 5}
            transform: {v: "{{ greeting }}"}
            after: a
            timeout: 30000ms
          a:
            transform: {n: 1, greeting: "Hello {{ name }}"}
            on_error: fail
        trigger:
          type: manual
          context: {who: "{{ name }}"}
          schema: {required: [name], type: object}
        defaults:
          retry: {initial_delay: 0.5, backoff: fixed, max_attempts: 3}
          timeout: 0.5m
        timeout: 600
        version: 1
        description: one meaning
        name: same
        """
    as_json = json.dumps(
        {
            "name": "same",
            "description": "one meaning",
            "timeout": "10m",
            "defaults": {
                "timeout": "30s",
                "retry": {"max_attempts": 3, "backoff": "fixed", "initial_delay": 5e-1},
            },
            "trigger": {
                "schema": {"type": "object", "required": ["name"]},
                "context": {"who": "{{ name }}"},
            },
            "nodes": {
                "a": {"transform": {"greeting": "Hello {{ name }}", "n": 1}},
                "b": {
                    "after": "a",
                    "transform": {"v": "{{ greeting }}"},
                    "retry": {"max_attempts": 5},
                },
                "c": {"after": ["a"], "transform": 3},
            },
        },
        indent="\t",
    )
    expected = locked(BASE).hash
    assert locked(reordered).hash == expected
    assert locked(as_json, "w.json").hash == expected


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("n: 1", "n: 2"),
        ('"Hello {{ name }}"', '"Hi {{ name }}"'),
        ("max_attempts: 5", "max_attempts: 6"),
        ("timeout: 30s", "timeout: 31s"),
        ("timeout: 10m", "timeout: 11m"),
        ("description: one meaning", "description: another meaning"),
        ("name: same", "name: other"),
        ("required: [name]", "required: []"),
        ('who: "{{ name }}"', 'who: "{{ name | upper }}"'),
        ("c: {after: a, transform: 3}", "c: {after: b, transform: 3}"),
    ],
)
def test_editing_any_value_changes_the_hash(old: str, new: str) -> None:
    assert old in BASE
    assert locked(BASE.replace(old, new, 1)).hash != locked(BASE).hash


# --- defaults ------------------------------------------------------------------------------


def test_defaults_retry_is_merged_field_by_field_with_the_node_retry() -> None:
    workflow = locked("""\
        name: retries
        defaults:
          retry: {max_attempts: 3, backoff: fixed, initial_delay: 500ms, max_delay: 30s}
        nodes:
          own: {transform: 1, retry: {max_attempts: 5, jitter: true}}
          inherits: {transform: 2}
        """)
    assert workflow.nodes["own"].retry == RetryPolicy(
        max_attempts=5, backoff="fixed", initial_delay=0.5, max_delay=30.0, jitter=True
    )
    assert workflow.nodes["inherits"].retry == RetryPolicy(
        max_attempts=3, backoff="fixed", initial_delay=0.5, max_delay=30.0, jitter=False
    )
    assert workflow.document["nodes"]["own"]["retry"] == {
        "max_attempts": 5,
        "backoff": "fixed",
        "initial_delay": 0.5,
        "max_delay": 30.0,
        "jitter": True,
    }


def test_without_defaults_a_node_gets_the_built_in_policy() -> None:
    workflow = locked("""\
        name: builtin
        nodes:
          a: {transform: 1}
          b: {transform: 2, retry: {initial_delay: 2s}}
        """)
    assert workflow.nodes["a"].retry == RetryPolicy()
    assert workflow.nodes["a"].retry.max_attempts == 1
    assert workflow.nodes["b"].retry == RetryPolicy(initial_delay=2.0)
    assert workflow.nodes["a"].timeout is None
    assert workflow.nodes["a"].on_error == "fail"


def test_default_timeout_and_on_error_apply_unless_the_node_overrides_them() -> None:
    workflow = locked("""\
        name: defaults
        defaults: {timeout: 30s, on_error: continue}
        nodes:
          plain: {transform: 1}
          own: {transform: 2, timeout: 1s, on_error: fail}
        """)
    assert (workflow.nodes["plain"].timeout, workflow.nodes["plain"].on_error) == (30.0, "continue")
    assert (workflow.nodes["own"].timeout, workflow.nodes["own"].on_error) == (1.0, "fail")


def test_an_http_node_always_has_a_timeout() -> None:
    workflow = locked("""\
        name: http
        nodes:
          bare: {http: {url: "https://example.com"}}
          spec: {http: {url: "https://example.com", timeout: 5s}}
          node: {http: {url: "https://example.com", timeout: 5s}, timeout: 7s}
        """)
    assert workflow.nodes["bare"].timeout == DEFAULT_HTTP_TIMEOUT
    assert workflow.nodes["spec"].timeout == 5.0
    assert workflow.nodes["node"].timeout == 7.0


# --- round trip and compiled templates -----------------------------------------------------


def test_a_locked_workflow_round_trips_through_its_json() -> None:
    original = load(EXAMPLE)
    again = LockedWorkflow.from_json(original.to_json())
    assert again == original
    assert again.hash == original.hash
    assert again.document == original.document
    assert again.nodes == original.nodes
    assert (again.order, again.roots, again.terminals) == (
        original.order,
        original.roots,
        original.terminals,
    )
    assert again.trigger_schema == original.trigger_schema
    assert again.to_json() == original.to_json()


def test_from_json_gives_working_compiled_templates() -> None:
    workflow = LockedWorkflow.from_json(load(EXAMPLE).to_json())
    greet = workflow.nodes["greet"].render({"name": "Ada"})
    assert greet == {"greeting": "Hello, Ada!", "letters": 3}
    assert workflow.render_trigger_context({"name": "Ada"}) == {"who": "Ada"}


def test_a_node_context_is_compiled_too() -> None:
    workflow = locked("""\
        name: ctx
        nodes:
          a: {transform: 1, context: {total: "{{ x * 2 }}"}}
          b: {transform: 2}
        """)
    render_context = workflow.nodes["a"].render_context
    assert render_context is not None
    assert render_context({"x": 21}) == {"total": 42}
    assert workflow.nodes["b"].render_context is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "unknown format"),
        ('{"format": 99, "name": "x"}', "unknown format"),
    ],
)
def test_from_json_refuses_what_it_cannot_read(text: str, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        LockedWorkflow.from_json(text)


def test_load_reads_validates_and_locks_a_file(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text("name: tiny\nnodes:\n  a: {transform: 1}\n")
    workflow = load(path)
    assert (workflow.name, workflow.version, workflow.roots) == ("tiny", 1, ("a",))
    path.write_text("name: tiny\nnodes:\n  a: {workflow: {name: other, version: 1}}\n")
    with pytest.raises(DefinitionError, match="no workflow other"):
        load(path)


# --- retry policy --------------------------------------------------------------------------


def test_retry_delays_grow_exponentially_up_to_the_maximum() -> None:
    policy = RetryPolicy(max_attempts=10, backoff="exponential", initial_delay=1.0, max_delay=5.0)
    assert [policy.delay(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_fixed_retry_delays_stay_the_same() -> None:
    policy = RetryPolicy(max_attempts=3, backoff="fixed", initial_delay=0.5, max_delay=60.0)
    assert [policy.delay(n) for n in range(1, 4)] == [0.5, 0.5, 0.5]


def test_jittered_retry_delays_stay_between_half_and_the_full_delay() -> None:
    policy = RetryPolicy(backoff="exponential", initial_delay=2.0, max_delay=60.0, jitter=True)
    for _ in range(50):
        assert 2.0 <= policy.delay(2) <= 4.0


def _flows(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (folder / name).write_text(text)


def _sub(name: str, *children: str) -> str:
    nodes = "".join(f"  n{i}: {{workflow: {{path: {c}}}}}\n" for i, c in enumerate(children))
    return f"name: {name}\nnodes:\n" + (nodes or "  leaf: {transform: {ok: true}}\n")


def test_sub_workflows_nested_deeper_than_the_limit_are_a_problem_at_the_node(
    tmp_path: Path,
) -> None:
    """A chain of 300 files ended in a RecursionError traceback; the limit is stated."""
    _flows(tmp_path, {f"c{i}.yaml": _sub(f"c{i}", f"c{i + 1}.yaml") for i in range(300)})
    (tmp_path / "c300.yaml").write_text(_sub("c300"))
    with pytest.raises(DefinitionError) as exc:
        load(tmp_path / "c0.yaml")
    [problem] = exc.value.problems
    assert problem.line == 3
    assert f"sub-workflows nest more than {MAX_NESTING} deep: c0.yaml -> c1.yaml" in str(problem)
    assert load(tmp_path / f"c{300 - MAX_NESTING}.yaml").name == f"c{300 - MAX_NESTING}"


def test_sub_workflows_named_again_and_again_are_read_once_and_bounded_in_size(
    tmp_path: Path,
) -> None:
    """Each file names the next twice: 2**40 embedded copies (a YAML bomb made of files)
    took forever; each file is read once, and the copies are refused at their size."""
    _flows(tmp_path, {f"d{i}.yaml": _sub(f"d{i}", *[f"d{i + 1}.yaml"] * 2) for i in range(40)})
    (tmp_path / "d40.yaml").write_text(_sub("d40", *[f"leaf{i}.yaml" for i in range(12)]))
    _flows(tmp_path, {f"leaf{i}.yaml": _sub(f"leaf{i}") for i in range(12)})
    with pytest.raises(DefinitionError) as exc:
        load(tmp_path / "d25.yaml")
    assert f"more than {MAX_LOCKED_BYTES:,} bytes" in str(exc.value.problems[0])
    assert load(tmp_path / "d38.yaml").name == "d38"  # four copies of d40: well within
