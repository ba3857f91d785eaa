"""Hostile files and streams on the command line: an endless or unreadable one is one clear
error and exit 1, read no further than its limit, and nothing stored is lost.

Each command runs under an address-space limit, so that code which reads a whole stream
before measuring it fails the test with a MemoryError instead of taking the machine's memory.
"""

from __future__ import annotations

import resource
import subprocess
from pathlib import Path

import pytest

from e2e.conftest import CLI_TIMEOUT, FuchsiaEnv

ADDRESS_SPACE = 3 * 1024**3  # far above what a command needs, far below an endless read
WORKFLOW = "name: greet\nnodes:\n  greet: {transform: {greeting: 'Hello, {{ name }}!'}}\n"


def capped(
    env: FuchsiaEnv, *args: str, stdin: Path | None = None
) -> subprocess.CompletedProcess[str]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))

    with open(stdin or "/dev/null", "rb") as source:
        return subprocess.run(
            env.command(*args),
            env=env.env,
            cwd=env.home,
            stdin=source,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            check=False,
            preexec_fn=limit,
        )


@pytest.mark.parametrize(
    ("args", "stdin", "expected"),
    [
        pytest.param(
            ["validate", "/dev/zero"],
            None,
            "/dev/zero:1:1: the file is larger than 10485760 bytes",
            id="workflow-file",
        ),
        pytest.param(
            ["run", "greet.yaml", "--input-file", "/dev/zero"],
            None,
            "error: /dev/zero is too large; the limit is 4194304 bytes",
            id="input-file",
        ),
        pytest.param(
            ["run", "greet.yaml", "--input-file", "-"],
            Path("/dev/zero"),
            "error: standard input is too large; the limit is 4194304 bytes",
            id="standard-input",
        ),
    ],
)
def test_an_endless_file_or_stream_is_refused_at_its_limit(
    fuchsia_env: FuchsiaEnv, args: list[str], stdin: Path | None, expected: str
) -> None:
    (fuchsia_env.home / "greet.yaml").write_text(WORKFLOW)
    first = fuchsia_env.json("run", "greet.yaml", "--input", '{"name": "Ada"}')
    done = capped(fuchsia_env, *args, stdin=stdin)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert expected in done.stderr, done.stderr[-2000:]
    assert [e["id"] for e in fuchsia_env.json("runs", "list")] == [first["id"]]


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        pytest.param("latin.yaml", b"name: caf\xe9\n", "not UTF-8 text (byte 9)", id="not-utf8"),
        pytest.param("/dev/zero", None, "the file is larger than 10485760 bytes", id="endless"),
    ],
)
def test_deploying_to_a_server_refuses_a_bad_file_before_sending_it(
    fuchsia_env: FuchsiaEnv, name: str, content: bytes | None, expected: str
) -> None:
    if content is not None:
        (fuchsia_env.home / name).write_bytes(content)
    # port 9 (discard) has no server: a file that is sent fails differently
    done = capped(fuchsia_env, "--server", "http://127.0.0.1:9", "deploy", name)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert f"{name}:1:1: {expected}" in done.stderr, done.stderr[-2000:]
