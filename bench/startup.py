"""Start-up cost of the command line (issue 8, A5): medians over fresh processes.

S0  `python -c pass`: the interpreter alone, the floor
S1  `python -c "import fuchsia"`: the package's own import (target < 150 ms)
S2  `fuchsia runs list` on an existing store (target < 250 ms)
S3  a two-command Typer app: what the command-line framework alone costs (typer < 0.29: 0.29
    builds a pydantic TypeAdapter per parameter, ~150 ms more)
S4  `fuchsia --help` (every command's module, and Typer's rich help)
S5  importing only the libraries W4 runs on (Typer, Rich, Jinja2, pydantic, jsonschema for
    the trigger's schema, PyYAML, asyncio, sqlite3), none of Fuchsia: W4's floor
W4  `fuchsia run examples/hello.yaml`, a fresh home each time (target < 200 ms)

Usage: python bench/startup.py [--repeats N] [--imports]. Prints a Markdown table; asserts
nothing. `--imports` also prints, for S2 and W4, where their imports spend the time (self
time from `python -X importtime`, summed per top-level package, `fuchsia.*` per subpackage).
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import resource
import shutil
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

STACK = "import typer, rich.console, jinja2, pydantic, jsonschema, yaml, asyncio, sqlite3"


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
            ("S5 W4's libraries imported, no Fuchsia", "", lambda _: [python, "-c", STACK], False),
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


def import_times(command: list[str], env: dict[str, str], cwd: Path) -> list[tuple[str, float]]:
    """Seconds of import (self time) per package in one run of `command` under importtime."""
    done = subprocess.run(
        [command[0], "-X", "importtime", *command[1:]], env=env, cwd=cwd, capture_output=True
    )
    totals: dict[str, float] = collections.defaultdict(float)
    for line in done.stderr.decode(errors="replace").splitlines():
        found = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s+(\S+)", line)
        if found:
            parts = found[2].split(".")
            package = ".".join(parts[:2]) if parts[0] == "fuchsia" else parts[0]
            totals[package] += int(found[1]) / 1e6
    return sorted(totals.items(), key=lambda item: -item[1])[:12]


def print_imports() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        run = [*FUCHSIA, "run", str(HELLO), "--input", '{"name": "Ada"}', "--json"]
        subprocess.run(run, env=_env(root / "store"), cwd=root, check=True, capture_output=True)
        for name, command, home in (
            ("S2 runs list", [*FUCHSIA, "runs", "list"], root / "store"),
            ("W4 run, fresh home", run, root / "fresh"),
        ):
            import_times(command, _env(home), root)  # compiles what was not compiled yet
            shutil.rmtree(root / "fresh", ignore_errors=True)
            rows = import_times(command, _env(home), root)
            print(f"\n{name}: import self time by package (one run, importtime's overhead in)")
            print(", ".join(f"{package} {seconds * 1000:.0f} ms" for package, seconds in rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7, help="fresh processes per row")
    parser.add_argument("--imports", action="store_true", help="also where imports spend time")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    rows = measure(args.repeats)
    print(f"{os.cpu_count()} cores, load average {load:.1f} -> {os.getloadavg()[0]:.1f}")
    print(f"| measure ({args.repeats} fresh processes, median) | target | wall | CPU |")
    print("|---|---|---|---|")
    for name, target, wall, cpu in rows:
        print(f"| {name} | {target} | {wall * 1000:.0f} ms | {cpu * 1000:.0f} ms |")
    if args.imports:
        print_imports()


if __name__ == "__main__":
    main()
