"""Running one attempt of a node: its scope, its rendered inputs, its kind's `run`, and what
it leaves behind, masked and held to the caps before the machine sees it.

The runner reads the execution's state (the shell's `State`, or the `Overlay` of a decision
still being made) and never writes it: what an attempt did reaches the state only as an
`Outcome` the machine decides on.
"""

from __future__ import annotations

import asyncio
import functools
import time
from typing import TYPE_CHECKING, Any

from fuchsia.definition.lock import LockedNode, LockedWorkflow
from fuchsia.errors import InputError, NodeError, NodeTimeout
from fuchsia.logs import logger
from fuchsia.nodes import NodeContext, Parked
from fuchsia.nodes.kind import KINDS, Placement
from fuchsia.observe.telemetry import Attempt, AttemptSpan
from fuchsia.runtime.effects import SideEffects, execution_scope
from fuchsia.runtime.limits import BoundedLogs
from fuchsia.runtime.machine import verdict
from fuchsia.runtime.machine.state import Overlay, State
from fuchsia.runtime.masking import node_store
from fuchsia.runtime.views import iso
from fuchsia.runtime.work import Outcome
from fuchsia.store.records import UnitKey
from fuchsia.templates import RenderError

if TYPE_CHECKING:
    from fuchsia.runtime.driver import Runtime

View = State | Overlay
log = logger(__name__)


def data_of(view: View, node_id: str) -> Any:
    """A node's output as its successors see it (a branch passes its input through)."""
    node = view.workflow.nodes[node_id]
    return KINDS[node.kind].data(node.spec, view.outputs.get(view.keys[node_id]))


def scope(rt: Runtime, view: View, node: LockedNode, number: int) -> dict[str, Any]:
    """What the node's templates see for attempt `number`."""
    data: Any
    if node.hook is not None:
        status, error, result = verdict.verdict(view)
        data = {"status": status, "error": error, "result": result}
    elif not node.after:
        data = view.payload
    elif node.join is None:
        data = data_of(view, node.after[0])
    else:
        keys = view.keys
        data = {
            up: data_of(view, up)
            for up in node.after
            if keys[up] in view.outputs and (up, node.id) not in view.skipped_edges
        }
    values = dict(data) if isinstance(data, dict) else {}
    if node.join is not None:
        # every upstream is a name, None when it did not succeed: `a or b` picks the one that
        # ran; `data` holds only those that succeeded
        for up in node.after:
            values.setdefault(up, None)
    values["data"] = data
    if node.repeat is not None:
        values["loop"] = {
            "iteration": view.iterations.get(node.id, 0) + 1,
            "previous": view.previous.get(node.id),
        }
    workflow = view.workflow
    values["context"] = view.context
    values["secrets"] = rt.secrets
    values["execution"] = {
        "id": view.id,
        "workflow": workflow.name,
        "version": workflow.version,
        "node": node.id,
        "attempt": number,
        "started_at": _iso(view.started_at),
    }
    return values


# an execution's start as its attempts' templates read it, formatted once per execution
# rather than once per attempt (`datetime` formatting costs as much as a small render)
_iso = functools.lru_cache(maxsize=1024)(iso)


def _render_context(node: LockedNode, values: dict[str, Any], output: Any) -> Any:
    assert node.render_context is not None
    own = dict(output) if isinstance(output, dict) else {}
    own.update({k: values[k] for k in ("context", "secrets", "execution")}, data=output)
    try:
        return node.render_context(own)
    except RenderError as exc:
        raise InputError(f"context.{exc.path}: {exc.message}") from None


async def run(
    rt: Runtime, view: View, node: LockedNode, number: int, index: int | None = None
) -> Outcome:
    """Run attempt `number` of `node` (of its item `index`): its outcome, never raising for
    the node's own failures; in its span when traces are on."""
    if not rt.telemetry.enabled:
        return await _run(rt, view, node, number, index)
    attempt = Attempt(
        view.id,
        view.trace,
        view.workflow.name,
        node.id,
        node.kind,
        index,
        number,
        rt.worker,
        derived=not KINDS[node.kind].parks,
    )
    with rt.telemetry.attempt(attempt) as span:
        outcome = await _run(rt, view, node, number, index, span)
        span.finish(outcome)
    return outcome


