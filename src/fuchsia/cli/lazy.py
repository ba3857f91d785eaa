"""A command group whose commands are imported and built only when one is used.

`fuchsia runs list` should not pay for importing (and letting Typer inspect) every other
command's module: Typer builds every command of an app before it parses a single argument,
which costs far more than the command itself. The root group therefore knows its commands
by name only (`COMMANDS` in `fuchsia.cli`: a module and an attribute each) and builds one
the first time it is looked up; a group among them builds its own commands the same way.
Help, completion and "did you mean" suggestions see the same names in the same order, and
each command is built by Typer exactly as `app.command(NAME)` or `app.add_typer(SUB,
name=NAME)` would have built it, so options, help texts and behaviour are those of an
eagerly registered command.
"""

from __future__ import annotations

import copy
import functools
import importlib
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any, TypeVar

import typer
import typer.core
import typer.main
from typer.models import CommandInfo

C = TypeVar("C")


class LazyCommands(MutableMapping[str, C]):
    """Name -> command, built on the first lookup of that name by its loader; the names
    (and their order) are known without loading anything."""

    def __init__(self, loaders: Mapping[str, Callable[[], C]]) -> None:
        self._loaders = dict(loaders)
        self._loaded: dict[str, C] = {}

    def __getitem__(self, name: str) -> C:
        if name not in self._loaded:
            self._loaded[name] = self._loaders[name]()
        return self._loaded[name]

    def __setitem__(self, name: str, command: C) -> None:
        self._loaders.setdefault(name, lambda: command)
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        del self._loaders[name]
        self._loaded.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaders)

    def __len__(self) -> int:
        return len(self._loaders)

    def __contains__(self, name: object) -> bool:
        return name in self._loaders


def build(name: str, spec: str) -> Any:
    """The command `spec` ("module:attribute") names, as Typer builds it under `name`: a
    function becomes a command (as with `app.command(name)`), a `typer.Typer` a group (as
    with `app.add_typer(sub, name=name)`) whose own commands are built on first use too."""
    module, _, attribute = spec.partition(":")
    target = getattr(importlib.import_module(module), attribute)
    holder = typer.Typer()
    if not isinstance(target, typer.Typer):
        holder.command(name)(target)
        return typer.main.get_group(holder).commands[name]
    if target.registered_groups:  # groups in the group: built at once
        holder.add_typer(target, name=name)
        return typer.main.get_group(holder).commands[name]
    shell = copy.copy(target)  # the group's own help and options, without its commands
    shell.registered_commands = []
    holder.add_typer(shell, name=name)
    group = typer.main.get_group(holder).commands[name]
    assert isinstance(group, typer.core.TyperGroup)
    group.commands = LazyCommands(
        {_command_name(info): _command_loader(holder, info) for info in target.registered_commands}
    )
    return group


def _command_name(info: CommandInfo) -> str:
    if info.name:
        return info.name
    assert info.callback is not None, "a Typer command has a callback"
    return typer.main.get_command_name(info.callback.__name__)


def _command_loader(holder: typer.Typer, info: CommandInfo) -> Callable[[], Any]:
    """Builds the command as `typer.main.get_group(holder)` would have (same settings)."""
    return functools.partial(
        typer.main.get_command_from_info,
        info,
        pretty_exceptions_short=holder.pretty_exceptions_short,
        rich_markup_mode=holder.rich_markup_mode,
    )


def lazy_group(commands: Mapping[str, str]) -> type[typer.core.TyperGroup]:
    """A `TyperGroup` class (for `typer.Typer(cls=...)`) whose commands are `commands`
    (name -> "module:attribute", in the order help lists them), each built on first use."""

    class LazyGroup(typer.core.TyperGroup):
        def __init__(self, **attrs: Any) -> None:
            super().__init__(**attrs)
            loaders = {name: _loader(name, spec) for name, spec in commands.items()}
            self.commands = LazyCommands(loaders)

    return LazyGroup


def _loader(name: str, spec: str) -> Callable[[], Any]:
    return lambda: build(name, spec)
