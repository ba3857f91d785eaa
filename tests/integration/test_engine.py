"""The runtime's behaviour through the public `Engine` API, on transform nodes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from fuchsia import DefinitionError, Engine, Execution, PayloadError
from fuchsia.definition import LockedWorkflow
from fuchsia.errors import RequestError
from support.httpserver import LoopbackServer
from support.waiting import locked


def run(db: str, workflow: LockedWorkflow | str, payload: Any = None, **kw: Any) -> Execution:
    async def main() -> Execution:
        async with await Engine.open(db) as engine:
            return await engine.run(workflow, payload, **kw)

    return asyncio.run(main())


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "fuchsia.db")


def test_chain_passes_each_output_to_the_next_node_only(db: str) -> None:
    wf = locked("""
name: chain
nodes:
  a:
    transform: {x: "{{ start }}", keep: secret-ish}
  b:
    after: a
    transform: {y: "{{ x + 1 }}", saw_keep: "{{ keep }}"}
  c:
    after: b
    transform: {z: "{{ y * 10 }}", a_visible: "{{ 'keep' in data }}"}
""")
    execution = run(db, wf, {"start": 1})
    assert execution.status == "completed"
    assert execution.result == {"z": 20, "a_visible": False}
    assert [n.status for n in execution.nodes] == ["succeeded"] * 3


def test_join_all_sees_a_map_keyed_by_upstream_id(db: str) -> None:
    wf = locked("""
name: fan
nodes:
  start: {transform: {n: 2}}
  double: {after: start, transform: {v: "{{ n * 2 }}"}}
  square: {after: start, transform: {v: "{{ n * n }}"}}
  total:
    after: [double, square]
    join: all
    transform: {sum: "{{ double.v + square.v }}", keys: "{{ data | list | sort }}"}
""")
    execution = run(db, wf)
    assert execution.result == {"sum": 8, "keys": ["double", "square"]}


def test_failed_node_fails_the_execution_and_cancels_what_is_left(db: str) -> None:
    wf = locked("""
name: failing
nodes:
  a: {transform: {x: 1}}
  bad: {after: a, transform: {y: "{{ missing_name }}"}}
  after_bad: {after: bad, transform: {z: 1}}
""")
    execution = run(db, wf)
    assert execution.status == "failed"
    assert execution.error is not None
    assert execution.error["node"] == "bad"
    assert "missing_name" in execution.error["message"]
    assert execution.node("bad").status == "failed"
    assert execution.node("after_bad").status == "cancelled"
    # a template error is not retryable: exactly one attempt even with retries configured
    assert len(execution.node("bad").attempts) == 1


def test_template_errors_are_not_retried_even_with_a_retry_policy(db: str) -> None:
    wf = locked("""
name: no-retry
nodes:
  bad:
    retry: {max_attempts: 5, initial_delay: 1ms}
    transform: {y: "{{ 1 / 0 }}"}
""")
    execution = run(db, wf)
    assert execution.status == "failed"
    assert len(execution.node("bad").attempts) == 1
    assert execution.node("bad").attempts[0].error is not None


def test_on_error_continue_completes_with_errors_and_skips_dependents(db: str) -> None:
    wf = locked("""
name: tolerant
nodes:
  a: {transform: {x: 1}}
  bad: {after: a, on_error: continue, transform: {y: "{{ nope }}"}}
  needs_bad: {after: bad, transform: {z: 1}}
  fine: {after: a, transform: {w: "{{ x }}"}}
""")
    execution = run(db, wf)
    assert execution.status == "completed_with_errors"
    assert execution.node("bad").status == "failed"
    assert execution.node("needs_bad").status == "skipped"
    assert execution.node("fine").status == "succeeded"
    assert execution.result == {"fine": {"w": 1}}


def test_join_any_runs_once_on_the_first_success(db: str) -> None:
    wf = locked("""
name: any
nodes:
  a: {transform: {x: 1}}
  left: {after: a, transform: {side: left}}
  right: {after: a, transform: {side: right}}
  first:
    after: [left, right]
    join: any
    transform: {seen: "{{ data | length }}"}
""")
    execution = run(db, wf)
    assert execution.status == "completed"
    assert len(execution.node("first").attempts) == 1
    assert execution.result["seen"] >= 1


def test_join_at_least_is_skipped_when_too_few_upstreams_can_succeed(db: str) -> None:
    wf = locked("""
