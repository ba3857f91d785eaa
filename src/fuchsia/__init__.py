"""Fuchsia: a durable workflow engine in which every task runs as a sandboxed component.

The names below are re-exported lazily (PEP 562): `import fuchsia` costs a few milliseconds,
and each name imports its module (httpx, pydantic, the engine) on first use, so a command
line that only needs the store does not pay for the HTTP client or the schema validator."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fuchsia.client import AsyncClient, Client
    from fuchsia.definition.lock import LockedWorkflow, load
    from fuchsia.errors import (
        ArtifactNotFound,
        DefinitionError,
        ExecutionNotFound,
        FuchsiaError,
        HttpError,
        InputError,
        NodeError,
        NodeTimeout,
        PayloadError,
        Problem,
        StoreError,
        WorkflowNotFound,
    )
    from fuchsia.operations import Operations
    from fuchsia.runtime.engine import Engine
    from fuchsia.runtime.sync import run
    from fuchsia.runtime.views import (
        Attempt,
        DeployedWorkflow,
        Execution,
        ExecutionSummary,
        ItemCounts,
        NodeRun,
    )
    from fuchsia.store.records import ArtifactRef, Deployment, EventRecord

__version__ = "0.1.0"

_ERRORS = (
    "ArtifactNotFound",
    "DefinitionError",
    "ExecutionNotFound",
    "FuchsiaError",
    "HttpError",
    "InputError",
    "NodeError",
    "NodeTimeout",
    "PayloadError",
    "Problem",
    "StoreError",
    "WorkflowNotFound",
)
_HOMES: dict[str, str] = {
    "AsyncClient": "fuchsia.client",
    "Client": "fuchsia.client",
    "Operations": "fuchsia.operations",
    "DeployedWorkflow": "fuchsia.runtime.views",
    "ExecutionSummary": "fuchsia.runtime.views",
    "ArtifactRef": "fuchsia.store.records",
    "Deployment": "fuchsia.store.records",
    "EventRecord": "fuchsia.store.records",
    "LockedWorkflow": "fuchsia.definition.lock",
    "load": "fuchsia.definition.lock",
    "Engine": "fuchsia.runtime.engine",
    "run": "fuchsia.runtime.sync",
    "Attempt": "fuchsia.runtime.views",
    "Execution": "fuchsia.runtime.views",
    "NodeRun": "fuchsia.runtime.views",
    "ItemCounts": "fuchsia.runtime.views",
    **dict.fromkeys(_ERRORS, "fuchsia.errors"),
}

__all__ = [
    "ArtifactNotFound",
    "ArtifactRef",
    "AsyncClient",
    "Attempt",
    "Client",
    "DefinitionError",
    "DeployedWorkflow",
    "Deployment",
    "Engine",
    "EventRecord",
    "Execution",
    "ExecutionNotFound",
    "ExecutionSummary",
    "FuchsiaError",
    "HttpError",
    "InputError",
    "ItemCounts",
    "LockedWorkflow",
    "NodeError",
    "NodeRun",
    "NodeTimeout",
    "Operations",
    "PayloadError",
    "Problem",
    "StoreError",
    "WorkflowNotFound",
    "__version__",
    "load",
    "run",
]


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use and cache the name here."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'fuchsia' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
