"""What the command line tells its user (issue 8, B6/B8/B9 and settings): every mistake is a
message with an exit code, every action says what it did, nothing is hidden or made silently.
Each test runs `python -m fuchsia` in real processes against a private home."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from e2e.conftest import FuchsiaEnv, wait_until
from support.components import CACHE, built_component

ROOT = Path(__file__).resolve().parents[2]
HELLO = ROOT / "examples" / "hello.yaml"
DEADLINE = 60.0

WAITING_FLOW = """
name: gate
nodes:
  gate:
    wait: {signal: go}
  after:
    after: gate
    transform: {done: true}
"""


def statuses(env: FuchsiaEnv) -> list[str]:
    if not env.db.exists():
        return []
    done = env.run("runs", "list", "--json")
    return [r["status"] for r in json.loads(done.stdout)] if done.returncode == 0 else []


def gate_flow(tmp_path: Path) -> Path:
    flow = tmp_path / "gate.yaml"
    flow.write_text(WAITING_FLOW)
    return flow


def waiting_run(env: FuchsiaEnv, tmp_path: Path) -> tuple[subprocess.Popen[str], str]:
    """`fuchsia run` of a workflow parked on a signal, driven by its own process."""
    process = env.popen("run", str(gate_flow(tmp_path)))
    wait_until("the execution waits", lambda: statuses(env) == ["waiting"], process)
    [listed] = env.json("runs", "list")
    return process, str(listed["id"])


def no_traceback(done: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in done.stderr + done.stdout


# -- settings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "accepted"),
    [
        ("FUCHSIA_HUNG_AFTER", "soon", "a duration such as 500ms"),
        ("FUCHSIA_HUNG_AFTER", "1" + "0" * 400 + "s", "a duration"),
        ("FUCHSIA_DB", "mysql://db.example/fuchsia", "postgresql://"),
        ("FUCHSIA_DB", "sqlite:///x.db?journal=wal", "synchronous="),
        ("FUCHSIA_DB", "postgresql://", "naming a host"),
        ("FUCHSIA_INLINE_LIMIT", "12", "at least 1024"),
        ("FUCHSIA_INLINE_LIMIT", "lots", "a whole number of bytes"),
    ],
)
def test_a_malformed_setting_exits_2_naming_the_variable_and_the_accepted_form(
    fuchsia_env: FuchsiaEnv, variable: str, value: str, accepted: str
) -> None:
    fuchsia_env.env[variable] = value
    for command in (("run", str(HELLO), "-i", '{"name": "Ada"}'), ("runs", "list")):
        done = fuchsia_env.run(*command)
        assert done.returncode == 2, done.stderr
        assert f"{variable}={value}" in done.stderr
        assert accepted in done.stderr
        no_traceback(done)


# -- B6: payloads --------------------------------------------------------------------------


def test_a_5000_digit_integer_in_the_input_is_a_payload_error(fuchsia_env: FuchsiaEnv) -> None:
    huge = "9" * 5000
    for given in (("--input", f'{{"name": {huge}}}'), ("--input", f"[-{huge}]")):
        done = fuchsia_env.run("run", str(HELLO), *given)
        assert done.returncode == 1
        assert "--input holds an integer of 5000 digits; the limit is 4300 digits" in done.stderr
        no_traceback(done)
    signal_payload = fuchsia_env.run("runs", "signal", "x", "go", "--payload", huge)
    assert "--payload holds an integer of 5000 digits" in signal_payload.stderr
    no_traceback(signal_payload)


# -- B8: actions say what they did -----------------------------------------------------------


def test_cancel_says_the_execution_was_cancelled_and_exits_0(
    fuchsia_env: FuchsiaEnv, tmp_path: Path
) -> None:
    process, execution_id = waiting_run(fuchsia_env, tmp_path)
    try:
        done = fuchsia_env.run("runs", "cancel", execution_id)
        assert done.returncode == 0, done.stderr
        assert f"cancelled execution {execution_id}  gate v1" in done.stdout
        assert "error" not in done.stdout + done.stderr
        shown = fuchsia_env.run("runs", "show", execution_id)
        assert "cancelled" in shown.stdout and "error:" not in shown.stdout
    finally:
        process.kill()
        process.communicate()


def test_resume_of_a_paused_run_resumes_it_and_reports_the_new_state(
    fuchsia_env: FuchsiaEnv, tmp_path: Path
) -> None:
    process, execution_id = waiting_run(fuchsia_env, tmp_path)
    try:
        paused = fuchsia_env.run("runs", "pause", execution_id, "--json")
        assert paused.returncode == 0, paused.stderr
        wait_until("the pause", lambda: statuses(fuchsia_env) == ["paused"], process)
        resumed = fuchsia_env.run("runs", "resume", execution_id)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert "paused" not in resumed.stdout
        assert f"resumed: {execution_id} goes on in the process that drives it" in resumed.stdout
        assert statuses(fuchsia_env) != ["paused"]
        assert fuchsia_env.run("runs", "signal", execution_id, "go").returncode == 0
        out, err = process.communicate(timeout=DEADLINE)
        assert process.returncode == 0, out + err
    finally:
        process.kill()
        process.communicate()


# -- B9: nothing hidden ----------------------------------------------------------------------


def test_ctrl_c_during_run_prints_the_id_and_how_to_resume_and_exits_130(
    fuchsia_env: FuchsiaEnv, tmp_path: Path
) -> None:
    process, execution_id = waiting_run(fuchsia_env, tmp_path)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=DEADLINE)
    assert process.returncode == 130, out + err
    assert f"execution {execution_id} was stopped before it finished" in err
    assert f"fuchsia runs resume {execution_id}" in err
    assert "Traceback" not in err
    # the running attempt is recorded interrupted at once, not only when someone resumes
    shown = fuchsia_env.run("runs", "show", execution_id, "--json")
    assert shown.returncode == 0, shown.stderr
    stopped = json.loads(shown.stdout)
    assert stopped["status"] == "waiting"  # open, as it was: a resume goes on with it
    [attempt] = next(n for n in stopped["nodes"] if n["id"] == "gate")["attempts"]
    assert attempt["status"] == "interrupted"
    assert "the engine was stopped before this attempt finished" in attempt["error"]["message"]
    # the execution is open and nobody drives it: the printed command continues it
    assert fuchsia_env.run("runs", "signal", execution_id, "go").returncode == 0
    resumed = fuchsia_env.run("runs", "resume", execution_id, "--json")
    assert resumed.returncode == 0, resumed.stderr
    [record] = json.loads(resumed.stdout)
    assert record["status"] == "completed"
    gate = next(n for n in record["nodes"] if n["id"] == "gate")
    assert gate["status"] == "succeeded"
    assert [a["status"] for a in gate["attempts"]] == ["interrupted", "succeeded"]


@pytest.mark.parametrize(
    "command",
    [
        ("runs", "list"),
        ("runs", "show", "01abc"),
        ("runs", "logs", "01abc"),
        ("runs", "artifacts", "01abc"),
        ("runs", "cancel", "01abc"),
        ("runs", "resume"),
        ("workflows", "list"),
        ("tokens", "list"),
    ],
)
def test_a_read_command_without_a_store_says_where_it_looked_and_creates_nothing(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUCHSIA_")}
    done = subprocess.run(
        [sys.executable, "-m", "fuchsia", *command],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "no Fuchsia store at .fuchsia/fuchsia.db (from FUCHSIA_HOME=.fuchsia)" in done.stderr
    no_traceback(done)
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_status_filter_is_a_usage_error_listing_the_statuses(
    fuchsia_env: FuchsiaEnv,
) -> None:
    assert fuchsia_env.run("run", str(HELLO), "-i", '{"name": "A"}').returncode == 0
    done = fuchsia_env.run("runs", "list", "--status", "bogus")
    assert done.returncode == 2
    assert "--status 'bogus' is not an execution status" in done.stderr
    for status in ("pending", "running", "waiting", "paused", "completed", "failed"):
        assert status in done.stderr
    assert done.stdout == ""


def test_run_with_a_server_is_refused_instead_of_running_locally(
    fuchsia_env: FuchsiaEnv,
) -> None:
    done = fuchsia_env.run("--server", "http://127.0.0.1:9", "run", str(HELLO))
    assert done.returncode == 2
    assert "`fuchsia --server URL run FILE` is not supported" in done.stderr
    assert "(`fuchsia --server URL deploy FILE`)" in done.stderr  # a command that exists
    assert fuchsia_env.run("deploy", "--help").returncode == 0
    assert not fuchsia_env.db.exists()


def test_version_prints_the_package_version(fuchsia_env: FuchsiaEnv) -> None:
    import fuchsia

    done = fuchsia_env.run("--version")
    assert done.returncode == 0
    assert done.stdout == f"fuchsia {fuchsia.__version__}\n"


def test_runs_logs_shows_component_log_levels_and_fields(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUCHSIA_")}
    env.update(FUCHSIA_HOME=str(home), FUCHSIA_CACHE=str(CACHE / "compiled-cache"))

    def fuchsia(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "fuchsia", *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    build = built_component(ROOT / "examples" / "components" / "greeter").parent
    assert fuchsia("component", "install", str(build)).returncode == 0
    flow = tmp_path / "greet.yaml"
    flow.write_text(
        "name: greet\ncomponents: {greeter: greeter@1.0.0}\nnodes:\n"
        "  hello: {component: greeter, task: greet, inputs: {name: '{{ who }}'}}\n"
    )
    run = fuchsia("run", str(flow), "--input", '{"who": "Ada"}', "--json")
    assert run.returncode == 0, run.stderr
    execution_id = json.loads(run.stdout)["id"]
    logs = fuchsia("runs", "logs", execution_id)
    assert logs.returncode == 0, logs.stderr
    [line] = [line for line in logs.stdout.splitlines() if "  log hello" in line]
    assert line.endswith('[info] greeting  who="Ada" salutation="Hello" attempt=1')


@pytest.mark.slow
def test_the_component_example_runs_when_its_port_is_taken(tmp_path: Path) -> None:
    import shutil
    import socket

    from fuchsia.components.build import fingerprint

    home = tmp_path / "home"
    for name in ("greeter", "fetcher", "csv_summary"):  # the builds `make run` would make
        source = ROOT / "examples" / "components" / name
        target = home / "build" / fingerprint(source).removeprefix("sha256:")[:16]
        shutil.copytree(built_component(source).parent, target)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUCHSIA_")}
    env.update(FUCHSIA_HOME=str(home), FUCHSIA_CACHE=str(CACHE / "compiled-cache"))
    with socket.socket() as taken:
        try:
            taken.bind(("127.0.0.1", 8765))
            taken.listen()
        except OSError:
            pass  # something else holds it already: the case under test all the same
        done = subprocess.run(
            [sys.executable, str(ROOT / "examples" / "run_components.py")],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "port 8765 is taken; serving examples/data on 127.0.0.1:" in done.stderr
    assert "components-pipeline v1  completed" in done.stdout
    assert "has 10 rows" in done.stdout


def _walkthrough() -> tuple[list[list[str]], str]:
    """The README's component walkthrough: its `fuchsia` commands, and its flow.yaml."""
    import re
    import shlex

    readme = (ROOT / "README.md").read_text()
    start = readme.index("$ fuchsia component new shout")
    console = readme[start : readme.index("```", start)]
    commands = [
        shlex.split(line.removeprefix("$ "), comments=True)
        for line in console.splitlines()
        if line.startswith("$ fuchsia ")
    ]
    flow = re.search(r"`flow.yaml`.*?```yaml\n(.*?)```", readme[start:], re.S)
    assert flow is not None, "the walkthrough shows no flow.yaml"
    return commands, flow.group(1)