name: quorum
nodes:
  a: {transform: {x: 1}}
  ok: {after: a, transform: {v: 1}}
  bad1: {after: a, on_error: continue, transform: {v: "{{ nope }}"}}
  bad2: {after: a, on_error: continue, transform: {v: "{{ nope }}"}}
  quorum:
    after: [ok, bad1, bad2]
    join: {at_least: 2}
    transform: {n: "{{ data | length }}"}
""")
    execution = run(db, wf)
    assert execution.node("quorum").status == "skipped"
    assert execution.status == "completed_with_errors"


def test_join_at_least_runs_when_enough_upstreams_succeed(db: str) -> None:
    wf = locked("""
name: quorum-ok
nodes:
  a: {transform: {x: 1}}
  one: {after: a, transform: {v: 1}}
  two: {after: a, transform: {v: 2}}
  bad: {after: a, on_error: continue, transform: {v: "{{ nope }}"}}
  quorum:
    after: [one, two, bad]
    join: {at_least: 2}
    transform: {n: "{{ data | length }}"}
""")
    execution = run(db, wf)
    assert execution.node("quorum").status == "succeeded"
    assert execution.result["n"] >= 2


def test_node_context_writes_are_visible_downstream(db: str) -> None:
    wf = locked("""
name: ctx
trigger:
  context: {order: "{{ order_id }}"}
nodes:
  a:
    transform: {total: 42}
    context: {total: "{{ total }}"}
  b:
    after: a
    transform: {line: "order {{ context.order }} totals {{ context.total }}"}
""")
    execution = run(db, wf, {"order_id": "A-1"})
    assert execution.result == {"line": "order A-1 totals 42"}


def test_a_python_payload_with_other_keys_than_text_reads_as_it_is_stored(db: str) -> None:
    """The trigger's context and the nodes read a payload keyed as it is stored (as JSON:
    an int key is text), whichever way a template reads it."""
    wf = locked("""
name: keys
trigger:
  context: {a: "{{ a }}", one: "{{ data['1'] }}", sum: "{{ a + 1 }}", text: "x{{ a }}"}
nodes:
  n: {transform: {a: "{{ a }}", one: "{{ data['1'] }}", c: "{{ context.sum }}"}}
""")
    execution = run(db, wf, {1: "one", "a": 2})
    assert execution.status == "completed", execution.error
    assert execution.result == {"a": 2, "one": "one", "c": 3}


def test_execution_metadata_is_visible_to_templates(db: str) -> None:
    wf = locked("""
name: meta
nodes:
  a: {transform: {id: "{{ execution.id }}", wf: "{{ execution.workflow }}",
                  attempt: "{{ execution.attempt }}"}}
""")
    execution = run(db, wf)
    assert execution.result == {"id": execution.id, "wf": "meta", "attempt": 1}


def test_secrets_render_but_are_masked_in_stored_inputs(db: str) -> None:
    wf = locked("""
name: secret
nodes:
  a: {transform: {header: "Bearer {{ secrets.token }}"}}
""")

    async def main() -> Execution:
        async with await Engine.open(db, secrets={"token": "s3cr3t"}) as engine:
            return await engine.run(wf)

    execution = asyncio.run(main())
    assert execution.status == "completed"
    stored_inputs = execution.node("a").attempts[0].inputs
    assert stored_inputs == {"header": "Bearer ***"}


def test_idempotency_key_returns_the_existing_execution(db: str) -> None:
    wf = locked("name: once\nnodes:\n  a: {transform: {x: 1}}\n")

    async def main() -> tuple[Execution, Execution, int]:
        async with await Engine.open(db) as engine:
            first = await engine.run(wf, {}, idempotency_key="order-7")
            second = await engine.run(wf, {}, idempotency_key="order-7")
            return first, second, len(await engine.list())

    first, second, count = asyncio.run(main())
    assert first.id == second.id
    assert count == 1
    assert len(second.node("a").attempts) == 1


def test_payload_against_the_trigger_schema_is_refused_before_anything_is_stored(db: str) -> None:
    wf = locked("""
name: typed
trigger:
  schema: {type: object, required: [n], properties: {n: {type: integer}}}
