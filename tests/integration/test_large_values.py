"""Large values (DESIGN.md §4): inputs, outputs and results above the inline limit are stored
as artifacts and referenced, and everything that reads them back (successors, a restart, a
retry, a parent workflow) still sees the value."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from fuchsia import ArtifactNotFound, Engine, Execution, FuchsiaError
from support.flows import cli_in

LIMIT = 4096
ROWS = 2000  # `range(2000) | list` is ~9 KB of JSON: above LIMIT

BIG_THEN_SMALL = f"""
name: big
nodes:
  make: {{transform: {{rows: "{{{{ range({ROWS}) | list }}}}"}}}}
  count: {{after: make, transform: {{n: "{{{{ rows | length }}}}", last: "{{{{ rows[-1] }}}}"}}}}
"""

BIG_WAIT_SMALL = f"""
name: big-wait
nodes:
  make: {{transform: {{rows: "{{{{ range({ROWS}) | list }}}}"}}}}
  hold: {{after: make, wait: {{signal: go}}}}
  count: {{after: hold, transform: {{go: "{{{{ go }}}}"}}}}
  total: {{after: make, transform: {{n: "{{{{ rows | length }}}}"}}}}
  done: {{after: [count, total], join: all, transform: {{n: "{{{{ total.n }}}}"}}}}
"""


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


async def parked(db: str, path: str) -> str:
    """Start `path` and close the engine once its `hold` node waits for a signal."""
    async with await Engine.open(db, inline_limit=LIMIT) as engine:
        execution_id = await engine.start(path)
        while (await engine.get(execution_id)).node("hold").status != "running":
            await asyncio.sleep(0.02)
        return execution_id


def test_an_output_above_the_limit_is_an_artifact_and_successors_see_the_value(
    tmp_path: Path,
) -> None:
    async def main() -> tuple[Execution, list[str]]:
        db = str(tmp_path / "f.db")
        async with await Engine.open(db, inline_limit=LIMIT) as engine:
            done = await engine.run(write(tmp_path, "flow.yaml", BIG_THEN_SMALL))
            return done, [a.name for a in await engine.artifacts(done.id)]

    done, names = asyncio.run(main())
    assert done.status == "completed"
    assert done.result == {"n": ROWS, "last": ROWS - 1}
    make = done.node("make")
    assert make.output is None and make.output_artifact is not None
    assert make.output_artifact.content_type == "application/json"
    assert make.output_artifact.size > LIMIT
    assert done.node("count").output_artifact is None  # small values stay inline
    # a transform's inputs are its output: two artifacts, one blob
    assert sorted(names) == ["make.1.inputs.json", "make.1.output.json"]
    shown = done.to_dict()["nodes"][0]
    assert shown["output"] is None and shown["output_artifact"]["id"] == make.output_artifact.id


def test_a_result_above_the_limit_loads_through_the_engine(tmp_path: Path) -> None:
    text = f'name: r\nnodes:\n  make: {{transform: {{rows: "{{{{ range({ROWS}) | list }}}}"}}}}\n'

    async def main() -> tuple[Execution, object, bytes]:
        async with await Engine.open(str(tmp_path / "f.db"), inline_limit=LIMIT) as engine:
            done = await engine.run(write(tmp_path, "flow.yaml", text))
            assert done.result_artifact is not None
            _, data = await engine.artifact(done.id, done.result_artifact.id)
            return done, await engine.result(done.id), data

    done, result, data = asyncio.run(main())
    assert done.result is None
    assert result == {"rows": list(range(ROWS))} == json.loads(data)
    assert done.to_dict()["result_artifact"]["name"] == "result.json"


def test_spilled_values_are_loaded_when_an_execution_resumes(tmp_path: Path) -> None:
    db = str(tmp_path / "f.db")
    path = write(tmp_path, "flow.yaml", BIG_WAIT_SMALL)

    async def second(execution_id: str) -> Execution:
        async with await Engine.open(db, inline_limit=LIMIT) as engine:
            await engine.signal(execution_id, "go", {"go": True})
            await engine.resume([execution_id])
            return await engine.get(execution_id)

    done = asyncio.run(second(asyncio.run(parked(db, path))))
    assert done.status == "completed", done.error
    assert done.node("make").output_artifact is not None
    assert done.result == {"n": ROWS}
    assert len(done.node("make").attempts) == 1  # committed once, never run again


def test_a_retry_reuses_a_spilled_output(tmp_path: Path) -> None:
    async def main() -> Execution:
        async with await Engine.open(str(tmp_path / "f.db"), inline_limit=LIMIT) as engine:
            first = await engine.run(write(tmp_path, "flow.yaml", BIG_THEN_SMALL))
            return await engine.wait(await engine.retry(first.id, "count"))

    again = asyncio.run(main())
    assert again.status == "completed"
    assert again.result == {"n": ROWS, "last": ROWS - 1}
    assert again.node("make").output_artifact is not None  # reused, stored for the new run


def test_a_sub_workflow_with_a_large_result_hands_the_value_to_its_parent(
    tmp_path: Path,
) -> None:
    write(
        tmp_path,
        "child.yaml",
        f'name: child\nnodes:\n  make: {{transform: {{rows: "{{{{ range({ROWS}) | list }}}}"}}}}\n',
    )
    parent = write(
        tmp_path,
        "parent.yaml",
        "name: parent\nnodes:\n"
        "  call: {workflow: {path: child.yaml}}\n"
        '  count: {after: call, transform: {n: "{{ rows | length }}"}}\n',
    )

    async def main() -> Execution:
        async with await Engine.open(str(tmp_path / "f.db"), inline_limit=LIMIT) as engine:
            return await engine.run(parent)

    done = asyncio.run(main())
    assert done.status == "completed", done.error
    assert done.result == {"n": ROWS}


def test_a_foreach_whose_items_are_above_the_limit_continues_after_a_restart(
    tmp_path: Path,
) -> None:
    text = f"""
