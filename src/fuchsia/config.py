"""Settings, resolved once: every `FUCHSIA_*` environment variable is read and validated here,
and the result is passed into `Engine.open(settings=...)`; nothing below reads the environment.

- `FUCHSIA_HOME`: a directory (default `.fuchsia`)
- `FUCHSIA_DB`: a SQLite path, `sqlite:///PATH[?synchronous=...]` or `postgresql://HOST/...`
  (default `$FUCHSIA_HOME/fuchsia.db`)
- `FUCHSIA_CACHE`: a directory for compiled components (default `$FUCHSIA_HOME/cache`)
- `FUCHSIA_INLINE_LIMIT`: a whole number of bytes, at least 1024 (default 256 KiB)
- `FUCHSIA_HUNG_AFTER`: a duration such as `500ms`, `30s`, `10m`, `1h30m`, `2d` (default off)
- `FUCHSIA_LEASE`: a duration, at least 1s: how long an engine holds what it drives without
  renewing (default 30s); a worker's `--lease` wins
- `FUCHSIA_SECRET_<NAME>`: any text, `{{ secrets.<name> }}` in templates
- `FUCHSIA_ENCRYPTION_KEY` (`ID:KEY[,ID:KEY...]`) or `FUCHSIA_ENCRYPTION_KEY_FILE` (one per
  line): encrypt stored values with the first key, decrypt with any (default: no encryption)

(`FUCHSIA_SERVER` and `FUCHSIA_TOKEN` are options of the command line, read by it.)

A malformed value raises `SettingsError`, whose message names the variable, the value and the
accepted form; the command line prints it and exits 2 (a usage error), never a traceback.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import SplitResult, parse_qs, urlsplit

from fuchsia.durations import parse_duration
from fuchsia.errors import FuchsiaError

if TYPE_CHECKING:
    from fuchsia.store.cipher import Keyring

DEFAULT_HOME = ".fuchsia"
DEFAULT_LEASE = 30.0  # seconds
DEFAULT_INLINE_LIMIT = 256 * 1024
MIN_INLINE_LIMIT = 1024
SECRET_PREFIX = "FUCHSIA_SECRET_"
SQLITE_OPTIONS = {"synchronous": ("off", "normal", "full", "extra")}
STORE_FORMS = "a SQLite file path, sqlite:///PATH[?synchronous=full|normal|off] or postgresql://..."
STORE_SCHEMES = ("sqlite:", "postgres:", "postgresql:")  # without `//`: a mistyped URL, not a file
MAX_PATH, MAX_NAME = 4095, 255  # bytes: PATH_MAX less its NUL, and NAME_MAX, on Linux


class SettingsError(FuchsiaError):
    """A setting (an environment variable or the argument standing for it) is malformed."""

    def __init__(self, variable: str, value: object, accepted: str) -> None:
        super().__init__(f"{variable}={value!s}: expected {accepted}")
        self.variable = variable
        self.value = value
        self.accepted = accepted


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything an engine is configured with, validated. Build it with `Settings.load()`
    (environment, then explicit overrides) or directly; `Engine.open` takes one."""

    home: Path = Path(DEFAULT_HOME)
    db: str = ""  # empty: fuchsia.db under `home`
    cache: Path | None = None  # None: cache/ under `home`
    inline_limit: int = DEFAULT_INLINE_LIMIT
    hung_after: float | None = None
    lease: float = DEFAULT_LEASE
    secrets: Mapping[str, str] = dataclasses.field(default_factory=dict, repr=False)
    keys: Keyring | None = dataclasses.field(default=None, repr=False)

    @property
    def store_url(self) -> str:
        """The store to open: `db`, else `fuchsia.db` under the home directory."""
        return self.db or str(self.home / "fuchsia.db")

    @property
    def cache_dir(self) -> Path:
        """Where compiled components are cached (shared between homes when set)."""
        return self.cache if self.cache is not None else self.home / "cache"

    @property
    def registry_root(self) -> Path:
        return self.home / "components"

    @classmethod
    def load(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        home: str | Path | None = None,
        db: str | None = None,
    ) -> Settings:
        """Read and validate every `FUCHSIA_*` variable of `environ` (default: `os.environ`)
        once; `home` and `db`, when given, win over their variables (a `--db` option)."""
        from fuchsia.store.cipher import keys_from_env  # the store package only when loading

        env = os.environ if environ is None else environ
        home_text = str(home) if home is not None else env.get("FUCHSIA_HOME") or DEFAULT_HOME
        db_text = db if db is not None else env.get("FUCHSIA_DB", "")
        cache = env.get("FUCHSIA_CACHE")
        if not db_text:
            _check_nameable(Path(home_text) / "fuchsia.db", "FUCHSIA_HOME", home_text)
        _check_folder(Path(home_text), "FUCHSIA_HOME", home_text)
        if cache:
            _check_nameable(Path(cache), "FUCHSIA_CACHE", cache)
            _check_folder(Path(cache), "FUCHSIA_CACHE", cache)
        return cls(
            home=Path(home_text),
            db=check_store_url(db_text, "--db" if db is not None else "FUCHSIA_DB"),
            cache=Path(cache) if cache else None,
            inline_limit=_inline_limit(env.get("FUCHSIA_INLINE_LIMIT")),
            hung_after=_hung_after(env.get("FUCHSIA_HUNG_AFTER")),
            lease=lease_of(env.get("FUCHSIA_LEASE"), "FUCHSIA_LEASE"),
            secrets=secrets_of(env),
            keys=keys_from_env(env),
        )


