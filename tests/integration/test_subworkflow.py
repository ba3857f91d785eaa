"""`workflow` nodes: child executions, linked to their parent, pinned when the parent locks."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from fuchsia import DefinitionError, Engine, Execution, load
from fuchsia.nodes.kind import WorkflowSpec

CHILD = """
name: classify
version: 2
trigger:
  schema: {type: object, required: [n], properties: {n: {type: integer}}}
nodes:
  start: {transform: {n: "{{ n }}"}}
  route:
    after: start
    branch:
      - when: "data.n % 2 == 0"
        then: even
    default: odd
  even: {after: route, transform: {n: "{{ n }}", kind: even}}
  odd: {after: route, transform: {n: "{{ n }}", kind: odd}}
  answer:
    after: [even, odd]
    join: any
    transform: {n: "{{ (even or odd).n }}", kind: "{{ (even or odd).kind }}"}
"""

PARENT = """
name: parent
nodes:
  numbers: {transform: {values: [1, 2, 3, 4]}}
  each:
    after: numbers
    foreach: {items: "{{ values }}", concurrency: 2}
    workflow: {name: classify, version: 2, inputs: {n: "{{ item }}"}}
  first:
    after: numbers
    workflow: {path: child.yaml, inputs: {n: "{{ values[0] }}"}}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def run(tmp_path: Path, path: Path) -> tuple[Execution, list[Execution]]:
    async def main() -> tuple[Execution, list[Execution]]:
        async with await Engine.open(str(tmp_path / "f.db")) as engine:
            parent = await engine.run(path)
            others = [await engine.get(r.id) for r in await engine.list() if r.id != parent.id]
            return parent, others

    return asyncio.run(main())


def test_children_run_as_linked_executions_and_their_results_flow_back(tmp_path: Path) -> None:
    write(tmp_path, "child.yaml", CHILD)
    parent, children = run(tmp_path, write(tmp_path, "parent.yaml", PARENT))
    assert parent.status == "completed", parent.error
    # a branch inside a sub-workflow inside a foreach
    assert parent.node("each").output == [
        {"n": 1, "kind": "odd"},
        {"n": 2, "kind": "even"},
        {"n": 3, "kind": "odd"},
        {"n": 4, "kind": "even"},
    ]
    assert parent.node("first").output == {"n": 1, "kind": "odd"}
    assert len(children) == 5
    assert {c.parent_id for c in children} == {parent.id}
    assert {c.workflow for c in children} == {"classify"}
    assert all(c.status == "completed" for c in children)


def test_a_failing_child_fails_the_parent_node_with_its_error(tmp_path: Path) -> None:
    write(tmp_path, "child.yaml", "name: boom\nnodes:\n  a: {transform: {x: '{{ nope }}'}}\n")
    parent_path = write(
        tmp_path, "parent.yaml", "name: p\nnodes:\n  call: {workflow: {path: child.yaml}}\n"
    )
    parent, [child] = run(tmp_path, parent_path)
    assert child.status == "failed"
    assert parent.status == "failed"
    assert parent.error is not None
    assert f"sub-workflow boom ({child.id}) failed" in parent.error["message"]
    assert "nope" in parent.error["message"]


async def child_status(engine: Engine, parent_id: str) -> str | None:
    children = [r for r in await engine.list() if r.id != parent_id]
    return children[0].status if children else None


def test_cancelling_the_parent_cancels_the_child(tmp_path: Path) -> None:
    write(tmp_path, "child.yaml", "name: slow\nnodes:\n  w: {wait: {signal: never}}\n")
    parent_path = write(
        tmp_path, "parent.yaml", "name: p\nnodes:\n  call: {workflow: {path: child.yaml}}\n"
    )

    async def main() -> tuple[Execution, Execution]:
        async with await Engine.open(str(tmp_path / "f.db")) as engine:
            parent_id = await engine.start(parent_path)
            while await child_status(engine, parent_id) != "waiting":
                await asyncio.sleep(0.02)
            parent = await engine.cancel(parent_id)
            [child] = [r for r in await engine.list() if r.id != parent_id]
            return parent, await engine.wait(child.id)

    parent, child = asyncio.run(main())
    assert parent.status == "cancelled"
    assert child.status == "cancelled"
    assert child.parent_id == parent.id


def test_editing_the_child_file_does_not_change_a_locked_parent(tmp_path: Path) -> None:
    write(tmp_path, "child.yaml", CHILD)
    parent_path = write(tmp_path, "parent.yaml", PARENT)
    before = load(parent_path)
    write(tmp_path, "child.yaml", CHILD.replace("kind: even", "kind: EVEN"))
    after = load(parent_path)
    assert before.hash != after.hash  # the child is part of what the parent's hash pins


@pytest.mark.parametrize(
    ("parent", "words"),
    [
        (
            "name: p\nnodes:\n  c: {workflow: {path: missing.yaml}}\n",
            "no workflow file 'missing.yaml'",
        ),
        (
            "name: p\nnodes:\n  c: {workflow: {name: nobody}}\n",
            "no workflow nobody among the files",
        ),
        ("name: p\nnodes:\n  c: {workflow: {path: parent.yaml}}\n", "sub-workflows form a cycle"),
        ("name: p\nnodes:\n  c: {workflow: {path: bad.yaml}}\n", "sub-workflow bad.yaml: "),
        (
            "name: p\nnodes:\n  c: {workflow: {name: classify, version: 9}}\n",
            "no workflow classify version 9",
        ),
    ],
)
def test_sub_workflow_mistakes_are_reported_when_locking(
    tmp_path: Path, parent: str, words: str
) -> None:
    write(tmp_path, "child.yaml", CHILD)
    write(tmp_path, "bad.yaml", "name: bad\nnodes:\n  a: {transfrom: {}}\n")
    with pytest.raises(DefinitionError) as caught:
        load(write(tmp_path, "parent.yaml", parent))
    assert words in str(caught.value)


def test_a_child_named_by_name_may_be_a_deployed_workflow(tmp_path: Path) -> None:
    """Not beside the parent: the deployed workflow of that name (its current version, or
    the version the node gives) is locked into the parent."""
    deployed_dir, parent_dir = tmp_path / "deployed", tmp_path / "parent"
    deployed_dir.mkdir()
    parent_dir.mkdir()
    parent = write(
        parent_dir,
        "parent.yaml",
        "name: uses-deployed\nnodes:\n"
        "  current: {workflow: {name: classify, inputs: {n: 3}}}\n"
        "  pinned: {workflow: {name: classify, version: 2, inputs: {n: 4}}}\n",
    )

    async def main() -> Execution:
        async with await Engine.open(str(tmp_path / "f.db")) as engine:
            with pytest.raises(DefinitionError, match="no workflow classify among the files in"):
                await engine.lock(parent)
            await engine.deploy(write(deployed_dir, "child.yaml", CHILD))
            await engine.deploy(
                write(deployed_dir, "v3.yaml", CHILD.replace("version: 2", "version: 3"))
            )
            locked = await engine.lock(parent)
            specs = [locked.nodes[n].spec for n in ("current", "pinned")]
            assert [s.version for s in specs if isinstance(s, WorkflowSpec)] == [3, 2]
            return await engine.run(locked)

    execution = asyncio.run(main())
    assert execution.status == "completed", execution.error
    assert execution.result == {
        "current": {"n": 3, "kind": "odd"},
        "pinned": {"n": 4, "kind": "even"},
    }