@pytest.mark.slow
def test_the_readme_component_walkthrough_runs_on_the_scaffold(tmp_path: Path) -> None:
    commands, flow = _walkthrough()
    (tmp_path / "flow.yaml").write_text(flow)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUCHSIA_")}
    env.update(FUCHSIA_HOME=str(tmp_path / "home"), FUCHSIA_CACHE=str(CACHE / "compiled-cache"))

    def fuchsia(args: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    for args in commands:
        if args[1:3] == ["component", "build"]:  # componentize-py, cached by the test suite
            (tmp_path / args[3] / "component.wasm").write_bytes(
                built_component(tmp_path / args[3]).read_bytes()
            )
            continue
        done = fuchsia(args)
        assert done.returncode == 0, f"{shlex_join(args)}\n{done.stdout}\n{done.stderr}"
    record = json.loads(fuchsia([*commands[-1], "--json"]).stdout)
    assert record["status"] == "succeeded"
    assert record["output"] == {"greeting": "Hello, Ada!"}


def shlex_join(args: list[str]) -> str:
    import shlex

    return shlex.join(args)


def test_runs_retry_names_the_new_execution_before_it_waits(
    fuchsia_env: FuchsiaEnv, tmp_path: Path
) -> None:
    """It printed only the final record: a Ctrl-C during the wait lost the new id."""
    flow = tmp_path / "broken.yaml"
    flow.write_text("name: broken\nnodes:\n  bad: {transform: {x: '{{ 1 // 0 }}'}}\n")
    failed = fuchsia_env.run("run", str(flow), "--json")
    assert failed.returncode == 1, failed.stderr
    first = json.loads(failed.stdout)["id"]
    retried = fuchsia_env.run("runs", "retry", first, "--json")
    assert retried.returncode == 1, retried.stderr
    second = json.loads(retried.stdout)["id"]
    assert second != first
    assert f"retrying {first} as execution {second}" in retried.stderr
