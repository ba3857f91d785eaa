"""`component.yaml`: what is accepted, and every mistake reported at its line and column."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from fuchsia.components.hosts import HostPattern, parse_host_pattern
from fuchsia.components.manifest import (
    Manifest,
    PathGrant,
    TaskSpec,
    dump_manifest,
    load_manifest,
    manifest_document,
    parse_size,
    semver_key,
)
from fuchsia.errors import DefinitionError

FULL = """\
name: acme/shop
version: 1.2.0-rc.1
description: Validate and price orders.
world: task-component
wasm: build/shop.wasm
digest: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
tasks:
  validate-order:
    description: Check an order.
    input_schema:
      type: object
      required: [order]
      properties: {order: {type: object}}
    output_schema: {type: object}
  price: {}
capabilities:
  allowed_hosts: [api.example.com, "*.example.org", "http://127.0.0.1:8080"]
  allowed_paths: [/data, {path: /out, writable: true}]
  memory_limit: 64MiB
config:
  currency: EUR
  limits: {max_items: 100, strict: true}
"""


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # short relative file names in every message
    return tmp_path


def write(text: str, name: str = "component.yaml") -> Path:
    path = Path(name)
    path.write_text(textwrap.dedent(text))
    return path


def problems(text: str) -> list[str]:
    """Every problem reading `text` as component.yaml reports, as printed lines."""
    with pytest.raises(DefinitionError) as exc:
        load_manifest(write(text))
    return [str(p) for p in exc.value.problems]


# --- accepted manifests ----------------------------------------------------------------------


def test_a_full_manifest_reads_into_typed_fields(in_tmp: Path) -> None:
    manifest = load_manifest(write(FULL))
    assert manifest.ref == "acme/shop@1.2.0-rc.1"
    assert manifest.wasm == "build/shop.wasm"
    assert manifest.digest is not None and manifest.digest.startswith("sha256:0123")
    assert list(manifest.tasks) == ["validate-order", "price"]
    assert manifest.tasks["validate-order"].input_schema == {
        "type": "object",
        "required": ["order"],
        "properties": {"order": {"type": "object"}},
    }
    assert manifest.tasks["price"].input_schema is None
    capabilities = manifest.capabilities
    assert capabilities.allowed_hosts == [
        "api.example.com",
        "*.example.org",
        "http://127.0.0.1:8080",
    ]
    assert capabilities.allowed_paths == [
        PathGrant(path="/data"),
        PathGrant(path="/out", writable=True),
    ]
    assert capabilities.memory_limit == 64 * 1024 * 1024
    assert manifest.config == {"currency": "EUR", "limits": {"max_items": 100, "strict": True}}


def test_a_minimal_manifest_gets_the_documented_defaults(in_tmp: Path) -> None:
    manifest = load_manifest(write("name: greeter\nversion: 0.1.0\ntasks: {greet: {}}\n"))
    assert manifest.world == "task-component"
    assert manifest.wasm == "component.wasm"
    assert manifest.digest is None
    assert manifest.description == ""
    assert manifest.triggers == {}
    assert manifest.capabilities.allowed_hosts == []
    assert manifest.capabilities.allowed_paths == []
    assert manifest.capabilities.memory_limit is None
    assert manifest.config == {}


def test_a_component_directory_reads_its_component_yaml(in_tmp: Path) -> None:
    Path("greeter").mkdir()
    write("name: greeter\nversion: 1.0.0\ntasks: {greet: {}}\n", "greeter/component.yaml")
    assert load_manifest(Path("greeter")).ref == "greeter@1.0.0"


def test_a_trigger_component_declares_triggers_of_either_kind(in_tmp: Path) -> None:
    manifest = load_manifest(
        write("""\
            name: inbox
            version: 1.0.0
            world: trigger-component
            triggers:
              new-mail: {description: Poll the inbox.}
              hook: {kind: webhook}
            """)
    )
    assert manifest.triggers["new-mail"].kind == "poll"
    assert manifest.triggers["hook"].kind == "webhook"


def test_a_component_for_the_original_fuschia_interface_declares_its_task(in_tmp: Path) -> None:
    manifest = load_manifest(
        write("name: legacy\nversion: 1.0.0\nworld: fuschia-task\ntasks: {run: {}}\n")
    )
    assert manifest.world == "fuschia-task"


def test_manifest_document_round_trips_through_yaml(in_tmp: Path) -> None:
    manifest = load_manifest(write(FULL))
    assert load_manifest(write(dump_manifest(manifest), "again.yaml")) == manifest
    document = manifest_document(manifest)
    assert document["capabilities"]["allowed_paths"] == [
        "/data",
        {"path": "/out", "writable": True},
    ]
    assert document["capabilities"]["memory_limit"] == "64MiB"
    assert "description" not in document["tasks"]["price"]
    assert list(document)[:2] == ["name", "version"]


def test_manifests_are_frozen() -> None:
    manifest = Manifest(name="greeter", version="1.0.0", tasks={"greet": TaskSpec()})
    with pytest.raises(ValidationError, match="frozen"):
        manifest.name = "other"


def test_construction_in_code_applies_the_same_rules() -> None:
    with pytest.raises(ValidationError, match="at least one task"):
        Manifest(name="greeter", version="1.0.0")


# --- sizes, host patterns, versions -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("64MiB", 64 * 1024**2),
        ("512KiB", 512 * 1024),
        ("1GiB", 1024**3),
        ("10MB", 10_000_000),
        ("2kb", 2000),
        ("1.5KiB", 1536),
        ("10.1KB", 10100),
        ("100 B", 100),
        ("4096", 4096),
        (65536, 65536),
    ],
)
def test_sizes_are_bytes_or_binary_and_decimal_units(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("64 parsecs", "expected bytes or a size such as"),
        ("MiB", "expected bytes or a size such as"),
        ("", "expected bytes or a size such as"),
        ("0", "more than 0 bytes"),
        (-1, "more than 0 bytes"),
        ("1.5B", "whole number of bytes"),
        (float("inf"), "whole number of bytes"),
        (True, "expected bytes or a size such as"),
        ([64], "expected bytes or a size such as"),
    ],
)
def test_bad_sizes_say_what_is_expected(text: object, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_size(text)


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("api.example.com", HostPattern(None, "api.example.com", None, False)),
        ("*.Example.com", HostPattern(None, "example.com", None, True)),
        ("https://api.example.com", HostPattern("https", "api.example.com", None, False)),
        ("http://127.0.0.1:8080", HostPattern("http", "127.0.0.1", 8080, False)),
        ("[::1]:9000", HostPattern(None, "::1", 9000, False)),
        ("[0:0::1]", HostPattern(None, "::1", None, False)),
        ("::1", HostPattern(None, "::1", None, False)),
        ("http://::1", HostPattern("http", "::1", None, False)),
        ("localhost", HostPattern(None, "localhost", None, False)),
    ],
)
def test_host_patterns_parse_scheme_host_and_port(text: str, pattern: HostPattern) -> None:
    assert parse_host_pattern(text) == pattern


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("*", "leading `\\*.`"),
        ("*.com", "leading `\\*.`"),
        ("api.*.example.com", "leading `\\*.`"),
        ("ftp://example.com", "http or https"),
        ("example.com:0", "from 1 to 65535"),
        ("example.com:http", "from 1 to 65535"),
        ("https://example.com/api", "not URLs with paths"),
        ("[not-ipv6]", "not an IPv6 address"),
        ("[127.0.0.1]", "not an IPv6 address"),
        ("exa mple.com", "not a valid host name"),
        ("", "not a host"),
    ],
)
def test_bad_host_patterns_are_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_host_pattern(text)


def test_versions_sort_by_semver_precedence() -> None:
    versions = ["1.10.0", "1.2.0", "1.9.0", "1.0.0", "1.0.0-rc.1", "1.0.0-alpha", "1.0.0-rc.10"]
    assert sorted(versions, key=semver_key) == [
        "1.0.0-alpha",
        "1.0.0-rc.1",
        "1.0.0-rc.10",
        "1.0.0",
        "1.2.0",
        "1.9.0",
        "1.10.0",
    ]


# --- problems, each at its line and column ----------------------------------------------------


def test_every_mistake_in_one_file_is_reported_at_once_with_its_position(in_tmp: Path) -> None:
    found = problems("""\
        name: Acme Shop
        version: 1.2
        descripton: typo
        wasm: ../outside.wasm
        digest: sha256:abc
        tasks:
          Greet: {}
          ok:
            input_schema: {type: strin}
            ouput_schema: {}
        capabilities:
          allowed_hosts: [example.com, "*", "ftp://x.com"]
          allowed_paths: [5, {path: /x, writeable: true}]
          memory_limit: 64 parsecs
        config:
          when: 2024-01-01
        """)
    assert found == [
        "component.yaml:1:7: name: invalid component name 'Acme Shop': lowercase letters, "
        "digits, - and _, optionally under one namespace (e.g. greeter or acme/shop)",
        "component.yaml:2:10: version: expected a string MAJOR.MINOR.PATCH such as '1.0.0' "
        "(quote it), not the number 1.2",
        "component.yaml:3:1: component: unknown key 'descripton' (did you mean 'description'?)",
        "component.yaml:4:7: wasm: expected a path inside the component's directory, relative "
        "to component.yaml, not '../outside.wasm'",
        "component.yaml:5:9: digest: invalid digest 'sha256:abc': expected sha256: and 64 "
        "lowercase hex",
        "component.yaml:7:3: tasks.Greet: invalid name 'Greet': lowercase letters, digits, - "
        "and _ (e.g. validate-order)",
        "component.yaml:9:26: tasks.ok.input_schema.type: not a valid JSON Schema: 'strin' is "
        "not valid under any of the given schemas",
        "component.yaml:10:5: tasks.ok: unknown key 'ouput_schema' (did you mean 'output_schema'?)",
        "component.yaml:12:32: capabilities.allowed_hosts[1]: '*': a wildcard is only allowed "
        "as a leading `*.` before a domain with a dot, e.g. *.example.com; list the hosts the "
        "component needs",
        "component.yaml:12:37: capabilities.allowed_hosts[2]: 'ftp://x.com': the scheme must "
        "be http or https, not 'ftp'",
        "component.yaml:13:19: capabilities.allowed_paths[0]: a path grant is a path, or a "
        "mapping {path: ..., writable: true}",
        "component.yaml:13:33: capabilities.allowed_paths[1]: unknown key 'writeable' (did you "
        "mean 'writable'?)",
        "component.yaml:14:17: capabilities.memory_limit: invalid size '64 parsecs': expected "
        "bytes or a size such as 512KiB, 64MiB, 1GiB or 10MB",
        "component.yaml:16:9: config.when: a date is not a JSON value; quote it to make it a "
        "string",
    ]


def test_an_invalid_schema_deep_inside_is_placed_where_the_mistake_is(in_tmp: Path) -> None:
    assert problems("""\
        name: shop
        version: 1.0.0
        tasks:
          price:
            output_schema:
              type: object
              properties:
                total: {type: number, minimum: cheap}
        """) == [
        "component.yaml:8:40: tasks.price.output_schema.properties.total.minimum: not a valid "
        "JSON Schema: 'cheap' is not of type 'number'"
    ]


def test_a_task_component_without_tasks_is_refused(in_tmp: Path) -> None:
    assert problems("name: shop\nversion: 1.0.0\n") == [
        "component.yaml:1:1: tasks: a task-component must declare at least one task under `tasks:`"
    ]


def test_a_trigger_component_without_triggers_is_refused(in_tmp: Path) -> None:
    assert problems("name: inbox\nversion: 1.0.0\nworld: trigger-component\ntriggers: {}\n") == [
        "component.yaml:4:11: triggers: a trigger-component must declare at least one trigger "
        "under `triggers:`"
    ]


def test_a_world_cannot_declare_exports_it_cannot_carry(in_tmp: Path) -> None:
    assert problems("""\
        name: inbox
        version: 1.0.0
        world: trigger-component
        tasks: {run: {}}
        triggers: {mail: {}}
        """) == [
        "component.yaml:4:8: tasks: a trigger-component cannot export tasks; remove `tasks:` or "
        "change `world`"
    ]


def test_missing_keys_unknown_worlds_and_trigger_kinds_are_named(in_tmp: Path) -> None:
    assert problems("""\
        version: 1.0.0
        world: http-component
        triggers:
          mail: {kind: push}
        """) == [
        "component.yaml:1:1: component: missing required key 'name'",
        "component.yaml:2:8: world: Input should be 'task-component', 'trigger-component' or "
        "'fuschia-task'",
        "component.yaml:4:16: triggers.mail.kind: Input should be 'poll' or 'webhook'",
    ]


def test_bad_versions_say_what_semver_looks_like(in_tmp: Path) -> None:
    assert problems("name: a\nversion: v1.0\ntasks: {t: {}}\n") == [
        "component.yaml:2:10: version: invalid version 'v1.0': expected MAJOR.MINOR.PATCH "
        "(semver), e.g. 1.2.0 or 1.2.0-rc.1"
    ]


def test_duplicate_keys_are_problems_not_overwrites(in_tmp: Path) -> None:
    assert problems("name: a\nversion: 1.0.0\ntasks:\n  t: {}\n  t: {}\n") == [
        "component.yaml:5:3: duplicate key 't' (first defined on line 4)"
    ]


def test_non_json_values_in_config_are_placed_exactly(in_tmp: Path) -> None:
    assert problems("name: a\nversion: 1.0.0\ntasks: {t: {}}\nconfig:\n  x: [1, 2024-01-02]\n") == [
        "component.yaml:5:10: config.x[1]: a date is not a JSON value; quote it to make it a string"
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "component.yaml:1:1: the file is empty; expected a component manifest mapping"),
        (
            "- a\n",
            "component.yaml:1:1: a component manifest must be a mapping at the top level, "
            "not a list",
        ),
        ("name: [\n", "component.yaml:2:1: invalid YAML: expected the node content, but found"),
    ],
)
def test_unreadable_files_are_one_clear_problem(in_tmp: Path, text: str, message: str) -> None:
    found = problems(text)
    assert len(found) == 1
    assert found[0].startswith(message)


def test_a_missing_manifest_names_the_file(in_tmp: Path) -> None:
    with pytest.raises(DefinitionError, match=r"^nowhere/component.yaml:1:1: no such file$"):
        load_manifest(Path("nowhere/component.yaml"))


def test_a_value_where_a_mapping_belongs_names_the_keys_it_takes_not_a_python_class(
    in_tmp: Path,
) -> None:
    found = problems("name: a\nversion: 1.0.0\ntasks: {run: 5}\ncapabilities: [x]\n")
    assert (
        "component.yaml:3:14: tasks.run: expected a mapping with the keys description, "
        "input_schema, output_schema, not the number 5" in found
    ), found
    assert any(
        p.startswith("component.yaml:4:15: capabilities: expected a mapping with the keys ")
        for p in found
    ), found


def test_a_task_schema_whose_reference_leads_nowhere_is_placed_at_it(in_tmp: Path) -> None:
    assert problems("""\
        name: shop
        version: 1.0.0
        tasks:
          price:
            input_schema:
              properties:
                total: {$ref: 'file:///etc/passwd'}
        """) == [
        "component.yaml:7:23: tasks.price.input_schema.properties.total.$ref: not a valid "
        "JSON Schema: $ref 'file:///etc/passwd' names nothing inside the schema (Fuchsia "
        "fetches no schema)"
    ]