def secrets_of(environ: Mapping[str, str]) -> dict[str, str]:
    """`FUCHSIA_SECRET_API_KEY=...` becomes `{{ secrets.api_key }}` in templates."""
    return {
        k[len(SECRET_PREFIX) :].lower(): v
        for k, v in environ.items()
        if k.startswith(SECRET_PREFIX) and len(k) > len(SECRET_PREFIX)
    }


def check_store_url(url: str, variable: str = "FUCHSIA_DB") -> str:
    """Return `url` if it names a store this build can open, else raise `SettingsError`:
    checked here, so a URL no parser or resolver takes, or a path no file system can name,
    is a usage error rather than a traceback from deep in the store."""
    if not url:
        return url
    if url.startswith(("postgresql://", "postgres://")):
        host = _url_parts(url, variable).hostname
        if not (host or "host=" in url) or (host and not _resolvable(host)):
            raise SettingsError(variable, url, STORE_FORMS + " naming a host")
        return url
    if url.startswith("sqlite://"):
        parts = _url_parts(url, variable)
        if not (parts.netloc + parts.path).strip("/"):
            raise SettingsError(variable, url, STORE_FORMS + " with a path")
        for name, values in parse_qs(parts.query, keep_blank_values=True).items():
            allowed = SQLITE_OPTIONS.get(name)
            if allowed is None or values[-1].lower() not in allowed:
                raise SettingsError(variable, url, STORE_FORMS)
    elif "://" in url or url.lower().startswith(STORE_SCHEMES):
        raise SettingsError(variable, url, STORE_FORMS)
    _check_nameable(sqlite_path(url), variable, url)
    return url


def _url_parts(url: str, variable: str) -> SplitResult:
    try:
        return urlsplit(url)
    except ValueError:  # an unclosed `[` of an IPv6 address
        raise SettingsError(variable, url, STORE_FORMS) from None


def _resolvable(host: str) -> bool:
    """Whether a resolver can be asked for each host `host` names (libpq takes a list,
    `h1,h2:5433`): IDNA refuses an empty label and one longer than 63 characters, and the
    resolver would raise, not answer. A Unix socket's folder (`/run/postgresql`, or
    percent-encoded, `%2Frun%2Fpostgresql`) is no name to resolve."""
    for one in host.split(","):
        name = one.rsplit(":", 1)[0] if one.count(":") == 1 else one  # a port after it
        if name.startswith(("/", "%2f", "%2F")):
            continue
        try:
            name.encode("idna")
        except UnicodeError:
            return False
    return True


def _check_nameable(path: Path | None, variable: str, value: str) -> None:
    """Refuse a path that no file system can name (a NUL byte, a name longer than 255 bytes,
    a path longer than 4095): opening it would fail as an `OSError` wherever it is first
    touched, long after the setting was read."""
    if path is None:
        return
    raw = os.fsencode(path)
    if b"\0" in raw or len(raw) > MAX_PATH or any(len(n) > MAX_NAME for n in raw.split(b"/")):
        raise SettingsError(
            variable,
            value,
            f"a path of at most {MAX_PATH} bytes, each name at most {MAX_NAME}, no NUL byte",
        )


def _check_folder(folder: Path, variable: str, value: str) -> None:
    """Refuse a folder that is a file or lies under one: the registry, the compiled cache
    and logs are made in it on first use, where `mkdir` would fail with a traceback."""
    for place in (folder, *folder.parents):
        if place.exists():  # the nearest that does: False below a file or through a loop
            if not place.is_dir():
                raise SettingsError(variable, value, f"a directory ({place} is a file)")
            return


def sqlite_path(url: str) -> Path | None:
    """The file a SQLite store URL names (as `open_store` reads it), None for PostgreSQL."""
    if url.startswith(("postgresql://", "postgres://")):
        return None
    if url.startswith("sqlite://"):
        parts = urlsplit(url)
        path = parts.path if not parts.netloc else parts.netloc + parts.path
        return Path(path[1:] if path.startswith("/") else path)
    return Path(url)


def _inline_limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_INLINE_LIMIT
    accepted = f"a whole number of bytes of at least {MIN_INLINE_LIMIT}"
    stripped = text.strip()
    if not stripped.isdigit() or len(stripped) > 18 or int(stripped) < MIN_INLINE_LIMIT:
        raise SettingsError("FUCHSIA_INLINE_LIMIT", text, accepted)
    return int(stripped)


def lease_of(text: str | None, source: str) -> float:
    """A lease duration (`FUCHSIA_LEASE`, a worker's `--lease`): at least 1s, at most a day."""
    if text is None or not text.strip():
        return DEFAULT_LEASE
    accepted = "a duration from 1s to 1d, such as 30s or 2m"
    try:
        seconds = parse_duration(text)
    except ValueError:
        raise SettingsError(source, text, accepted) from None
    if not 1.0 <= seconds <= 86400.0:
        raise SettingsError(source, text, accepted)
    return seconds


def _hung_after(text: str | None) -> float | None:
    if text is None or not text.strip():
        return None
    try:
        seconds = parse_duration(text)
        if not math.isfinite(seconds):
            raise ValueError(text)
    except ValueError:
        raise SettingsError(
            "FUCHSIA_HUNG_AFTER", text, "a duration such as 500ms, 30s, 10m, 1h30m or 2d"
        ) from None
    if seconds <= 0:
        raise SettingsError("FUCHSIA_HUNG_AFTER", text, "a duration above zero, such as 10m")
    return seconds
