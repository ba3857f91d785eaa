"""Hostile files and streams on the command line: an endless or unreadable one is one clear
error and exit 1, read no further than its limit, and nothing stored is lost.

Each command runs under an address-space limit, so that code which reads a whole stream
before measuring it fails the test with a MemoryError instead of taking the machine's memory.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
from pathlib import Path
from typing import Any

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


def test_files_a_workflow_names_stay_in_its_folder_and_are_regular_files(
    fuchsia_env: FuchsiaEnv, tmp_path: Path
) -> None:
    """A step file or a sub-workflow path outside the workflow's folder (by `..`, by an
    absolute path or through a symbolic link), one that is not a path, a directory, a fifo or
    a device: each a problem at its line, and `validate` reads none of them."""
    (tmp_path / "outside.py").write_text("def main():\n    return 'secret'\n")
    (tmp_path / "outside.yaml").write_text(WORKFLOW)
    folder = fuchsia_env.home / "flows"
    (folder / "steps" / "a-directory.py").mkdir(parents=True)
    os.mkfifo(folder / "steps" / "fifo.py")  # opening it to read would wait for a writer
    (folder / "steps" / "endless.py").symlink_to("/dev/zero")
    (folder / "steps" / "elsewhere").symlink_to(tmp_path)
    (folder / "steps" / "ok.py").write_text("def main():\n    return 1\n")
    nodes = {
        "up": "python: {file: ../../outside.py}",
        "absolute": f"python: {{file: {tmp_path / 'outside.py'}}}",
        "linked": "python: {file: steps/elsewhere/outside.py}",
        "endless": "python: {file: steps/endless.py}",
        "nul": 'python: {file: "steps/ok\\0.py"}',
        "empty": "python: {file: ''}",
        "directory": "python: {file: steps/a-directory.py}",
        "fifo": "python: {file: steps/fifo.py}",
        "sub_up": "workflow: {path: ../../outside.yaml}",
        "sub_nul": 'workflow: {path: "a\\0.yaml"}',
    }
    flow = folder / "hostile.yaml"
    flow.write_text(
        "name: hostile\nnodes:\n" + "".join(f"  {n}: {{{spec}}}\n" for n, spec in nodes.items())
    )
    done = capped(fuchsia_env, "validate", str(flow))
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    found = (
        re.match(rf"{re.escape(str(flow))}:\d+:\d+: node '(\w+)': (.*)", line)
        for line in done.stderr.splitlines()
    )
    lines = {match[1]: match[2] for match in found if match is not None}
    outside = f"is outside the folder of hostile.yaml ({folder})"
    assert lines == {
        "up": f"the step file '../../outside.py' {outside}",
        "absolute": f"the step file '{tmp_path / 'outside.py'}' is absolute; name it relative "
        "to hostile.yaml",
        "linked": f"the step file 'steps/elsewhere/outside.py' {outside}",
        "endless": f"the step file 'steps/endless.py' {outside}",
        "nul": "the step file 'steps/ok\\x00.py' is not a path",
        "empty": "the step file '' is not a path",
        "directory": f"the step file {folder / 'steps/a-directory.py'} is a directory",
        "fifo": f"the step file {folder / 'steps/fifo.py'} is not a regular file",
        "sub_up": f"the sub-workflow path '../../outside.yaml' {outside}",
        "sub_nul": "the sub-workflow path 'a\\x00.yaml' is not a path",
    }
    for line_number, node in enumerate(nodes, start=3):
        assert f"{flow}:{line_number}:" in done.stderr, (node, done.stderr)


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        (
            {"FUCHSIA_ENCRYPTION_KEY_FILE": "/dev/zero"},
            "FUCHSIA_ENCRYPTION_KEY_FILE: /dev/zero is larger than 1048576 bytes",
        ),
        ({"FUCHSIA_ENCRYPTION_KEY": "k1:short"}, "FUCHSIA_ENCRYPTION_KEY: key 'k1' must be"),
    ],
)
def test_an_endless_or_malformed_key_setting_is_a_usage_error_and_loses_nothing(
    fuchsia_env: FuchsiaEnv, setting: dict[str, str], expected: str
) -> None:
    (fuchsia_env.home / "greet.yaml").write_text(WORKFLOW)
    first = fuchsia_env.json("run", "greet.yaml", "--input", '{"name": "Ada"}')
    fuchsia_env.env.update(setting)
    done = capped(fuchsia_env, "worker")
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert expected in done.stderr, done.stderr[-2000:]
    for name in setting:
        del fuchsia_env.env[name]
    assert [e["id"] for e in fuchsia_env.json("runs", "list")] == [first["id"]]


TINY_COMPONENT = {
    "component.yaml": b"name: tiny\nversion: 1.0.0\ntasks:\n  run: {}\n",
    "component.wasm": b"\0asm\x0d\0\x01\0",  # a component's header: enough to pack
}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(
            ["lock", "greet.yaml", "-o", "a-file/locked.json"],
            "error: cannot write a-file/locked.json: Not a directory",
            id="lock-output-under-a-file",
        ),
        pytest.param(
            ["lock", "greet.yaml", "-o", "."],
            "error: cannot write .: Is a directory",
            id="lock-output-a-directory",
        ),
        pytest.param(
            ["lock", "greet.yaml", "-o", "/proc/version"],
            "error: cannot write /proc/version: ",
            id="lock-output-refused",
        ),
        pytest.param(
            ["component", "pack", "tiny", "-o", "a-file/tiny.fcpkg"],
            "error: cannot write a-file/tiny.fcpkg: Not a directory",
            id="pack-output-under-a-file",
        ),
        pytest.param(
            ["component", "pack", "tiny", "-o", "/proc/tiny.fcpkg"],
            "error: cannot write /proc/tiny.fcpkg: ",
            id="pack-output-refused",
        ),
        pytest.param(
            ["component", "new", "fresh", "--dir", "a-file/fresh"],
            "error: cannot create a-file/fresh: Not a directory",
            id="new-under-a-file",
        ),
        pytest.param(
            ["component", "new", "fresh", "--dir", "/proc/fresh"],
            "error: cannot create /proc/fresh: ",
            id="new-refused",
        ),
        pytest.param(
            ["runs", "artifact", "nope", "nope", "-o", "a-file/out"],
            "error: no execution with id 'nope'",
            id="artifact-output-checked-after-the-lookup",
        ),
    ],
)
def test_an_output_path_that_cannot_be_written_is_one_error_naming_it(
    fuchsia_env: FuchsiaEnv, args: list[str], expected: str
) -> None:
    """A file a command writes where the user said (under a file, a directory's own name, a
    place the system refuses): one line naming the path and the system's reason, exit 1,
    no traceback, and what the store held is still there."""
    (fuchsia_env.home / "greet.yaml").write_text(WORKFLOW)
    (fuchsia_env.home / "a-file").write_text("not a directory\n")
    (fuchsia_env.home / "tiny").mkdir()
    for name, content in TINY_COMPONENT.items():
        (fuchsia_env.home / "tiny" / name).write_bytes(content)
    first = fuchsia_env.json("run", "greet.yaml", "--input", '{"name": "Ada"}')
    done = fuchsia_env.run(*args)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert expected in done.stderr, done.stderr[-2000:]
    assert [e["id"] for e in fuchsia_env.json("runs", "list")] == [first["id"]]
    assert (fuchsia_env.home / "a-file").read_text() == "not a directory\n"


def test_a_detached_run_whose_log_cannot_be_written_says_how_to_drive_it(
    fuchsia_env: FuchsiaEnv,
) -> None:
    """The execution is recorded before its background process is started: when the log
    under FUCHSIA_HOME cannot be made, the error names the log and the command that drives
    the execution, which then completes."""
    (fuchsia_env.home / "greet.yaml").write_text(WORKFLOW)
    fuchsia_env.env["FUCHSIA_HOME"] = "/proc/self"  # FUCHSIA_DB still names the store
    done = fuchsia_env.run("run", "greet.yaml", "--detach", "--input", '{"name": "Ada"}')
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    found = re.search(
        r"error: cannot write /proc/self/logs/(\w+)\.log for the background run", done.stderr
    )
    assert found is not None, done.stderr[-2000:]
    assert f"`fuchsia runs resume {found[1]}`" in done.stderr, done.stderr[-2000:]
    resumed = fuchsia_env.json("runs", "resume", found[1])
    assert [e["status"] for e in resumed] == ["completed"]


@pytest.mark.parametrize("command", ["install", "pack"])
@pytest.mark.parametrize(
    ("make", "expected"),
    [
        pytest.param(
            lambda wasm: wasm.symlink_to("/dev/zero"),
            "tiny@1.0.0: component.wasm in tiny is not a regular file",
            id="endless-device",
        ),
        pytest.param(
            lambda wasm: os.mkfifo(wasm),  # opening it to read would wait for a writer
            "tiny@1.0.0: component.wasm in tiny is not a regular file",
            id="fifo",
        ),
    ],
)
def test_a_component_wasm_that_is_no_regular_file_is_refused_unread(
    fuchsia_env: FuchsiaEnv, command: str, make: Any, expected: str
) -> None:
    """The manifest's `wasm` read to its end: a link to /dev/zero took all the memory, a
    fifo never answered (a README or an asset so made was refused already)."""
    (fuchsia_env.home / "tiny").mkdir()
    (fuchsia_env.home / "tiny" / "component.yaml").write_bytes(TINY_COMPONENT["component.yaml"])
    make(fuchsia_env.home / "tiny" / "component.wasm")
    done = capped(fuchsia_env, "component", command, "tiny")
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert f"error: {expected}" in done.stderr, done.stderr[-2000:]
