"""What a decision may know besides the stored state: the clock and the shell's situation,
passed in so that `decide` reads no clock, no random source and no process state."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from fuchsia.runtime.limits import Limits
from fuchsia.store.records import UnitKey


@dataclass(frozen=True, slots=True)
class Env:
    now: float
    limits: Limits = field(default_factory=Limits)
    owner: str | None = None  # fences the commit: applied only while this owner holds it
    starting: bool = True  # False while the shell drains: ready units are held, not started
    jitter: float = 1.0  # the draw a jittered retry delay uses (0.5-1.0)
    running: Collection[UnitKey] = ()  # units whose attempts run in the shell
    pending: bool = False  # the shell holds more events that this decision does not fold in
    # an engine that parks: an execution whose only open work is retries due later than
    # this (seconds) is handed back to the store; None: never for timers alone
    park_after: float | None = None
