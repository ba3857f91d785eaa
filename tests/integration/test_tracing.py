"""OpenTelemetry traces: one trace per execution, whose spans (the execution, each attempt,
each http request, a sub-workflow's) have the parents, links, names and attributes the README
promises. Spans go to the SDK's in-memory exporter through a real TracerProvider."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, TraceIdRatioBased
from opentelemetry.trace import SpanKind, StatusCode

from fuchsia import Engine, Execution
from fuchsia.observe import ids
from support.httpserver import LoopbackServer

CHILD = """
name: child
nodes:
  only: {transform: {n: "{{ n }}"}}
"""

FLOW = """
name: traced
nodes:
  start: {transform: {values: [1, 2, 3]}}
  flaky:
    after: start
    retry: {max_attempts: 3, initial_delay: 1ms}
    http: {url: "BASE/flaky/KEY?fail=1"}
  echo: {after: start, http: {url: "BASE/echo"}}
  each:
    after: start
    foreach: {items: "{{ values }}"}
    transform: {double: "{{ item * 2 }}"}
  sub:
    after: start
    workflow: {path: child.yaml, inputs: {n: 7}}
  joined:
    after: [flaky, echo, each, sub]
    join: all
    transform: {done: true}
"""


def _hex(value: int, width: int) -> str:
    return f"{value:0{width}x}"


def span_id(span: ReadableSpan) -> str:
    assert span.context is not None
    return _hex(span.context.span_id, 16)


def trace_of(span: ReadableSpan) -> str:
    assert span.context is not None
    return _hex(span.context.trace_id, 32)


def parent_of(span: ReadableSpan) -> str | None:
    return None if span.parent is None else _hex(span.parent.span_id, 16)


def attr(span: ReadableSpan, key: str) -> Any:
    assert span.attributes is not None
    return span.attributes.get(key)


def run_traced(
    tmp_path: Path, loopback: LoopbackServer
) -> tuple[Execution, list[ReadableSpan], str]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    key = uuid.uuid4().hex
    (tmp_path / "child.yaml").write_text(CHILD)
    path = tmp_path / "traced.yaml"
    path.write_text(FLOW.replace("BASE", loopback.base_url).replace("KEY", key))

    async def main() -> Execution:
        async with await Engine.open(str(tmp_path / "t.db"), tracer_provider=provider) as engine:
            return await engine.run(path)

    execution = asyncio.run(main())
    return execution, list(exporter.get_finished_spans()), key


@pytest.fixture(scope="module")
def traced(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Execution, list[ReadableSpan], str]:
    with LoopbackServer() as loopback, pytest.MonkeyPatch.context() as patch:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
            patch.delenv(name, raising=False)
        return run_traced(tmp_path_factory.mktemp("traced"), loopback)


def test_one_trace_holds_the_execution_its_attempts_and_its_sub_workflow(
    traced: tuple[Execution, list[ReadableSpan], str],
) -> None:
    execution, spans, _ = traced
    assert execution.status == "completed"
    assert execution.trace_id == ids.trace_id_of(execution.id)
    assert {trace_of(s) for s in spans} == {execution.trace_id}
    root = [s for s in spans if s.name == "workflow traced"]
    assert len(root) == 1
    assert root[0].parent is None
    assert span_id(root[0]) == ids.execution_span_id(execution.id)
    assert attr(root[0], "fuchsia.execution.id") == execution.id
    assert attr(root[0], "fuchsia.execution.status") == "completed"
    assert root[0].start_time is not None and root[0].end_time is not None
    assert root[0].start_time <= min(s.start_time or 0 for s in spans if s is not root[0])


def test_each_attempt_is_a_span_under_the_execution(
    traced: tuple[Execution, list[ReadableSpan], str],
) -> None:
    execution, spans, _ = traced
    under_root = [s for s in spans if parent_of(s) == ids.execution_span_id(execution.id)]
    names = sorted(s.name for s in under_root)
    assert names.count("node flaky") == 2  # the failed attempt and its retry
    assert names.count("node each") == 3  # one per foreach item
    for name in ("node start", "node echo", "node sub", "node joined"):
        assert names.count(name) == 1, name
    start = next(s for s in under_root if s.name == "node start")
    assert attr(start, "fuchsia.node.kind") == "transform"
    assert attr(start, "fuchsia.node.id") == "start"
    assert attr(start, "fuchsia.attempt") == 1
    assert attr(start, "fuchsia.workflow.name") == "traced"
    assert attr(start, "fuchsia.attempt.status") == "succeeded"
    assert span_id(start) == ids.attempt_span_id(execution.id, "start", None, 1)
    items = sorted(attr(s, "fuchsia.item") for s in under_root if s.name == "node each")
    assert items == [0, 1, 2]


def test_a_retry_is_a_sibling_span_linked_to_the_attempt_before(
    traced: tuple[Execution, list[ReadableSpan], str],
) -> None:
    execution, spans, _ = traced
    flaky = sorted(
        (s for s in spans if s.name == "node flaky"), key=lambda s: attr(s, "fuchsia.attempt")
    )
    first, second = flaky
    assert first.status.status_code == StatusCode.ERROR
    assert attr(first, "fuchsia.attempt.status") == "failed"
    assert attr(first, "fuchsia.error.retryable") is True
    assert second.status.status_code != StatusCode.ERROR
    assert parent_of(first) == parent_of(second) == ids.execution_span_id(execution.id)
    assert not first.links
    (link,) = second.links
    assert _hex(link.context.span_id, 16) == span_id(first)
    assert link.attributes is not None and link.attributes["fuchsia.link"] == "previous_attempt"


def test_http_requests_are_client_spans_under_their_attempt(
    traced: tuple[Execution, list[ReadableSpan], str],
) -> None:
    _, spans, key = traced
    attempts = {span_id(s): s for s in spans if s.name == "node flaky"}
    requests = [s for s in spans if parent_of(s) in attempts]
    assert sorted(attr(s, "http.response.status_code") for s in requests) == [200, 503]
    for request in requests:
        assert request.name == "GET"
        assert request.kind == SpanKind.CLIENT
        assert attr(request, "http.request.method") == "GET"
        assert attr(request, "url.full").endswith(f"/flaky/{key}?fail=1")
        assert attr(request, "server.address") == "127.0.0.1"
    failed = next(s for s in requests if attr(s, "http.response.status_code") == 503)
    assert failed.status.status_code == StatusCode.ERROR
    assert attr(failed, "error.type") == "503"


def test_the_request_carries_its_span_as_traceparent(
    traced: tuple[Execution, list[ReadableSpan], str],
) -> None:
    execution, spans, _ = traced
    echo = next(s for s in spans if s.name == "node echo")
    request = next(s for s in spans if parent_of(s) == span_id(echo))
    sent = execution.node("echo").output["json"]["headers"]["traceparent"]
    assert sent == f"00-{execution.trace_id}-{span_id(request)}-01"


def test_a_sub_workflow_is_under_its_parent_node_span(
    traced: tuple[Execution, list[ReadableSpan], str],
) -> None:
    execution, spans, _ = traced
    sub = next(s for s in spans if s.name == "node sub")
    child = [s for s in spans if s.name == "workflow child"]
    assert len(child) == 1
    assert parent_of(child[0]) == span_id(sub)
    child_id = attr(child[0], "fuchsia.execution.id")
    assert child_id != execution.id
    assert span_id(child[0]) == ids.execution_span_id(child_id)
    only = next(s for s in spans if s.name == "node only")
    assert parent_of(only) == span_id(child[0])
    assert trace_of(only) == execution.trace_id


SAMPLED_FLOW = """
name: sampled
nodes:
  a: {transform: {n: 1}}
  b: {after: a, transform: {n: "{{ n + 1 }}"}}
  sub: {after: b, workflow: {path: child.yaml, inputs: {n: 2}}}
