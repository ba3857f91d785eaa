"""Cron and poll triggers: one execution per scheduled instant, missed instants coalesced."""

from __future__ import annotations

import asyncio
import math
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from fuchsia import DefinitionError, Engine
from fuchsia.definition import parse_text, validate
from fuchsia.server.schedule import Scheduler, next_instant, previous_instant


def write(tmp_path: Path, trigger: str) -> Path:
    path = tmp_path / "timed.yaml"
    path.write_text(
        f"name: timed\ntrigger:\n{trigger}\nnodes:\n"
        "  a: {transform: {at: '{{ scheduled_at }}', by: '{{ trigger }}'}}\n"
    )
    return path


def scenario(tmp_path: Path, trigger: str, steps: list[tuple[float, float]]) -> list[Any]:
    """Deploy, then for each (server start, now), in seconds after the first whole second
    after the deployment (`origin`, an instant of every schedule here), run one scheduler
    round; return [executions started per round, total executions, last fire, origin]."""

    async def main() -> list[Any]:
        async with await Engine.open(str(tmp_path / "f.db")) as engine:
            deployment, _ = await engine.deploy(write(tmp_path, trigger))
            base = math.floor(deployment.deployed_at) + 1
            counts = []
            for started, now in steps:
                scheduler = Scheduler(engine)
                scheduler.started = base + started
                counts.append(await scheduler.fire_due(now=base + now))
            executions = await engine.list(limit=1000)
            for record in executions:
                await engine.wait(record.id)
            return [counts, len(executions), await engine.store.last_fire("timed"), base]

    return asyncio.run(main())


def test_a_cron_every_second_fires_once_per_second(tmp_path: Path) -> None:
    counts, total, last, base = scenario(
        tmp_path, "  type: cron\n  cron: {schedule: '* * * * * *'}", [(0, 3.5), (0, 3.5), (0, 5.2)]
    )
    assert counts == [4, 0, 2]  # a second round at the same moment fires nothing again
    assert total == 6
    assert last == base + 5


def test_instants_missed_while_down_run_once_or_are_skipped(tmp_path: Path) -> None:
    catch_up = scenario(tmp_path / "a", "  type: poll\n  poll: {every: 1s}", [(0, 2.5), (60, 60.5)])
    assert catch_up[0] == [3, 1]  # 57 missed instants: the latest runs once
    skip = scenario(
        tmp_path / "b", "  type: poll\n  poll: {every: 1s, catch_up: false}", [(0, 2.5), (60, 60.5)]
    )
    assert skip[0] == [3, 0]
    assert skip[2] is not None and skip[2] > skip[3] + 58  # the skip moved the schedule on


def test_a_second_server_on_the_same_store_starts_nothing_twice(tmp_path: Path) -> None:
    counts, total, _, _ = scenario(
        tmp_path, "  type: poll\n  poll: {every: 500ms}", [(0, 2.2), (0, 2.2)]
    )
    assert counts == [5, 0] and total == 5


def test_instants_follow_the_schedule_and_time_zone() -> None:
    trigger = {"type": "cron", "cron": {"schedule": "0 9 * * MON-FRI", "timezone": "Europe/Berlin"}}
    friday_evening = 1795201200.0  # Friday 2026-11-20, 19:00 UTC
    monday_nine = next_instant(trigger, friday_evening)
    assert monday_nine == 1795420800.0  # Monday 2026-11-23, 08:00 UTC = 09:00 in Berlin
    assert previous_instant(trigger, monday_nine) == monday_nine
    poll = {"type": "poll", "poll": {"every": 30.0}}
    assert next_instant(poll, 95.0) == 120.0 and previous_instant(poll, 95.0) == 90.0


@pytest.mark.parametrize(
    ("trigger", "words"),
    [
        ("  type: cron\n  cron: {schedule: 'every day'}", "is not a cron expression"),
        (
            "  type: cron\n  cron: {schedule: '* * * * *', timezone: Mars/Olympus}",
            "unknown time zone",
        ),
        ("  type: poll\n  poll: {every: 0s}", "must be more than 0"),
        ("  type: cron", "a cron trigger needs `cron:` settings"),
        (  # the seventh field is a year
            "  type: cron\n  cron: {schedule: '0 0 1 1 * 0 2020'}",
            "names no date from now on: it would never fire",
        ),
    ],
)
def test_bad_schedules_are_reported_when_validating(
    tmp_path: Path, trigger: str, words: str
) -> None:
    with pytest.raises(DefinitionError, match=words):
        validate(parse_text(write(tmp_path, trigger).read_text(), "timed.yaml"))


