"""`fuchsia validate | schema | lock | graph` through the Typer app, in process."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from fuchsia.cli import app, main
from fuchsia.definition import load

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hello.yaml"

FIVE_MISTAKES = """\
name: five
nodes:
  fetch:
    transform: {user: "{{ user }}"}
    retires: 2
  score:
    after: fetch
    transform: {v: 1}
  report:
    after: [fetch, score]
    transform: {v: 2}
  notify:
    after: sned
    transform: {v: 3}
    timeout: 5 parsecs
  score:
    transform: {v: 4}
"""


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)  # short relative file names in every message
    return CliRunner()


def write(name: str, text: str) -> str:
    Path(name).write_text(text)
    return name


# --- validate ------------------------------------------------------------------------------


def test_a_file_with_five_different_mistakes_yields_five_lines_and_exit_1(
    runner: CliRunner,
) -> None:
    write("five.yaml", FIVE_MISTAKES)
    done = runner.invoke(app, ["validate", "five.yaml"])
    assert done.exit_code == 1
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "five.yaml:5:5: node 'fetch': unknown key 'retires' (did you mean 'retry'?)",
        "five.yaml:10:12: node 'report' has 2 upstream nodes and needs `join: all`, "
        "`join: any` or `join: {at_least: N}`",
        "five.yaml:13:12: node 'notify': `after` names unknown node 'sned'",
        "five.yaml:15:14: node 'notify': timeout: invalid duration '5 parsecs': expected e.g. "
        "500ms, 30s, 10m, 1h30m",
        "five.yaml:16:3: duplicate key 'score' (first defined on line 6)",
        "5 problems found",
    ]


def test_a_long_problem_line_is_never_wrapped(runner: CliRunner) -> None:
    name = "a-directory-with-a-rather-long-name-as-real-projects-have/" * 3 + "five.yaml"
    Path(name).parent.mkdir(parents=True)
    write(name, FIVE_MISTAKES)
    done = runner.invoke(app, ["validate", name])
    assert done.exit_code == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 6
    assert all(line.startswith(f"{name}:") for line in lines[:5])


def test_a_cycle_is_printed(runner: CliRunner) -> None:
    write(
        "cycle.yaml",
        "name: cycle\nnodes:\n  a: {after: c, transform: 1}\n  b: {after: a, transform: 2}\n"
        "  c: {after: b, transform: 3}\n",
    )
    done = runner.invoke(app, ["validate", "cycle.yaml"])
    assert done.exit_code == 1
    assert done.stderr.splitlines() == [
        "cycle.yaml:3:14: cycle: a -> b -> c -> a",
        "1 problem found",
    ]


def test_a_valid_file_is_ok_with_exit_0(runner: CliRunner) -> None:
    done = runner.invoke(app, ["validate", str(EXAMPLE)])
    assert done.exit_code == 0
    assert done.stdout == f"{EXAMPLE}: ok (4 nodes)\n"
    assert done.stderr == ""


def test_every_file_is_checked_and_any_bad_one_fails_the_command(runner: CliRunner) -> None:
    write("bad.json", '{"name": "bad", "nodes": {"a": {"transform": 1, "after": "b"}}}')
    done = runner.invoke(app, ["validate", "bad.json", str(EXAMPLE), "missing.yaml"])
    assert done.exit_code == 1
    assert done.stdout == f"{EXAMPLE}: ok (4 nodes)\n"
    assert done.stderr.splitlines() == [
        "bad.json:1:58: node 'a': `after` names unknown node 'b'",
        "1 problem found",
        "missing.yaml:1:1: no such file",
        "1 problem found",
    ]


def test_validate_reports_what_locking_cannot_resolve(runner: CliRunner) -> None:
    write("sub.yaml", "name: sub\nnodes:\n  child: {workflow: {path: gone.yaml}}\n")
    done = runner.invoke(app, ["validate", "sub.yaml"])
    assert done.exit_code == 1
    assert done.stderr.splitlines() == [
        "sub.yaml:3:28: node 'child': no workflow file 'gone.yaml' next to sub.yaml",
        "1 problem found",
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty; expected a workflow mapping"),
        (b"\x00\x01\x02binary", "a binary file, not a YAML or JSON workflow"),
        (b"\xff\xfe\xfa", "not UTF-8 text (byte 0); save the file as UTF-8"),
        (b"- just\n- a list\n", "a workflow file must be a mapping at the top level, not a list"),
    ],
)
def test_an_unusable_file_gets_one_clear_line_and_no_traceback(
    runner: CliRunner, content: bytes, message: str
) -> None:
    Path("bad.yaml").write_bytes(content)
    done = runner.invoke(app, ["validate", "bad.yaml"])
    assert done.exit_code == 1
    assert done.stderr.splitlines() == [f"bad.yaml:1:1: {message}", "1 problem found"]
    assert "Traceback" not in done.output


def test_a_directory_gets_one_clear_line(runner: CliRunner) -> None:
    Path("flows").mkdir()
    done = runner.invoke(app, ["validate", "flows"])
    assert done.exit_code == 1
    assert done.stderr.splitlines()[0] == "flows:1:1: is a directory, not a workflow file"


# --- schema --------------------------------------------------------------------------------


def schema_of_the_format(runner: CliRunner) -> dict[str, object]:
    done = runner.invoke(app, ["schema"])
    assert done.exit_code == 0
    schema: dict[str, object] = json.loads(done.stdout)
    return schema


def test_schema_prints_a_valid_draft_2020_12_json_schema(runner: CliRunner) -> None:
    schema = schema_of_the_format(runner)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["required"] == ["name", "nodes"]


def test_the_example_workflow_validates_against_the_schema(runner: CliRunner) -> None:
    validator = jsonschema.Draft202012Validator(schema_of_the_format(runner))
    document = yaml.safe_load(EXAMPLE.read_text())
    assert list(validator.iter_errors(document)) == []


def test_the_schema_refuses_unknown_keys_and_bad_durations(runner: CliRunner) -> None:
    validator = jsonschema.Draft202012Validator(schema_of_the_format(runner))
    document = {
        "name": "x",
        "timeout": "5 parsecs",
        "nodes": {"a": {"transform": 1, "retries": 2, "after": ["b"], "join": "some"}},
    }
    messages = sorted(e.message for e in validator.iter_errors(document))
    assert len(messages) == 3
    assert "Additional properties are not allowed ('retries' was unexpected)" in messages
    assert validator.is_valid({"name": "x", "timeout": "1h30m", "nodes": {"a": {"transform": 1}}})


# --- lock ----------------------------------------------------------------------------------


def test_lock_prints_the_canonical_document_and_its_hash(runner: CliRunner) -> None:
    done = runner.invoke(app, ["lock", str(EXAMPLE)])
    assert done.exit_code == 0
    printed = json.loads(done.stdout)
    locked = load(EXAMPLE)
    assert printed == {"hash": locked.hash, "workflow": locked.document}
    assert printed["hash"].startswith("sha256:") and len(printed["hash"]) == 71


def test_lock_writes_the_locked_workflow_to_a_file(runner: CliRunner) -> None:
    done = runner.invoke(app, ["lock", str(EXAMPLE), "--output", "hello.lock.json"])
    assert done.exit_code == 0
    written = json.loads(Path("hello.lock.json").read_text())
    assert written["hash"] == load(EXAMPLE).hash
    assert f"locked hello v1 {written['hash']} -> hello.lock.json" in done.stderr


def run_main(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    """Run the console entry point, which turns a user's mistake into lines and an exit code."""
    monkeypatch.setattr(sys, "argv", ["fuchsia", *argv])
    with pytest.raises(SystemExit) as exc:
        main()
    assert isinstance(exc.value.code, int)
    return exc.value.code


