"""What the command line takes from a person, checked before anything opens: the names of
workers and tokens (`label`) and the address a server listens on (`check_listen`)."""

from __future__ import annotations

import socket

import pytest
import typer

from fuchsia.cli.common import check_listen, label


@pytest.mark.parametrize(
    "name",
    [
        "w1",
        "ö-Кир-漢字",
        "\u06a9\u0627\u0631\u06af\u0631\u200c\u0647\u0627",
        "👩\u200d💻 builder",
        "worker on host:1234",
    ],
)
def test_a_name_in_any_script_is_taken(name: str) -> None:
    """The zero-width joiners that Persian words and emoji sequences need are text."""
    assert label(name) == name


@pytest.mark.parametrize(
    "name", ["", "  ", "a\nb", "a\x1b[31m", "a\u202eb", "a\u2028b", "a\x00b", "x" * 201]
)
def test_a_name_that_could_forge_or_reorder_a_line_is_refused(name: str) -> None:
    with pytest.raises(typer.BadParameter, match="printable characters"):
        label(name)


def test_the_ipv6_wildcard_is_taken_while_the_same_ipv4_port_is_in_use() -> None:
    """The server binds `::` IPv6 alone, as asyncio does: a program on 127.0.0.1 and the
    same port does not stand in its way, so the check must not refuse it either."""
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        check_listen("::", port, "--host/--port")
        with pytest.raises(typer.BadParameter, match="Address already in use"):
            check_listen("127.0.0.1", port, "--host/--port")
