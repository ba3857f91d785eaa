"""The public surface is small and deliberate: changing it must change this test."""

import fuchsia


def test_public_api_is_pinned() -> None:
    assert sorted(fuchsia.__all__) == [
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
    for name in fuchsia.__all__:
        assert hasattr(fuchsia, name), name


def test_every_error_is_a_fuchsia_error() -> None:
    for name in fuchsia.__all__:
        value = getattr(fuchsia, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, fuchsia.FuchsiaError), name
