"""Bad trigger payloads on the command line: a clear error, exit 1, and nothing stored lost.

One store per module holds an execution that completed before any bad payload was tried;
after every bad payload, `runs list` shows exactly that one execution and `runs show` still
shows its result.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from e2e.conftest import CLI_TIMEOUT, FuchsiaEnv, make_fuchsia_env

MIB = 1024 * 1024

WORKFLOW = """\
name: greet
trigger:
  schema:
    type: object
    required: [name]
    properties:
      name: {type: string, minLength: 1}
      age: {type: integer}
nodes:
  greet:
    transform: {greeting: "Hello, {{ name }}!"}
"""


@dataclass
class Stored:
    env: FuchsiaEnv
    workflow: Path
    execution: dict[str, Any]


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Stored:
    env = make_fuchsia_env(tmp_path_factory.mktemp("payloads"))
    workflow = env.home / "greet.yaml"
    workflow.write_text(WORKFLOW)
    execution = env.json("run", str(workflow), "--input", '{"name": "Ada"}')
    assert execution["status"] == "completed"
    assert execution["result"] == {"greeting": "Hello, Ada!"}
    return Stored(env, workflow, execution)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def run_bad(stored: Stored, *args: str, stdin: str | None = None) -> str:
    """Run with a bad payload; insist on exit 1 and no traceback; return standard error."""
    result = stored.env.run("run", str(stored.workflow), "--json", *args, input=stdin)
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.stdout == ""
    assert result.stderr.startswith("error: "), result.stderr[:500]
    return result.stderr


def assert_store_intact(stored: Stored) -> None:
    """`runs list` shows only the earlier execution and `runs show` still shows its result
    (the two commands run side by side: they only read)."""
    env = stored.env
    commands = [("runs", "list", "--json"), ("runs", "show", stored.execution["id"], "--json")]
    processes = [
        subprocess.Popen(
            env.command(*c), env=env.env, cwd=env.home, stdout=subprocess.PIPE, text=True
        )
        for c in commands
    ]
    outputs = [p.communicate(timeout=CLI_TIMEOUT)[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    listed, shown = (json.loads(o) for o in outputs)
    assert [e["id"] for e in listed] == [stored.execution["id"]]
    assert shown["status"] == "completed"
    assert shown["result"] == stored.execution["result"]
    assert shown["nodes"] == stored.execution["nodes"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(["--input", "not json"], "--input is not valid JSON", id="not-json"),
        pytest.param(['--input={"name": "Ada"} trailing'], "not valid JSON", id="trailing"),
        pytest.param(["--input", '{"name": NaN}'], "is not JSON data", id="nan"),
        pytest.param(
            ["--input", '{"name": "\\ud800"}'],
            "--input holds text that is not Unicode: a lone surrogate '\\ud800'",
            id="lone-surrogate",
        ),
        pytest.param(["--input", "[" * 20_000 + "]" * 20_000], "nested more than", id="deep-input"),
    ],
)
def test_unparseable_payload_is_one_clear_line(
    stored: Stored, args: list[str], expected: str
) -> None:
    err = run_bad(stored, *args)
    assert expected in err
    assert len(err.strip().splitlines()) == 1, err[:2000]
    assert_store_intact(stored)


def test_deeply_nested_file_is_refused(stored: Stored, tmp_path: Path) -> None:
    deep = write(tmp_path / "deep.json", b"[" * 100_000 + b"]" * 100_000)
    err = run_bad(stored, "--input-file", str(deep))
    assert "deep.json is nested more than" in err
    assert len(err.strip().splitlines()) == 1, err[:2000]
    assert_store_intact(stored)


def test_deeply_nested_objects_are_refused(stored: Stored, tmp_path: Path) -> None:
    deep = write(tmp_path / "deep.json", b'{"a":' * 100_000 + b"1" + b"}" * 100_000)
    err = run_bad(stored, "--input-file", str(deep))
    assert "nested more than" in err
    assert_store_intact(stored)


def test_huge_payload_file_is_refused(stored: Stored, tmp_path: Path) -> None:
    pad = "x" * (4 * MIB + 1024)
    huge = write(tmp_path / "huge.json", f'{{"name": "Ada", "pad": "{pad}"}}'.encode())
    err = run_bad(stored, "--input-file", str(huge))
    assert "huge.json is" in err and "the limit is 4194304 bytes" in err
    assert len(err.strip().splitlines()) == 1, err[:2000]
    assert_store_intact(stored)


def test_huge_payload_on_stdin_is_refused(stored: Stored) -> None:
    pad = "x" * (4 * MIB + 1024)
    err = run_bad(stored, "--input-file", "-", stdin=f'{{"name": "Ada", "pad": "{pad}"}}')
    assert "standard input is" in err and "the limit is" in err
    assert_store_intact(stored)


def test_payload_that_is_not_utf8_is_refused(stored: Stored, tmp_path: Path) -> None:
    binary = write(tmp_path / "binary.json", b'{"name": "\xff\xfe"}')
    err = run_bad(stored, "--input-file", str(binary))
    assert "not UTF-8" in err
    assert_store_intact(stored)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        pytest.param("{}", "name", id="missing"),
        pytest.param('{"name": 5}', "payload.name", id="wrong-type"),
        pytest.param('{"name": "Ada", "age": "old"}', "payload.age", id="nested-field"),
        pytest.param("[1, 2]", "object", id="not-an-object"),
    ],
)
def test_payload_against_the_trigger_schema_names_the_field(
    stored: Stored, payload: str, field: str
) -> None:
    err = run_bad(stored, "--input", payload)
    assert "trigger schema" in err
    assert field in err, err
    assert_store_intact(stored)
