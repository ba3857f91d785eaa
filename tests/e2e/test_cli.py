"""The `fuchsia` command as a user runs it: real processes, exit codes, JSON records."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "hello.yaml"


@pytest.fixture
def cli(tmp_path: Path) -> Any:
    env = {**os.environ, "FUCHSIA_HOME": str(tmp_path / "home")}
    env.pop("FUCHSIA_DB", None)

    def call(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "fuchsia", *args],
            cwd=tmp_path,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )

    return call


def test_run_json_prints_one_execution_record(cli: Any) -> None:
    done = cli("run", str(EXAMPLE), "--input", '{"name": "Ada"}', "--json")
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["status"] == "completed"
    assert record["workflow"] == "hello"
    assert record["result"]["for"] == "Ada"
    assert record["error"] is None
    assert {n["id"] for n in record["nodes"]} == {"greet", "shout", "spell", "summary"}
    for node in record["nodes"]:
        assert node["status"] == "succeeded"
        [attempt] = node["attempts"]
        assert attempt["number"] == 1 and attempt["status"] == "succeeded"
        assert attempt["started_at"] <= attempt["finished_at"]


def test_runs_list_show_and_logs_read_what_run_stored(cli: Any) -> None:
    first = json.loads(cli("run", str(EXAMPLE), "-i", '{"name": "A"}', "--json").stdout)
    second = json.loads(cli("run", str(EXAMPLE), "-i", '{"name": "B"}', "--json").stdout)
    listed = json.loads(cli("runs", "list", "--json").stdout)
    assert [r["id"] for r in listed] == [second["id"], first["id"]]
    shown = json.loads(cli("runs", "show", first["id"][:20], "--json").stdout)
    assert shown == first
    logs = json.loads(cli("runs", "logs", first["id"], "--json").stdout)
    assert logs[0]["type"] == "execution_running"
    assert logs[-1]["type"] == "execution_completed"
    human = cli("runs", "show", first["id"])
    assert "completed" in human.stdout and "summary" in human.stdout


def test_failed_run_exits_1_and_reports_the_node(cli: Any, tmp_path: Path) -> None:
    flow = tmp_path / "bad.yaml"
    flow.write_text("name: bad\nnodes:\n  a: {transform: {x: '{{ missing }}'}}\n")
    done = cli("run", str(flow), "--json")
    assert done.returncode == 1
    record = json.loads(done.stdout)
    assert record["status"] == "failed"
    assert record["error"]["node"] == "a"
    assert "missing" in record["error"]["message"]


def test_invalid_file_exits_1_with_positioned_problems_and_no_traceback(
    cli: Any, tmp_path: Path
) -> None:
    flow = tmp_path / "broken.yaml"
    flow.write_text("name: broken\nnodes:\n  a:\n    transfrom: {}\n")
    done = cli("run", str(flow))
    assert done.returncode == 1
    assert f"{flow}:4:5: node 'a': unknown key 'transfrom'" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unresolvable_sub_workflow_is_refused_naming_the_node(cli: Any, tmp_path: Path) -> None:
    flow = tmp_path / "later.yaml"
    flow.write_text("name: later\nnodes:\n  child:\n    workflow: {name: other, version: 1}\n")
    done = cli("validate", str(flow))
    assert done.returncode == 1
    assert "node 'child': no workflow other version 1 among the files" in done.stderr


def test_usage_errors_exit_2(cli: Any) -> None:
    assert cli("run").returncode == 2
    both = cli("run", str(EXAMPLE), "--input", "{}", "--input-file", "x.json")
    assert both.returncode == 2
    assert "either --input or --input-file" in both.stderr


def test_payload_from_standard_input(cli: Any) -> None:
    done = cli("run", str(EXAMPLE), "--input-file", "-", "--json", stdin='{"name": "Stdin"}')
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["result"]["for"] == "Stdin"


def test_detached_run_finishes_in_the_background(cli: Any) -> None:
    done = cli("run", str(EXAMPLE), "--input", '{"name": "Bg"}', "--detach")
    assert done.returncode == 0, done.stderr
    execution_id = done.stdout.strip()
    deadline = time.monotonic() + 60
    status = ""
    while time.monotonic() < deadline:
        status = json.loads(cli("runs", "show", execution_id, "--json").stdout)["status"]
        if status == "completed":
            break
        time.sleep(0.2)
    assert status == "completed", f"detached execution still {status!r} after 60 s"


def test_show_of_an_unknown_id_is_a_clear_error(cli: Any) -> None:
    assert cli("run", str(EXAMPLE), "-i", '{"name": "A"}', "--json").returncode == 0
    done = cli("runs", "show", "doesnotexist")
    assert done.returncode == 1
    assert "no execution with id 'doesnotexist'" in done.stderr
    assert "Traceback" not in done.stderr


def test_lock_prints_the_canonical_document_and_hash(cli: Any) -> None:
    first = json.loads(cli("lock", str(EXAMPLE)).stdout)
    second = json.loads(cli("lock", str(EXAMPLE)).stdout)
    assert first == second
    assert first["hash"].startswith("sha256:")
    assert first["workflow"]["name"] == "hello"


def test_run_off_a_terminal_prints_a_line_per_state_change(cli: Any, tmp_path: Path) -> None:
    flow = tmp_path / "two.yaml"
    flow.write_text(
        "name: two\nnodes:\n  a: {transform: {x: 1}}\n  b: {after: a, transform: {y: 2}}\n"
    )
    done = cli("run", str(flow))  # stdout is a pipe: no live view, plain lines
    assert done.returncode == 0, done.stderr
    header, *lines = done.stdout.splitlines()
    [summary] = [line for line in lines if "two v1  completed" in line]
    assert header == f"execution {summary.split()[1]}  two v1"  # the id comes first
    changes = [line.split(" ", 1)[1] for line in lines[:6]]
    assert changes == [
        "execution running",
        "a running (attempt 1)",
        "a succeeded",
        "b running (attempt 1)",
        "b succeeded",
        "execution completed",
    ]
    assert "\x1b[" not in done.stdout  # no terminal control codes in a pipe
    assert "two v1  completed" in done.stdout


def test_fuchsia_run_is_a_synchronous_one_call_api(tmp_path: Path) -> None:
    import fuchsia

    execution = fuchsia.run(EXAMPLE, {"name": "Bo"}, db=str(tmp_path / "f.db"))
    assert execution.status == "completed"
    assert execution.result["for"] == "Bo"
    again = fuchsia.run(EXAMPLE, {"name": "Bo"}, db=str(tmp_path / "f.db"), idempotency_key="k")
    assert (
        fuchsia.run(EXAMPLE, {"name": "Bo"}, db=str(tmp_path / "f.db"), idempotency_key="k").id
        == again.id
    )
    with pytest.raises(fuchsia.errors.IdempotencyConflict):  # the key names another request
        fuchsia.run(EXAMPLE, {"name": "Cy"}, db=str(tmp_path / "f.db"), idempotency_key="k")
