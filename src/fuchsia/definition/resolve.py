"""Resolving component nodes against the registry when a workflow is locked.

Locking pins each component node to the digest of the wasm installed for its reference and
copies in what the node needs to run without asking the registry again: the task's input
and output schemas, the manifest's capabilities, and its default config under the node's.
"""

from __future__ import annotations

import difflib
from typing import Any, Protocol

from fuchsia.definition.models import Node, WorkflowDef
from fuchsia.definition.source import Source
from fuchsia.errors import FuchsiaError, Problem


class Installed(Protocol):
    @property
    def digest(self) -> str: ...
    @property
    def manifest(self) -> Any: ...


class Resolver(Protocol):
    """What locking needs from the component registry."""

    def resolve(self, ref: str) -> Installed: ...


def component_spec(
    node_id: str, node: Node, definition: WorkflowDef, source: Source, registry: Resolver | None
) -> tuple[dict[str, Any] | None, list[Problem]]:
    """The locked spec of a component node, or the problems that prevent it."""
    assert node.component is not None and node.task is not None
    at = ("nodes", node_id, "component")
    if registry is None:
        return None, [source.problem(at, f"node {node_id!r}: component nodes need a registry")]
    ref = definition.components.get(node.component, node.component)
    try:
        installed = registry.resolve(ref)
    except FuchsiaError as exc:
        alias = f" (alias {node.component!r})" if ref != node.component else ""
        return None, [source.problem(at, f"node {node_id!r}: component {ref!r}{alias}: {exc}")]
    manifest = installed.manifest
    task = manifest.tasks.get(node.task)
    if task is None:
        message = f"node {node_id!r}: {manifest.ref} has no task {node.task!r}"
        close = difflib.get_close_matches(node.task, list(manifest.tasks), n=1, cutoff=0.6)
        message += (
            f" (did you mean {close[0]!r}?)"
            if close
            else (f"; it has {', '.join(sorted(manifest.tasks)) or 'none'}")
        )
        return None, [source.problem(("nodes", node_id, "task"), message)]
    capabilities = manifest.capabilities
    return {
        "component": manifest.ref,
        "digest": installed.digest,
        "world": manifest.world,
        "task": node.task,
        "inputs": node.inputs or {},
        "config": {**manifest.config, **(node.config or {})},
        "input_schema": task.input_schema,
        "output_schema": task.output_schema,
        "grants": {
            "allowed_hosts": list(capabilities.allowed_hosts),
            "allowed_paths": [[g.path, g.writable] for g in capabilities.allowed_paths],
            "memory_limit": capabilities.memory_limit,
            "sockets": capabilities.sockets,
        },
    }, []


def trigger_spec(
    definition: WorkflowDef, source: Source, registry: Resolver | None
) -> tuple[dict[str, Any] | None, list[Problem]]:
    """The locked form of a poll or webhook trigger that names a component trigger."""
    kind = definition.trigger.type
    poll = definition.trigger.poll if kind == "poll" else definition.trigger.webhook
    if (
        kind not in ("poll", "webhook")
        or poll is None
        or poll.component is None
        or poll.trigger is None
    ):
        return None, []
    at = ("trigger", kind, "component")
    if registry is None:
        return None, [source.problem(at, "component triggers need a registry")]
    ref = definition.components.get(poll.component, poll.component)
    try:
        installed = registry.resolve(ref)
    except FuchsiaError as exc:
        return None, [source.problem(at, f"trigger component {ref!r}: {exc}")]
    manifest = installed.manifest
    if poll.trigger not in manifest.triggers:
        names = ", ".join(sorted(manifest.triggers)) or "none"
        return None, [
            source.problem(
                ("trigger", "poll", "trigger"),
                f"{manifest.ref} has no trigger {poll.trigger!r}; it has {names}",
            )
        ]
    capabilities = manifest.capabilities
    return {
        "component": manifest.ref,
        "digest": installed.digest,
        "trigger": poll.trigger,
        "config": dict(manifest.config),
        "grants": {
            "allowed_hosts": list(capabilities.allowed_hosts),
            "allowed_paths": [[g.path, g.writable] for g in capabilities.allowed_paths],
            "memory_limit": capabilities.memory_limit,
            "sockets": capabilities.sockets,
        },
    }, []
