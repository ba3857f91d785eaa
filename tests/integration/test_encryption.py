"""Encryption at rest, against SQLite and PostgreSQL alike (the `store_url` fixture).

With a keyring, nothing a user sends or a task returns is readable in the database: the tests
write a marker through every kind of value the store keeps and look for it in the raw SQLite
files and in every PostgreSQL row. Reading a value whose key is missing or wrong is an error
naming the key id that leaves the row as it was; `rotate` moves everything to the first key.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Awaitable, Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
import pytest

from fuchsia.components.registry import Registry
from fuchsia.errors import StoreError
from fuchsia.runtime.engine import Engine
from fuchsia.states import AttemptStatus, ExecutionStatus, NodeStatus
from fuchsia.store import SqlStore, open_store
from fuchsia.store.cipher import (
    DecryptionFailed,
    KeyConfigError,
    Keyring,
    KeyUnavailable,
    generate_key_line,
    keys_from_env,
    parse_keys,
)
from fuchsia.store.records import (
    AttemptWrite,
    ExecutionUpdate,
    KvChanges,
    NewExecution,
    NodeWrite,
    Transition,
    new_id,
)
from fuchsia.store.rotation import rotate
from support.components import CACHE, built_component

ROOT = Path(__file__).resolve().parents[2]
MARKER = "m4rk3r-plaintext-7f3a"
OWNER = "owner-a"
TABLES = ("executions", "attempts", "signals", "kv", "blobs", "artifacts", "workflows", "events")


def keyring(*ids: str) -> Keyring:
    """A keyring with a fixed key per id (the same id gives the same key in every call)."""
    return Keyring(tuple((i, hashlib.sha256(i.encode()).digest()) for i in ids))


def run_with(url: str, keys: Keyring | None, body: Callable[[SqlStore], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        store = open_store(url)
        store.keyring = keys
        store.inline_limit = 1024
        await store.open()
        try:
            return await body(store)
        finally:
            await store.close()

    return asyncio.run(main())


def new_execution(payload: Any) -> NewExecution:
    return NewExecution(
        id=new_id(),
        workflow_hash="sha256:" + "0" * 64,
        workflow_name="demo",
        workflow_version=1,
        workflow_document='{"name":"demo"}',
        payload=payload,
        context={"who": MARKER},
        idempotency_key=None,
        owner=OWNER,
    )


async def write_everything(store: SqlStore) -> str:
    """Store the marker through every kind of value: payload, context, node inputs and
    outputs, a foreach item's, result, a spilled large output, a signal payload, task and
    trigger kv, an artifact. Returns the execution id."""
    record, _ = await store.create_execution(new_execution({"name": MARKER}))
    big = {"text": MARKER * 200}  # above the 1 KiB inline limit: spilled to a blob
    await store.apply(
        Transition(
            record.id,
            OWNER,
            execution=ExecutionUpdate(
                status=ExecutionStatus.COMPLETED, result={"r": MARKER}, has_result=True
            ),
            nodes=[
                NodeWrite("a", NodeStatus.SUCCEEDED, 1),
                NodeWrite("b", NodeStatus.SUCCEEDED, 1),
                NodeWrite("b", NodeStatus.SUCCEEDED, 1, item=0),
            ],
            attempts=[
                AttemptWrite(
                    "a", 1, AttemptStatus.SUCCEEDED, inputs={"in": MARKER}, output={"out": MARKER}
                ),
                AttemptWrite("b", 1, AttemptStatus.SUCCEEDED, inputs={}, output=big),
                AttemptWrite(
                    "b", 1, AttemptStatus.SUCCEEDED, inputs={"item": MARKER}, output=1, item=0
                ),
            ],
        )
    )
    await store.send_signal(record.id, "approve", {"by": MARKER})
    await store.kv_set(record.id, "k", MARKER)
    await store.kv_commit(KvChanges("trigger:demo", {"cursor": MARKER}))
    await store.put_artifact(record.id, "a", "report.txt", "text/plain", MARKER.encode())
    return record.id


async def read_everything(store: SqlStore, execution_id: str) -> None:
    """Every value `write_everything` stored reads back as it was written."""
    record = await store.get_execution(execution_id)
    assert record.payload == {"name": MARKER}
    assert record.context == {"who": MARKER}
    assert record.result == {"r": MARKER}
    nodes = await store.get_nodes(execution_id)
    assert nodes["a"].attempts[0].inputs == {"in": MARKER}
    assert nodes["a"].output == {"out": MARKER}
    assert nodes["b"].items[0].attempts[0].inputs == {"item": MARKER}
    spilled = nodes["b"].output_artifact
    assert spilled is not None and await store.load_value(spilled) == {"text": MARKER * 200}
    signal = await store.next_signal(execution_id, "approve")
    assert signal is not None and signal[1] == {"by": MARKER}
    assert await store.kv_get(execution_id, "k") == MARKER
    assert await store.kv_get("trigger:demo", "cursor") == MARKER
    (ref,) = [a for a in await store.list_artifacts(execution_id) if a.name == "report.txt"]
    assert (await store.get_artifact(ref.id))[2] == MARKER.encode()
    assert ref.hash == "sha256:" + hashlib.sha256(MARKER.encode()).hexdigest()


def raw_store_text(url: str) -> bytes:
    """Everything the database holds, as bytes: the SQLite files (database, WAL, shared
    memory) or every row of every table of the PostgreSQL database."""
    if url.startswith("postgresql://"):
        with psycopg.connect(url) as pg:
            rows = [row for table in TABLES for row in pg.execute(f"SELECT * FROM {table}")]
        return b"\n".join(
            value if isinstance(value, bytes) else str(value).encode()
            for row in rows
            for value in row
        )
    path = Path(url)
    return b"".join(
        p.read_bytes() for p in (path, Path(f"{url}-wal"), Path(f"{url}-shm")) if p.exists()
    )


def raw_value(url: str, sql: str) -> Any:
    if url.startswith("postgresql://"):
        with psycopg.connect(url) as pg:
            row = pg.execute(sql).fetchone()
    else:
        with closing(sqlite3.connect(url)) as lite:
            row = lite.execute(sql).fetchone()
    assert row is not None
    return row[0]


def execute(url: str, sql: str) -> None:
    if url.startswith("postgresql://"):
        with psycopg.connect(url, autocommit=True) as pg:
            pg.execute(sql)
    else:
        with closing(sqlite3.connect(url)) as lite:
            lite.execute(sql)
            lite.commit()


# -- nothing readable --------------------------------------------------------------------


def test_with_a_key_no_value_is_readable_in_the_database(store_url: str) -> None:
    keys = keyring("k1")
    execution_id = run_with(store_url, keys, write_everything)
    # written while the store is open, read again after it is closed
    assert MARKER.encode() not in raw_store_text(store_url)
    run_with(store_url, keys, lambda store: read_everything(store, execution_id))


def test_without_a_key_values_are_stored_as_they_are(store_url: str) -> None:
    """The control for the test above: the marker is findable when nothing encrypts it."""
    execution_id = run_with(store_url, None, write_everything)
    assert MARKER.encode() in raw_store_text(store_url)
    run_with(store_url, None, lambda store: read_everything(store, execution_id))


def test_equal_artifacts_share_one_blob_addressed_by_the_plaintext_hash(store_url: str) -> None:
    async def body(store: SqlStore) -> tuple[str, str]:
        record, _ = await store.create_execution(new_execution({}))
        one = await store.put_artifact(record.id, None, "a", "text/plain", b"same bytes")
        two = await store.put_artifact(record.id, None, "b", "text/plain", b"same bytes")
        assert await store.get_blob(one.hash) == b"same bytes"
        return one.hash, two.hash

    first, second = run_with(store_url, keyring("k1"), body)
    assert first == second == "sha256:" + hashlib.sha256(b"same bytes").hexdigest()
    assert raw_value(store_url, "SELECT COUNT(*) FROM blobs") == 1


# -- missing and wrong keys --------------------------------------------------------------


def test_a_missing_key_is_an_error_naming_it_and_rewrites_nothing(store_url: str) -> None:
    execution_id = run_with(store_url, keyring("k1"), write_everything)
    sql = f"SELECT payload FROM executions WHERE id = '{execution_id}'"
    before = raw_value(store_url, sql)
    for keys in (None, keyring("other")):
        with pytest.raises(KeyUnavailable, match="'k1'") as caught:
            run_with(store_url, keys, lambda store: store.get_execution(execution_id))
        assert caught.value.key_id == "k1"
        assert isinstance(caught.value, StoreError)
        with pytest.raises(KeyUnavailable, match="'k1'"):
            run_with(store_url, keys, lambda store: store.kv_get(execution_id, "k"))
    assert raw_value(store_url, sql) == before
    run_with(store_url, keyring("k1"), lambda store: read_everything(store, execution_id))


def test_a_different_key_under_the_same_id_does_not_decrypt(store_url: str) -> None:
    execution_id = run_with(store_url, keyring("k1"), write_everything)
    impostor = Keyring((("k1", b"\x00" * 32),))
    with pytest.raises(DecryptionFailed, match="'k1'"):
        run_with(store_url, impostor, lambda store: store.get_execution(execution_id))


def test_a_ciphertext_moved_to_another_row_does_not_decrypt(store_url: str) -> None:
    """The row's identity is the associated data: copying one execution's sealed payload
    over another's is detected instead of showing the first payload as the second's."""

    async def two(store: SqlStore) -> tuple[str, str]:
        a, _ = await store.create_execution(new_execution({"who": "a"}))
        b, _ = await store.create_execution(new_execution({"who": "b"}))
        return a.id, b.id

    keys = keyring("k1")
    a, b = run_with(store_url, keys, two)
    execute(
        store_url,
        f"UPDATE executions SET payload = (SELECT payload FROM executions WHERE id = '{a}') "
        f"WHERE id = '{b}'",
    )
    with pytest.raises(DecryptionFailed, match=f"executions {b} payload"):
        run_with(store_url, keys, lambda store: store.get_execution(b))


def test_plaintext_rows_written_before_a_key_stay_readable(store_url: str) -> None:
    old = run_with(store_url, None, write_everything)
    new = run_with(store_url, keyring("k1"), write_everything)

    async def both(store: SqlStore) -> None:
        await read_everything(store, old)
        await read_everything(store, new)

    run_with(store_url, keyring("k1"), both)


# -- rotation ----------------------------------------------------------------------------


def test_rotate_re_encrypts_everything_under_the_first_key(store_url: str) -> None:
    plain = run_with(store_url, None, write_everything)
    under_k1 = run_with(store_url, keyring("k1"), write_everything)
    counts = run_with(store_url, keyring("k2", "k1"), lambda store: rotate(store, batch=2))
    assert counts["executions"].rewritten == counts["executions"].checked == 2
    assert counts["attempts"].rewritten == 6
    assert counts["signals"].rewritten == 2
    assert counts["kv"].rewritten == 3  # two task scopes and one trigger scope (shared key)
    assert counts["blobs"].rewritten == counts["blobs"].checked == 2  # spilled + artifact
    assert MARKER.encode() not in raw_store_text(store_url)

    async def both(store: SqlStore) -> None:
        await read_everything(store, plain)
        await read_everything(store, under_k1)

    run_with(store_url, keyring("k2"), both)  # k1 is no longer needed
    again = run_with(store_url, keyring("k2"), lambda store: rotate(store, batch=2))
    assert sum(c.rewritten for c in again.values()) == 0


def test_a_rotation_stopped_by_a_missing_key_loses_nothing_and_resumes(store_url: str) -> None:
    first = run_with(store_url, keyring("k0"), write_everything)
    second = run_with(store_url, keyring("k1"), write_everything)
    # k0 is missing: the rotation stops at the first k0 row, naming k0
    with pytest.raises(KeyUnavailable, match="'k0'"):
        run_with(store_url, keyring("k2", "k1"), lambda store: rotate(store, batch=1))
    run_with(store_url, keyring("k2", "k1", "k0"), lambda store: read_everything(store, second))
    done = run_with(store_url, keyring("k2", "k1", "k0"), lambda store: rotate(store, batch=1))
    assert 0 < done["executions"].rewritten <= 2

    async def both(store: SqlStore) -> None:
        await read_everything(store, first)
        await read_everything(store, second)

    run_with(store_url, keyring("k2"), both)


def test_rotate_without_a_key_is_an_error(store_url: str) -> None:
    with pytest.raises(StoreError, match="FUCHSIA_ENCRYPTION_KEY"):
        run_with(store_url, None, lambda store: rotate(store))


# -- key settings ------------------------------------------------------------------------


def test_parse_keys_reads_several_keys_first_encrypts() -> None:
    one, two = generate_key_line("new"), generate_key_line("old")
    keys = parse_keys(f"{one}, {two}")
    assert keys.ids() == ["new", "old"] and keys.current == "new"
    assert keys.keys[0][1] == base64.urlsafe_b64decode(one.split(":", 1)[1])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "holds no key"),
        ("k1", "expected ID:KEY"),
        ("bad id!:AAAA", "expected ID:KEY"),
        ("k1:not-base64-$$$", "'k1' must be 32 bytes"),
        ("k1:" + base64.urlsafe_b64encode(b"short").decode(), "'k1' must be 32 bytes"),
    ],
)
def test_malformed_keys_are_errors_naming_the_variable(text: str, message: str) -> None:
    with pytest.raises(KeyConfigError, match=f"FUCHSIA_ENCRYPTION_KEY.*{message}"):
        keys_from_env({"FUCHSIA_ENCRYPTION_KEY": text or " , "})


def test_a_repeated_key_id_is_an_error() -> None:
    line = generate_key_line("k1")
    with pytest.raises(KeyConfigError, match="'k1' appears twice"):
        parse_keys(f"{line},{line}")


def test_a_key_file_has_one_key_per_line_and_errors_name_its_line(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(f"# current first\n{generate_key_line('b')}\n\n{generate_key_line('a')}\n")
    keys = keys_from_env({"FUCHSIA_ENCRYPTION_KEY_FILE": str(path)})
    assert keys is not None and keys.ids() == ["b", "a"]
    path.write_text(f"{generate_key_line('b')}\nb2:short\n")
    with pytest.raises(KeyConfigError, match=r"FUCHSIA_ENCRYPTION_KEY_FILE \(.*\):2: key 'b2'"):
        keys_from_env({"FUCHSIA_ENCRYPTION_KEY_FILE": str(path)})
    with pytest.raises(KeyConfigError, match="cannot read"):
        keys_from_env({"FUCHSIA_ENCRYPTION_KEY_FILE": str(tmp_path / "missing")})


def test_key_errors_and_keyrings_never_show_key_material() -> None:
    secret = base64.urlsafe_b64encode(b"x" * 31).decode()
    with pytest.raises(KeyConfigError) as caught:
        parse_keys(f"k1:{secret}")
    assert secret not in str(caught.value)
    line = generate_key_line("k1")
    keys = parse_keys(line)
    assert repr(keys) == "Keyring(ids=['k1'])" and line.split(":")[1] not in str(keys)


# -- through the engine ------------------------------------------------------------------


WORKFLOW = """\
name: sealed
version: 1
trigger: {type: manual}
nodes:
  echo:
    transform:
      said: "{{ word }}"
