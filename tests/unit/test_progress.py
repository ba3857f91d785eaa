"""The live view of `fuchsia run` (issue 8, B9) fed by a real engine: it names the execution,
says what each wait waits for, shows a foreach as item progress, and one duration format."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path

from rich.console import Console

from fuchsia import Engine
from fuchsia.cli.common import duration_text
from fuchsia.cli.progress import Progress
from fuchsia.definition import lock, parse_text, validate

FLOW = """
name: live
nodes:
  each:
    foreach: {items: "{{ [1, 0, 2] }}", concurrency: 3}
    transform: {inverse: "{{ 1 / item }}"}
    on_error: continue
  gate:
    wait: {signal: go}
  timer:
    wait: {for: 1h}
"""


def shown(progress: Progress) -> str:
    console = Console(file=io.StringIO(), width=200, record=True)
    console.print(progress.table())
    return console.export_text()


async def wait_for(check: object, what: str) -> None:
    for _ in range(2000):
        if callable(check) and check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"gave up waiting for {what}")


def test_the_live_view_names_the_execution_waits_and_foreach_progress(tmp_path: Path) -> None:
    source = parse_text(FLOW, "live.yaml")
    workflow = lock(validate(source), source)
    lines = io.StringIO()

    async def main() -> str:
        async with await Engine.open(str(tmp_path / "f.db"), home=tmp_path) as engine:
            progress = Progress(Console(file=lines, width=200), workflow)
            engine.subscribe(progress.on_events)
            execution_id = await engine.start(workflow, {})
            progress.execution_id = execution_id
            progress.lookup = lambda: engine.get(execution_id)
            with progress:
                await wait_for(lambda: progress.items["each"].total == 3, "the item count")
                await wait_for(lambda: progress.states["each"] != "running", "the foreach")
                await wait_for(lambda: progress.states["timer"] == "running", "the timer")
                text = shown(progress)
                await engine.cancel(execution_id)
            assert text.splitlines()[0].strip() == f"execution {execution_id}  live v1"
            return text

    text = asyncio.run(main())
    cells = [re.sub(r"[│┃]", " ", line).split() for line in text.splitlines()]
    rows = {words[0]: " ".join(words) for words in cells if words}
    assert "waiting for signal 'go'" in rows["gate"]
    assert re.search(r"waiting until (\d{4}-\d\d-\d\d )?\d\d:\d\d:\d\d", rows["timer"])
    assert "items 3/3, 1 failed" in rows["each"]
    assert "running 0.1 ms" not in text
    assert lines.getvalue().startswith("execution ")  # off a terminal: the id heads the lines


def test_one_duration_format() -> None:
    assert duration_text(0.0004) == "0.4 ms"
    assert duration_text(0.012) == "12 ms"
    assert duration_text(3.254) == "3.25 s"
    assert duration_text(125) == "2m 05s"
    assert duration_text(3720) == "1h 02m"
