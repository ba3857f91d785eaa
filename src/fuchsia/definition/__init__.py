"""The workflow file: parse with positions, validate, lock."""

from fuchsia.definition.lock import LockedNode, LockedWorkflow, RetryPolicy, load, lock
from fuchsia.definition.models import WorkflowDef
from fuchsia.definition.source import Source, parse_text, read_file
from fuchsia.definition.validate import validate

__all__ = [
    "LockedNode",
    "LockedWorkflow",
    "RetryPolicy",
    "Source",
    "WorkflowDef",
    "load",
    "lock",
    "parse_text",
    "read_file",
    "validate",
]
