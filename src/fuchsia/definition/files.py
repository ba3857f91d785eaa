"""The files a workflow names (a `python` step file, a sub-workflow's `path`), found beside it.

A path in a workflow is relative to the folder of the workflow file and stays inside it, after
`..` and symbolic links are followed: a workflow from someone else cannot have its lock embed
(and its run execute or show) a file from elsewhere on the machine that locks it. A workflow
that is not a file (one sent to the server as text) has no folder, so it names no file: the
server never reads its own files on a caller's behalf.
"""

from __future__ import annotations

from pathlib import Path


def beside(workflow_file: str, named: str, what: str) -> Path | str:
    """The file `named` (a `what`, for the messages) in the folder of `workflow_file`,
    resolved; or why it cannot be."""
    workflow = Path(workflow_file)
    if not workflow.is_file():
        return f"a {what} needs a workflow file to be relative to"
    if not named.strip() or "\x00" in named:
        return f"the {what} {named!r} is not a path"
    if Path(named).is_absolute():
        return f"the {what} {named!r} is absolute; name it relative to {workflow.name}"
    try:
        folder = workflow.resolve().parent
        path = (folder / named).resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a loop of symbolic links
        return f"the {what} {named!r} cannot be resolved: {exc}"
    if not path.is_relative_to(folder):
        return f"the {what} {named!r} is outside the folder of {workflow.name} ({folder})"
    return path
