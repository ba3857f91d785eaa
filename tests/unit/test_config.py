"""`fuchsia.config`: every FUCHSIA_* setting read once, validated with a message naming the
variable and the accepted form, and what `Engine.open(settings=...)` then uses."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from fuchsia import Engine
from fuchsia.config import (
    DEFAULT_INLINE_LIMIT,
    DEFAULT_LEASE,
    Settings,
    SettingsError,
    lease_of,
    sqlite_path,
)
from fuchsia.store.base import DEFAULT_INLINE_LIMIT as STORE_DEFAULT


def test_defaults_without_any_variable() -> None:
    settings = Settings.load({})
    assert settings.home == Path(".fuchsia")
    assert settings.store_url == ".fuchsia/fuchsia.db"
    assert settings.cache_dir == Path(".fuchsia/cache")
    assert settings.inline_limit == DEFAULT_INLINE_LIMIT == STORE_DEFAULT
    assert settings.hung_after is None
    assert settings.lease == DEFAULT_LEASE == 30.0
    assert settings.secrets == {}


def test_every_variable_is_read() -> None:
    settings = Settings.load(
        {
            "FUCHSIA_HOME": "/srv/f",
            "FUCHSIA_DB": "postgresql://u@db.internal/f",
            "FUCHSIA_CACHE": "/cache",
            "FUCHSIA_INLINE_LIMIT": "4096",
            "FUCHSIA_HUNG_AFTER": "1h30m",
            "FUCHSIA_SECRET_API_KEY": "k",
        }
    )
    assert settings.home == Path("/srv/f") and settings.registry_root == Path("/srv/f/components")
    assert settings.store_url == "postgresql://u@db.internal/f"
    assert settings.cache_dir == Path("/cache")
    assert settings.inline_limit == 4096
    assert settings.hung_after == 5400.0
    assert settings.secrets == {"api_key": "k"}
    assert "k" not in repr(settings)  # secrets stay out of logs and tracebacks


def test_an_explicit_db_wins_and_is_named_as_given() -> None:
    assert Settings.load({"FUCHSIA_DB": "a.db"}, db="b.db").store_url == "b.db"
    with pytest.raises(SettingsError) as raised:
        Settings.load({}, db="mysql://x/y")
    assert raised.value.variable == "--db"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("FUCHSIA_HUNG_AFTER", "soon"),
        ("FUCHSIA_HUNG_AFTER", "0s"),
        ("FUCHSIA_HUNG_AFTER", "9" * 400 + "d"),
        ("FUCHSIA_INLINE_LIMIT", "1023"),
        ("FUCHSIA_INLINE_LIMIT", "-5"),
        ("FUCHSIA_INLINE_LIMIT", "9" * 5000),
        ("FUCHSIA_DB", "mysql://h/d"),
        ("FUCHSIA_DB", "sqlite://"),
        ("FUCHSIA_DB", "sqlite:///a.db?synchronous=sometimes"),
        ("FUCHSIA_DB", "postgresql:///nohost"),
        ("FUCHSIA_DB", "postgresql://[::1/f"),
        ("FUCHSIA_DB", "postgresql://a..b/f"),
        ("FUCHSIA_DB", "sqlite:f.db"),
        ("FUCHSIA_DB", "f" * 256 + ".db"),
        ("FUCHSIA_HOME", "h" * 256),
        ("FUCHSIA_CACHE", "/c/" + "c" * 256),
    ],
)
def test_a_malformed_value_names_the_variable_value_and_accepted_form(
    variable: str, value: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.load({variable: value})
    message = str(raised.value)
    assert message.startswith(f"{variable}={value}: expected ")
    assert raised.value.variable == variable and raised.value.accepted in message


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://[::1]:5432/fuchsia",
        "postgresql://h1:5432,h2:5433/fuchsia",
        "postgresql://pg-primary-0,pg-replica-1,pg-replica-2,pg-replica-3,pg-replica-4/db",
        "postgresql://%2Frun%2Fpostgresql%2Fa-folder-whose-path-is-longer-than-sixty-three/db",
        "postgresql:///fuchsia?host=/var/run/postgresql",
        "postgresql://user:p%40ss@db.internal./fuchsia",
    ],
)
def test_a_postgresql_url_libpq_takes_is_taken(url: str) -> None:
    """Hosts that are lists, IPv6 literals or a Unix socket's folder are not one DNS name:
    nothing checks them as one (a list of short names is longer than a DNS label)."""
    assert Settings.load({"FUCHSIA_DB": url}).db == url


def test_sqlite_paths_as_open_store_reads_them() -> None:
    assert sqlite_path("f.db") == Path("f.db")
    assert sqlite_path("sqlite:///rel.db?synchronous=normal") == Path("rel.db")
    assert sqlite_path("sqlite:////abs/f.db") == Path("/abs/f.db")
    assert sqlite_path("postgresql://h/d") is None


def test_engine_open_takes_its_settings_and_reads_no_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FUCHSIA_HUNG_AFTER", "soon")  # would be refused if it were read
    monkeypatch.setenv("FUCHSIA_DB", "mysql://nowhere/x")
    settings = Settings(home=tmp_path, inline_limit=2048, hung_after=60.0, secrets={"k": "v"})

    async def main() -> tuple[Path, int, float | None, Path]:
        async with await Engine.open(settings=settings) as engine:
            limit = engine.store.inline_limit  # type: ignore[attr-defined]
            return engine.home, limit, engine.hung_after, engine.registry.root

    home, limit, hung, registry = asyncio.run(main())
    assert (home, limit, hung) == (tmp_path, 2048, 60.0)
    assert registry == tmp_path / "components"
    assert (tmp_path / "fuchsia.db").exists()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (None, 30.0),
        ("", 30.0),
        ("  ", 30.0),
        ("1s", 1.0),
        ("3s", 3.0),
        ("2m", 120.0),
        ("1d", 86400.0),
    ],
)
def test_a_lease_is_a_duration_from_a_second_to_a_day(text: str | None, seconds: float) -> None:
    assert lease_of(text, "--lease") == seconds  # nothing given: DEFAULT_LEASE
    if text is not None:
        assert Settings.load({"FUCHSIA_LEASE": text}).lease == seconds


@pytest.mark.parametrize("text", ["abc", "0s", "999ms", "-1s", "1d1s", "2d", "30", "9" * 400 + "d"])
def test_a_lease_outside_a_second_to_a_day_names_where_it_came_from(text: str) -> None:
    with pytest.raises(SettingsError) as raised:
        lease_of(text, "--lease")
    assert raised.value.variable == "--lease"
    assert (
        str(raised.value) == f"--lease={text}: expected a duration from 1s to 1d, such as 30s or 2m"
    )
    with pytest.raises(SettingsError) as from_env:
        Settings.load({"FUCHSIA_LEASE": text})
    assert from_env.value.variable == "FUCHSIA_LEASE"


@pytest.mark.parametrize("variable", ["FUCHSIA_HOME", "FUCHSIA_CACHE"])
@pytest.mark.parametrize("under", ["", "/below"])
def test_a_home_or_cache_that_is_or_lies_under_a_file_is_refused(
    tmp_path: Path, variable: str, under: str
) -> None:
    """The registry, the compiled cache and a detached run's logs are folders made there
    on first use: a file in the way was a traceback from `mkdir` in whichever came first."""
    (tmp_path / "a-file").write_text("")
    value = f"{tmp_path / 'a-file'}{under}"
    with pytest.raises(SettingsError) as exc:
        Settings.load({variable: value, "FUCHSIA_DB": str(tmp_path / "f.db")})
    assert str(exc.value) == (
        f"{variable}={value}: expected a directory ({tmp_path / 'a-file'} is a file)"
    )