"""


@pytest.mark.parametrize("sampler", ["parentbased_traceidratio", "traceidratio"])
def test_a_sampler_keeps_or_drops_each_execution_whole(tmp_path: Path, sampler: str) -> None:
    """Under a ratio sampler, each execution's trace is kept or dropped whole: its span,
    its attempts and its sub-workflow's spans, never the attempts without the execution
    (they start under parents that carry the trace's decision)."""
    ratio = TraceIdRatioBased(0.5)
    exporter = InMemorySpanExporter()
    chosen = ParentBased(ratio) if sampler.startswith("parentbased") else ratio
    provider = TracerProvider(sampler=chosen)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    (tmp_path / "child.yaml").write_text(CHILD)
    (tmp_path / "sampled.yaml").write_text(SAMPLED_FLOW)

    async def main() -> list[Execution]:
        done: list[Execution] = []
        async with await Engine.open(str(tmp_path / "s.db"), tracer_provider=provider) as engine:
            # until both decisions came up (each is a coin flip on the derived trace id)
            while len({kept(e) for e in done}) < 2 and len(done) < 64:
                done.append(await engine.run(tmp_path / "sampled.yaml"))
        return done

    def kept(execution: Execution) -> bool:
        assert execution.trace_id is not None
        decided = ratio.should_sample(None, int(execution.trace_id, 16), "workflow")
        return decided.decision is Decision.RECORD_AND_SAMPLE

    executions = asyncio.run(main())
    assert {kept(e) for e in executions} == {True, False}
    spans = exporter.get_finished_spans()
    for execution in executions:
        names = sorted(s.name for s in spans if trace_of(s) == execution.trace_id)
        whole = ["node a", "node b", "node only", "node sub", "workflow child", "workflow sampled"]
        assert names == (whole if kept(execution) else []), execution.id


class Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_the_engine_log_lines_of_a_traced_execution_name_its_trace(tmp_path: Path) -> None:
    path = tmp_path / "child.yaml"
    path.write_text(CHILD)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    handler = Kept()
    records = handler.records
    package = logging.getLogger("fuchsia")
    level = package.level
    package.addHandler(handler)
    package.setLevel(logging.INFO)

    async def main() -> Execution:
        async with await Engine.open(str(tmp_path / "t.db"), tracer_provider=provider) as engine:
            return await engine.run(path, {"n": 1})

    try:
        execution = asyncio.run(main())
    finally:
        package.removeHandler(handler)
        package.setLevel(level)
    ended = [r for r in records if getattr(r, "status", None) == "completed"]
    assert len(ended) == 1
    assert ended[0].execution_id == execution.id  # type: ignore[attr-defined]
    assert ended[0].trace_id == execution.trace_id  # type: ignore[attr-defined]


class _Silent:
    """A collector that takes connections and never answers (one that hangs)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                self.held.append(self.sock.accept()[0])

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept
        self.thread.join()
        self.sock.close()
        for conn in self.held:
            conn.close()


def test_close_waits_a_bounded_time_for_a_collector_that_does_not_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """What is batched is sent on close, but an engine does not wait on a collector that
    never answers for the exporters' retries: it warns that the rest is dropped and returns,
    while the flush goes on in a daemon thread."""
    collector = _Silent()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url)
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")

    flow = tmp_path / "child.yaml"
    flow.write_text(CHILD)

    async def main() -> bool:
        engine = await Engine.open(str(tmp_path / "f.db"))
        assert engine.telemetry.enabled
        await engine.run(str(flow), {"n": 1})
        engine.telemetry.close_wait = 0.1  # type: ignore[attr-defined]
        await engine.close()
        return any(t.name == "fuchsia-telemetry-close" for t in threading.enumerate())

    try:
        with caplog.at_level(logging.WARNING, logger="fuchsia"):
            flushing = asyncio.run(main())
    finally:
        collector.close()
    assert flushing  # still waiting on the collector: close did not
    assert "the collector did not take what was batched within 0.1s" in caplog.text
