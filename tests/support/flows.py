"""Helpers the integration tests share: run a workflow text in a fresh engine, and call the
`fuchsia` command with its own FUCHSIA_HOME."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fuchsia import Engine, Execution
from fuchsia.definition import lock, parse_text, validate

Cli = Callable[..., subprocess.CompletedProcess[str]]


def run_text(tmp_path: Path, text: str, payload: Any = None, file: str = "flow.yaml") -> Execution:
    """Lock `text` and run it to the end with an engine on `tmp_path/f.db`."""
    source = parse_text(text, file)
    workflow = lock(validate(source), source)

    async def main() -> Execution:
        async with await Engine.open(str(tmp_path / "f.db")) as engine:
            return await engine.run(workflow, payload)

    return asyncio.run(main())


def cli_in(tmp_path: Path) -> Cli:
    """`fuchsia ARGS` in a subprocess whose FUCHSIA_HOME is `tmp_path/home`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("FUCHSIA_")}
    base["FUCHSIA_HOME"] = str(tmp_path / "home")

    def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """`env` adds variables for this one call."""
        return subprocess.run(
            [sys.executable, "-m", "fuchsia", *args],
            env={**base, **(env or {})},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    return cli
