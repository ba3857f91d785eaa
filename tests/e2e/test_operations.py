"""One operations surface, against a real `fuchsia serve` on 127.0.0.1: the `AsyncClient`
builds the very views the `Engine` returns, and the command line renders the same output
whether it opened a local engine (`--db`) or the server (`--server`)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import fuchsia
from fuchsia import AsyncClient, Engine
from fuchsia.errors import ServerError
from fuchsia.runtime.views import DeployedWorkflow, Execution, ExecutionSummary
from fuchsia.store.records import ArtifactRef, Deployment, EventRecord
from support.httpserver import LoopbackServer
from support.server import Served

APPROVE = """
name: approve
version: 1
nodes:
  ask: {transform: {amount: "{{ amount }}"}}
  wait_for_it: {after: ask, wait: {signal: ok}}
  done: {after: wait_for_it, transform: {by: "{{ by }}"}}
"""
BAD = "name: bad\nnodes:\n  a: {transform: {x: '{{ missing }}'}}\n"
ROWS = 60_000  # ~350 KB of JSON: above the server's default inline limit of 256 KiB
BIG = f'name: big\nnodes:\n  make: {{transform: {{rows: "{{{{ range({ROWS}) | list }}}}"}}}}\n'
ID = re.compile(r"\b[0-9a-f]{26}\b")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("operations")
    with Served(tmp, schedule=False) as running:
        with fuchsia.Client(running.url, token=running.tokens["admin"]) as client:
            for source in (APPROVE, BAD, BIG):
                client.deploy(source)
        yield running


def _waiting(served: Served, amount: int) -> str:
    with fuchsia.Client(served.url, token=served.tokens["run"]) as client:
        execution_id: str = client.start("approve", {"amount": amount})["id"]
        while client.get(execution_id)["status"] != "waiting":
            pass  # the server drives it to its wait node
        return execution_id


def _round_trips(value: Any) -> None:
    """`from_json(to_json(x)) == x`, through JSON text."""
    assert type(value).from_json(json.loads(json.dumps(value.to_json()))) == value


def test_the_client_returns_the_views_the_engine_returns(served: Served, tmp_path: Path) -> None:
    waiting = _waiting(served, 7)

    async def main() -> None:
        async with (
            await Engine.open(served.db, home=served.home) as engine,
            AsyncClient(served.url, token=served.tokens["admin"]) as client,
        ):
            big = await client.wait(await client.start_deployed("big", idempotency_key="big-1"))
            bad = await client.wait(await client.start_deployed("bad"))
            retried = await client.wait(await client.retry(bad.id))
            assert (big.status, bad.status, retried.status) == ("completed", "failed", "failed")
            assert await client.signal(waiting, "ok", {"by": "ada"}) > 0
            done = await client.wait(waiting[:12])
            assert done == await engine.get(waiting) and done.result == {"by": "ada"}
            await _compare_reads(engine, client, [big.id, bad.id, retried.id, waiting])
            assert big.result_artifact is not None
            ref, data = await client.artifact(big.id, big.result_artifact.id)
            assert (ref, data) == await engine.artifact(big.id, big.result_artifact.id)
            assert json.loads(data) == await client.result(big.id) == {"rows": list(range(ROWS))}
            _round_trips(ref)
            flow = tmp_path / "flow.yaml"
            flow.write_text(APPROVE.replace("version: 1", "version: 2"))
            deployed, created = await client.deploy(flow)
            assert created and deployed == await engine.deployment("approve@2")
            assert (await client.deploy(flow))[1] is False
            assert await client.set_active("approve@2", False) == await engine.deployment(
                "approve@2"
            )
            with pytest.raises(fuchsia.WorkflowNotFound):
                await client.deployment("nowhere")
            with pytest.raises(fuchsia.ExecutionNotFound):
                await client.events("f" * 26)
            # an id is one segment of the path: a `?` in it does not start a query (it read
            # the execution before it), and an empty one does not address the list
            with pytest.raises(fuchsia.ExecutionNotFound):
                await client.get(big.id + "?x=1")
            with pytest.raises(fuchsia.errors.RequestError, match="id is empty"):
                await client.get("")
            with pytest.raises(fuchsia.ExecutionNotFound):
                await engine.events("f" * 26)

    asyncio.run(main())


async def _compare_reads(engine: Engine, client: AsyncClient, ids: list[str]) -> None:
    listed = await client.executions(limit=100)
    assert listed == await engine.executions(limit=100)
    assert all(isinstance(s, ExecutionSummary) for s in listed)
    for summary in listed:
        _round_trips(summary)
    for execution_id in ids:
        execution = await client.get(execution_id)
        assert isinstance(execution, Execution) and execution == await engine.get(execution_id)
        _round_trips(execution)
        events = await client.events(execution_id)
        assert events == await engine.events(execution_id) and events
        assert all(isinstance(e, EventRecord) for e in events)
        _round_trips(events[0])
        assert await client.events(execution_id, 2) == await engine.events(execution_id, 2)
        artifacts = await client.artifacts(execution_id)
        assert artifacts == await engine.artifacts(execution_id)
        assert all(isinstance(a, ArtifactRef) for a in artifacts)
    deployments = await client.deployments()
    assert deployments == await engine.deployments() and deployments
    assert await client.deployments("bad") == await engine.deployments("bad")
    for deployment in deployments:
        assert isinstance(deployment, Deployment)
        _round_trips(deployment)
    remote, local = await client.workflow("approve"), await engine.workflow("approve")
    assert isinstance(remote, DeployedWorkflow)
    assert remote.deployment == local.deployment and remote.to_json() == local.to_json()
    assert (
        remote.workflow.hash == local.workflow.hash
        and remote.workflow.order == local.workflow.order
    )


def test_an_answer_that_is_not_the_view_is_a_server_error(http_server: LoopbackServer) -> None:
    """A server that answers JSON of another shape (here: one echoing the request) gets a
    `ServerError`, never a KeyError from deep inside the client."""

    async def main() -> None:
        async with AsyncClient(http_server.url("/echo")) as client:
            with pytest.raises(ServerError, match="not an execution this client can read"):
                await client.get("x")
            with pytest.raises(ServerError, match="not a deployment this client can read"):
                await client.pin("x@1")
            with pytest.raises(ServerError, match="JSON that is not a list"):
                await client.events("x")
        async with AsyncClient(http_server.url("/nowhere")) as client:
            with pytest.raises(ServerError, match=r"answered 404 .* not an API error"):
                await client.get("x")

    asyncio.run(main())


# -- the command line: the same commands, locally and against the server -------------------


def _cli(served: Served, tmp: Path, where: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUCHSIA_")}
    env.update(FUCHSIA_HOME=str(served.home), FUCHSIA_TOKEN=served.tokens["admin"])
    command = [sys.executable, "-m", "fuchsia"]
    if where == "remote":
        command += ["--server", served.url, *args]
    else:
        command += [*args, "--db", served.db]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=False)


def _same(served: Served, tmp: Path, *args: str) -> str:
    local = _cli(served, tmp, "local", *args)
    remote = _cli(served, tmp, "remote", *args)
    assert local.returncode == remote.returncode, (args, local.stderr, remote.stderr)
    assert local.stdout == remote.stdout, args
    assert local.stderr == remote.stderr, args
    return local.stdout


def _normalised(text: str) -> str:
    """Output with execution ids, signal numbers and durations taken out (two commands that
    each start or signal their own execution differ in those only)."""
    text = ID.sub("<id>", text)
    text = re.sub(r"\(signal id \d+\)", "(signal id n)", text)
    return re.sub(r" in [0-9.]+ (ms|s)\b", " in <t>", text)


def _alike(served: Served, tmp: Path, pair: tuple[str, str], *args: str) -> str:
    """`args` with `{}` as the first id locally and the second against the server."""
    local = _cli(served, tmp, "local", *(a.replace("{}", pair[0]) for a in args))
    remote = _cli(served, tmp, "remote", *(a.replace("{}", pair[1]) for a in args))
    assert local.returncode == remote.returncode, (args, local.stderr, remote.stderr)
    assert _normalised(local.stdout) == _normalised(remote.stdout), args
    assert _normalised(local.stderr) == _normalised(remote.stderr), args
    return _normalised(remote.stdout)


def test_the_cli_renders_the_same_locally_and_remotely(served: Served, tmp_path: Path) -> None:
    bad = _cli(served, tmp_path, "remote", "workflows", "run", "bad", "--json")
    assert bad.returncode == 1
    bad_id = json.loads(bad.stdout)["id"]
    to_signal = (_waiting(served, 1), _waiting(served, 1))
    to_cancel = (_waiting(served, 2), _waiting(served, 2))
    signalled = _alike(
        served, tmp_path, to_signal, "runs", "signal", "{}", "ok", "-p", '{"by": "x"}'
    )
    assert signalled == "signal 'ok' sent (signal id n)\n"
    _alike(served, tmp_path, to_cancel, "runs", "cancel", "{}")
    _alike(served, tmp_path, (bad_id, bad_id), "runs", "retry", "{}")
    to_pause = (_waiting(served, 3), _waiting(served, 3))
    assert " paused" in _alike(served, tmp_path, to_pause, "runs", "pause", "{}")
    resumed = _alike(served, tmp_path, to_pause, "runs", "resume", "{}")
    assert "goes on in the process that drives it" in resumed  # the server's
    _alike(served, tmp_path, to_pause, "runs", "cancel", "{}")
    _alike(served, tmp_path, to_signal, "runs", "show", "{}")  # wait until both are done
    for execution_id in (*to_signal, *to_cancel):
        with fuchsia.Client(served.url, token=served.tokens["read"]) as reader:
            reader.wait(execution_id, timeout=60)
    for args in (
        ("runs", "list"),
        ("runs", "list", "--json"),
        ("runs", "list", "--status", "failed"),
        ("workflows", "list"),
        ("workflows", "list", "--json"),
        ("workflows", "show", "approve"),
        ("workflows", "show", "approve@1", "--json"),
        ("runs", "show", "nothing-here"),
        ("workflows", "show", "nowhere"),
    ):
        _same(served, tmp_path, *args)
    for execution_id in (bad_id, *to_signal, *to_cancel):
        for args in (
            ("runs", "show", execution_id),
            ("runs", "show", execution_id[:10], "--json"),
            ("runs", "logs", execution_id),
            ("runs", "logs", execution_id, "--json"),
            ("runs", "artifacts", execution_id),
        ):
            _same(served, tmp_path, *args)
    for execution_id in to_cancel:  # idempotent: both answer the cancelled execution
        _same(served, tmp_path, "runs", "cancel", execution_id, "--json")
