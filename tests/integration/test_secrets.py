"""Secrets are never stored and never shown (DESIGN.md §4, §7): a run that puts a secret in
every place a value can go (the payload, inputs, outputs, a JSON key, the context, errors, an
http URL and header, a sub-workflow's payload, a signal, a hook's view of the failure) leaves
no trace of it in the SQLite file, nor in what `runs show --json` and `runs logs` print."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import quote

import pytest

from fuchsia import Engine, Execution, PayloadError
from support.flows import cli_in
from support.httpserver import LoopbackServer

SECRET = "sk-live/9f8e7d6c+5b4a"  # a `/` and a `+`: its URL forms differ from itself
SECRETS = {"api_key": SECRET}
FORMS = (SECRET, quote(SECRET, safe=""), SECRET.replace("/", "\\/"))

CHILD = """
name: child
nodes:
  echo: {transform: {got: "{{ key }}", again: "{{ secrets.api_key }}"}}
"""

FLOW = """
name: leaky
trigger:
  context: {token: "{{ secrets.api_key }}"}
on_failure: [alert]
nodes:
  everything:
    transform:
      all: "{{ secrets }}"
      inner: "Bearer {{ secrets.api_key }} and more"
      keyed: "{{ {secrets.api_key: 1} }}"
      number: "{{ secrets.api_key | length }}"
    context: {copied: "{{ secrets.api_key }}"}
  call:
    after: everything
    http:
      url: "BASE/echo/{{ secrets.api_key }}"
      headers: {authorization: "Bearer {{ secrets.api_key }}"}
      query: {key: "{{ secrets.api_key }}"}
  child:
    after: everything
    workflow: {path: child.yaml, inputs: {key: "{{ secrets.api_key }}"}}
  hold:
    after: everything
    wait: {signal: go}
  broken:
    after: [call, child, hold]
    join: all
    http: {url: "BASE/status/500?key={{ secrets.api_key }}"}
    retry: {max_attempts: 1}
  alert:
    transform: {saw: "{{ error }}", key: "{{ secrets.api_key }}"}
