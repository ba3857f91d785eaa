"""A small real HTTP server on 127.0.0.1 for tests that need one (no mocks).

It runs `http.server.ThreadingHTTPServer` on a free loopback port in a background thread and
counts every request by path (the query string is not part of the key), under a lock, so a
test can prove how often a node called it. Routes:

- `/ok/<name>?delay=S`: 200 JSON `{"name": name, "calls": n}` after S seconds (default 0).
- `/echo[/...]`: 200 JSON of the request: method, path, query, headers, body, json.
- `/status/<code>`: that status with JSON `{"status": code}`.
- `/slow?seconds=S`: 200 JSON `{"slept": S}` after S seconds (cut short when the server stops).
- `/flaky/<key>?fail=N&status=C`: status C (default 503) for the first N calls to that path,
  then 200 JSON `{"key": key, "calls": n}`.
- `/text`: 200 `text/plain`.
- `/repeat?head=H&middle=M&n=N&tail=T&type=C`: 200 with body H + M * N + T, of content type C
  (default `application/json`): a small request for a huge or deeply nested body.
- `/barrier/<key>?n=N&timeout=S`: holds every call until N calls reached that path, then 200
  JSON `{"key": key, "arrived": calls}`; 504 if S seconds (default 20) pass first. A success
  proves that N requests were in flight at once.
- `/hold/<name>?gate=G&timeout=S`: holds every call until the test calls `release(G)` (G
  defaults to the name), then 200 JSON `{"name": name, "calls": n}`; 504 if S seconds
  (default 60) pass first. A call stays in flight for as long as the test needs it to; calls
  on many paths (each counted on its own) can share one gate; `held(G)` counts the calls a
  gate holds now.
- `/counts`: 200 JSON `{path: calls}` of every path so far (itself not counted).

Anything else is a 404. Use `with LoopbackServer() as server:` or `start()`/`stop()`.

Loopback traffic must never go through a proxy the environment may name: `clear_proxies`
clears `PROXY_VARS` for a test (the integration and fault suites do it for every test).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

TEXT_BODY = "plain text from the loopback server\n"
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


def clear_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset every proxy variable and exempt loopback, for this test only."""
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@dataclass(frozen=True)
class Request:
    """One request as the server received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a handler still sleeping must not hold up stop()
    request_queue_size = 128  # many clients connect at once in the concurrency tests

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.requests: list[Request] = []
        self.stopping = threading.Event()
        self.arrivals = threading.Condition(self.lock)
        self.released: set[str] = set()
        self.holding: Counter[str] = Counter()  # calls `/hold` holds, by gate

    def record(self, request: Request) -> int:
        with self.lock:
            self.calls[request.path] += 1
            self.requests.append(request)
            self.arrivals.notify_all()
            return self.calls[request.path]

    def barrier(self, path: str, n: int, timeout: float) -> int | None:
        """Wait until `path` has had `n` calls; return the count, or None on timeout/stop."""
        deadline = time.monotonic() + timeout
        with self.arrivals:
            while self.calls[path] < n:
                left = deadline - time.monotonic()
                if left <= 0 or self.stopping.is_set():
                    return None
                self.arrivals.wait(min(left, 0.1))
            return self.calls[path]

    def hold(self, gate: str, timeout: float) -> bool:
        """Wait until `gate` is released; False on timeout/stop."""
        deadline = time.monotonic() + timeout
        with self.arrivals:
            self.holding[gate] += 1
            try:
                while gate not in self.released:
                    left = deadline - time.monotonic()
                    if left <= 0 or self.stopping.is_set():
                        return False
                    self.arrivals.wait(min(left, 0.1))
                return True
            finally:
                self.holding[gate] -= 1

    def release(self, gate: str) -> None:
        with self.arrivals:
            self.released.add(gate)
            self.arrivals.notify_all()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (a timed-out node) is expected; stay quiet about it."""


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # one request per connection: nothing idles at shutdown

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def do_HEAD(self) -> None:
        self._handle(head=True)

    # -- routing -------------------------------------------------------------------------

    def _handle(self, *, head: bool = False) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        if path == "/counts":
            with self.server.lock:
                counts = dict(self.server.calls)
            self._json(200, counts, head=head)
            return
        request = Request(
            method=self.command,
            path=path,
            query=query,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        calls = self.server.record(request)
        segments = [s for s in path.split("/") if s]
        route = segments[0] if segments else ""
        if route == "ok" and len(segments) == 2:
            self._pause(float(query.get("delay", "0")))
            self._json(200, {"name": segments[1], "calls": calls}, head=head)
        elif route == "echo":
            self._json(200, _echo(request), head=head)
        elif route == "status" and len(segments) == 2 and segments[1].isdigit():
            code = int(segments[1])
            self._json(code, {"status": code}, head=head)
        elif route == "slow" and len(segments) == 1:
            seconds = float(query.get("seconds", "1"))
            self._pause(seconds)
            self._json(200, {"slept": seconds}, head=head)
        elif route == "flaky" and len(segments) == 2:
            failing = calls <= int(query.get("fail", "1"))
            code = int(query.get("status", "503")) if failing else 200
            self._json(code, {"key": segments[1], "calls": calls}, head=head)
        elif route == "barrier" and len(segments) == 2:
            n = int(query.get("n", "2"))
            arrived = self.server.barrier(path, n, float(query.get("timeout", "20")))
            if arrived is None:
                self._json(504, {"key": segments[1], "error": f"fewer than {n} calls arrived"})
            else:
                self._json(200, {"key": segments[1], "arrived": arrived}, head=head)
        elif route == "hold" and len(segments) == 2:
            gate = query.get("gate", segments[1])
            if self.server.hold(gate, float(query.get("timeout", "60"))):
                self._json(200, {"name": segments[1], "calls": calls}, head=head)
            else:
                self._json(504, {"name": segments[1], "error": f"{gate} not released in time"})
        elif route in ("text", "repeat") and len(segments) == 1:
            self._send(200, *_content(route, query), head=head)
        else:
            self._json(404, {"error": f"no route for {path}"}, head=head)

    # -- replies -------------------------------------------------------------------------

    def _pause(self, seconds: float) -> None:
        if seconds > 0:
            self.server.stopping.wait(seconds)

    def _json(self, status: int, value: Any, *, head: bool = False) -> None:
        self._send(status, json.dumps(value).encode(), "application/json", head=head)

    def _send(self, status: int, body: bytes, content_type: str, *, head: bool = False) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)
        except OSError:
            pass  # the client went away (e.g. it timed out); nothing to tell it


