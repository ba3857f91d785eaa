"""Fuchsia: a durable workflow engine in which every task runs as a sandboxed component."""

from fuchsia.client import Client
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
from fuchsia.runtime.engine import Engine
from fuchsia.runtime.sync import run
from fuchsia.runtime.views import Attempt, Execution, NodeRun

__version__ = "0.1.0"

__all__ = [
    "ArtifactNotFound",
    "Attempt",
    "Client",
    "DefinitionError",
    "Engine",
    "Execution",
    "ExecutionNotFound",
    "FuchsiaError",
    "HttpError",
    "InputError",
    "LockedWorkflow",
    "NodeError",
    "NodeRun",
    "NodeTimeout",
    "PayloadError",
    "Problem",
    "StoreError",
    "WorkflowNotFound",
    "__version__",
    "load",
    "run",
]
