"""The repository's shell scripts parse: a broken `.ci/run` fails before it runs a test."""

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TRACKED = subprocess.run(
    ["git", "ls-files", "*.sh"], cwd=ROOT, capture_output=True, text=True, check=False
).stdout.split()
SCRIPTS = [ROOT / ".ci" / "run", *(ROOT / name for name in TRACKED)]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_script_parses(script: Path) -> None:
    checked = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


def test_ci_runs_make_test_last() -> None:
    lines = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.strip()]
    assert lines[-1] == "make test"
    assert sum(line.startswith("#!") for line in lines) == 1