async def _run(
    rt: Runtime,
    view: View,
    node: LockedNode,
    number: int,
    index: int | None,
    span: AttemptSpan | None = None,
) -> Outcome:
    key = view.keys[node.id] if index is None else UnitKey(node.id, index)
    kind = KINDS[node.kind]
    limits = rt.limits
    workflow: LockedWorkflow = view.workflow
    outcome = Outcome(key, number, time.time())
    outcome.logs = BoundedLogs(limits.log_line, limits.log_volume)
    if node.kind in ("component", "python"):  # kv writes and artifacts, kept until success
        outcome.effects = SideEffects(execution_scope(view.id), limits.side_effects)
    try:
        values = scope(rt, view, node, number)
        if index is not None:
            values["item"], values["index"] = view.items[node.id][index], index
        try:
            outcome.inputs = node.render(values)
        except RenderError as exc:
            field = f"{node.kind}.{exc.path}" if exc.path else node.kind
            raise InputError(f"{field}: {exc.message}") from None
        ctx = NodeContext(
            view.id,
            workflow.name,
            node.id,
            number,
            node.timeout,
            rt.http,
            store=node_store(rt.store, rt.masker),
            components=rt.components,
            logs=outcome.logs,
            scope=values,
            since=view.first_started.get(view.keys[node.id]),
            consumed=outcome.consumed,
            wakeup=rt.wakeup(view.id) if kind.placement is Placement.PARKED else None,
            children=rt.children,
            child_key=f"{view.id}/{key}/{view.failures.get(key, 0)}",
            max_response=limits.response,
            effects=outcome.effects,
            park_after=rt.park_after if kind.parks else None,
            telemetry=rt.telemetry,
            span=span,
        )
        running = kind.run(node.spec, outcome.inputs, ctx)  # imports the kind's module
        if node.timeout is not None and kind.timed:
            try:
                async with asyncio.timeout(node.timeout):
                    outcome.output = await running
            except TimeoutError:
                raise NodeTimeout(f"node timed out after {node.timeout}s") from None
        else:
            outcome.output = await running
        if node.render_context is not None:
            outcome.context = _render_context(node, values, outcome.output)
    except Parked as parked:
        outcome.park = parked.park
    except NodeError as exc:
        exc.execution_id, exc.node_id = view.id, node.id
        outcome.error = exc
    except Exception as exc:  # a bug in a node kind must fail the node, not the engine
        log.exception(
            "internal error in a %s node: %s: %s",
            node.kind,
            type(exc).__name__,
            exc,
            extra={"execution_id": view.id, "node": str(key), "attempt": number},
        )
        outcome.error = NodeError(f"internal error: {type(exc).__name__}: {exc}", retryable=False)
    if outcome.error is not None:
        _drop_frames(outcome.error)
    return outcome


def _drop_frames(error: BaseException) -> None:
    """Keep a failed attempt's error as a value, without the frames it was raised through:
    they hold what the attempt ran on (a component's wasm store, its host's engine), and the
    error is held by the outcome their frames hold, a cycle that would keep them alive until
    a full garbage collection. Errors are stored and shown by type and message only."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.__traceback__ = None
        following = current.__cause__ or current.__context__
        current.__cause__ = current.__context__ = None
        current = following


def measure(rt: Runtime, view: View, o: Outcome) -> None:
    """Mask what the attempt leaves behind (held in memory as it is stored, so its successors
    see the same before and after a restart) and hold it to the caps: inputs over a cap are
    dropped, an output or context over one fails the attempt."""
    masker = rt.masker
    mask = masker.mask
    o.inputs, o.output, o.context = mask(o.inputs), mask(o.output), mask(o.context)
    if isinstance(o.logs, BoundedLogs):
        o.logs.close()
    if masker:
        o.logs = [mask(line) for line in o.logs]
        if o.error is not None:
            o.error.message = masker.text(o.error.message)
            o.error.args = (o.error.message,)
        if o.effects is not None:
            masker.effects(o.effects)
    limits = rt.limits
    try:
        limits.check(o.inputs, "the attempt's inputs")
    except NodeError as exc:
        o.inputs = None
        o.error = o.error or exc
    if o.error is not None:
        o.output = o.context = None
        return
    try:
        if o.output is not o.inputs:  # a transform's inputs are its output
            limits.check(o.output, "the node's output")
        if o.context:
            limits.check({**view.context, **o.context}, "the execution's context")
    except NodeError as exc:
        o.error, o.output, o.context = exc, None, None
