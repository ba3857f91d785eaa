"""`fuchsia keys`: make encryption keys, and re-encrypt a store under the first one."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from fuchsia.cli.common import DbOption, JsonOption, err, out, print_json, require_store, settings
from fuchsia.errors import FuchsiaError

app = typer.Typer(help="Encryption keys for data at rest.", no_args_is_help=True)
MAX_BATCH = 100_000


@app.command("generate")
def generate_command(
    key_id: Annotated[
        str | None,
        typer.Option("--id", help="The key's id [default: k and the current UTC time]."),
    ] = None,
) -> None:
    """Print a new key line, `ID:KEY`, for FUCHSIA_ENCRYPTION_KEY or a key file. To rotate,
    put it first and keep the old keys after it until `fuchsia keys rotate` is done."""
    from fuchsia.store.cipher import generate_key_line

    line = generate_key_line(key_id or time.strftime("k%Y%m%dT%H%M%S", time.gmtime()))
    out.print(line, markup=False)


@app.command("rotate")
def rotate_command(
    batch: Annotated[
        int, typer.Option("--batch", min=1, max=MAX_BATCH, help="Rows per transaction.")
    ] = 200,
    json_output: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Re-encrypt everything stored under the first key of FUCHSIA_ENCRYPTION_KEY (or
    FUCHSIA_ENCRYPTION_KEY_FILE): plaintext rows and rows under older keys. Safe to stop and
    run again; engines may keep running meanwhile."""
    import asyncio

    from fuchsia.store import open_store
    from fuchsia.store.cipher import KEY_VARIABLE
    from fuchsia.store.rotation import rotate

    config = settings(db)  # the store URL and the keys, checked as every command checks them
    keyring = config.keys
    if keyring is None:
        raise FuchsiaError(f"no encryption key: set {KEY_VARIABLE} (`fuchsia keys generate`)")
    require_store(config)
    store = open_store(config.store_url)
    store.keyring = keyring

    async def main() -> dict[str, list[int]]:
        await store.open()
        try:
            counts = await rotate(store, batch=batch)
        finally:
            await store.close()
        return {t: [c.checked, c.rewritten, c.changed_meanwhile] for t, c in counts.items()}

    counts = asyncio.run(main())
    if json_output:
        print_json(
            {
                "key": keyring.current,
                "tables": {
                    t: {"checked": c[0], "rewritten": c[1], "changed_meanwhile": c[2]}
                    for t, c in counts.items()
                },
            }
        )
        return
    for table, (checked, rewritten, meanwhile) in counts.items():
        extra = f", {meanwhile} written meanwhile" if meanwhile else ""
        out.print(f"{table}: {rewritten} of {checked} rows re-encrypted{extra}", markup=False)
    total = sum(c[1] for c in counts.values())
    err.print(
        f"everything is now encrypted under key {keyring.current!r} ({total} rows rewritten)",
        markup=False,
    )
