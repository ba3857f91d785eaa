"""One module per node kind, and `kind.py`, which says what each kind is (`KINDS`). A kind's
`run` takes its typed locked spec and the part of it that templates rendered, and returns the
attempt's output data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fuchsia.observe.telemetry import OFF, AttemptSpan, Telemetry

if TYPE_CHECKING:
    import asyncio

    import httpx

    from fuchsia.nodes.component import ComponentRuntime
    from fuchsia.nodes.workflow import Children
    from fuchsia.runtime.effects import SideEffects
    from fuchsia.store.base import Store


@dataclass(frozen=True, slots=True)
class Park:
    """Why a parked attempt wakes: at `wake_at` (its timer, its timeout), when `signal`
    arrives, or when the sub-workflow execution `child` ends."""

    wake_at: float | None  # None: only the signal (or the child) wakes it
    signal: str | None = None
    child: str | None = None


# the least an attempt that parks stays open first: one that parked while other work of its
# execution was open goes on in the process, and parks again no sooner than this
PARK_MIN_OPEN = 0.05


def park_open(park_after: float) -> float:
    """Seconds an attempt that may park stays open before it parks."""
    return max(park_after, PARK_MIN_OPEN)


class Parked(Exception):
    """Raised by a wait that will not end soon, in an engine that parks: the attempt stays
    running in the store, and no process holds the execution until `park` says to wake."""

    def __init__(self, park: Park) -> None:
        super().__init__(park)
        self.park = park


@dataclass(frozen=True)
class NodeContext:
    """What a node kind may use while it runs one attempt."""

    execution_id: str
    workflow: str
    node_id: str
    attempt: int
    timeout: float | None
    http: Callable[[], httpx.AsyncClient]  # the engine's client, made on first use
    store: Store | None = None
    components: Callable[[], ComponentRuntime] | None = None
    logs: list[dict[str, Any]] = field(default_factory=list)
    scope: dict[str, Any] | None = None  # what the node's templates see
    since: float | None = None  # when the node's first attempt started (durable waits)
    consumed: list[int] = field(default_factory=list)  # signals a wait node consumed
    wakeup: asyncio.Event | None = None  # set when a signal is sent from this process
    children: Children | None = None  # starts and awaits sub-workflow executions
    child_key: str | None = None  # the idempotency key of this attempt's child execution
    max_response: int | None = None  # bytes of an http response body (decoded) to accept
    effects: SideEffects | None = None  # a component's kv writes and artifacts, kept until success
    # an attempt of a kind that parks, still open this many seconds on, parks (`Parked`);
    # None: it never parks
    park_after: float | None = None
    telemetry: Telemetry = OFF  # spans of the attempt's requests and calls
    span: AttemptSpan | None = None  # the attempt's own (the parent of those on a thread)
