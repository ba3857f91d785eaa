"""Components through the command line, as a user drives them: install, run, node run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from support.components import CACHE, built_component

ROOT = Path(__file__).resolve().parents[2]


def fuchsia(home: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUCHSIA_")}
    env["FUCHSIA_HOME"] = str(home)
    env["FUCHSIA_CACHE"] = str(CACHE / "compiled-cache")
    return subprocess.run(
        [sys.executable, "-m", "fuchsia", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_install_run_and_debug_a_component_from_the_command_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    build = built_component(ROOT / "examples" / "components" / "greeter").parent
    installed = fuchsia(home, "component", "install", str(build), "--json", cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr
    assert json.loads(installed.stdout)["ref"] == "greeter@1.0.0"
    # wasmtime's objects are freed before the interpreter exits, not by its teardown
    assert "Exception ignored" not in installed.stderr, installed.stderr
    inspected = fuchsia(home, "component", "inspect", "greeter@1.0.0", cwd=tmp_path)
    assert inspected.returncode == 0, inspected.stderr
    assert "Exception ignored" not in inspected.stderr, inspected.stderr

    flow = tmp_path / "greet.yaml"
    flow.write_text(
        "name: greet\n"
        "components: {greeter: greeter@1.0.0}\n"
        "nodes:\n"
        "  hello:\n"
        "    component: greeter\n"
        "    task: greet\n"
        "    inputs: {name: '{{ who }}'}\n"
        "    config: {salutation: Howdy}\n"
    )
    run = fuchsia(home, "run", str(flow), "--input", '{"who": "Ada"}', "--json", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["result"]["greeting"] == "Howdy, Ada!"
    assert "Exception ignored" not in run.stderr, run.stderr

    debug = fuchsia(
        home, "node", "run", str(flow), "hello", "--input", '{"who": "Bo"}', "--json", cwd=tmp_path
    )
    assert debug.returncode == 0, debug.stderr
    record = json.loads(debug.stdout)
    assert record["status"] == "succeeded"
    assert record["output"]["greeting"] == "Howdy, Bo!"
    assert record["logs"][0]["message"] == "greeting"

    missing = fuchsia(home, "validate", str(flow).replace("greet.yaml", "other.yaml"), cwd=tmp_path)
    assert missing.returncode == 1

    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(flow.read_text().replace("task: greet", "task: gret"))
    refused = fuchsia(home, "validate", str(wrong), cwd=tmp_path)
    assert refused.returncode == 1
    assert "greeter@1.0.0 has no task 'gret' (did you mean 'greet'?)" in refused.stderr
    assert "Traceback" not in refused.stderr
