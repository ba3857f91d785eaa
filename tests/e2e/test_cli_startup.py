"""What a command imports is part of its start-up cost: each command loads its own module and
what it needs, nothing more. These tests check the state (which modules a real `fuchsia`
process has loaded when it ends), never a time; `bench/startup.py` prints the times."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from e2e.conftest import FuchsiaEnv
from fuchsia.cli import COMMANDS

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hello.yaml"

# Runs `fuchsia ARGS` in this process, then prints the names of the loaded modules.
PROBE = """
import json, sys
from fuchsia.cli import main
sys.argv = ["fuchsia", *sys.argv[1:]]
code = 0
try:
    main()
except SystemExit as stop:
    code = stop.code or 0
sys.stderr.write(f"\\nMODULES {code} " + json.dumps(sorted(sys.modules)) + "\\n")
"""

# Never needed to list executions of a SQLite store.
NOT_FOR_RUNS_LIST = (
    "fuchsia.store.postgres",
    "psycopg",
    "wasmtime",
    "httpx",
    "pydantic",
    "jsonschema",
    "jinja2",
    "yaml",
    "fuchsia.definition",
    "fuchsia.components",
    "fuchsia.runtime.driver",
    "fuchsia.server",
    "fuchsia.cli.definition",
    "fuchsia.cli.component",
    "fuchsia.cli.server",
    "fuchsia.cli.workflows",
    "fuchsia.cli.keys",
    "fuchsia.cli.node",
    "fuchsia.cli.progress",
    "prometheus_client",
)


def loaded(env: FuchsiaEnv, *args: str) -> set[str]:
    """The modules a `fuchsia ARGS` process had loaded when it finished (exit 0 insisted on)."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        env=env.env,
        cwd=env.home,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    _, marker, tail = done.stderr.rpartition("\nMODULES ")
    code, _, modules = tail.partition(" ")
    assert marker and code == "0", done.stderr
    return set(json.loads(modules))


def under(modules: set[str], packages: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in packages))


def store_with_one_run(env: FuchsiaEnv) -> None:
    done = env.run("run", str(EXAMPLE), "--input", '{"name": "Ada"}', "--json")
    assert done.returncode == 0, done.stderr


def test_runs_list_loads_only_the_store_and_engine_it_reads(fuchsia_env: FuchsiaEnv) -> None:
    store_with_one_run(fuchsia_env)
    modules = loaded(fuchsia_env, "runs", "list")
    assert "fuchsia.cli.runs" in modules and "fuchsia.store.sqlite" in modules
    assert under(modules, NOT_FOR_RUNS_LIST) == []


def test_runs_list_json_does_not_load_rich(fuchsia_env: FuchsiaEnv) -> None:
    store_with_one_run(fuchsia_env)
    modules = loaded(fuchsia_env, "runs", "list", "--json")
    assert under(modules, ("rich", *NOT_FOR_RUNS_LIST)) == []


def test_help_lists_every_command_without_the_engine(fuchsia_env: FuchsiaEnv) -> None:
    done = fuchsia_env.run("--help")
    assert done.returncode == 0, done.stderr
    rows = [line[2:] for line in done.stdout.splitlines() if line.startswith("│ ")]
    listed = [row.split()[0] for row in rows if row[:1].isalpha()]  # not a wrapped line
    assert [name for name in listed if name in COMMANDS] == list(COMMANDS)
    modules = loaded(fuchsia_env, "--help")
    engine = ("fuchsia.runtime", "fuchsia.definition", "httpx", "pydantic", "wasmtime")
    assert under(modules, engine) == []


def test_a_workflow_without_components_or_http_runs_without_the_wasm_host_httpx_or_registry(
    fuchsia_env: FuchsiaEnv,
) -> None:
    modules = loaded(fuchsia_env, "run", str(EXAMPLE), "--input", '{"name": "Ada"}', "--json")
    assert "fuchsia.runtime.driver" in modules
    host = ("wasmtime", "fuchsia.components.host", "fuchsia.store.postgres", "psycopg", "httpx")
    registry = ("fuchsia.components.registry", "fuchsia.components.manifest")
    assert under(modules, (*host, *registry, "fuchsia.cli.progress")) == []
    # no OTEL_* variable: nothing of OpenTelemetry (or Prometheus) is imported
    telemetry = ("opentelemetry", "fuchsia.observe.otel", "prometheus_client")
    assert under(modules, telemetry) == []
    assert "fuchsia.observe.metrics" in modules  # a run reports to its no-op recorder
