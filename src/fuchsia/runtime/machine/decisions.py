"""What the machine decides: one commit, and what the shell does once it is stored."""

from __future__ import annotations

from dataclasses import dataclass, field

from fuchsia.runtime.work import Outcome
from fuchsia.states import ExecutionStatus
from fuchsia.store.records import Transition, UnitKey


@dataclass
class Decision:
    """The transition to commit, then: the units to launch, the retries to arm, whether to
    stop every running attempt first (an abort, a stop), and the status driving ends with.

    `expand` names foreach parents whose items the shell renders before the commit (Jinja
    does not run in the machine); it hands them back as `ItemsRendered` to the same
    decision, so a foreach still starts in one commit. `requeue` holds outcomes decided
    here that the shell hands back after the commit (a foreach parent that settled at once,
    a foreach whose items failed to render): each is then a transition of its own."""

    commit: Transition
    launch: list[UnitKey] = field(default_factory=list)
    expand: list[str] = field(default_factory=list)  # foreach node ids
    timers: dict[UnitKey, float] = field(default_factory=dict)
    requeue: list[Outcome] = field(default_factory=list)
    cancel_running: bool = False
    cancel_children: bool = False
    final: ExecutionStatus | str | None = None  # "stopped": the engine stopped driving it