nodes:
  a: {transform: {x: "{{ n }}"}}
""")

    async def main() -> int:
        async with await Engine.open(db) as engine:
            await engine.run(wf, {"n": 1})
            with pytest.raises(PayloadError, match=r"payload\.n: 'x' is not of type 'integer'"):
                await engine.run(wf, {"n": "x"})
            return len(await engine.list())

    assert asyncio.run(main()) == 1


def test_an_edited_file_does_not_change_a_stored_execution(db: str, tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text("name: flow\nnodes:\n  a: {transform: {v: one}}\n")
    first = run(db, str(path))
    path.write_text("name: flow\nnodes:\n  a: {transform: {v: two}}\n")
    second = run(db, str(path))
    assert first.result == {"v": "one"}
    assert second.result == {"v": "two"}
    assert first.workflow_hash != second.workflow_hash

    async def reread() -> Execution:
        async with await Engine.open(db) as engine:
            return await engine.get(first.id)

    assert asyncio.run(reread()).result == {"v": "one"}


def test_execution_timeout_marks_the_run_timed_out(db: str) -> None:
    """A node waiting for its retry when the execution times out is cancelled (its first
    attempt, refused at once, has the execution's second to fail in)."""
    wf = locked("""
name: slow
timeout: 1s
nodes:
  a:
    retry: {max_attempts: 50, backoff: fixed, initial_delay: 1h}
    http: {url: "http://127.0.0.1:9/unreachable", timeout: 50ms}
""")
    execution = run(db, wf)
    assert execution.status == "timed_out"
    assert execution.node("a").status == "cancelled"


def test_execution_timeout_cancels_a_running_node_and_starts_nothing_after(db: str) -> None:
    with LoopbackServer() as server:
        wf = locked(f"""
name: slow-call
timeout: 300ms
nodes:
  call: {{http: {{url: "{server.url("/slow?seconds=10")}", timeout: 30s}}}}
  after_call: {{after: call, transform: {{x: 1}}}}
""")
        execution = run(db, wf)
    assert execution.status == "timed_out"
    assert execution.error is not None and "timeout of 0.3s" in execution.error["message"]
    # it was running when time ran out: stopped, and recorded as stopped by the timeout
    assert execution.node("call").status == "timed_out"
    assert execution.node("call").attempts[0].status == "timed_out"
    assert execution.node("after_call").status in ("pending", "skipped", "cancelled")
    assert execution.node("after_call").attempts == []


def test_events_record_every_transition_in_order(db: str) -> None:
    wf = locked("name: ev\nnodes:\n  a: {transform: {x: 1}}\n  b: {after: a, transform: {y: 2}}\n")

    async def main() -> list[str]:
        async with await Engine.open(db) as engine:
            execution = await engine.run(wf)
            return [f"{e.type}:{e.node_id or ''}" for e in await engine.events(execution.id)]

    assert asyncio.run(main()) == [
        "execution_running:",
        "node_running:a",
        "node_succeeded:a",
        "node_running:b",
        "node_succeeded:b",
        "execution_completed:",
    ]


def test_list_is_newest_first_and_get_accepts_a_unique_prefix(db: str) -> None:
    wf = locked("name: many\nnodes:\n  a: {transform: {x: 1}}\n")

    async def main() -> None:
        async with await Engine.open(db) as engine:
            ids = [(await engine.run(wf)).id for _ in range(3)]
            listed = [r.id for r in await engine.list()]
            assert listed == list(reversed(ids))
            assert (await engine.get(ids[0][:20])).id == ids[0]

    asyncio.run(main())


def test_runs_and_resumes_on_both_stores(store_url: str) -> None:
    wf = locked("""
name: both
nodes:
  start: {transform: {n: 3}}
  left: {after: start, transform: {v: "{{ n + 1 }}"}}
  right: {after: start, transform: {v: "{{ n * 2 }}"}}
  total: {after: [left, right], join: all, transform: {sum: "{{ left.v + right.v }}"}}
""")

    async def main() -> tuple[Execution, Execution, list[str]]:
        async with await Engine.open(store_url) as engine:
            direct = await engine.run(wf)
            parked = await engine.start(wf, detached=True)  # recorded, owned by nobody
            resumed = await engine.resume()
            return direct, await engine.get(parked), resumed

    direct, parked, resumed = asyncio.run(main())
    assert direct.status == parked.status == "completed"
    assert direct.result == parked.result == {"sum": 10}
    assert resumed == [parked.id]


def test_control_flow_runs_the_same_on_both_stores(store_url: str, tmp_path: Path) -> None:
    child = tmp_path / "child.yaml"
    child.write_text("name: child\nnodes:\n  c: {transform: {doubled: '{{ n * 2 }}'}}\n")
    flow = tmp_path / "flow.yaml"
    flow.write_text("""
name: mixed
nodes:
  each:
    foreach: {items: "{{ [1, 2, 3] }}", concurrency: 2}
    workflow: {path: child.yaml, inputs: {n: "{{ item }}"}}
  route:
    after: each
    branch: [{when: "size(data) == 3", then: approve}]
    default: reject
  approve: {after: route, wait: {signal: go}}
  reject: {after: route, transform: {rejected: true}}
  done:
    after: [approve, reject]
    join: any
    transform: {by: "{{ approve.by }}", doubled: "{{ data | length }}"}
""")

    async def main() -> tuple[Execution, int]:
        async with await Engine.open(store_url) as engine:
            execution_id = await engine.start(str(flow))
            while (await engine.get(execution_id)).status != "waiting":
                await asyncio.sleep(0.02)
            await engine.signal(execution_id, "go", {"by": "ada"})
            done = await engine.wait(execution_id)
            return done, len(await engine.list())

    done, executions = asyncio.run(main())
    assert done.status == "completed", done.error
    assert done.node("each").output == [{"doubled": 2}, {"doubled": 4}, {"doubled": 6}]
    assert done.node("reject").status == "skipped"
    assert done.result == {"by": "ada", "doubled": 1}
    assert executions == 4  # the parent and its three children


def test_deployments_work_the_same_on_both_stores(store_url: str, tmp_path: Path) -> None:
    for version, word in ((1, "one"), (2, "two")):
        (tmp_path / f"v{version}.yaml").write_text(
            f"name: dep\nversion: {version}\nnodes:\n  a: {{transform: {{w: {word}}}}}\n"
        )

    async def main() -> tuple[Any, Any, list[int]]:
        async with await Engine.open(store_url) as engine:
            await engine.deploy(tmp_path / "v1.yaml")
            await engine.deploy(tmp_path / "v2.yaml")
            await engine.set_active("dep@2", False)
            ran = await engine.wait(await engine.start_deployed("dep"))
            versions = [d.version for d in await engine.deployments("dep")]
            return ran.result, (await engine.deployment("dep@2")).active, versions

    result, active, versions = asyncio.run(main())
    assert result == {"w": "one"}
    assert active is False
    assert versions == [2, 1]


WAITS = "name: waits\nversion: 1\nnodes:\n  w: {wait: {signal: go}}\n"


def test_a_python_caller_s_wrong_argument_is_a_request_error_naming_it(store_url: str) -> None:
    """What the HTTP API and the command line refuse on the way in (a None for an id, a NUL,
    which PostgreSQL's text cannot hold, a lone surrogate, which neither store encodes and a
    non-UTF-8 command-line argument arrives as, a negative limit) is refused by the engine
    too, naming the argument, not a TypeError or a driver's error from the store."""
    wf = locked(WAITS)

    async def main() -> list[tuple[str | None, str]]:
        async with await Engine.open(store_url) as engine:
            execution_id = await engine.start(wf)
            await engine.deploy(wf)
            calls = [
                engine.get(None),  # type: ignore[arg-type]
                engine.get("01\x00"),
                engine.cancel("\udcff"),
                engine.events(execution_id, after=2**70),
                engine.events(execution_id, after=-1),
                engine.artifact(execution_id, "a\x00"),
                engine.list(limit=-1),
                engine.list(limit=None),  # type: ignore[arg-type]
                engine.list(workflow="\udcff"),
                engine.list(before="\x00"),
                engine.signal(execution_id, None),  # type: ignore[arg-type]
                engine.run_node(wf, None),  # type: ignore[arg-type]
                engine.start(wf, idempotency_key=7),  # type: ignore[arg-type]
                engine.start(None),  # type: ignore[arg-type]
                engine.deployment("waits\x00@1"),
                engine.deployments("\udcff"),
                engine.pin(None),  # type: ignore[arg-type]
                engine.resume(execution_id),  # type: ignore[arg-type]
            ]
            refused = []
            for call in calls:
                with pytest.raises(RequestError) as caught:
                    await call
                refused.append((caught.value.param, str(caught.value)))
            assert (await engine.get(execution_id)).status != "cancelled"  # nothing was touched
            return refused

    refused = asyncio.run(main())
    assert [param for param, _ in refused] == [
        "execution_id", "execution_id", "execution_id", "after", "after", "artifact_id",
        "limit", "limit", "workflow", "before", "name", "node_id", "idempotency_key",
        "workflow", "ref", "name", "ref", "ids",
    ]  # fmt: skip
    assert refused[0][1] == "execution_id is text, not NoneType"
    assert (
        refused[2][1] == "execution_id holds a lone surrogate '\\udcff', which is not a character"
    )
    assert refused[-1][1] == "ids is a list of execution ids, not str (one id: [id])"


def test_an_empty_execution_id_is_refused_not_read_as_a_prefix_of_every_id(db: str) -> None:
    """`cancel("")` (an id read from an unset variable, say) would otherwise cancel the one
    execution of the store: the empty prefix matches every id."""
    wf = locked(WAITS)

    async def main() -> str:
        async with await Engine.open(db) as engine:
            execution_id = await engine.start(wf)
            for call in (engine.cancel(""), engine.get(""), engine.events("")):
                with pytest.raises(RequestError, match="execution_id is empty"):
                    await call
            return (await engine.get(execution_id)).status

    assert asyncio.run(main()) != "cancelled"


def test_wait_accepts_a_unique_id_prefix_as_get_does(db: str) -> None:
    wf = locked(WAITS)

    async def main() -> Execution:
        async with await Engine.open(db) as engine:
            execution_id = await engine.start(wf)
            await engine.signal(execution_id, "go", 1)
            return await engine.wait(execution_id[:20])

    assert asyncio.run(main()).status == "completed"


def test_a_workflow_path_no_file_can_have_is_a_definition_problem(db: str) -> None:
    async def main() -> list[str]:
        async with await Engine.open(db) as engine:
            messages = []
            for path in ("flow\x00.yaml", "flow\ud800.yaml"):
                with pytest.raises(DefinitionError) as caught:
                    await engine.start(path)
                messages.append(caught.value.problems[0].message)
            return messages

    assert asyncio.run(main()) == ["not a file name: it holds a NUL or a lone surrogate"] * 2


def test_run_node_refuses_upstream_that_is_not_json_as_start_refuses_a_payload(db: str) -> None:
    wf = locked("name: one\nnodes:\n  a: {transform: {x: '{{ data }}'}}\n")

    async def main() -> None:
        async with await Engine.open(db) as engine:
            with pytest.raises(PayloadError, match="upstream is not JSON data"):
                await engine.run_node(wf, "a", {(1, 2): 3})
            outcome = await engine.run_node(wf, "a", (1, 2))  # as the JSON it would be stored as
            assert outcome.output == {"x": [1, 2]}

    asyncio.run(main())


def test_a_bug_in_a_node_kind_fails_the_node_and_is_logged_with_its_traceback(
    db: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from fuchsia.nodes.kind import Http

    async def broken(self: Http, spec: Any, inputs: Any, ctx: Any) -> Any:
        raise ZeroDivisionError("a bug in the kind")

    monkeypatch.setattr(Http, "run", broken)  # stands for a defect in a node kind's code
    wf = locked('name: buggy\nnodes:\n  get: {http: {url: "http://127.0.0.1:9/"}}\n')
    with caplog.at_level("ERROR", logger="fuchsia"):
        finished = run(db, wf)
    assert finished.status == "failed"
    error = finished.node("get").error
    assert error is not None and error["type"] == "node_error" and not error["retryable"]
    assert error["message"] == "internal error: ZeroDivisionError: a bug in the kind"
    (record,) = [r for r in caplog.records if r.name == "fuchsia.runtime.attempts"]
    assert record.exc_info is not None and record.exc_info[0] is ZeroDivisionError
    assert (record.execution_id, record.node) == (finished.id, "get")  # type: ignore[attr-defined]