def _content(route: str, query: dict[str, str]) -> tuple[bytes, str]:
    """The body and content type of `/text` and `/repeat`."""
    if route == "text":
        return TEXT_BODY.encode(), "text/plain; charset=utf-8"
    body = query.get("head", "") + query.get("middle", "") * int(query.get("n", "0"))
    body += query.get("tail", "")
    return body.encode(), query.get("type", "application/json")


def _echo(request: Request) -> dict[str, Any]:
    text = request.body.decode("utf-8", errors="replace")
    parsed: Any = None
    if "json" in request.headers.get("content-type", ""):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            parsed = None
    return {
        "method": request.method,
        "path": request.path,
        "query": request.query,
        "headers": request.headers,
        "body": text,
        "json": parsed,
    }


class LoopbackServer:
    """The server, its thread, and what a test asks of it."""

    def __init__(self) -> None:
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def server(self) -> _Server:
        if self._server is None:
            raise RuntimeError("the loopback server is not running")
        return self._server

    @property
    def port(self) -> int:
        port: int = self.server.server_address[1]
        return port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def start(self) -> LoopbackServer:
        self._server = _Server()
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="loopback-http-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def release(self, gate: str) -> None:
        """Answer the calls `/hold/...` holds at `gate`, and every later one at once."""
        self.server.release(gate)

    # -- what was seen -------------------------------------------------------------------

    def count(self, path: str) -> int:
        """How many requests this path got so far (query strings are not part of the path)."""
        with self.server.lock:
            return self.server.calls[path]

    def counts(self, prefix: str = "") -> dict[str, int]:
        """Calls per path, for the paths that start with `prefix`."""
        with self.server.lock:
            return {p: n for p, n in self.server.calls.items() if p.startswith(prefix)}

    def held(self, gate: str) -> int:
        """How many calls `/hold/...` holds at `gate` now (not yet released or timed out)."""
        with self.server.lock:
            return self.server.holding[gate]

    def requests(self, path: str) -> list[Request]:
        """The requests this path got, oldest first."""
        with self.server.lock:
            return [r for r in self.server.requests if r.path == path]
