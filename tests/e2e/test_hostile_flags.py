"""Hostile flags and settings of the long-running commands (`worker`, `serve`, `run`): each
bad value is refused with one message naming the flag or variable and the form it accepts,
exit 2, no traceback, and nothing is created or lost in the store."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator

import pytest

from e2e.conftest import FuchsiaEnv

LONG_NAME = "a" * 300  # a file name longer than any file system's NAME_MAX


def refused(result: subprocess.CompletedProcess[str], named: str) -> None:
    """`result` is a usage error that names `named` and shows no traceback."""
    assert result.returncode == 2, result.stderr
    assert named in result.stderr, result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://[zz/fuchsia",  # urlsplit's "Invalid IPv6 URL"
        "postgresql://" + "h" * 100 + "/fuchsia",  # a host label longer than 63: UnicodeError
        "postgresql://db..internal/fuchsia",  # an empty label: UnicodeError
        "sqlite://[x/f.db",
        f"/tmp/{LONG_NAME}.db",  # ENAMETOOLONG from deep in the store
        "sqlite:///" + "d/" * 2100 + "f.db",  # longer than PATH_MAX
        "sqlite:f.db",  # a mistyped URL, not a file named `sqlite:f.db`
        "postgresql:fuchsia",
    ],
)
def test_a_store_url_no_parser_resolver_or_file_system_takes_is_a_usage_error(
    fuchsia_env: FuchsiaEnv, url: str
) -> None:
    refused(fuchsia_env.run("worker", "--db", url), "--db=")
    fuchsia_env.env["FUCHSIA_DB"] = url
    refused(fuchsia_env.run("workers", "list"), "FUCHSIA_DB=")
    assert not list(fuchsia_env.home.iterdir())  # nothing was created


def test_a_home_no_file_system_can_name_is_a_usage_error(fuchsia_env: FuchsiaEnv) -> None:
    del fuchsia_env.env["FUCHSIA_DB"]
    fuchsia_env.env["FUCHSIA_HOME"] = f"{fuchsia_env.home}/{LONG_NAME}"
    refused(fuchsia_env.run("worker"), "FUCHSIA_HOME=")


@pytest.mark.parametrize("command", ["worker", "serve"])
@pytest.mark.parametrize("grace", ["nan", "inf", "1e309", "-1", "86401"])
def test_a_grace_that_is_not_a_number_of_seconds_up_to_a_day_is_refused(
    fuchsia_env: FuchsiaEnv, command: str, grace: str
) -> None:
    """NaN passes Click's range check, infinity waits forever for a node that never ends,
    and `serve` cannot make a shutdown timer of either."""
    result = fuchsia_env.run(command, "--grace", grace, timeout=20)
    refused(result, "--grace")
    assert "0<=x<=86400" in result.stderr
    assert not fuchsia_env.db.exists()


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port another socket is listening on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("serve", "--host", "bogus..host"), "--host/--port"),  # IDNA's UnicodeError
        (("serve", "--host", "999.1.1.1"), "--host/--port"),
        (("serve", "--port", "{taken}"), "--host/--port"),  # uvicorn's exit 3
        (("worker", "--metrics-host", "bogus..host", "--metrics-port", "1"), "--metrics-host"),
        (("worker", "--metrics-port", "{taken}"), "--metrics-host/--metrics-port"),
    ],
)
def test_an_address_that_cannot_be_listened_on_is_a_usage_error(
    fuchsia_env: FuchsiaEnv, taken_port: int, args: tuple[str, ...], named: str
) -> None:
    given = [arg.format(taken=taken_port) for arg in args]
    result = fuchsia_env.run(*given, timeout=20)
    refused(result, named)
    assert "cannot listen on" in result.stderr
    assert not fuchsia_env.db.exists()


@pytest.mark.parametrize("name", ["two\nlines", "red\x1b[31m", "bell\x07", " ", "n" * 201])
@pytest.mark.parametrize("command", [("worker", "--name"), ("tokens", "create")])
def test_a_name_that_would_forge_lines_or_flood_every_listing_is_refused(
    fuchsia_env: FuchsiaEnv, command: tuple[str, ...], name: str
) -> None:
    """Worker and token names are stored and shown in tables, logs and attempts."""
    result = fuchsia_env.run(*command, name, timeout=20)
    refused(result, "1 to 200 printable characters")
    assert not fuchsia_env.db.exists()


@pytest.mark.parametrize(
    ("variable", "value", "exporter"),
    [
        ("OTEL_BSP_SCHEDULE_DELAY", "abc", "console"),  # the SDK logged a traceback
        ("OTEL_BSP_SCHEDULE_DELAY", "-5", "console"),  # the SDK's ValueError: exit 1
        ("OTEL_BSP_SCHEDULE_DELAY", "9" * 20, "console"),  # its export thread died
        ("OTEL_BSP_EXPORT_TIMEOUT", "inf", "console"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "0", "console"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "4096", "console"),  # above the queue's 2048
        ("OTEL_METRIC_EXPORT_INTERVAL", "0", "console"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "nan", "otlp"),  # every export failed, quietly
        ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "-1", "otlp"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "not-a-url", "otlp"),
    ],
)
def test_an_otel_number_endpoint_or_switch_the_sdk_would_choke_on_is_a_usage_error(
    fuchsia_env: FuchsiaEnv, variable: str, value: str, exporter: str
) -> None:
    flow = fuchsia_env.home / "one.yaml"
    flow.write_text("name: one\nnodes:\n  only: {transform: {ok: true}}\n")
    signal = "METRICS" if variable.startswith("OTEL_METRIC_") else "TRACES"
    fuchsia_env.env.update({f"OTEL_{signal}_EXPORTER": exporter, variable: value})
    if exporter == "otlp":
        fuchsia_env.env.setdefault("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    result = fuchsia_env.run("run", str(flow), timeout=30)
    refused(result, f"{variable}={value}: expected ")
    assert not fuchsia_env.db.exists()


KEY = "k1:" + "A" * 43 + "="  # 32 zero bytes, urlsafe base64


@pytest.mark.parametrize(
    ("args", "code", "said"),
    [
        (("keys", "rotate"), 1, "error: no Fuchsia store at "),  # it made an empty one
        (("keys", "rotate", "--db", "sqlite:f.db"), 2, "--db=sqlite:f.db: expected "),
        (("keys", "rotate", "--batch", "9" * 30), 2, "--batch"),  # SQLite's OverflowError
    ],
)
def test_keys_rotate_reads_the_store_as_every_other_command_does(
    fuchsia_env: FuchsiaEnv, args: tuple[str, ...], code: int, said: str
) -> None:
    """`keys rotate` opened whatever --db or FUCHSIA_DB said, unchecked: a store created
    where there was none, a file named `sqlite:f.db`, a batch SQLite cannot take."""
    fuchsia_env.env["FUCHSIA_ENCRYPTION_KEY"] = KEY
    result = fuchsia_env.run(*args, timeout=30)
    assert result.returncode == code, result.stderr
    assert said in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not list(fuchsia_env.home.iterdir())  # nothing was created
