"""`--server URL --token T` (or FUCHSIA_SERVER, FUCHSIA_TOKEN): commands that talk to a
running `fuchsia serve` through `fuchsia.Client` instead of opening the store themselves."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import typer

from fuchsia.cli.common import EXIT_FAILED, EXIT_OK, out, print_json

if TYPE_CHECKING:
    from fuchsia.client import Client

_target: dict[str, str | None] = {"server": None, "token": None}


def configure(server: str | None, token: str | None) -> None:
    _target.update(server=server, token=token)


def client_configured() -> bool:
    return bool(_target["server"])


def client() -> Client | None:
    """A client for the configured server, or None to work on the local store."""
    server = _target["server"]
    if not server:
        return None
    from fuchsia.client import Client  # httpx only when a server is named

    return Client(server, token=_target["token"])


def show(record: Any, json_output: bool) -> None:
    """An execution record (or a list of them) from the API, as JSON or a line each."""
    from fuchsia.cli.render import size_text

    if json_output:
        print_json(record)
        return
    for item in record if isinstance(record, list) else [record]:
        line = f"execution {item['id']}  {item['workflow']} v{item.get('version', '?')}  "
        out.print(line + item["status"], markup=False)
        if item.get("error") and item["status"] != "cancelled":
            out.print(f"error: {item['error'].get('message', item['error'])}", markup=False)
        if item.get("result_artifact"):
            ref = item["result_artifact"]
            out.print(
                f"result: stored as artifact {ref['id']} ({size_text(ref['size'])}); "
                f"print it with: fuchsia runs artifact {item['id']} {ref['id']}",
                markup=False,
            )
        elif str(item["status"]).startswith("completed") and "result" in item:
            out.print("result: " + json.dumps(item["result"], indent=2), markup=False)


def exit_for(record: dict[str, Any]) -> typer.Exit:
    ok = str(record.get("status", "")).startswith("completed")
    return typer.Exit(EXIT_OK if ok else EXIT_FAILED)
