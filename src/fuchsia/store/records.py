"""What the store keeps, and the one kind of write the runtime makes: a `Transition`.

A transition is everything that changes together for one execution (a node finishing, the
successors it makes ready, their first attempts, the events), applied in one transaction.
That is the transactional-outbox rule of DESIGN.md §2: no hand-off is lost or duplicated.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from fuchsia.states import AttemptStatus, Control, ExecutionStatus, NodeStatus


def iso(timestamp: float | None) -> str | None:
    """A timestamp as the API and `--json` show it: ISO 8601, UTC, milliseconds."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")


def from_iso(text: str | None) -> float | None:
    """The timestamp `iso` printed: exact for a timestamp in whole milliseconds (the views
    round theirs to milliseconds, so a view read back from its JSON is equal to it)."""
    if text is None:
        return None
    return datetime.fromisoformat(text).timestamp()


def to_ms(timestamp: float | None) -> float | None:
    """A timestamp rounded to the milliseconds its JSON form carries."""
    return None if timestamp is None else round(timestamp, 3)


# `item` of a node's own row in `node_runs` and `attempts`, whose keys it is part of
# (migration 0016): a key column cannot be NULL. Records and events say None.
NODE_ITEM = -1


def stored_label(node_id: str, item: int | None) -> str:
    """What a unit's sealed values and spilled files are bound to: `node`, or `node[3]` for
    an item, as stores keyed items before migration 0016 (so their values still open)."""
    return node_id if item is None or item < 0 else f"{node_id}[{item}]"


def dumps(value: Any) -> str:
    """A value's JSON as the store writes it: compact, and not ASCII-escaped."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def new_id() -> str:
    """A 26-hex-digit id that sorts by creation time (48-bit milliseconds + 56 random bits)."""
    return f"{int(time.time() * 1000):012x}{os.urandom(7).hex()}"


class UnitKey(NamedTuple):
    """What runs and is stored as one: a node (`item` None), or one item of a foreach node.

    A tuple, so hashing and comparing one costs what a tuple's does (keys are looked up on
    every step); `str()` is the label humans read and that older stores keyed by, `node[3]`
    (also what sealed values and spilled files of an item are bound to)."""

    node: str
    item: int | None = None

    def __str__(self) -> str:
        return self.node if self.item is None else f"{self.node}[{self.item}]"


@dataclass(frozen=True)
class ExecutionRecord:
    id: str
    workflow_name: str
    workflow_version: int
    workflow_hash: str
    status: ExecutionStatus
    payload: Any
    context: dict[str, Any]
    idempotency_key: str | None
    result: Any
    error: dict[str, Any] | None
    owner: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    parent_id: str | None = None
    control: Control | None = None  # a request from any process
    # the artifact holding `result` when it was above the store's inline limit (`result` is
    # then None): see `Store.load_value`
    result_artifact: str | None = None
    # the verdict fixed when outcome hooks started ({"status", "error"}), while they run
    settled: dict[str, Any] | None = None
    claim: int = 0  # one more with every new owner: what its transitions are fenced by
    # set while the execution is parked (its only open work is waits; nobody holds it):
    # claimable again from then on (`PARKED_FOREVER`: only a signal or a control wakes it)
    parked_until: float | None = None
    # its trace (`fuchsia.observe.ids.TraceRef`): None in rows stored before traces
    trace_id: str | None = None
    trace_parent: str | None = None
    trace_link: str | None = None


@dataclass(frozen=True)
class AttemptRecord:
    number: int
    status: AttemptStatus
    inputs: Any
    output: Any
    error: dict[str, Any] | None
    started_at: float
    finished_at: float | None
    # the artifacts holding `inputs` / `output` when they were above the inline limit
    inputs_artifact: str | None = None
    output_artifact: str | None = None
    worker: str | None = None  # the name of the engine that ran it


@dataclass(frozen=True)
class NodeRecord:
    """A node's run, or (`item` set) one foreach item's. A foreach node's record holds its
    items' records in `items`, by index: `get_nodes` is keyed by node id alone."""

    node_id: str
    status: NodeStatus
    attempts: list[AttemptRecord]
    ready_at: float | None
    error: dict[str, Any] | None
    item: int | None = None
    items: dict[int, NodeRecord] = field(default_factory=dict)

    @property
    def succeeded(self) -> AttemptRecord | None:
        """The last attempt that succeeded: the one whose output is the node's."""
        for attempt in reversed(self.attempts):
            if attempt.status == AttemptStatus.SUCCEEDED:
                return attempt
        return None

    @property
    def output(self) -> Any:
        attempt = self.succeeded
        return None if attempt is None else attempt.output

    @property
    def output_artifact(self) -> str | None:
        attempt = self.succeeded
        return None if attempt is None else attempt.output_artifact


