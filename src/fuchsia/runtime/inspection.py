"""Reading executions: views, results, artifacts, events, lists, workers (the inspection
half of `Engine`, mixed into it)."""

from __future__ import annotations

import builtins
import dataclasses
from typing import TYPE_CHECKING, Any

from fuchsia.errors import ArtifactNotFound
from fuchsia.runtime import arguments
from fuchsia.runtime.views import (
    DeployedWorkflow,
    Execution,
    ExecutionSummary,
    Worker,
    execution_view,
    spilled,
)
from fuchsia.store.records import ArtifactRef, EventRecord, ExecutionRecord, NodeRecord

if TYPE_CHECKING:
    from fuchsia.definition.lock import LockedWorkflow
    from fuchsia.runtime.owner import Identity
    from fuchsia.store import Store
    from fuchsia.store.records import Deployment


class Inspection:
    """The reading half of `Engine` (mixed into it)."""

    store: Store
    identity: Identity
    slots: int
    drives: bool

    if TYPE_CHECKING:

        async def deployment(self, ref: str) -> Deployment: ...
        async def _locked(self, workflow_hash: str) -> LockedWorkflow: ...

    async def get(self, execution_id: str) -> Execution:
        """An execution with its node runs; a unique id prefix is accepted."""
        full = await self._full_id(execution_id)
        record, nodes = await self.store.get_execution_and_nodes(full)
        locked = await self._locked(record.workflow_hash)
        artifacts = None
        if spilled(record, nodes):
            artifacts = {a.id: a for a in await self.store.list_artifacts(full)}
        return execution_view(record, nodes, locked, artifacts)

    async def _full_id(self, execution_id: str) -> str:
        """The id `execution_id` is, or the one it is a unique prefix of (an id is 26
        characters: a longer one is looked up as it is)."""
        arguments.execution_id(execution_id)
        if len(execution_id) >= 26:
            return execution_id
        return await self.store.resolve_id(execution_id)

    async def result(self, execution_id: str) -> Any:
        """An execution's result, loaded from its artifact when it was stored as one
        (above the inline limit)."""
        return await self._result_of(await self.get(execution_id))

    async def _result_of(self, execution: Execution) -> Any:
        artifact = execution.result_artifact
        return await self._value(execution.result, artifact.id if artifact else None)

    async def artifacts(self, execution_id: str) -> builtins.list[ArtifactRef]:
        """The artifacts of an execution: those its components stored and the values
        stored as artifacts because they were above the inline limit."""
        return await self.store.list_artifacts((await self.get(execution_id)).id)

    async def artifact(self, execution_id: str, artifact_id: str) -> tuple[ArtifactRef, bytes]:
        """One artifact of an execution and its content."""
        full = (await self.get(execution_id)).id
        ref, owner, data = await self.store.get_artifact(arguments.text(artifact_id, "artifact_id"))
        if owner != full:
            raise ArtifactNotFound(artifact_id)
        return ref, data

    async def _value(self, inline: Any, artifact_id: str | None) -> Any:
        return inline if artifact_id is None else await self.store.load_value(artifact_id)

    async def _node_values(self, execution_id: str) -> dict[str, NodeRecord]:
        """The node records a driver runs from: the values it reads (each node's last
        attempt's inputs and its succeeded attempt's output) loaded from their artifacts
        where they were stored as artifacts."""
        nodes = await self.store.get_nodes(execution_id)
        for node_id, node in nodes.items():
            items = {index: await self._unit_values(item) for index, item in node.items.items()}
            nodes[node_id] = dataclasses.replace(await self._unit_values(node), items=items)
        return nodes

    async def _unit_values(self, node: NodeRecord) -> NodeRecord:
        """`node` (or a foreach item) with the values a driver reads loaded."""
        wanted = {id(node.succeeded), id(node.attempts[-1]) if node.attempts else None}
        attempts = []
        for attempt in node.attempts:
            if id(attempt) in wanted:
                attempt = dataclasses.replace(
                    attempt,
                    inputs=await self._value(attempt.inputs, attempt.inputs_artifact),
                    output=await self._value(attempt.output, attempt.output_artifact),
                )
            attempts.append(attempt)
        return dataclasses.replace(node, attempts=attempts)

    async def list(
        self,
        *,
        limit: int = 50,
        status: str | None = None,
        before: str | None = None,
        workflow: str | None = None,
    ) -> builtins.list[ExecutionRecord]:
        """Execution records, newest first; `before` (an id) pages on to older ones;
        `status` and `workflow` (a name) keep only those."""
        return await self.store.list_executions(
            limit=arguments.integer(limit, "limit", least=1),
            status=arguments.optional_text(status, "status"),
            before=arguments.optional_text(before, "before"),
            workflow=arguments.optional_text(workflow, "workflow"),
        )

    async def executions(
        self, *, status: str | None = None, limit: int = 50, before: str | None = None
    ) -> builtins.list[ExecutionSummary]:
        """Execution summaries, newest first (`fuchsia.operations.Operations`)."""
        records = await self.list(limit=limit, status=status, before=before)
        return [ExecutionSummary.of(r) for r in records]

    async def workflow(self, ref: str) -> DeployedWorkflow:
        """A deployed version (`name` or `name@version`) with its locked workflow."""
        from fuchsia.definition.lock import LockedWorkflow

        deployment = await self.deployment(ref)
        text = await self.store.get_workflow(deployment.hash)
        return DeployedWorkflow(deployment, LockedWorkflow.from_json(text))

    async def workers(self) -> builtins.list[Worker]:
        """The engines registered in the store (workers, servers, runs), oldest first; this
        engine among them only when it takes work from the store."""
        return [
            Worker.of(owner)
            for owner in await self.store.owners()
            if owner.id != self.identity.id or (self.slots and self.drives)
        ]

    async def events(self, execution_id: str, after: int = 0) -> builtins.list[EventRecord]:
        """The execution's events after sequence number `after`; a unique id prefix is
        accepted, an unknown id is `ExecutionNotFound`."""
        after = arguments.integer(after, "after", least=0)
        full = await self.store.resolve_id(arguments.execution_id(execution_id))
        return await self.store.get_events(full, after)
