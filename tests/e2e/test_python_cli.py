"""`python` nodes from the command line: `fuchsia node run` on one, `fuchsia validate`
placing a syntax error in the YAML block, and `fuchsia component install --python-runtime`
finding the runtime installed (built once per source change, tests/support/components.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fuchsia.components.registry import Registry
from support.components import CACHE, built_python_runtime

from .conftest import FuchsiaEnv

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def env(fuchsia_env: FuchsiaEnv) -> FuchsiaEnv:
    """A home with the runtime installed, and the shared compiled-component cache."""
    cache = CACHE / "compiled-cache"
    cache.mkdir(parents=True, exist_ok=True)
    Registry(fuchsia_env.home / "components").install(built_python_runtime())
    fuchsia_env.env["FUCHSIA_CACHE"] = str(cache)
    return fuchsia_env


def test_node_run_runs_one_python_node(env: FuchsiaEnv) -> None:
    order = (EXAMPLES / "data" / "order.json").read_text()
    record = env.json("node", "run", str(EXAMPLES / "python-steps.yaml"), "score", "-i", order)
    assert record["status"] == "succeeded", record["error"]
    assert record["output"]["total"] == 87.59
    assert record["inputs"]["inputs"]["rates"] == {"EUR": 1.08, "GBP": 1.27}


def test_validate_prints_a_syntax_error_as_file_line_col(env: FuchsiaEnv, tmp_path: Path) -> None:
    flow = tmp_path / "broken.yaml"
    flow.write_text(
        "name: broken\nnodes:\n  bad:\n    python: |\n      def main(:\n          pass\n"
    )
    result = env.run("validate", str(flow))
    assert result.returncode == 1
    assert f"{flow}:5:16: node 'bad': SyntaxError: " in result.stderr + result.stdout


def test_install_python_runtime_finds_it_installed(env: FuchsiaEnv) -> None:
    result = env.run("component", "install", "--python-runtime", "--json")
    assert result.returncode == 0, result.stderr
    installed = json.loads(result.stdout)
    assert installed["name"] == "fuchsia/python-runtime"
    assert "building" not in result.stderr  # already installed: nothing was built
    refused = env.run("component", "install")
    assert refused.returncode == 1
    assert "--python-runtime" in refused.stderr


def test_a_step_asleep_past_its_timeout_does_not_hold_the_process(
    env: FuchsiaEnv, tmp_path: Path
) -> None:
    """A guest asleep in a WASI call is beyond the epoch check: the attempt is recorded timed
    out, and the engine, closing, does not wait for the sleeping thread (it waited an hour)."""
    flow = tmp_path / "sleepy.yaml"
    flow.write_text(
        "name: sleepy\nnodes:\n  nap:\n    timeout: 1s\n    python: |\n"
        "      import time\n\n      def main():\n          time.sleep(3600)\n"
    )
    result = env.run("run", str(flow), "--json", timeout=120)
    assert result.returncode == 1, result.stderr
    record = json.loads(result.stdout)
    assert record["status"] == "failed"
    [nap] = record["nodes"]
    assert nap["status"] == "timed_out"
