"""Retrying a finished execution as a new one that reuses what succeeded (`Engine.retry`,
mixed into it): the reused nodes are copied as their first attempt, under this engine's
fence, and only `from_node` and what depends on it (or what did not succeed) runs again."""

from __future__ import annotations

import builtins
import difflib
from typing import TYPE_CHECKING, Any

from fuchsia.errors import NodeNotFound
from fuchsia.observe import metrics
from fuchsia.observe.ids import TraceRef
from fuchsia.runtime import arguments
from fuchsia.states import AttemptStatus, NodeStatus
from fuchsia.store.records import (
    AttemptWrite,
    Event,
    NewExecution,
    NodeWrite,
    Transition,
    new_id,
)

if TYPE_CHECKING:
    from fuchsia.definition.lock import LockedWorkflow
    from fuchsia.runtime.driver import Runtime
    from fuchsia.runtime.owner import Identity
    from fuchsia.runtime.views import Execution
    from fuchsia.store import Store
    from fuchsia.store.records import ExecutionRecord, NodeRecord


class Reruns:
    """`retry`, of a whole execution or from one node (mixed into `Engine`)."""

    store: Store
    identity: Identity
    drives: bool

    if TYPE_CHECKING:

        @property
        def _runtime(self) -> Runtime: ...
        async def get(self, execution_id: str) -> Execution: ...
        async def _locked(self, workflow_hash: str) -> LockedWorkflow: ...
        async def _node_values(self, execution_id: str) -> dict[str, NodeRecord]: ...
        def _drive(
            self, record: ExecutionRecord, locked: LockedWorkflow, nodes: dict[str, Any]
        ) -> None: ...

    async def retry(self, execution_id: str, from_node: str | None = None) -> str:
        """Start a new execution of the same locked workflow and payload that reuses the
        recorded outputs of the nodes that succeeded, re-running `from_node` and everything
        downstream of it (without `from_node`: every node that did not succeed, and what is
        downstream of those). Returns the new execution's id; it runs in this engine."""
        arguments.optional_text(from_node, "from_node")

        old = await self.get(execution_id)
        record = await self.store.get_execution(old.id)
        stored = await self._node_values(old.id)
        locked = await self._locked(record.workflow_hash)
        if from_node is not None and from_node not in locked.nodes:
            close = difflib.get_close_matches(from_node, list(locked.nodes), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise NodeNotFound(locked.name, from_node, hint)
        starts = (
            [from_node]
            if from_node
            else [n.id for n in old.nodes if n.status != NodeStatus.SUCCEEDED]
        )
        rerun = _downstream(locked, starts)
        reused = [n for n in old.nodes if n.status == NodeStatus.SUCCEEDED and n.id not in rerun]
        new_execution = new_id()
        trace = TraceRef.new(new_execution, link=TraceRef.stored(record).link_to(record.id))
        new = NewExecution(
            id=new_execution,
            workflow_hash=locked.hash,
            workflow_name=locked.name,
            workflow_version=locked.version,
            workflow_document=locked.to_json(),
            payload=record.payload,
            context=record.context,
            idempotency_key=None,
            owner=self.identity.id,  # its reused nodes are written under this engine's fence
            parent_id=record.parent_id,
            trace_id=trace.trace_id,
            trace_link=trace.link,
        )
        created, _ = await self.store.create_execution(new)
        metrics.recorder.execution_started(locked.name)
        t = Transition(created.id, self.identity.id)
        t.events.append(Event("execution_retry_of", data={"execution": old.id, "from": from_node}))
        for node in reused:
            attempt = stored[node.id].succeeded
            assert attempt is not None
            t.nodes.append(NodeWrite(node.id, NodeStatus.SUCCEEDED, 1))
            t.attempts.append(
                AttemptWrite(
                    node.id,
                    1,
                    AttemptStatus.SUCCEEDED,
                    inputs=attempt.inputs,
                    output=attempt.output,
                    started_at=attempt.started_at,
                    finished_at=attempt.finished_at,
                )
            )
            t.events.append(Event("node_reused", node.id, {"execution": old.id}))
        await self.store.apply(self._runtime.masker.transition(t))
        if not self.drives:  # left for the workers
            await self.store.release(created.id, self.identity.id)
            return created.id
        self._drive(
            await self.store.get_execution(created.id), locked, await self._node_values(created.id)
        )
        return created.id


def _downstream(workflow: LockedWorkflow, starts: builtins.list[str]) -> set[str]:
    """`starts` and every node that depends on one of them."""
    seen: set[str] = set()
    stack = list(starts)
    while stack:
        node_id = stack.pop()
        if node_id not in seen:
            seen.add(node_id)
            stack.extend(workflow.nodes[node_id].downstream)
    return seen
