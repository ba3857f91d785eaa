"""Start-up cost of the command line (issue 8, A5): medians over fresh processes.

S0  `python -c pass`: the interpreter alone, the floor
S1  `python -c "import fuchsia"`: the package's own import (target < 150 ms)
S2  `fuchsia runs list` on an existing store (target < 250 ms)
S3  `fuchsia --help` (nothing but the command tree)
W4  `fuchsia run examples/hello.yaml`, a fresh home each time (target < 200 ms)

Usage: python bench/startup.py [--repeats N]. Prints a Markdown table; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HELLO = ROOT / "examples" / "hello.yaml"
FUCHSIA = [sys.executable, "-m", "fuchsia"]


def _seconds(command: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - started


def _median(repeats: int, sample: Callable[[int], float]) -> float:
    return statistics.median(sample(i) for i in range(repeats))


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUCHSIA_")}
    env["FUCHSIA_HOME"] = str(home)
    return env


def measure(repeats: int) -> list[tuple[str, str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store = root / "store"
        env = _env(store)
        run = [*FUCHSIA, "run", str(HELLO), "--input", '{"name": "Ada"}', "--json"]
        subprocess.run(run, env=env, cwd=root, check=True, capture_output=True)
        rows = [
            (
                "S0 `python -c pass`",
                "",
                _median(repeats, lambda _: _seconds([sys.executable, "-c", "pass"], env, root)),
            ),
            (
                "S1 `import fuchsia`",
                "< 150 ms",
                _median(
                    repeats, lambda _: _seconds([sys.executable, "-c", "import fuchsia"], env, root)
                ),
            ),
            (
                "S2 `fuchsia runs list`, existing store",
                "< 250 ms",
                _median(repeats, lambda _: _seconds([*FUCHSIA, "runs", "list"], env, root)),
            ),
            (
                "S3 `fuchsia --help`",
                "",
                _median(repeats, lambda _: _seconds([*FUCHSIA, "--help"], env, root)),
            ),
            (
                "W4 `fuchsia run examples/hello.yaml`, fresh home",
                "< 200 ms",
                _median(repeats, lambda i: _seconds(run, _env(root / f"fresh{i}"), root)),
            ),
        ]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7, help="fresh processes per row")
    args = parser.parse_args()
    rows = measure(args.repeats)
    print(f"| measure ({args.repeats} fresh processes, median) | target | time |")
    print("|---|---|---|")
    for name, target, seconds in rows:
        print(f"| {name} | {target} | {seconds * 1000:.0f} ms |")


if __name__ == "__main__":
    main()
