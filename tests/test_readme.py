"""The README is part of the product: its Python example must run as written."""

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def python_blocks() -> list[str]:
    """The Python examples of the README's "The Python API" section."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## The Python API", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def test_readme_python_example_runs(tmp_path: Path) -> None:
    blocks = python_blocks()
    assert blocks, "the README has no Python example"
    script = tmp_path / "example.py"
    script.write_text(blocks[0])
    env = {**os.environ, "FUCHSIA_HOME": str(tmp_path / "home")}
    env.pop("FUCHSIA_DB", None)
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "completed HELLO, ADA! Your name has 3 letters: A-d-a." in done.stdout
    assert "summary succeeded 1" in done.stdout


def test_readme_quick_start_is_the_two_make_targets() -> None:
    text = (ROOT / "README.md").read_text()
    quick = text.split("## Quick start", 1)[1].split("##", 1)[0]
    assert "make run" in quick and "make test" in quick
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^run:", makefile, flags=re.MULTILINE)
    assert re.search(r"^test:", makefile, flags=re.MULTILINE)


def section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    return text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_readme_validate_example_prints_what_the_readme_shows(tmp_path: Path) -> None:
    """The section "A workflow" shows `broken.yaml` and what `fuchsia validate` prints for it."""
    shown = section("A workflow").split("\nValidation reports every problem at once", 1)[1]
    source = re.findall(r"```yaml\n(.*?)```", shown, flags=re.DOTALL)[0]
    console = re.findall(r"```console\n(.*?)```", shown, flags=re.DOTALL)[0]
    command, *expected = console.splitlines()
    assert command == "$ fuchsia validate broken.yaml"
    (tmp_path / "broken.yaml").write_text(source)
    done = subprocess.run(
        [sys.executable, "-m", "fuchsia", "validate", "broken.yaml"],
        cwd=tmp_path,
        env={**os.environ, "FUCHSIA_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stdout + done.stderr == "\n".join(expected) + "\n"


def command_rows() -> list[str]:
    """The command lines of the table in "The command line", `\\|` read as `|`."""
    rows = re.findall(r"^\| `(fuchsia [^`]*)` \|", section("The command line"), flags=re.M)
    return [row.replace("\\|", "|") for row in rows]


def alternatives(line: str) -> list[str]:
    """`a X | b [--y Y | --z]` -> ["a X", "b [--y Y | --z]"]: ` | ` outside brackets."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(line):
        depth += {"[": 1, "]": -1}.get(char, 0)
        if depth == 0 and line.startswith(" | ", i):
            parts.append(line[start:i])
            start = i + 3
    return [*parts, line[start:]]


def test_every_command_and_option_in_the_readmes_table_exists() -> None:
    import typer
    from typer.core import TyperGroup

    from fuchsia.cli import app

    root: Any = typer.main.get_command(app)  # the lazy group of fuchsia.cli
    rows = command_rows()
    assert len(rows) > 20
    for row in rows:
        first, *others = alternatives(row.removeprefix("fuchsia "))
        words = first.split()
        top = root.get_command(root.context_class(root), words[0])
        assert top is not None, row
        commands: list[Any] = [top]
        if isinstance(top, TyperGroup):
            names = [words[1], *(other.split()[0] for other in others)]
            commands = [top.get_command(root.context_class(root), name) for name in names]
            assert None not in commands, row
        known = {flag for command in commands for p in command.params for flag in p.opts}
        for flag in re.findall(r"(?<![\w-])--?[a-z][a-z-]*", row):
            assert flag in known, f"{row}: {flag}"
