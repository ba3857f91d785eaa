"""Deployed workflows: locked versions stored side by side, the newest active one runs."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from fuchsia import Engine, FuchsiaError, StoreError
from support.flows import cli_in

FLOW = (
    "name: greet\nversion: {version}\n"
    "nodes:\n  a: {{transform: {{says: '{word} {{{{ who }}}}'}}}}\n"
)


def write(tmp_path: Path, version: int, word: str) -> Path:
    path = tmp_path / f"greet-{version}-{word}.yaml"
    path.write_text(FLOW.format(version=version, word=word))
    return path


def test_versions_live_side_by_side_and_the_newest_active_runs(tmp_path: Path) -> None:
    async def main() -> None:
        async with await Engine.open(str(tmp_path / "f.db")) as engine:
            first, created = await engine.deploy(write(tmp_path, 1, "hello"))
            assert created and (first.name, first.version, first.active) == ("greet", 1, True)
            assert (await engine.deploy(write(tmp_path, 1, "hello")))[1] is False  # same: no-op
            await engine.deploy(write(tmp_path, 2, "howdy"))
            assert [d.version for d in await engine.deployments()] == [2, 1]

            newest = await engine.wait(await engine.start_deployed("greet", {"who": "ada"}))
            assert newest.result == {"says": "howdy ada"}
            pinned = await engine.wait(await engine.start_deployed("greet@1", {"who": "bo"}))
            assert pinned.result == {"says": "hello bo"}

            await engine.set_active("greet@2", False)
            fallback = await engine.wait(await engine.start_deployed("greet", {"who": "cy"}))
            assert fallback.result == {"says": "hello cy"}
            with pytest.raises(FuchsiaError, match="greet@2 is disabled"):
                await engine.start_deployed("greet@2", {"who": "x"})
            await engine.set_active("greet@2", True)
            assert (await engine.deployment("greet")).version == 2

    asyncio.run(main())


def test_a_deployed_version_never_changes(tmp_path: Path) -> None:
    async def main() -> None:
        async with await Engine.open(str(tmp_path / "f.db")) as engine:
            await engine.deploy(write(tmp_path, 1, "hello"))
            with pytest.raises(StoreError, match="greet version 1 is already deployed"):
                await engine.deploy(write(tmp_path, 1, "changed"))
            with pytest.raises(FuchsiaError, match="no deployed workflow 'greet@7'; greet has"):
                await engine.deployment("greet@7")

    asyncio.run(main())


def test_deploy_and_workflows_commands(tmp_path: Path) -> None:
    cli = cli_in(tmp_path)

    deployed = cli("deploy", str(write(tmp_path, 3, "hi")), "--json")
    assert deployed.returncode == 0, deployed.stderr
    assert json.loads(deployed.stdout)["created"] is True
    listed = json.loads(cli("workflows", "list", "--json").stdout)
    assert [(d["name"], d["version"], d["active"]) for d in listed] == [("greet", 3, True)]
    ran = cli("workflows", "run", "greet", "--input", '{"who": "ada"}', "--json")
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["result"] == {"says": "hi ada"}
    assert "disabled greet@3" in cli("workflows", "disable", "greet@3").stdout
    refused = cli("workflows", "run", "greet")
    assert refused.returncode == 1 and "no deployed workflow 'greet'" in refused.stderr
    shown = json.loads(cli("workflows", "show", "greet@3", "--json").stdout)
    assert shown["active"] is False and shown["workflow"]["name"] == "greet"


def test_a_pinned_version_stays_current_until_unpinned(tmp_path: Path) -> None:
    async def main() -> None:
        async with await Engine.open(str(tmp_path / "f.db")) as engine:
            await engine.deploy(write(tmp_path, 1, "hello"))
            await engine.deploy(write(tmp_path, 2, "howdy"))
            pinned = await engine.pin("greet@1")
            assert (pinned.version, pinned.pinned) == (1, True)
            await engine.deploy(write(tmp_path, 3, "hiya"))  # a newer one changes nothing
            assert (await engine.deployment("greet")).version == 1
            assert [d.version for d in await engine.current_deployments()] == [1]
            ran = await engine.wait(await engine.start_deployed("greet", {"who": "ada"}))
            assert ran.result == {"says": "hello ada"}

            assert (await engine.pin("greet@2")).version == 2  # one pin per workflow
            assert [d.version for d in await engine.deployments() if d.pinned] == [2]
            await engine.set_active("greet@2", False)  # a disabled pin: the newest active
            assert (await engine.deployment("greet")).version == 3
            with pytest.raises(FuchsiaError, match="greet@2 is disabled; enable it"):
                await engine.pin("greet@2")
            with pytest.raises(FuchsiaError, match="which version of 'greet' to pin"):
                await engine.pin("greet")
            with pytest.raises(FuchsiaError, match="no deployed workflow 'other@1'"):
                await engine.pin("other@1")

            await engine.set_active("greet@2", True)
            assert (await engine.deployment("greet")).version == 2
            unpinned = await engine.unpin("greet")
            assert (unpinned.version, unpinned.pinned) == (3, False)
            assert not any(d.pinned for d in await engine.deployments())

    asyncio.run(main())


def test_pin_and_unpin_commands(tmp_path: Path) -> None:
    cli = cli_in(tmp_path)
    for version, word in ((1, "hello"), (2, "howdy")):
        assert cli("deploy", str(write(tmp_path, version, word))).returncode == 0
    pinned = cli("workflows", "pin", "greet@1")
    assert pinned.returncode == 0, pinned.stderr
    assert "pinned greet@1" in pinned.stdout
    listed = json.loads(cli("workflows", "list", "--json").stdout)
    assert [(d["version"], d["pinned"]) for d in listed] == [(2, False), (1, True)]
    ran = json.loads(cli("workflows", "run", "greet", "--input", '{"who": "bo"}', "--json").stdout)
    assert ran["result"] == {"says": "hello bo"}
    unpinned = cli("workflows", "unpin", "greet")
    assert unpinned.returncode == 0 and "triggers fire greet@2" in unpinned.stdout
    refused = cli("workflows", "pin", "greet")
    assert refused.returncode == 1 and "which version of 'greet' to pin" in refused.stderr
