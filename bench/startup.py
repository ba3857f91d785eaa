"""Start-up cost of the command line (issue 8, A5): medians over fresh processes.

S0  `python -c pass`: the interpreter alone, the floor
S1  `python -c "import fuchsia"`: the package's own import (target < 150 ms)
S2  `fuchsia runs list` on an existing store (target < 250 ms)
S3  a two-command Typer app: what the command-line framework alone costs (it imports pydantic)
S4  `fuchsia --help` (nothing but the command tree)
W4  `fuchsia run examples/hello.yaml`, a fresh home each time (target < 200 ms)

Usage: python bench/startup.py [--repeats N]. Prints a Markdown table; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import resource
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
TYPER_APP = """
import typer
app = typer.Typer()
app.command("a")(lambda x: None)
app.command("b")(lambda y: None)
app(["a", "1"])
"""


def _seconds(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall-clock seconds, and the CPU seconds (user + system) the process used: on a busy
    machine the second says far more about the code than the first."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, env=env, cwd=cwd, check=True, capture_output=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _env(home: Path) -> dict[str, str]:
    """A private home, and bytecode caching on as in an installed package (a shell with
    PYTHONDONTWRITEBYTECODE set would otherwise compile every module on every start)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUCHSIA_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["FUCHSIA_HOME"] = str(home)
    return env


def measure(repeats: int) -> list[tuple[str, str, float, float]]:
    """Medians per row; rounds interleave the rows, so a busy machine slows all alike."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        env = _env(root / "store")
        run = [*FUCHSIA, "run", str(HELLO), "--input", '{"name": "Ada"}', "--json"]
        subprocess.run(run, env=env, cwd=root, check=True, capture_output=True)
        python = sys.executable
        rows: list[tuple[str, str, Callable[[int], list[str]], bool]] = [
            ("S0 `python -c pass`", "", lambda _: [python, "-c", "pass"], False),
            ("S1 `import fuchsia`", "< 150 ms", lambda _: [python, "-c", "import fuchsia"], False),
            (
                "S2 `fuchsia runs list`, existing store",
                "< 250 ms",
                lambda _: [*FUCHSIA, "runs", "list"],
                False,
            ),
            ("S3 a bare two-command Typer app", "", lambda _: [python, "-c", TYPER_APP], False),
            ("S4 `fuchsia --help`", "", lambda _: [*FUCHSIA, "--help"], False),
            ("W4 `fuchsia run examples/hello.yaml`, fresh home", "< 200 ms", lambda _: run, True),
        ]
        samples: list[list[tuple[float, float]]] = [[] for _ in rows]
        for i in range(repeats):
            for row, (_, _, command, fresh) in enumerate(rows):
                home_env = _env(root / f"fresh{i}") if fresh else env
                samples[row].append(_seconds(command(i), home_env, root))
    return [
        (name, target, statistics.median(w for w, _ in s), statistics.median(c for _, c in s))
        for (name, target, _, _), s in zip(rows, samples, strict=True)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7, help="fresh processes per row")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    rows = measure(args.repeats)
    print(f"{os.cpu_count()} cores, load average {load:.1f} -> {os.getloadavg()[0]:.1f}")
    print(f"| measure ({args.repeats} fresh processes, median) | target | wall | CPU |")
    print("|---|---|---|---|")
    for name, target, wall, cpu in rows:
        print(f"| {name} | {target} | {wall * 1000:.0f} ms | {cpu * 1000:.0f} ms |")


if __name__ == "__main__":
    main()
