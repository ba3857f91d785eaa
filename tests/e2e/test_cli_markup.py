"""User data printed by the command line is shown as it is: rich reads its strings and table
cells as markup, so a `[/x]` in an error message, a payload value or an option once raised
a traceback (a closing tag that matches nothing) instead of being printed."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from e2e.conftest import FuchsiaEnv

HOSTILE = "[/x]"


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def failing_run(env: FuchsiaEnv) -> str:
    """Run a workflow whose node fails with an error message that carries the payload's
    `[/x]`; return the execution's id."""
    workflow = Path(env.home) / "markup.yaml"
    workflow.write_text(
        "name: markup\nnodes:\n  fetch:\n    http:\n"
        f'      url: "http://127.0.0.1:{closed_port()}/{{{{ path }}}}"\n'
    )
    done = env.run("run", str(workflow), "--input", json.dumps({"path": HOSTILE}))
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 1
    assert "error: GET http://127.0.0.1:" in done.stdout and HOSTILE in done.stdout
    listed = env.json("runs", "list")
    return str(listed[0]["id"])


def test_an_error_carrying_markup_is_printed_as_it_is(fuchsia_env: FuchsiaEnv) -> None:
    execution_id = failing_run(fuchsia_env)
    shown = fuchsia_env.run("runs", "show", execution_id)
    assert "Traceback" not in shown.stderr, shown.stderr
    assert shown.returncode == 0
    node_row = next(line for line in shown.stdout.splitlines() if line.lstrip().startswith("fetch"))
    assert HOSTILE in node_row
    assert "Traceback" not in fuchsia_env.run("runs", "list").stderr


def test_an_option_value_carrying_markup_is_quoted_in_the_usage_error(
    fuchsia_env: FuchsiaEnv,
) -> None:
    done = fuchsia_env.run("runs", "list", "--status", HOSTILE)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 2
    assert f"--status '{HOSTILE}' is not an execution status" in done.stderr
