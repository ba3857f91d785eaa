"""The hostile workflow corpus: every broken file gets a located message, never a traceback.

Each file in `workflows/` has a sidecar `NAME.expect` holding the message it must produce
(and `NAME.deploy.expect` where deploying it through the API must say something else):
`LINE:COL: text` (a problem at that position that starts with the text), or bare text (found
in some located problem). Every file goes through `python -m fuchsia validate FILE` in a real
process (exit code 1, a `FILE:LINE:COL:` line, no traceback) and through the HTTP API's deploy
route on a real server, on SQLite and on PostgreSQL (a 4xx with the located reason, never a
5xx). The API reads a source as YAML, JSON included (JSON is YAML's flow subset), so for JSON
files it is held to the located 4xx, not to the JSON parser's wording.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from support.server import Served

CORPUS = Path(__file__).parent / "workflows"
FILES = sorted(p for p in CORPUS.iterdir() if not p.name.endswith(".expect"))
LOCATED = re.compile(r"^\d+:\d+: ")
# JSON that is broken as JSON but valid YAML: the deploy route takes no file name, reads every
# source as YAML, and rightly deploys it.
VALID_AS_YAML = {"json_trailing_comma.json"}


def expected(path: Path, *, deployed: bool = False) -> str:
    """What `path` must produce; deployed through the API (a source without a folder, so it
    names no file beside it), what `NAME.deploy.expect` says where that differs."""
    own = path.parent / f"{path.name}.deploy.expect"
    sidecar = own if deployed and own.exists() else path.parent / f"{path.name}.expect"
    return sidecar.read_text(encoding="utf-8").strip()


def matches(problems: list[str], expect: str) -> bool:
    """Whether one of `problems` (each `LINE:COL: message`) is the one `expect` describes."""
    if LOCATED.match(expect):
        return any(p.startswith(expect) for p in problems)
    return any(LOCATED.match(p) and expect in p for p in problems)


def test_the_corpus_is_large_and_every_file_says_what_it_expects() -> None:
    assert len(FILES) >= 50
    for path in FILES:
        assert expected(path), path.name


def validate_in_a_process(path: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FUCHSIA_HOME": str(home)}
    env.pop("FUCHSIA_DB", None)
    return subprocess.run(
        [sys.executable, "-m", "fuchsia", "validate", str(path)],
        cwd=home.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def validated(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, Any]:
    """`fuchsia validate FILE` for every file, one process each, as many at once as cores."""
    home = tmp_path_factory.mktemp("corpus") / "home"
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        done = pool.map(lambda path: validate_in_a_process(path, home), FILES)
        return dict(zip(FILES, done, strict=True))


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_validate_reports_a_located_problem_and_exits_1(
    path: Path, validated: dict[Path, subprocess.CompletedProcess[str]]
) -> None:
    done = validated[path]
    output = done.stdout + done.stderr
    assert "Traceback" not in output, output
    assert done.returncode == 1, output
    prefix = f"{path}:"
    problems = [line[len(prefix) :] for line in done.stderr.splitlines() if line.startswith(prefix)]
    assert problems and all(LOCATED.match(p) for p in problems), output
    assert matches(problems, expected(path)), f"expected {expected(path)!r} in:\n{output}"


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def deploy_failures(served: Served) -> list[str]:
    """Deploy every corpus file that is text; describe each answer that is not a located 4xx."""
    failures = []
    with served.client("admin") as client:
        for path in FILES:
            if path.name in VALID_AS_YAML:
                continue
            try:
                source = path.read_bytes().decode("utf-8")
            except UnicodeDecodeError:
                continue  # a JSON request body carries text only
            answer = client.post("/api/v1/workflows", json={"source": source})
            if not 400 <= answer.status_code < 500:
                failures.append(f"{path.name}: {answer.status_code} {answer.text[:300]}")
                continue
            texts = [line for text in strings(answer.json()) for line in text.splitlines()]
            lines = [s for s in texts if s.startswith("<request>:")]
            problems = [line.removeprefix("<request>:") for line in lines]
            if not problems or not all(LOCATED.match(p) for p in problems):
                failures.append(f"{path.name}: no located reason: {answer.text[:300]}")
            elif path.suffix != ".json" and not matches(
                problems, want := expected(path, deployed=True)
            ):
                failures.append(f"{path.name}: expected {want!r}, got {problems}")
    return failures


def test_deploying_each_file_is_a_located_4xx_never_a_5xx(store_url: str, tmp_path: Path) -> None:
    with Served(tmp_path, db=store_url, schedule=False) as served:
        failures = deploy_failures(served)
    assert failures == []
