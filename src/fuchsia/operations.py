"""`Operations`: the one surface a local `Engine` and a remote `AsyncClient` both offer.

Same names, same parameters, same return types (the typed views of `fuchsia.runtime.views`
and `fuchsia.store.records`; the client builds them from the API's JSON with their
`from_json`), so a program, and the command line, opens "an engine or a client" once and
then does not care which it has. `tests/unit/test_operations.py` pins both to this protocol.

This module imports no engine, store or HTTP code: it is safe to import at start-up.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from fuchsia.runtime.views import DeployedWorkflow, Execution, ExecutionSummary, Worker
    from fuchsia.store.records import ArtifactRef, Deployment, EventRecord


class Operations(Protocol):
    """What can be done to the executions and deployed workflows of one store.

    Every id accepts a unique prefix. A refusal raises the same `FuchsiaError` class on
    both sides (`ExecutionNotFound`, `WorkflowNotFound`, `InvalidState`, ...)."""

    # -- executions ------------------------------------------------------------------------

    async def executions(
        self, *, status: str | None = None, limit: int = 50, before: str | None = None
    ) -> list[ExecutionSummary]:
        """Newest first; `before` (an id) pages on to older ones."""
        ...

    async def get(self, execution_id: str) -> Execution:
        """One execution with its node runs."""
        ...

    async def result(self, execution_id: str) -> Any:
        """Its result, also when it was stored as an artifact."""
        ...

    async def events(self, execution_id: str, after: int = 0) -> list[EventRecord]:
        """Its event log after sequence number `after`, oldest first."""
        ...

    async def artifacts(self, execution_id: str) -> list[ArtifactRef]:
        """What its components stored, and values stored above the inline limit."""
        ...

    async def artifact(self, execution_id: str, artifact_id: str) -> tuple[ArtifactRef, bytes]:
        """One artifact and its content."""
        ...

    async def wait(self, execution_id: str, *, poll: float = 0.2) -> Execution:
        """The execution once it reaches a final status."""
        ...

    async def cancel(self, execution_id: str) -> Execution:
        """Cancel it (idempotent); the execution as it is after the request."""
        ...

    async def pause(self, execution_id: str) -> Execution:
        """Pause it: running nodes finish, no new ones start until it is resumed."""
        ...

    async def resume(self, ids: list[str] | None = None, *, wait: bool = True) -> list[str]:
        """Resume `ids` (full ids; paused ones, or ones whose process died), or every
        interrupted execution; the ids now driven (by this engine, or by the server).
        With `wait`, return once those reached a final status."""
        ...

    async def signal(self, execution_id: str, name: str, payload: Any = None) -> int:
        """Send a signal to an open execution; the signal's sequence number."""
        ...

    async def retry(self, execution_id: str, from_node: str | None = None) -> str:
        """Start a new execution reusing what succeeded; its id."""
        ...

    async def start_deployed(
        self, ref: str, payload: Any = None, *, idempotency_key: str | None = None
    ) -> str:
        """Start the deployed workflow `ref` (`name` runs its current version); the id."""
        ...

    # -- deployed workflows ----------------------------------------------------------------

    async def deploy(self, workflow: Path) -> tuple[Deployment, bool]:
        """Lock a workflow file and deploy it; True when that version is new."""
        ...

    async def deployments(self, name: str | None = None) -> list[Deployment]:
        """Every deployed version (of `name`), newest first."""
        ...

    async def deployment(self, ref: str) -> Deployment:
        """`name@version`, or `name`'s current version."""
        ...

    async def workflow(self, ref: str) -> DeployedWorkflow:
        """A deployed version with its locked workflow."""
        ...

    async def set_active(self, ref: str, active: bool) -> Deployment:
        """Enable or disable a deployed version."""
        ...

    async def pin(self, ref: str) -> Deployment:
        """Make `name@version` the version its name and triggers run."""
        ...

    async def unpin(self, name: str) -> Deployment:
        """Let `name` run its newest active version again."""
        ...

    async def workers(self) -> list[Worker]:
        """The engines registered in the store (workers, servers, runs), oldest first."""
        ...


__all__ = ["Operations"]