name: fan
nodes:
  make: {{transform: {{rows: "{{{{ range({ROWS}) | list }}}}"}}}}
  each:
    after: make
    foreach: {{items: "{{{{ rows[:3] + [rows] }}}}"}}
    transform: {{size: "{{{{ item | length if item is iterable else item }}}}"}}
  hold: {{after: each, wait: {{signal: go}}}}
"""
    db = str(tmp_path / "f.db")
    path = write(tmp_path, "flow.yaml", text)

    async def second(execution_id: str) -> tuple[Execution, object]:
        async with await Engine.open(db, inline_limit=LIMIT) as engine:
            await engine.signal(execution_id, "go", {})
            await engine.resume([execution_id])
            done = await engine.get(execution_id)
            names = sorted(a.name for a in await engine.artifacts(execution_id))
            assert names == ["each.1.inputs.json", "make.1.inputs.json", "make.1.output.json"]
            return done, await engine.store.load_value(
                done.node("each").attempts[0].inputs_artifact.id  # type: ignore[union-attr]
            )

    done, items = asyncio.run(second(asyncio.run(parked(db, path))))
    assert done.status == "completed", done.error
    assert done.node("each").output == [{"size": 0}, {"size": 1}, {"size": 2}, {"size": ROWS}]
    assert items == {"items": [0, 1, 2, list(range(ROWS))]}


def test_the_limit_is_validated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(FuchsiaError, match="inline_limit must be at least 1024 bytes"):
        asyncio.run(Engine.open(str(tmp_path / "f.db"), inline_limit=10))
    monkeypatch.setenv("FUCHSIA_INLINE_LIMIT", "lots")
    with pytest.raises(FuchsiaError, match="FUCHSIA_INLINE_LIMIT=lots: expected a whole number"):
        asyncio.run(Engine.open(str(tmp_path / "f.db")))


def test_an_artifact_belongs_to_its_execution(tmp_path: Path) -> None:
    async def main() -> None:
        async with await Engine.open(str(tmp_path / "f.db"), inline_limit=LIMIT) as engine:
            big = await engine.run(write(tmp_path, "flow.yaml", BIG_THEN_SMALL))
            other = await engine.run(
                write(tmp_path, "small.yaml", "name: s\nnodes:\n  a: {transform: {x: 1}}\n")
            )
            ref = big.node("make").output_artifact
            assert ref is not None
            with pytest.raises(ArtifactNotFound):
                await engine.artifact(other.id, ref.id)
            with pytest.raises(ArtifactNotFound):
                await engine.artifact(big.id, "no-such-artifact")

    asyncio.run(main())


def test_artifacts_on_the_command_line(tmp_path: Path) -> None:
    cli = cli_in(tmp_path)
    path = write(
        tmp_path,
        "flow.yaml",
        f'name: big\nnodes:\n  make: {{transform: {{rows: "{{{{ range({ROWS}) | list }}}}"}}}}\n',
    )
    env = {"FUCHSIA_INLINE_LIMIT": str(LIMIT)}
    ran = cli("run", path, "--json", env=env)
    assert ran.returncode == 0, ran.stderr
    record = json.loads(ran.stdout)
    assert record["result"] is None
    ref = record["result_artifact"]
    shown = cli("runs", "show", record["id"])
    assert f"stored as artifact {ref['id']}" in shown.stdout
    listed = json.loads(cli("runs", "artifacts", record["id"], "--json").stdout)
    assert {a["name"] for a in listed} == {
        "make.1.inputs.json",
        "make.1.output.json",
        "result.json",
    }
    table = cli("runs", "artifacts", record["id"][:12])
    assert "result.json" in table.stdout and "application/json" in table.stdout
    printed = cli("runs", "artifact", record["id"], ref["id"])
    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout) == {"rows": list(range(ROWS))}
    target = tmp_path / "result.json"
    saved = cli("runs", "artifact", record["id"], ref["id"], "-o", str(target))
    assert saved.returncode == 0 and "wrote" in saved.stderr
    assert target.read_bytes() == printed.stdout.encode()
    missing = cli("runs", "artifact", record["id"], "nope")
    assert missing.returncode == 1
    assert missing.stderr.strip() == "error: no artifact with id 'nope'"
    bad = cli("runs", "list", env={"FUCHSIA_INLINE_LIMIT": "12"})
    assert bad.returncode == 2 and "FUCHSIA_INLINE_LIMIT=12: expected" in bad.stderr
    assert "Traceback" not in bad.stderr
