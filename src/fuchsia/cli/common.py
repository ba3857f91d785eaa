"""What every command shares: store options, engine lifetime, output, exit codes."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from fuchsia.config import Settings, SettingsError, sqlite_path
from fuchsia.errors import DefinitionError, FuchsiaError

if TYPE_CHECKING:
    from rich.console import Console

    from fuchsia.components.registry import Registry
    from fuchsia.definition.resolve import Installed
    from fuchsia.runtime.engine import Engine

T = TypeVar("T")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="SQLite path or postgresql:// URL "
        "[default: $FUCHSIA_DB, else $FUCHSIA_HOME/fuchsia.db]",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
MAX_GRACE = 86400.0  # seconds: a day


def _not_nan(value: float) -> float:
    """Click's FloatRange compares, and NaN is neither below nor above a bound."""
    if math.isnan(value):
        raise typer.BadParameter(f"{value} is not in the range 0<=x<={MAX_GRACE}.")
    return value


def grace_option(help: str) -> Any:
    """`--grace`: seconds from 0 to a day. Unbounded, infinity would wait forever for a
    node that never ends, and a shutdown timer cannot be set from NaN or infinity."""
    return typer.Option("--grace", help=help, min=0, max=MAX_GRACE, callback=_not_nan)


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


LogLevelOption = Annotated[
    LogLevel,
    typer.Option("--log-level", help="The least severe log records written to standard error."),
]
LogFormatOption = Annotated[
    LogFormat, typer.Option("--log-format", help="Log lines as text, or one JSON object per line.")
]


class LazyConsole:
    """Standard output or error as a rich `Console`, made when it first prints: importing
    rich costs more than many commands do, and `--json` output never needs it. Off a
    terminal, lines are for logs and pipes: wide (200 columns), never wrapped mid-value."""

    def __init__(self, *, stderr: bool) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def get(self) -> Console:
        """The console itself (made now if it was not yet)."""
        if self._console is None:
            from rich.console import Console

            stream = sys.stderr if self._stderr else sys.stdout
            width = None if stream.isatty() else 200
            self._console = Console(stderr=self._stderr, highlight=False, width=width)
        return self._console

    def print(self, *objects: Any, **options: Any) -> None:
        """`Console.print`."""
        self.get().print(*objects, **options)


out = LazyConsole(stderr=False)
err = LazyConsole(stderr=True)


def escape(text: object) -> str:
    """`text` as it is, inside a string printed with rich markup or in a table cell (which
    rich reads as markup): user data such as `[/x]` in an error is shown, never parsed (a
    stray closing tag would otherwise raise a traceback)."""
    from rich.markup import escape as escape_markup

    return escape_markup(str(text))


MAX_LABEL = 200  # characters of a name a person gives a worker or a token


def label(value: str | None) -> str | None:
    """A name a person gives (a worker's `--name`, a token's): 1 to 200 printable
    characters. It is stored, and shown in tables, logs and every attempt the worker runs: a
    newline or an escape sequence would forge lines and restyle a terminal there, and
    megabytes of it would be copied into each."""
    if value is not None and (
        not value.strip() or len(value) > MAX_LABEL or any(map(_unprintable, value))
    ):
        raise typer.BadParameter(
            f"must be 1 to {MAX_LABEL} printable characters (no newline or control character)"
        )
    return value


# the bidirectional embeddings, overrides and isolates: they reorder what follows them
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _unprintable(char: str) -> bool:
    """A control character, a line or paragraph separator, a surrogate, a private or
    unassigned code point, or a bidirectional control. Other format characters are text:
    the zero-width (non-)joiners that Persian words and emoji sequences are written with."""
    import unicodedata

    return unicodedata.category(char) in ("Cc", "Cs", "Co", "Cn", "Zl", "Zp") or char in _BIDI


def check_listen(host: str, port: int, hint: str) -> None:
    """Refuse, as a usage error naming `hint`, an address this process cannot listen on (a
    host no resolver takes, a port in use or not allowed), before anything is opened: a
    server finding it out later exits with its own log line or traceback. The probe socket
    is closed at once; the server binds its own."""
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:  # as asyncio's server binds it: IPv6 alone
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            probe.bind(address)
    except (OSError, UnicodeError) as exc:
        raise cannot_listen(host, port, exc, hint) from None