def nest_items(units: Iterable[NodeRecord]) -> dict[str, NodeRecord]:
    """Node records by node id, each foreach item's record in its node's `items`, by index
    (an item stored before its node's own row was is kept under a placeholder node)."""
    nodes: dict[str, NodeRecord] = {}
    items: list[NodeRecord] = []
    for unit in units:
        if unit.item is None:
            nodes[unit.node_id] = unit
        else:
            items.append(unit)
    for unit in sorted(items, key=lambda u: (u.node_id, u.item)):
        node = nodes.get(unit.node_id)
        if node is None:
            node = nodes[unit.node_id] = NodeRecord(
                unit.node_id, NodeStatus.PENDING, [], None, None
            )
        assert unit.item is not None
        node.items[unit.item] = unit
    return nodes


@dataclass(frozen=True)
class EventRecord:
    seq: int
    execution_id: str
    node_id: str | None
    type: str
    data: dict[str, Any] | None
    at: float
    item: int | None = None  # the foreach item of `node_id` it is about

    @property
    def unit(self) -> UnitKey | None:
        return None if self.node_id is None else UnitKey(self.node_id, self.item)

    def to_json(self) -> dict[str, Any]:
        """An event as the HTTP API shows it (`at`: seconds since the epoch, exact)."""
        return {
            "seq": self.seq,
            "execution_id": self.execution_id,
            "type": self.type,
            "node": self.node_id,
            "item": self.item,
            "data": self.data,
            "at": self.at,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EventRecord:
        return cls(
            seq=int(data["seq"]),
            execution_id=str(data["execution_id"]),
            node_id=None if data["node"] is None else str(data["node"]),
            type=str(data["type"]),
            data=data["data"],
            at=float(data["at"]),
            item=None if data.get("item") is None else int(data["item"]),
        )


@dataclass(frozen=True)
class OwnerRecord:
    """An engine registered in the store: a `fuchsia run`, a `fuchsia serve`, a `fuchsia
    worker`. `slots` > 0: it takes executions nobody holds from the store, that many at
    once; `executions`: how many it drives; `running`: its attempts running.
    `lease_expires_at` is on the database's clock, and `alive` says whether it had not passed
    when the row was read."""

    id: str
    host: str
    pid: int
    started_at: float
    heartbeat_at: float
    name: str = ""
    lease_expires_at: float | None = None
    slots: int = 0
    executions: int = 0
    running: int = 0
    draining: bool = False
    alive: bool = True
    # the kernel's boot id and pid namespace (`runtime.owner.machine_key`); None: unknown
    machine: str | None = None


@dataclass(frozen=True)
class OpenExecution:
    """An execution that has not finished, with what is known about its owner."""

    id: str
    owner: OwnerRecord | None
    owner_id: str | None


@dataclass(frozen=True)
class ArtifactRef:
    id: str
    hash: str
    name: str
    content_type: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "content_type": self.content_type,
            "size": self.size,
            "hash": self.hash,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ArtifactRef:
        return cls(
            id=str(data["id"]),
            hash=str(data["hash"]),
            name=str(data["name"]),
            content_type=str(data["content_type"]),
            size=int(data["size"]),
        )


@dataclass
class NewExecution:
    id: str
    workflow_hash: str
    workflow_name: str
    workflow_version: int
    workflow_document: str
    payload: Any
    context: dict[str, Any]
    idempotency_key: str | None
    owner: str | None
    status: ExecutionStatus = ExecutionStatus.PENDING
    parent_id: str | None = None
    # its trace (`fuchsia.observe.ids.TraceRef`): the trace id, the span its span sits
    # under (a sub-workflow's), the traceparent of what started it
    trace_id: str | None = None
    trace_parent: str | None = None
    trace_link: str | None = None
    # kv changes committed in the same transaction, only if the execution is created: a
    # trigger's cursor moves exactly when the execution it asked for exists
    kv: KvChanges | None = None


@dataclass
class KvChanges:
    """Writes to one kv scope; a value of None deletes the key."""

    scope: str
    changes: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class PendingArtifact:
    """An artifact an attempt stored, whose row waits for the attempt's success: its blob is
    stored at once (content-addressed, invisible until a row names it), the row with the
    transition that records the success."""

    execution_id: str
    node_id: str
    ref: ArtifactRef
    created_at: float


@dataclass
class ExecutionUpdate:
    """Fields to change on the execution row; None leaves a field as it is."""

    status: ExecutionStatus | None = None
    context: dict[str, Any] | None = None
    result: Any = None
    has_result: bool = False
    error: dict[str, Any] | None = None
    settled: dict[str, Any] | None = None  # the verdict outcome hooks run for
    started: bool = False
    finished: bool = False
    park: Parking | None = None  # hand the execution back to the store until it is woken
    unpark: bool = False  # it was parked, and is driven again


PARKED_FOREVER = 32503680000.0  # 3000-01-01: a parked execution only a signal or control wakes


@dataclass(frozen=True)
class Parking:
    """A parked execution's wake-up: at `until` on the database clock, or as soon as one of
    `signals` is sent, a control request is left for it, or a child execution of it ends
    (`children`: those it waits on, checked when it parks)."""

    until: float
    signals: tuple[str, ...] = ()
    children: tuple[str, ...] = ()


@dataclass(frozen=True)
class SharedAttempt:
    """A shared attempt a worker claimed: the unit, its attempt number, the claim number its
    completion is fenced by, its foreach parent's attempt (0 for a node's own), and how long
    it waited to be claimed (seconds)."""

    execution_id: str
    unit: UnitKey
    attempt: int
    claim: int
    parent: int = 0
    waited: float = 0.0


@dataclass
class NodeWrite:
    node_id: str
    status: NodeStatus
    attempts: int
    ready_at: float | None = None
    error: dict[str, Any] | None = None
    item: int | None = None  # one foreach item of `node_id`


@dataclass
class AttemptWrite:
    node_id: str
    number: int
    status: AttemptStatus
    inputs: Any = None
    output: Any = None
    error: dict[str, Any] | None = None
    started_at: float | None = None
    finished_at: float | None = None
    item: int | None = None  # one foreach item of `node_id`

    @property
    def unit(self) -> UnitKey:
        return UnitKey(self.node_id, self.item)


@dataclass
class Event:
    type: str
    node_id: str | None = None
    data: dict[str, Any] | None = None
    item: int | None = None  # one foreach item of `node_id`


@dataclass
class Transition:
    """One atomic change to an execution. `owner` and `claim` fence it: it applies only
    while the execution is still owned by that owner under that claim number, so a process
    that lost an execution cannot overwrite the work of the one that took it over, even once
    it has claimed the execution back."""

    execution_id: str
    owner: str | None
    execution: ExecutionUpdate | None = None
    # the owner's claim number as its driver took it (None: the owner alone fences it)
    claim: int | None = None
    nodes: list[NodeWrite] = field(default_factory=list)
    attempts: list[AttemptWrite] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    # signals consumed by wait nodes in this transition: (signal id, the unit that took it)
    consumed: list[tuple[int, UnitKey]] = field(default_factory=list)
    # the kv writes and artifacts of the attempts that succeeded in this transition: stored
    # with their success, under the same fence, and never for an attempt that did not succeed
    kv: list[KvChanges] = field(default_factory=list)
    artifacts: list[PendingArtifact] = field(default_factory=list)
    # the owner's name: the worker of the attempts it starts (an attempt keeps the first)
    worker: str | None = None
    # attempts started in this transition and left for any worker to run (`Sharing`), each
    # with its foreach parent's attempt number (0 for a node's own): rows of `work`
    shared: list[tuple[UnitKey, int, int]] = field(default_factory=list)
    # shared attempts whose outcome this transition folds in, or that it withdraws
    unshared: list[tuple[UnitKey, int]] = field(default_factory=list)
    # every shared attempt of the execution is withdrawn (it begins here, ends, or aborts)
    withdraw_shared: bool = False


@dataclass(frozen=True)
class Deployment:
    """A locked workflow deployed under its name and version."""

    name: str
    version: int
    hash: str
    active: bool
    deployed_at: float
    pinned: bool = False  # the version its triggers fire, though newer ones exist

    def __post_init__(self) -> None:  # to the millisecond its JSON carries: exact round trip
        object.__setattr__(self, "deployed_at", round(self.deployed_at, 3))

    def to_json(self) -> dict[str, Any]:
        """A deployed version as the CLI's `--json` and the HTTP API show it."""
        return {
            "name": self.name,
            "version": self.version,
            "hash": self.hash,
            "active": self.active,
            "pinned": self.pinned,
            "deployed_at": iso(self.deployed_at),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Deployment:
        """The deployment `to_json` showed (`deployed_at` to the millisecond)."""
        return cls(
            name=str(data["name"]),
            version=int(data["version"]),
            hash=str(data["hash"]),
            active=bool(data["active"]),
            deployed_at=from_iso(data["deployed_at"]) or 0.0,
            pinned=bool(data.get("pinned", False)),
        )


@dataclass(frozen=True)
class TokenRecord:
    """An API token as stored: never the token itself, only its hash."""

    id: str
    name: str
    scopes: tuple[str, ...]
    created_at: float
    revoked_at: float | None
