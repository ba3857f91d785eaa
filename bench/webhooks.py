"""Webhook benchmarks (issue 5): latency from delivery to started execution (the 202), p50 and
p99, and sustained accepted webhooks per second, against `fuchsia serve` on 127.0.0.1.

Latency comes from `--latency-samples` deliveries sent one at a time; throughput from
`--requests` deliveries sent `--concurrency` at a time. The load is bounded in count and in
time: no delivery starts after `--max-seconds`, and the report says how many were sent.

Usage: python bench/webhooks.py [--requests N] [--latency-samples N] [--max-seconds S]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

KEY = base64.b64encode(b"bench-webhook-key").decode()
FLOW = f"""
name: hook
trigger:
  type: webhook
  webhook: {{path: /bench, secret: "whsec_{KEY}"}}
nodes:
  take: {{transform: {{n: "{{{{ n }}}}"}}}}
"""


def signed(body: bytes, delivery: str) -> dict[str, str]:
    at = str(int(time.time()))
    mac = hmac.new(base64.b64decode(KEY), f"{delivery}.{at}.".encode() + body, hashlib.sha256)
    return {
        "webhook-id": delivery,
        "webhook-timestamp": at,
        "webhook-signature": "v1," + base64.b64encode(mac.digest()).decode(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency-samples", type=int, default=500)
    parser.add_argument("--max-seconds", type=float, default=120.0)
    args = parser.parse_args()
    stop_at = time.monotonic() + args.max_seconds
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FUCHSIA_")}
        env["FUCHSIA_HOME"] = str(Path(tmp) / "home")
        flow = Path(tmp) / "hook.yaml"
        flow.write_text(FLOW)
        fuchsia = [sys.executable, "-m", "fuchsia"]
        subprocess.run([*fuchsia, "deploy", str(flow)], env=env, check=True, capture_output=True)
        port = 18000 + os.getpid() % 1000
        server = subprocess.Popen(
            [*fuchsia, "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}/hooks/bench"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(f"http://127.0.0.1:{port}/healthz")
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "the server did not start"
                    time.sleep(0.05)
            with httpx.Client(timeout=30) as client:
                latencies = []
                for i in range(args.latency_samples):  # one at a time: latency
                    if time.monotonic() > stop_at:
                        break
                    body = json.dumps({"n": i}).encode()
                    started = time.perf_counter()
                    response = client.post(url, content=body, headers=signed(body, f"l{i}"))
                    latencies.append(time.perf_counter() - started)
                    assert response.status_code == 202, response.text

            local = threading.local()

            def send(i: int) -> int:
                if time.monotonic() > stop_at:
                    return 0  # over the time budget: not sent
                if not hasattr(local, "client"):
                    local.client = httpx.Client(timeout=30)
                body = json.dumps({"n": i}).encode()
                return int(
                    local.client.post(url, content=body, headers=signed(body, f"t{i}")).status_code
                )

            started = time.perf_counter()
            with ThreadPoolExecutor(args.concurrency) as pool:
                codes = list(pool.map(send, range(args.requests)))
            elapsed = time.perf_counter() - started
        finally:
            server.terminate()
            server.wait(timeout=60)
    accepted = codes.count(202)
    sent = len(codes) - codes.count(0)
    latencies.sort()
    print("| measure | result |")
    print("|---|---|")
    print(f"| webhook to started execution, p50 | {statistics.median(latencies) * 1000:.1f} ms |")
    p99 = latencies[math.ceil(len(latencies) * 0.99) - 1] * 1000  # nearest rank
    print(f"| webhook to started execution, p99 | {p99:.1f} ms ({len(latencies)} sequential) |")
    print(
        f"| sustained accepted webhooks ({args.concurrency} concurrent) | "
        f"{accepted / elapsed:,.0f} /s ({accepted} of {sent} sent accepted) |"
    )


if __name__ == "__main__":
    main()
