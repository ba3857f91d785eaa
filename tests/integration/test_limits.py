"""Caps on what an attempt may store (runtime/limits.py), and the rule behind them: a value
the runtime or the store will not keep fails its node with a clear error, and the execution
always finishes (failed, or per `on_error`); nothing is left `running`, nothing re-run by a
resume. Small caps keep the values small; one test makes SQLite itself refuse a write."""

from __future__ import annotations

import asyncio
import gzip
import json
import sqlite3
import threading
import tracemalloc
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from fuchsia import Engine, Execution, PayloadError
from fuchsia.runtime.limits import Limits

CAP = 64 * 1024
SMALL = Limits(output=CAP, response=CAP)
BIG_ROWS = 20_000  # `range(20000) | list` is ~110 KB of JSON: over CAP
HALF_ROWS = 7_000  # ~40 KB: under CAP, two of them over it
BOMB = gzip.compress(b"\0" * (256 * 1024 * 1024), compresslevel=9)  # 256 MiB inflated


def _raw_deflate(data: bytes) -> bytes:
    squeeze = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return squeeze.compress(data) + squeeze.flush()


DOC = json.dumps({"rows": list(range(5000))}).encode()  # ~30 KB: under CAP
ENCODED = {
    "/gzip": ("gzip", gzip.compress(DOC)),
    "/deflate": ("deflate", zlib.compress(DOC)),
    "/raw-deflate": ("deflate", _raw_deflate(DOC)),
    "/members": ("gzip", gzip.compress(DOC[:1000]) + gzip.compress(DOC[1000:])),
}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/big":
            body, headers = b"y" * (1024 * 1024), {"content-type": "text/plain"}
        elif self.path == "/bomb":
            body, headers = BOMB, {"content-type": "text/plain", "content-encoding": "gzip"}
        elif self.path in ENCODED:
            coding, body = ENCODED[self.path]
            headers = {"content-type": "application/json", "content-encoding": coding}
        else:
            body, headers = b"{}", {"content-type": "application/json"}
        self.send_response(200)
        for name, value in {**headers, "content-length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def run(tmp_path: Path, text: str, limits: Limits = SMALL) -> Execution:
    path = tmp_path / "flow.yaml"
    path.write_text(text)

    async def main() -> Execution:
        async with await Engine.open(str(tmp_path / "f.db"), limits=limits) as engine:
            return await engine.run(path)

    return asyncio.run(main())


def error_of(execution: Execution, node_id: str) -> dict[str, object]:
    error = execution.node(node_id).error
    assert error is not None, execution.node(node_id)
    return error


def test_an_output_over_the_cap_fails_its_node_with_the_cap_and_the_size(tmp_path: Path) -> None:
    rows = f'"{{{{ range({BIG_ROWS}) | list }}}}"'
    done = run(tmp_path, f"name: big\nnodes:\n  make: {{transform: {{rows: {rows}}}}}\n")
    assert done.status == "failed"
    error = error_of(done, "make")
    assert error["type"] == "limit_exceeded" and error["retryable"] is False
    message = str(error["message"])
    assert "limits.output" in message and f"{CAP} bytes" in message
    assert done.error is not None and done.error["type"] == "limit_exceeded"
    assert done.node("make").attempts[0].output is None


def test_on_error_continue_goes_on_past_an_output_over_the_cap(tmp_path: Path) -> None:
    done = run(
        tmp_path,
        f"""
name: big-continue
nodes:
  make: {{transform: {{rows: "{{{{ range({BIG_ROWS}) | list }}}}"}}, on_error: continue}}
  other: {{transform: {{ok: true}}}}
""",
    )
    assert done.status == "completed_with_errors"
    assert error_of(done, "make")["type"] == "limit_exceeded"
    assert done.node("other").output == {"ok": True}


def test_a_result_over_the_cap_fails_the_execution_though_each_output_fits(
    tmp_path: Path,
) -> None:
    rows = f'"{{{{ range({HALF_ROWS}) | list }}}}"'
    done = run(
        tmp_path,
        f"name: halves\nnodes:\n  a: {{transform: {{rows: {rows}}}}}\n"
        f"  b: {{transform: {{rows: {rows}}}}}\n",
    )
    assert done.node("a").status == done.node("b").status == "succeeded"
    assert done.status == "failed" and done.result is None
    assert done.error is not None and "the execution's result" in done.error["message"]


def test_a_sub_workflow_result_over_the_cap_fails_the_parents_node(tmp_path: Path) -> None:
    rows = f'"{{{{ range({HALF_ROWS}) | list }}}}"'
    (tmp_path / "child.yaml").write_text(
        f"name: halves\nnodes:\n  a: {{transform: {{rows: {rows}}}}}\n"
        f"  b: {{transform: {{rows: {rows}}}}}\n"
    )
    done = run(tmp_path, "name: p\nnodes:\n  call: {workflow: {path: child.yaml}}\n")
    assert done.status == "failed"
    message = str(error_of(done, "call")["message"])
    assert "sub-workflow halves" in message and "the execution's result" in message


def test_foreach_items_and_context_over_the_cap_fail_their_node(tmp_path: Path) -> None:
    done = run(
        tmp_path,
        f"""
name: items
nodes:
  each:
    foreach: {{items: "{{{{ range({BIG_ROWS}) | list }}}}"}}
    transform: {{n: "{{{{ item }}}}"}}
    on_error: continue
  remember:
    transform: {{ok: true}}
    context: {{rows: "{{{{ range({BIG_ROWS}) | list }}}}"}}
    on_error: continue
""",
    )
    assert done.status == "completed_with_errors"
    assert "foreach.items" in str(error_of(done, "each")["message"])
    assert "the execution's context" in str(error_of(done, "remember")["message"])


def test_contexts_written_by_attempts_that_finish_together_stay_within_the_cap(
    tmp_path: Path,
) -> None:
    """Two parallel nodes each write a context within the cap that together exceed it: they
    finish in one batch, and the second is held to the context the first already made."""
    done = run(
        tmp_path,
        """
name: contexts
nodes:
  a:
    transform: {ok: true}
    context: {a: "{{ range(7000) | list }}"}
    on_error: continue
  b:
    transform: {ok: true}
    context: {b: "{{ range(7000) | list }}"}
    on_error: continue
""",
    )
    statuses = {n: done.node(n).status for n in ("a", "b")}
    assert sorted(statuses.values()) == ["failed", "succeeded"], statuses
    failed = next(n for n, status in statuses.items() if status == "failed")
    assert "the execution's context" in str(error_of(done, failed)["message"])
    assert done.status == "completed_with_errors"


def test_an_http_body_over_the_cap_fails_while_it_streams(tmp_path: Path, base_url: str) -> None:
    done = run(tmp_path, f"name: h\nnodes:\n  get: {{http: {{url: '{base_url}/big'}}}}\n")
    error = error_of(done, "get")
    assert error["type"] == "limit_exceeded"
    assert "limits.response" in str(error["message"]) and f"{CAP} bytes" in str(error["message"])


def test_a_compressed_body_is_refused_before_it_inflates(tmp_path: Path, base_url: str) -> None:
    """256 MiB of zeros in 250 KB of gzip: refused at the cap, never inflated whole."""
    tracemalloc.start()
    try:
        done = run(tmp_path, f"name: h\nnodes:\n  get: {{http: {{url: '{base_url}/bomb'}}}}\n")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error_of(done, "get")["type"] == "limit_exceeded"
    assert peak < 32 * 1024 * 1024, peak


@pytest.mark.parametrize("path", sorted(ENCODED))
def test_a_compressed_body_under_the_cap_decodes(tmp_path: Path, base_url: str, path: str) -> None:
    done = run(tmp_path, f"name: h\nnodes:\n  get: {{http: {{url: '{base_url}{path}'}}}}\n")
    assert done.status == "completed", done.error
    assert done.result["json"] == json.loads(DOC)


def test_a_signal_payload_over_the_cap_is_refused_when_sent(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text("name: s\nnodes:\n  hold: {wait: {signal: go}}\n")

    async def main() -> Execution:
        async with await Engine.open(str(tmp_path / "f.db"), limits=SMALL) as engine:
            execution_id = await engine.start(path)
            with pytest.raises(PayloadError, match=r"limits\.output"):
                await engine.signal(execution_id, "go", {"rows": list(range(BIG_ROWS))})
            await engine.signal(execution_id, "go", {"ok": True})
            return await engine.wait(execution_id)

    done = asyncio.run(main())
    assert done.status == "completed" and done.result == {"ok": True}


REFUSED = """
name: refused
nodes:
  big: {transform: {rows: "{{ range(60000) | list }}"}, on_error: ON_ERROR}
  small: {transform: {ok: true}}
  next: {after: small, transform: {ok: "{{ ok }}"}}
"""


def run_refused(tmp_path: Path, on_error: str) -> tuple[Execution, list[str]]:
    """Run REFUSED with SQLite refusing any string or blob over 100 KB (its length limit,
    set on the store's writer connection): `big`'s ~400 KB output is refused by SQLite
    itself, in the same transition as `small`'s result."""
    path = tmp_path / "flow.yaml"
    path.write_text(REFUSED.replace("ON_ERROR", on_error))
    db = str(tmp_path / "f.db")

    async def main() -> tuple[Execution, list[str]]:
        async with await Engine.open(db) as engine:
            engine.store._write_conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 100_000)  # type: ignore[attr-defined]
            done = await engine.run(path)
        async with await Engine.open(db) as again:
            return done, await again.resume()

    return asyncio.run(main())


def test_a_write_sqlite_refuses_fails_the_node_and_the_execution_goes_on(tmp_path: Path) -> None:
    done, resumed = run_refused(tmp_path, "continue")
    assert done.status == "completed_with_errors"
    error = error_of(done, "big")
    assert error["type"] == "unstorable"
    assert "string or blob too big" in str(error["message"])
    assert done.node("next").output == {"ok": True}
    assert [a.status for a in done.node("big").attempts] == ["failed"]
    assert resumed == []  # nothing left open: a resume does not run it again


def test_a_write_sqlite_refuses_fails_the_execution_with_on_error_fail(tmp_path: Path) -> None:
    done, resumed = run_refused(tmp_path, "fail")
    assert done.status == "failed"
    assert done.error is not None and done.error["type"] == "unstorable"
    assert resumed == []


def test_an_attempts_log_lines_are_cut_and_counted_as_they_are_recorded(
    tmp_path: Path, chatter_home: tuple[Path, str]
) -> None:
    home, ref = chatter_home
    path = tmp_path / "flow.yaml"
    path.write_text(
        f"""
name: chatty
nodes:
  many: {{component: "{ref}", task: talk, inputs: {{lines: 1000, size: 100, text: many}}}}
  long: {{component: "{ref}", task: talk, inputs: {{lines: 1, size: 50000, text: long}}}}
"""
    )
    limits = Limits(log_line=1024, log_volume=8 * 1024)

    async def main() -> tuple[Execution, list[dict[str, object]]]:
        async with await Engine.open(str(tmp_path / "f.db"), home=home, limits=limits) as engine:
            done = await engine.run(path)
            return done, [
                {**(e.data or {}), "node": e.node_id}
                for e in await engine.events(done.id)
                if e.type == "log"
            ]

    done, logs = asyncio.run(main())
    assert done.status == "completed", done.error
    many = [line for line in logs if line["node"] == "many"]
    assert 10 < len(many) < 100  # 8 KiB of ~170-byte lines, then the line that counts the rest
    assert "log volume cap of 8192 bytes reached" in str(many[-1]["message"])
    dropped = 1000 - (len(many) - 1)
    assert f"{dropped} more line(s)" in str(many[-1]["message"])
    (long,) = [line for line in logs if line["node"] == "long"]
    assert str(long["message"]).startswith("longxxx")
    assert "cut at the cap of 1024 bytes" in str(long["message"])
    assert len(str(long["message"])) < 1024


def test_a_foreach_item_sqlite_refuses_fails_that_item_once(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(
        """
name: items-refused
nodes:
  each:
    foreach: {items: "{{ [1, 60000, 2] }}", concurrency: 1}
    transform: {rows: "{{ range(item) | list }}"}
    on_error: continue
"""
    )

    async def main() -> tuple[Execution, list[str]]:
        async with await Engine.open(str(tmp_path / "f.db")) as engine:
            engine.store._write_conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 100_000)  # type: ignore[attr-defined]
            done = await engine.run(path)
            events = await engine.events(done.id)
            return done, [e.type for e in events if (e.node_id, e.item) == ("each", 1)]

    done, item_events = asyncio.run(main())
    assert done.status == "completed_with_errors", done.error
    assert item_events.count("node_running") == 1  # refused once, never run again
    output = done.node("each").output
    assert output[0] == {"rows": [0]} and output[2] == {"rows": [0, 1]}
    assert output[1]["error"]["type"] == "unstorable"