def cannot_listen(host: str, port: int, exc: Exception, hint: str) -> typer.BadParameter:
    """The usage error for an address that cannot be listened on: `exc` is the `OSError` of
    the bind, or the `UnicodeError` IDNA raises for a host such as `a..b`."""
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return typer.BadParameter(f"cannot listen on {host}:{port}: {reason}", param_hint=hint)


def settings(db: str | None = None) -> Settings:
    """The settings of this command: every `FUCHSIA_*` variable read and validated once (a
    malformed one is a `SettingsError`, exit 2), with `--db` winning over `FUCHSIA_DB`."""
    key = db or ""
    if key not in _settings:
        _settings[key] = Settings.load(db=db)
    return _settings[key]


_settings: dict[str, Settings] = {}


def registry() -> Registry:
    """The component registry under the home directory of these settings."""
    from fuchsia.components.registry import Registry

    return Registry(settings().registry_root)


class Components:
    """The registry as locking sees it (a `Resolver`), opened at the first component a
    workflow names: a workflow of transforms never imports the manifest's models."""

    def resolve(self, ref: str) -> Installed:
        return registry().resolve(ref)

    def python_runtime(self) -> Installed:
        """The Python runtime, built on first need (saying so: it takes seconds)."""
        return registry().python_runtime(on_build=building_runtime)


def building_runtime(ref: str) -> None:
    err.print(f"building the Python runtime {ref} (once; it takes a few seconds)", markup=False)


def require_store(config: Settings) -> None:
    """A command that reads the store must not create one: when the SQLite file is missing,
    say where it looked and exit 1 (nothing is created)."""
    path = sqlite_path(config.store_url)
    if path is not None and not path.exists():
        where = "--db/FUCHSIA_DB" if config.db else f"FUCHSIA_HOME={config.home}"
        raise fail(
            f"no Fuchsia store at {path} (from {where}); "
            "`fuchsia run FILE` creates one, or point --db/FUCHSIA_HOME at an existing store"
        )


class Interrupted(Exception):
    """Ctrl-C: stop driving after `grace` seconds (nothing new starts meanwhile) and print
    `message` (what was left open and how to continue it); the command exits 130."""

    def __init__(self, message: str, *, grace: float = 0.0) -> None:
        super().__init__(message)
        self.grace = grace


def with_engine(
    db: str | None, work: Callable[[Engine], Awaitable[T]], *, create: bool = False
) -> T:
    """Open an engine on the store, run `work`, and always close the engine. Unless `create`,
    the store must exist already (`require_store`)."""
    import asyncio

    from fuchsia.runtime.engine import Engine

    config = settings(db)
    if not create:
        require_store(config)

    async def main() -> T:
        engine = await Engine.open(settings=config)
        grace = 0.0
        try:
            return await work(engine)
        except Interrupted as stop:
            grace = stop.grace
            raise
        finally:
            await engine.close(grace=grace)

    return asyncio.run(main())


# The style each status is shown in, live (`fuchsia.cli.progress`) and after (`render`).
STYLES = {
    "pending": "dim",
    "running": "yellow",
    "retrying": "magenta",
    "succeeded": "green",
    "failed": "red",
    "timed_out": "red",
    "skipped": "dim",
    "cancelled": "dim",
    "interrupted": "magenta",
}


def duration_text(seconds: float) -> str:
    """The one way the command line shows a duration: `0.4 ms`, `12 ms`, `3.25 s`,
    `2m 05s`, `1h 02m`."""
    if seconds < 0.01:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    return f"{minutes // 60}h {minutes % 60:02d}m"


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


def fail(message: str, code: int = EXIT_FAILED) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(message)}", markup=True, highlight=False, soft_wrap=True)
    return typer.Exit(code)


def report(exc: FuchsiaError) -> int:
    """Print a user's mistake as clear lines (never a traceback); return the exit code. A
    malformed setting, an encryption key's among them, is a usage error."""
    from fuchsia.store.cipher import KeyConfigError  # loaded already by the settings

    if isinstance(exc, SettingsError | KeyConfigError):
        err.print(f"error: {exc}", markup=False, soft_wrap=True)
        return EXIT_USAGE
    if isinstance(exc, DefinitionError):
        for problem in exc.problems:
            err.print(str(problem), markup=False, soft_wrap=True)
        count = len(exc.problems)
        err.print(f"{count} problem{'s' if count != 1 else ''} found", markup=False)
    else:
        err.print(f"error: {exc}", markup=False, soft_wrap=True)
    return EXIT_FAILED