def test_triggers_fire_the_pinned_version_not_the_newest(tmp_path: Path) -> None:
    async def main() -> list[Any]:
        async with await Engine.open(str(tmp_path / "f.db")) as engine:
            first, _ = await engine.deploy(write(tmp_path, "  type: poll\n  poll: {every: 1s}"))
            newer = tmp_path / "newer.yaml"
            newer.write_text(
                "name: timed\nversion: 2\ntrigger:\n  type: poll\n  poll: {every: 1s}\n"
                "nodes:\n  a: {transform: {version: 2}}\n"
            )
            await engine.deploy(newer)
            await engine.pin("timed@1")
            base = math.floor(first.deployed_at) + 1
            scheduler = Scheduler(engine)
            scheduler.started = base
            assert await scheduler.fire_due(now=base + 1.5) == 2
            executions = [await engine.wait(r.id) for r in await engine.list()]
            return [e.result for e in executions]

    results = asyncio.run(main())
    assert len(results) == 2
    assert all(result["by"] == "poll" for result in results)  # version 1's node, not version 2


def test_a_schedule_that_ends_keeps_no_other_trigger_from_firing(tmp_path: Path) -> None:
    """A cron whose last instant (its year field's) has passed fires no more, and the
    scheduler goes on firing the other workflows' triggers (one with no next instant stopped
    every trigger of the server)."""
    year = datetime.now(UTC).year + 1
    ending = tmp_path / "ending.yaml"
    ending.write_text(
        f"name: ending\ntrigger:\n  type: cron\n  cron: {{schedule: '0 0 1 1 * 0 {year}'}}\n"
        "nodes:\n  a: {transform: {at: '{{ scheduled_at }}'}}\n"
    )
    hourly = tmp_path / "hourly.yaml"
    hourly.write_text(
        "name: hourly\ntrigger:\n  type: poll\n  poll: {every: 1h}\n"
        "nodes:\n  a: {transform: {at: '{{ scheduled_at }}'}}\n"
    )
    new_year = datetime(year, 1, 1, tzinfo=UTC).timestamp()

    async def main() -> list[tuple[str, str]]:
        async with await Engine.open(str(tmp_path / "f.db")) as engine:
            for flow in (ending, hourly):
                await engine.deploy(flow)
            scheduler = Scheduler(engine)
            scheduler.started = new_year + 30  # a server started just after the last instant
            assert await scheduler.fire_due(now=new_year + 30) == 2
            assert await scheduler.fire_due(now=new_year + 2 * 3600 + 30) == 2  # 1:00, 2:00
            executions = [await engine.wait(r.id) for r in await engine.list()]
            return sorted((e.workflow, e.result["at"]) for e in executions)

    fired = asyncio.run(main())
    assert [workflow for workflow, _ in fired] == ["ending", "hourly", "hourly", "hourly"]
    assert fired[0][1].startswith(f"{year}-01-01T00:00:00")


def test_a_trigger_that_cannot_fire_is_logged_and_the_others_fire(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A deployed workflow whose trigger this process cannot evaluate (here its time zone,
    gone from the system's database) keeps no other workflow's trigger from firing."""
    zoned = tmp_path / "zoned.yaml"
    zoned.write_text(
        "name: zoned\ntrigger:\n  type: cron\n  cron: {schedule: '0 * * * *', timezone: "
        "Europe/Berlin}\nnodes:\n  a: {transform: {at: '{{ scheduled_at }}'}}\n"
    )
    hourly = tmp_path / "hourly.yaml"
    hourly.write_text(
        "name: hourly\ntrigger:\n  type: poll\n  poll: {every: 1h}\n"
        "nodes:\n  a: {transform: {at: '{{ scheduled_at }}'}}\n"
    )
    db = tmp_path / "f.db"

    async def main() -> list[str]:
        async with await Engine.open(str(db)) as engine:
            deployed = [(await engine.deploy(flow))[0] for flow in (zoned, hourly)]
        with sqlite3.connect(db) as connection:  # as a system without that zone reads it
            connection.execute(
                "UPDATE workflows SET document = replace(document, 'Europe/Berlin', "
                "'Mars/Olympus') WHERE name = 'zoned'"
            )
        async with await Engine.open(str(db)) as engine:
            scheduler = Scheduler(engine)
            later = max(d.deployed_at for d in deployed) + 3 * 3600
            scheduler.started = later
            assert await scheduler.fire_due(now=later) == 1
            assert await scheduler.fire_due(now=later + 3600) == 1
            return [r.workflow_name for r in await engine.list()]

    with caplog.at_level("WARNING", logger="fuchsia.server.schedule"):
        assert asyncio.run(main()) == ["hourly", "hourly"]
    failures = [r for r in caplog.records if "its trigger cannot fire" in r.getMessage()]
    assert len(failures) == 1  # once, not every tick
    assert failures[0].getMessage().startswith("zoned: its trigger cannot fire")
