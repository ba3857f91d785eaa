"""`runs retry`: a new execution that reuses what succeeded and re-runs the rest."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest

from fuchsia import Engine, Execution
from fuchsia.errors import NodeNotFound
from support.flows import cli_in
from support.httpserver import LoopbackServer


def flow(tmp_path: Path, loopback: LoopbackServer, key: str) -> Path:
    path = tmp_path / "flow.yaml"
    path.write_text(f"""
name: retryable
nodes:
  fetch: {{http: {{url: "{loopback.url(f"/ok/{key}-fetch")}"}}}}
  side: {{http: {{url: "{loopback.url(f"/ok/{key}-side")}"}}}}
  flaky: {{after: fetch, http: {{url: "{loopback.url(f"/flaky/{key}")}?fail=1"}}}}
  report:
    after: [flaky, side]
    join: all
    transform: {{name: "{{{{ side.json.name }}}}", ok: "{{{{ flaky.status }}}}"}}
""")
    return path


def test_retry_reuses_succeeded_nodes_and_reruns_what_failed(
    tmp_path: Path, loopback: LoopbackServer
) -> None:
    key = uuid.uuid4().hex[:8]
    path = flow(tmp_path, loopback, key)

    async def main() -> tuple[Execution, Execution, list[str]]:
        async with await Engine.open(str(tmp_path / "f.db")) as engine:
            failed = await engine.run(str(path))
            retried = await engine.wait(await engine.retry(failed.id))
            events = [e.type for e in await engine.events(retried.id)]
            return failed, retried, events

    failed, retried, events = asyncio.run(main())
    assert failed.status == "failed"
    assert retried.status == "completed", retried.error
    assert retried.id != failed.id
    assert retried.result == {"name": f"{key}-side", "ok": 200}
    assert events[0] == "execution_retry_of"
    assert events.count("node_reused") == 2  # fetch and side
    counts = loopback.counts(f"/ok/{key}-")
    assert counts == {f"/ok/{key}-fetch": 1, f"/ok/{key}-side": 1}  # not called again


def test_retry_from_a_node_reruns_it_and_everything_downstream(
    tmp_path: Path, loopback: LoopbackServer
) -> None:
    key = uuid.uuid4().hex[:8]
    path = flow(tmp_path, loopback, key)

    async def main() -> Execution:
        async with await Engine.open(str(tmp_path / "f.db")) as engine:
            failed = await engine.run(str(path))
            first = await engine.wait(await engine.retry(failed.id))
            again = await engine.wait(await engine.retry(first.id, "fetch"))
            with pytest.raises(NodeNotFound, match="has no node 'fetc' \\(did you mean 'fetch'"):
                await engine.retry(first.id, "fetc")
            return again

    again = asyncio.run(main())
    assert again.status == "completed"
    assert loopback.counts(f"/ok/{key}-") == {f"/ok/{key}-fetch": 2, f"/ok/{key}-side": 1}


def test_runs_retry_on_the_command_line(tmp_path: Path, loopback: LoopbackServer) -> None:
    key = uuid.uuid4().hex[:8]
    path = flow(tmp_path, loopback, key)
    cli = cli_in(tmp_path)

    failed = json.loads(cli("run", str(path), "--json").stdout)
    assert failed["status"] == "failed"
    retried = cli("runs", "retry", failed["id"], "--from", "flaky", "--json")
    assert retried.returncode == 0, retried.stderr
    assert json.loads(retried.stdout)["status"] == "completed"