"""


def stored_bytes(db: Path) -> bytes:
    """Everything SQLite keeps for the store: the file, its WAL and shared memory."""
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))


def leaks(text: str | bytes) -> list[str]:
    data = text.encode() if isinstance(text, str) else text
    return [form for form in FORMS if form.encode() in data]


def run_leaky(tmp_path: Path, loopback: LoopbackServer) -> tuple[Path, Execution]:
    db = tmp_path / "f.db"
    (tmp_path / "child.yaml").write_text(CHILD)
    flow = tmp_path / "flow.yaml"
    flow.write_text(FLOW.replace("BASE", loopback.base_url))

    async def main() -> Execution:
        async with await Engine.open(str(db), secrets=SECRETS) as engine:
            execution_id = await engine.start(flow, {"pasted": f"a key {SECRET} in the payload"})
            while (await engine.get(execution_id)).node("hold").status != "running":
                await asyncio.sleep(0.02)
            await engine.signal(execution_id, "go", {"echo": SECRET, SECRET: "as a key"})
            return await engine.wait(execution_id)

    return db, asyncio.run(main())


def test_a_secret_is_in_no_byte_of_the_store_and_in_nothing_shown(
    tmp_path: Path, loopback: LoopbackServer
) -> None:
    db, done = run_leaky(tmp_path, loopback)
    assert done.status == "failed", done.error
    # the secret was really used: the server got it, and the nodes saw it
    sent = loopback.requests("/echo/" + SECRET)
    assert sent and sent[0].headers.get("authorization") == f"Bearer {SECRET}"
    everything = done.node("everything").output
    assert everything["inner"] == "Bearer *** and more"
    assert everything["all"] == {"api_key": "***"} and everything["keyed"] == {"***": 1}
    broken = done.node("broken").error
    assert broken is not None and "key=***" in broken["message"]
    assert done.node("alert").status == "succeeded"
    assert leaks(stored_bytes(db)) == []

    cli = cli_in(tmp_path)
    for args in (["runs", "show", done.id, "--json"], ["runs", "logs", done.id, "--json"]):
        shown = cli(*args, "--db", str(db))
        assert shown.returncode == 0, shown.stderr
        assert leaks(shown.stdout + shown.stderr) == [], args
    children = cli("runs", "list", "--json", "--db", str(db))
    assert children.returncode == 0 and leaks(children.stdout) == []


def test_a_template_error_naming_a_secret_is_stored_masked(tmp_path: Path) -> None:
    text = 'name: e\nnodes:\n  bad: {transform: {x: "{{ {}[secrets.api_key] }}"}}\n'
    (tmp_path / "flow.yaml").write_text(text)
    db = tmp_path / "f.db"

    async def main() -> Execution:
        async with await Engine.open(str(db), secrets=SECRETS) as engine:
            return await engine.run(tmp_path / "flow.yaml")

    done = asyncio.run(main())
    assert done.status == "failed"
    assert done.error is not None and "***" in done.error["message"]
    assert leaks(stored_bytes(db)) == []


def test_node_run_shows_a_secret_masked(tmp_path: Path) -> None:
    (tmp_path / "flow.yaml").write_text(
        'name: n\nnodes:\n  a: {transform: {k: "{{ secrets.api_key }}"}}\n'
        '  b: {transform: {k: "{{ {}[secrets.api_key] }}"}}\n'
    )

    async def main() -> tuple[object, str]:
        async with await Engine.open(str(tmp_path / "f.db"), secrets=SECRETS) as engine:
            a = await engine.run_node(tmp_path / "flow.yaml", "a")
            b = await engine.run_node(tmp_path / "flow.yaml", "b")
            return a.output, str(b.error)

    output, error = asyncio.run(main())
    assert output == {"k": "***"}
    assert "***" in error and leaks(error) == []


def test_a_components_logs_artifact_names_and_kv_are_stored_masked(
    tmp_path: Path, chatter_home: tuple[Path, str]
) -> None:
    home, ref = chatter_home
    path = tmp_path / "flow.yaml"
    path.write_text(
        f"""
name: component-leaks
nodes:
  talk:
    component: "{ref}"
    task: talk
    inputs: {{lines: 3, size: 0, text: "key={{{{ secrets.api_key }}}}"}}
  keep:
    component: "{ref}"
    task: keep
    inputs:
      name: "report-{{{{ secrets.api_key }}}}.txt"
      content_type: "text/x-{{{{ secrets.api_key }}}}"
      text: plain
  remember:
    component: "{ref}"
    task: remember
    inputs: {{key: "k-{{{{ secrets.api_key }}}}", value: "v-{{{{ secrets.api_key }}}}"}}
"""
    )
    db = tmp_path / "f.db"

    async def main() -> tuple[Execution, list[str]]:
        async with await Engine.open(str(db), home=home, secrets=SECRETS) as engine:
            done = await engine.run(path)
            return done, [a.name for a in await engine.artifacts(done.id)]

    done, names = asyncio.run(main())
    assert done.status == "completed", done.error
    assert "report-***.txt" in names
    assert done.node("remember").output == {"read_back": "v-***"}
    assert leaks(stored_bytes(db)) == []
    shown = cli_in(tmp_path)("runs", "logs", done.id, "--json", "--db", str(db))
    assert shown.returncode == 0, shown.stderr
    assert "key=***" in shown.stdout and leaks(shown.stdout) == []


def test_a_trigger_context_error_naming_a_secret_is_shown_masked(tmp_path: Path) -> None:
    (tmp_path / "flow.yaml").write_text(
        'name: t\ntrigger:\n  context: {x: "{{ {}[secrets.api_key] }}"}\n'
        "nodes:\n  a: {transform: {ok: true}}\n"
    )

    async def main() -> None:
        async with await Engine.open(str(tmp_path / "f.db"), secrets=SECRETS) as engine:
            await engine.start(tmp_path / "flow.yaml")

    with pytest.raises(PayloadError) as raised:
        asyncio.run(main())
    assert "***" in str(raised.value) and leaks(str(raised.value)) == []
