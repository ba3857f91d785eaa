"""Deployed workflows: versions side by side, the current one, pins, and trigger starts
(the deployment half of `Engine`, mixed into it)."""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
from typing import TYPE_CHECKING, Any

from fuchsia.errors import FuchsiaError, PayloadError, WorkflowDisabled, WorkflowNotFound
from fuchsia.runtime import arguments
from fuchsia.store.records import Deployment, KvChanges

MAX_VERSION_DIGITS = 18  # as the API's `name@version` takes: past it, no stored version

if TYPE_CHECKING:
    from pathlib import Path

    from fuchsia.definition.lock import LockedWorkflow
    from fuchsia.definition.source import Source
    from fuchsia.nodes.component import ComponentRuntime
    from fuchsia.store import Store

    WorkflowRef = str | Path | LockedWorkflow


@dataclasses.dataclass(frozen=True)
class TriggerAnswer:
    """A trigger's answer: the payload to start with (None: pending), and the kv writes a
    component trigger made, to commit with what the answer starts."""

    payload: Any
    kv: KvChanges | None = None


class Deployments:
    """The deployed-workflow half of `Engine` (mixed into it)."""

    store: Store

    if TYPE_CHECKING:

        async def lock(self, workflow: str | Path | Source) -> LockedWorkflow: ...
        async def _locked(self, workflow_hash: str) -> LockedWorkflow: ...
        def _component_runtime(self) -> ComponentRuntime: ...
        async def start(
            self, workflow: WorkflowRef, payload: Any = None, *, idempotency_key: str | None = None
        ) -> str: ...
        async def _start(
            self,
            locked: LockedWorkflow,
            payload: Any,
            idempotency_key: str | None,
            detached: bool = False,
            parent_id: str | None = None,
            kv: KvChanges | None = None,
            *,
            same_request: bool = True,
        ) -> str: ...

    async def deploy(self, workflow: WorkflowRef) -> tuple[Deployment, bool]:
        """Lock a workflow and store it under its name and version (True if newly deployed).
        Versions live side by side; a deployed version never changes."""
        from fuchsia.definition.lock import LockedWorkflow

        locked = workflow if isinstance(workflow, LockedWorkflow) else await self.lock(workflow)
        created = await self.store.deploy(
            locked.name, locked.version, locked.hash, locked.to_json()
        )
        return await self.deployment(f"{locked.name}@{locked.version}"), created

    async def deployments(self, name: str | None = None) -> builtins.list[Deployment]:
        return await self.store.deployments(arguments.optional_text(name, "name"))

    async def current_deployments(self) -> builtins.list[Deployment]:
        """The current version of each deployed workflow: the one its triggers fire."""
        by_name: dict[str, builtins.list[Deployment]] = {}
        for deployment in await self.store.deployments():
            by_name.setdefault(deployment.name, []).append(deployment)
        return [d for versions in by_name.values() if (d := _current(versions)) is not None]

    async def deployment(self, ref: str) -> Deployment:
        """`name@version`, or `name`: its current version (the pinned one if it is active,
        else the newest active one)."""
        name, _, version = arguments.text(ref, "ref").partition("@")
        found = await self.store.deployments(name)
        if version:
            if not (version.isascii() and version.isdigit()) or len(version) > MAX_VERSION_DIGITS:
                # str.isdigit takes '²' and int() takes no more than 4300 digits: ValueErrors
                raise FuchsiaError(
                    f"{ref[:250]!r}: a workflow version is a whole number "
                    f"of at most {MAX_VERSION_DIGITS} digits"
                )
            match = [d for d in found if d.version == int(version)]
        else:
            match = [d for d in [_current(found)] if d is not None]
        if not match:
            versions = ", ".join(f"{d.version}{'' if d.active else ' (disabled)'}" for d in found)
            raise WorkflowNotFound(
                f"no deployed workflow {ref!r}"
                + (f"; {name} has versions {versions}" if found else ""),
                ref=ref,
            )
        return match[0]

    async def set_active(self, ref: str, active: bool) -> Deployment:
        """Enable or disable a deployed version. `name` alone disables its current version;
        enabling needs `name@version`, as a disabled version is no one's current one."""
        if active and "@" not in arguments.text(ref, "ref"):
            raise FuchsiaError(f"say which version of {ref!r} to enable: {ref}@VERSION")
        deployment = await self.deployment(ref)
        await self.store.set_active(deployment.name, deployment.version, active)
        return await self.deployment(f"{deployment.name}@{deployment.version}")

    async def pin(self, ref: str) -> Deployment:
        """Make `name@version` the version its triggers fire and its name runs, even when
        newer versions are deployed (`unpin` goes back to the newest)."""
        if "@" not in arguments.text(ref, "ref"):
            raise FuchsiaError(f"say which version of {ref!r} to pin: {ref}@VERSION")
        deployment = await self.deployment(ref)
        if not deployment.active:
            raise FuchsiaError(f"{ref} is disabled; enable it before pinning it")
        await self.store.set_pinned(deployment.name, deployment.version)
        return await self.deployment(ref)

    async def unpin(self, name: str) -> Deployment:
        """Let `name`'s triggers fire its newest active version again; that version."""
        name = arguments.text(name, "name").partition("@")[0]
        await self.deployment(name)  # a clear error for an unknown workflow
        await self.store.set_pinned(name, None)
        return await self.deployment(name)

    async def start_deployed(
        self, ref: str, payload: Any = None, *, idempotency_key: str | None = None
    ) -> str:
        """Start the deployed workflow `ref` (`name` runs its current version)."""

        deployment = await self.deployment(ref)
        if not deployment.active:
            raise WorkflowDisabled(f"{deployment.name}@{deployment.version}")
        locked = await self._locked(deployment.hash)
        return await self.start(locked, payload, idempotency_key=idempotency_key)

    async def poll_trigger(
        self, locked: LockedWorkflow, spec: dict[str, Any], request: dict[str, Any] | None = None
    ) -> TriggerAnswer:
        """Ask the component trigger `spec` (as locked under the trigger) whether it is ready
        (on a poll tick, or with a webhook `request`). Its kv persists across polls and
        restarts, per workflow and trigger; what the call wrote is in the answer, not yet
        stored: `start_triggered` commits it."""
        from fuchsia.components.host import Call
        from fuchsia.nodes.component import services_for
        from fuchsia.nodes.kind import TriggerComponentSpec

        component = TriggerComponentSpec.from_document(spec)
        runtime = self._component_runtime()
        loop = asyncio.get_running_loop()
        kv = KvChanges(f"trigger:{locked.name}:{component.trigger}")
        services = services_for(
            self.store,
            kv.scope,
            "",
            "trigger",
            component.config,
            list(component.grants.allowed_hosts),
            runtime,
            loop,
            kv_changes=kv.changes,
        )
        call = Call(
            execution_id="",
            workflow=locked.name,
            node_id="trigger",
            task=component.trigger,
            attempt=1,
            input="",
            timeout=60.0,
        )
        payload = await loop.run_in_executor(
            runtime.pool, runtime.poll, component, call, services, request
        )
        return TriggerAnswer(payload, kv)

    async def start_triggered(
        self, locked: LockedWorkflow, answer: TriggerAnswer, idempotency_key: str | None
    ) -> str | None:
        """Start what a component trigger asked for and commit its kv writes (a cursor, say)
        in the same transaction: a crash can neither lose an item nor start it twice. When
        the idempotency key already names an execution, the writes are dropped (the trigger
        is asked again next time); when the answer was pending, or its payload is refused,
        only the writes are committed (a bad item is not offered forever)."""
        if answer.payload is None:
            if answer.kv is not None:
                await self.store.kv_commit(answer.kv)
            return None
        try:
            return await self._start(
                locked, answer.payload, idempotency_key, kv=answer.kv, same_request=False
            )
        except PayloadError:
            if answer.kv is not None:
                await self.store.kv_commit(answer.kv)
            raise


def _current(versions: list[Deployment]) -> Deployment | None:
    """Of one workflow's versions (newest first): the pinned one if active, else the newest
    active one; None when every version is disabled."""
    active = [d for d in versions if d.active]
    pinned = [d for d in active if d.pinned]
    if pinned:
        return pinned[0]
    return active[0] if active else None
