"""What the machine hears: the inputs a decision is made from.

A finished attempt is the shell's `Outcome` (`fuchsia.runtime.work`), masked and held to the
caps before the machine sees it. The others are the clock and the outside world: a retry
coming due, a control request, the execution's deadline, a foreach's rendered items.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fuchsia.errors import NodeError
from fuchsia.runtime.work import Outcome
from fuchsia.states import Control
from fuchsia.store.records import UnitKey


@dataclass(frozen=True, slots=True)
class Begin:
    """The shell starts (or resumes) driving: attempts stored running were lost."""


@dataclass(frozen=True, slots=True)
class RetryDue:
    key: UnitKey


@dataclass(frozen=True, slots=True)
class ControlRequested:
    control: Control
    idle_for: float = 0.0  # for `hung`: seconds without a commit while running


@dataclass(frozen=True, slots=True)
class DeadlineReached:
    """The execution ran past its `timeout`."""


@dataclass(frozen=True, slots=True)
class ItemsRendered:
    """A foreach parent's `items`, rendered by the shell (masked, capped), or why not."""

    node: str
    items: list[Any] | None
    error: NodeError | None = None


Event = Begin | Outcome | RetryDue | ControlRequested | DeadlineReached | ItemsRendered