"""


def test_an_engine_run_with_a_key_stores_nothing_readable(tmp_path: Path) -> None:
    flow = tmp_path / "sealed.yaml"
    flow.write_text(WORKFLOW)
    db = str(tmp_path / "f.db")

    async def run(keys: Keyring) -> str:
        async with await Engine.open(db, home=tmp_path, keys=keys) as engine:
            execution = await engine.run(flow, {"word": MARKER})
            assert MARKER in str(execution.result)
            return execution.id

    async def show(execution_id: str, keys: Keyring) -> Any:
        async with await Engine.open(db, home=tmp_path, keys=keys) as engine:
            return (await engine.get(execution_id)).result

    execution_id = asyncio.run(run(keyring("k1")))
    assert MARKER.encode() not in raw_store_text(db)
    assert MARKER in str(asyncio.run(show(execution_id, keyring("k1"))))
    with pytest.raises(KeyUnavailable, match="'k1'"):
        asyncio.run(show(execution_id, keyring("k2")))


# -- the command line --------------------------------------------------------------------


def test_keys_commands_generate_encrypt_refuse_and_rotate(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUCHSIA_")}
    env.update(FUCHSIA_HOME=str(tmp_path / "home"))
    db = tmp_path / "home" / "fuchsia.db"

    def fuchsia(*args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
        extra = {} if key is None else {"FUCHSIA_ENCRYPTION_KEY": key}
        return subprocess.run(
            [sys.executable, "-m", "fuchsia", *args],
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    k1 = fuchsia("keys", "generate", "--id", "k1").stdout.strip()
    k2 = fuchsia("keys", "generate", "--id", "k2").stdout.strip()
    assert parse_keys(f"{k2},{k1}").ids() == ["k2", "k1"]
    hello = str(ROOT / "examples" / "hello.yaml")
    ran = fuchsia("run", hello, "--input", json.dumps({"name": MARKER}), key=k1)
    assert ran.returncode == 0, ran.stderr
    assert MARKER.encode() not in raw_store_text(str(db))
    (row,) = json.loads(fuchsia("runs", "list", "--json", key=k1).stdout)

    refused = fuchsia("runs", "show", row["id"])
    assert refused.returncode == 1 and "'k1'" in refused.stderr
    assert "Traceback" not in refused.stderr
    malformed = fuchsia("runs", "list", key="k1:short")
    assert malformed.returncode == 2 and "FUCHSIA_ENCRYPTION_KEY" in malformed.stderr

    rotated = fuchsia("keys", "rotate", key=f"{k2},{k1}")
    assert rotated.returncode == 0, rotated.stderr
    assert "executions: 1 of 1 rows re-encrypted" in rotated.stdout
    shown = fuchsia("runs", "show", row["id"], key=k2)
    assert shown.returncode == 0 and MARKER in shown.stdout


def test_a_real_components_kv_and_artifacts_are_stored_encrypted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The `edge` test component (built from source) writes kv and an artifact through the
    host's imports and reads the artifact back: sealed in the database, plain to the task."""
    monkeypatch.setenv("FUCHSIA_CACHE", str(CACHE / "compiled-cache"))
    home = tmp_path / "home"
    ref = (
        Registry(home / "components")
        .install(built_component(ROOT / "tests" / "components" / "edge").parent)
        .ref
    )
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        f"""
name: sealed-component
nodes:
  count: {{component: "{ref}", task: counter}}
  make: {{component: "{ref}", task: report, inputs: {{text: "{{{{ text }}}}"}}}}
"""
    )
    db = str(home / "f.db")

    async def main() -> Any:
        async with await Engine.open(db, home=home, keys=keyring("k1")) as engine:
            return await engine.run(flow, {"text": MARKER})

    execution = asyncio.run(main())
    assert execution.status == "completed", execution.error
    assert execution.node("make").output["read_back"] == MARKER
    assert MARKER.encode() not in raw_store_text(db)
    assert str(raw_value(db, "SELECT value FROM kv")).startswith("\x1bfx1:k1:")


def test_resuming_without_the_key_fails_clearly_and_the_run_goes_on_with_it(
    tmp_path: Path,
) -> None:
    """An engine that lacks the key cannot drive the execution, and leaves it as it was: the
    next engine with the key runs it to completion."""
    flow = tmp_path / "sealed.yaml"
    flow.write_text(WORKFLOW)
    db = str(tmp_path / "f.db")

    async def main() -> Any:
        async with await Engine.open(db, home=tmp_path, keys=keyring("k1")) as engine:
            execution_id = await engine.start(flow, {"word": MARKER}, detached=True)
        async with await Engine.open(db, home=tmp_path, keys=keyring("k2")) as engine:
            with pytest.raises(KeyUnavailable, match="'k1'"):
                await engine.resume([execution_id])
        async with await Engine.open(db, home=tmp_path, keys=keyring("k1")) as engine:
            assert (await engine.get(execution_id)).status == "pending"
            await engine.resume([execution_id])
            return await engine.wait(execution_id)

    execution = asyncio.run(main())
    assert execution.status == "completed"
    assert MARKER in str(execution.result)