def test_lock_refuses_an_unresolvable_node_naming_it(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write("sub.yaml", "name: sub\nnodes:\n  child: {workflow: {path: gone.yaml}}\n")
    assert run_main(["lock", "sub.yaml"], monkeypatch) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "sub.yaml:3:28: node 'child': no workflow file 'gone.yaml' next to sub.yaml",
        "1 problem found",
    ]


def test_lock_and_graph_of_an_invalid_file_print_its_problems(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write("five.yaml", FIVE_MISTAKES)
    for command in ("lock", "graph"):
        assert run_main([command, "five.yaml"], monkeypatch) == 1
        lines = capsys.readouterr().err.splitlines()
        assert len(lines) == 6 and lines[-1] == "5 problems found"
        assert all(line.startswith("five.yaml:") for line in lines[:5])


# --- graph ---------------------------------------------------------------------------------

BRANCHY = """\
name: branchy
nodes:
  start: {transform: 1}
  route:
    after: start
    branch:
      - {when: "data.total > 10", then: big}
    default: small
  big: {after: route, transform: 2}
  small: {after: route, transform: 3}
  end: {after: [big, small], join: any, transform: 4}
"""


def test_graph_prints_mermaid_with_every_edge(runner: CliRunner) -> None:
    done = runner.invoke(app, ["graph", str(EXAMPLE)])
    assert done.exit_code == 0
    lines = done.stdout.splitlines()
    assert lines[0] == "flowchart TD"
    for edge in (
        "trigger --> greet",
        "greet --> shout",
        "greet --> spell",
        "shout --> summary",
        "spell --> summary",
    ):
        assert f"    {edge}" in lines
    assert '    summary["summary: transform (all join)"]' in lines


def test_graph_prints_dot_with_every_edge(runner: CliRunner) -> None:
    done = runner.invoke(app, ["graph", "--format", "dot", str(EXAMPLE)])
    assert done.exit_code == 0
    lines = done.stdout.splitlines()
    assert lines[0] == 'digraph "hello" {'
    assert lines[-1] == "}"
    for edge in (
        'trigger -> "greet";',
        '"greet" -> "shout";',
        '"greet" -> "spell";',
        '"shout" -> "summary";',
        '"spell" -> "summary";',
    ):
        assert f"    {edge}" in lines


def test_graph_labels_branch_edges_with_their_condition(runner: CliRunner) -> None:
    write("branchy.yaml", BRANCHY)
    mermaid = runner.invoke(app, ["graph", "branchy.yaml"]).stdout.splitlines()
    assert '    route -- "data.total > 10" --> big' in mermaid
    assert '    route -- "default" --> small' in mermaid
    assert '    end["end: transform (any join)"]' in mermaid
    dot = runner.invoke(app, ["graph", "-f", "dot", "branchy.yaml"]).stdout.splitlines()
    assert '    "route" -> "big" [label="data.total > 10"];' in dot
    assert '    "route" -> "small" [label="default"];' in dot
    assert '    "big" -> "end";' in dot
