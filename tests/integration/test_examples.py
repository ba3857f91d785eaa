"""The example workflows a newcomer runs first do what their comments say."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from fuchsia import Engine, Execution

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_map_reduce_measures_every_word(tmp_path: Path) -> None:
    async def main() -> Execution:
        async with await Engine.open(str(tmp_path / "f.db")) as engine:
            return await engine.run(
                EXAMPLES / "map-reduce.yaml", {"words": ["durable", "sandboxed", "fast"]}
            )

    execution = asyncio.run(main())
    assert execution.status == "completed", execution.error
    assert execution.result == {"words": 3, "letters": 20, "longest": "sandboxed", "vowels": 7}


@pytest.mark.parametrize(
    ("amount", "answer", "result"),
    [
        (3, None, {"place_order": {"status": "ordered", "item": "pen", "approved_by": "policy"}}),
        (
            1800,
            {"approved": True, "by": "ada"},
            {"place_order": {"status": "ordered", "item": "pen", "approved_by": "ada"}},
        ),
        (
            1800,
            {"approved": False, "by": "bo"},
            {"notify_rejected": {"status": "rejected", "item": "pen", "rejected_by": "bo"}},
        ),
    ],
)
def test_approval_waits_for_large_amounts_and_routes_on_the_answer(
    tmp_path: Path, amount: int, answer: dict[str, Any] | None, result: dict[str, Any]
) -> None:
    async def main() -> Execution:
        async with await Engine.open(str(tmp_path / "f.db")) as engine:
            execution_id = await engine.start(
                EXAMPLES / "approval.yaml", {"item": "pen", "amount": amount}
            )
            if answer is not None:
                while (await engine.get(execution_id)).status != "waiting":
                    await asyncio.sleep(0.02)
                await engine.signal(execution_id, "approval", answer)
            return await engine.wait(execution_id)

    execution = asyncio.run(main())
    assert execution.status == "completed", execution.error
    assert execution.result == result
