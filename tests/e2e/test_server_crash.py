"""`kill -9` of `fuchsia serve` while executions run: a restarted server finishes them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from support.httpserver import LoopbackServer
from support.ports import free_port

pytestmark = pytest.mark.slow


def serve(env: dict[str, str], port: int) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "fuchsia", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                return process
        except httpx.TransportError:
            pass
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)


def test_executions_survive_a_killed_server(tmp_path: Path, http_server: LoopbackServer) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUCHSIA_")}
    env["FUCHSIA_HOME"] = str(tmp_path / "home")
    token = subprocess.run(
        [sys.executable, "-m", "fuchsia", "tokens", "create", "t", "-s", "admin"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    prefix = f"srv-{uuid.uuid4().hex[:8]}"
    steps = "\n".join(
        f"  s{i}:{' {after: s' + str(i - 1) + ',' if i else ' {'}"
        f' http: {{url: "{http_server.url(f"/ok/{prefix}-{i}")}?delay=0.1"}}}}'
        for i in range(10)
    )
    source = f"name: chain\nnodes:\n{steps}\n"
    port = free_port()
    headers = {"Authorization": f"Bearer {token}"}
    server = serve(env, port)
    try:
        api = f"http://127.0.0.1:{port}/api/v1"
        assert (
            httpx.post(f"{api}/workflows", json={"source": source}, headers=headers).status_code
            == 201
        )
        ids = [
            httpx.post(f"{api}/executions", json={"workflow": "chain"}, headers=headers).json()[
                "id"
            ]
            for _ in range(3)
        ]
        deadline = time.monotonic() + 30
        while len(http_server.counts(f"/ok/{prefix}-")) < 3:
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        os.kill(server.pid, signal.SIGKILL)
        server.communicate()
    restarted = serve(env, port)
    try:
        deadline = time.monotonic() + 60
        statuses: list[str] = []
        while time.monotonic() < deadline:
            statuses = [
                httpx.get(f"{api}/executions/{i}", headers=headers).json()["status"] for i in ids
            ]
            if statuses == ["completed"] * 3:
                break
            time.sleep(0.1)
        assert statuses == ["completed"] * 3
    finally:
        restarted.send_signal(signal.SIGTERM)
        _, stderr = restarted.communicate(timeout=60)
    # a SIGTERM is the ordinary way a service manager stops it: a clean stop, exit 0, as
    # `fuchsia worker`'s (not the signal uvicorn raises again once it has shut down)
    assert restarted.returncode == 0, stderr
