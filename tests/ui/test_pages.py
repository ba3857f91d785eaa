"""What the UI's pages are built from, without a browser: the runs list paged by id and
filtered, sessions that hold no secret and cannot be forged, Run forms made from a schema,
and the UI served open with `--no-auth`."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest

from fuchsia import Engine
from fuchsia.errors import FuchsiaError
from fuchsia.server.app import create_app
from fuchsia.ui import routes, runs, session
from fuchsia.ui.pages import form_fields, payload_of
from support.waiting import locked

ONE = locked("name: one\nnodes:\n  a: {transform: {x: 1}}\n")
TWO = locked("name: two\nnodes:\n  a: {transform: {x: 2}}\n")


def test_the_runs_list_pages_by_id_and_filters_by_status_and_workflow(tmp_path: Path) -> None:
    async def main() -> None:
        async with await Engine.open(str(tmp_path / "f.db")) as engine:
            ids = [await engine.start(ONE if i % 3 else TWO, {}, detached=True) for i in range(120)]
            of_two = set(ids[::3])
            ids.sort()  # ids sort by creation time (to the millisecond)
            first = await runs.runs_page(engine, status=None, workflow=None, before=None)
            assert [r.record.id for r in first.rows] == ids[::-1][: runs.PAGE]
            assert first.next == ids[::-1][runs.PAGE - 1]
            second = await runs.runs_page(engine, status=None, workflow=None, before=first.next)
            assert [r.record.id for r in second.rows] == ids[::-1][runs.PAGE : 2 * runs.PAGE]
            twos = await runs.runs_page(engine, status=None, workflow="two", before=None)
            assert [r.record.id for r in twos.rows] == [i for i in ids[::-1] if i in of_two]
            assert twos.next is None and all(r.trigger == "manual" for r in twos.rows)
            none = await runs.runs_page(engine, status="failed", workflow=None, before=None)
            assert none.rows == [] and none.next is None
            # a link naming no run shows the first page and says so, not the ids below it
            edited = await runs.runs_page(engine, status=None, workflow=None, before="0")
            assert edited.unknown == "0" and edited.rows == first.rows

    asyncio.run(main())


def test_a_session_names_a_token_by_id_and_a_forged_or_old_one_names_none() -> None:
    key, other = b"k" * 32, b"o" * 32
    value = session.session_value(key, "tok123", now=1000.0)
    assert "tok123" in value and session.session_token_id(key, value, now=1001.0) == "tok123"
    assert session.session_token_id(other, value, now=1001.0) is None
    _, expires, signature = value.split(".")
    forged = f"tok999.{expires}.{signature}"
    assert session.session_token_id(key, forged, now=1001.0) is None
    later = 1000.0 + session.SESSION_SECONDS + 1
    assert session.session_token_id(key, value, now=later) is None
    assert session.session_token_id(key, "garbage", now=1001.0) is None
    # a client chooses its cookie's text: a non-ASCII signature was a TypeError (a 500)
    assert session.session_token_id(key, f"tok123.{expires}.{signature[:-1]}é") is None


def test_a_run_form_is_made_from_an_object_schema_of_simple_fields() -> None:
    schema = {
        "type": "object",
        "required": ["amount"],
        "properties": {
            "amount": {"type": "number"},
            "count": {"type": "integer"},
            "urgent": {"type": "boolean"},
            "tier": {"type": "string", "enum": ["a", "b"]},
        },
    }
    fields = form_fields(schema)
    assert fields is not None and [f.name for f in fields] == ["amount", "count", "urgent", "tier"]
    assert fields[3].choices == ["a", "b"]
    sent = {"field.amount": "2.5", "field.count": "", "field.tier": "b"}
    assert payload_of(fields, sent) == {"amount": 2.5, "urgent": False, "tier": "b"}
    with pytest.raises(FuchsiaError, match="amount"):
        payload_of(fields, {"field.amount": "lots"})
    nested = {"type": "object", "properties": {"order": {"type": "object"}}}
    assert form_fields(nested) is None and form_fields(None) is None
    assert payload_of(None, {"payload": '{"order": {"id": 1}}'}) == {"order": {"id": 1}}
    with pytest.raises(FuchsiaError, match="not valid JSON"):
        payload_of(None, {"payload": "{"})


@pytest.mark.parametrize(
    ("text", "reason"),
    [("[" * 100_000, "nested more than"), ('{"n": ' + "7" * 5000 + "}", "5000 digits")],
)
def test_a_form_payload_too_deep_or_with_too_many_digits_is_a_message(
    text: str, reason: str
) -> None:
    """The Run and signal forms read their JSON as the API reads a payload: a RecursionError
    (not a ValueError) escaped them, a 500 for a form post."""
    with pytest.raises(FuchsiaError, match=reason):
        payload_of(None, {"payload": text})
    with pytest.raises(FuchsiaError, match=reason):  # read before the engine is used
        asyncio.run(routes._signal(None, "run", {"signal": "go", "payload": text}))  # type: ignore[arg-type]


def test_with_no_auth_the_ui_is_open_and_its_forms_still_need_the_csrf_token(
    tmp_path: Path,
) -> None:
    import threading

    import uvicorn

    from support.ports import free_port

    async def open_engine() -> Engine:
        return await Engine.open(str(tmp_path / "open.db"), home=tmp_path / "home")

    port = free_port()
    config = uvicorn.Config(
        create_app(open_engine, auth=False, schedule=False), port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False) as browser:
            runs_page = browser.get("/")
            assert runs_page.status_code == 200 and "Runs" in runs_page.text
            assert "unsafe-inline" not in runs_page.headers["content-security-policy"]
            cookie = runs_page.headers["set-cookie"].lower()
            assert "httponly" in cookie and "samesite=strict" in cookie
            assert browser.get("/login", follow_redirects=False).status_code == 303
            for csrf_sent in ("wrong", "wrong-é"):  # non-ASCII was a TypeError (a 500)
                refused = browser.post("/runs/nope/cancel", data={"csrf": csrf_sent})
                assert refused.status_code == 403, refused.text
            empty = browser.get("/workflows").text
            csrf = re.search(r'name="csrf" value="([^"]+)"', empty)
            assert csrf is None  # no form on a page without workflows
            assert "<code>fuchsia deploy FILE</code>" in empty  # a command that exists
            deployed = browser.post(
                "/api/v1/workflows",
                json={"source": "name: one\nnodes:\n  a: {transform: {x: 1}}\n"},
            )
            assert deployed.status_code == 201, deployed.text
            csrf = re.search(r'name="csrf" value="([^"]+)"', browser.get("/workflows/one").text)
            assert csrf is not None
            for version in ("²", "9" * 5000):  # str.isdigit, int(): each was a 500
                form = {"csrf": csrf.group(1), "version": version}
                for action in ("run", "disable", "pin"):
                    sent = browser.post(f"/workflows/one/{action}", data=form)
                    assert sent.status_code == 303, (action, sent.text[:200])
                    assert "whole number" in unquote(sent.cookies["fuchsia_flash"])
            missing = browser.get("/runs/0123456789abcdef")
            assert missing.status_code == 404 and "Traceback" not in missing.text
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_fuchsia_serve_prints_the_ui_address_and_serves_it(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from support.ports import free_port

    env = {k: v for k, v in os.environ.items() if not k.startswith("FUCHSIA_")}
    env["FUCHSIA_HOME"] = str(tmp_path / "home")
    port = free_port()
    command = [sys.executable, "-m", "fuchsia", "serve", "--port", str(port), "--grace", "0"]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stderr is not None
        first = process.stderr.readline()
        assert f"web UI: http://127.0.0.1:{port}/" in first, first
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/", trust_env=False)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, "no server"
                time.sleep(0.05)
        assert answer.status_code == 303 and answer.headers["location"] == "/login?next=%2F"
        login = httpx.get(f"http://127.0.0.1:{port}/login", trust_env=False)
        assert login.status_code == 200 and 'type="password"' in login.text
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_a_workflow_page_names_the_next_cron_instants_and_the_webhook_path() -> None:
    from fuchsia.ui.pages import trigger_facts

    cron = locked(
        "name: daily\ntrigger: {type: cron, cron: {schedule: '0 9 * * *'}}\n"
        "nodes:\n  a: {transform: {x: 1}}\n"
    )
    wednesday = 1_796_203_200.0  # 2026-12-02 09:20 UTC, after that day's 09:00
    facts = trigger_facts(cron.document["trigger"], wednesday, count=2)
    assert facts == {
        "type": "cron",
        "next": ["2026-12-03T09:00:00.000+00:00", "2026-12-04T09:00:00.000+00:00"],
    }
    hook = {"type": "webhook", "webhook": {"path": "/orders"}}
    assert trigger_facts(hook, wednesday)["path"] == "/hooks/orders"
    assert trigger_facts(None, wednesday) == {"type": "manual"}


def test_a_run_page_links_finished_sub_workflows_and_lists_only_the_newest_events(
    tmp_path: Path,
) -> None:
    (tmp_path / "child.yaml").write_text("name: child\nnodes:\n  c: {transform: {x: 1}}\n")
    parent = tmp_path / "parent.yaml"
    parent.write_text(
        "name: parent\nnodes:\n"
        "  call: {workflow: {path: child.yaml}}\n"
        "  each:\n"
        "    after: call\n"
        '    foreach: {items: "{{ range(250) | list }}", concurrency: 50}\n'
        "    transform: {n: '{{ item }}'}\n"
    )

    async def main() -> tuple[runs.RunView, str, int]:
        async with await Engine.open(str(tmp_path / "f.db")) as engine:
            done = await engine.run(parent)
            assert done.status == "completed", done.error
            (child,) = await engine.store.children(done.id)
            first = (await engine.events(done.id))[0]  # one of ~1,000: the page lists 200
            view = await runs.run_view(engine, done.id, "call")
            return view, child.id, first.seq

    view, child, first = asyncio.run(main())
    assert [(c.id, c.status) for c in view.children] == [(child, "completed")]
    assert len(view.events) == runs.EVENTS_SHOWN and view.events[0].seq > first
    assert view.recent_events[0].type == "execution_completed"


def test_servers_on_one_store_share_the_session_key_and_a_restart_keeps_it(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "f.db")

    async def main() -> tuple[bytes, bytes, bytes]:
        async with await Engine.open(db) as one, await Engine.open(db) as two:
            first = await session.stored_key(one.store)
            second = await session.stored_key(two.store)  # another server on the store
        async with await Engine.open(db) as restarted:
            return first, second, await session.stored_key(restarted.store)

    first, second, later = asyncio.run(main())
    assert len(first) == 32 and first == second == later
    value = session.session_value(first, "tok123")
    assert session.session_token_id(later, value) == "tok123"
