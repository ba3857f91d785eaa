"""Locking `python` nodes: the step's code checked and embedded, the runtime pinned.

The code is compiled on the host with Python's `compile` (never run): a syntax error is a
problem at its line and column inside the YAML block (or the step file), and the function
the node calls must be defined at the top level of the code. A step file is read relative
to the workflow file and embedded whole, so the workflow's hash pins its content: editing
the file changes nothing for executions already started. The Python runtime component is
resolved once per lock, and only when every step is valid (its first build takes seconds).
"""

from __future__ import annotations

import ast
import stat
from collections.abc import Collection
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from fuchsia.definition.files import beside
from fuchsia.definition.models import Node, PythonStep
from fuchsia.definition.resolve import Installed, Resolver
from fuchsia.definition.source import Loc, Source
from fuchsia.errors import FuchsiaError, Problem
from fuchsia.reading import read_at_most

MAX_STEP_BYTES = 1024 * 1024  # a step's code: far beyond a step, far below what compile chokes on


@runtime_checkable
class RuntimeResolver(Protocol):
    """A resolver that can provide (building it on first need) the Python runtime."""

    def python_runtime(self) -> Installed: ...


def step_spec(
    node_id: str, node: Node, source: Source
) -> tuple[dict[str, Any] | None, list[Problem]]:
    """The locked spec of a python node without its runtime (`component`, `digest`), or the
    problems with its code."""
    step = node.python
    assert step is not None
    at: Loc = ("nodes", node_id, "python")
    if step.file is None:
        assert step.code is not None
        code_at = at if isinstance(_raw(source, at), str) else (*at, "code")
        line, column = source.position(code_at)
        shown, frames, code = source.file, Path(source.file).name, step.code
    else:
        found = _read_step(node_id, step, source, (*at, "file"))
        if isinstance(found, Problem):
            return None, [found]
        shown, code = found
        frames, line, column = step.file, 1, 1
    problems = check_code(code, step.function, shown, line, column, node_id, node.inputs or {})
    if problems:
        return None, problems
    return {
        "code": code,
        "function": step.function,
        "file": frames,
        "line": line,
        "inputs": node.inputs or {},
        "config": node.config or {},
        "grants": {
            "allowed_hosts": list(node.capabilities.allowed_hosts) if node.capabilities else [],
            "allowed_paths": [],
            "memory_limit": node.capabilities.memory_limit if node.capabilities else None,
            # the runtime is CPython built with full WASI, which imports wasi:sockets: linked,
            # reaching no address (and CPython for WASI has no socket module)
            "sockets": True,
        },
    }, []


def pin_runtime(
    specs: dict[str, dict[str, Any]], source: Source, registry: Resolver | None
) -> list[Problem]:
    """Fill in the runtime's reference and digest in each python node's spec."""
    if not specs:
        return []
    first = next(iter(specs))
    at: Loc = ("nodes", first, "python")
    try:
        if isinstance(registry, RuntimeResolver):
            installed = registry.python_runtime()
        elif registry is not None:
            from fuchsia.components.python import runtime_ref

            installed = registry.resolve(runtime_ref())
        else:
            return [source.problem(at, f"node {first!r}: python nodes need a registry")]
    except FuchsiaError as exc:
        return [source.problem(at, f"node {first!r}: the Python runtime: {exc}")]
    for spec in specs.values():
        spec["component"] = installed.manifest.ref
        spec["digest"] = installed.digest
    return []


def check_code(
    code: str,
    function: str,
    file: str,
    line: int,
    column: int,
    node_id: str,
    inputs: Collection[str] = (),
) -> list[Problem]:
    """Compile `code` (which starts at `line`, `column` of `file`) and check that it defines
    `function` at its top level, taking the keyword arguments `inputs` names: the problems,
    placed in `file`."""
    if len(code.encode("utf-8", "surrogatepass")) > MAX_STEP_BYTES:
        return [Problem(file, line, column, f"node {node_id!r}: the step's code is over 1 MiB")]
    padded = "\n" * (line - 1) + code  # line numbers as in the file
    try:
        tree = ast.parse(padded, file)  # Python's compile, to a syntax tree
        compile(
            tree, file, "exec", dont_inherit=True
        )  # what only the compiler sees (`return` at top)
    except SyntaxError as exc:
        at_line = exc.lineno or line
        offset = exc.offset or 1
        at_column = offset + (column - 1 if at_line >= line else 0)
        kind = type(exc).__name__
        return [Problem(file, at_line, at_column, f"node {node_id!r}: {kind}: {exc.msg}")]
    except (ValueError, RecursionError, MemoryError) as exc:
        return [Problem(file, line, column, f"node {node_id!r}: the step does not compile: {exc}")]
    return _function_problems(tree, function, file, line, column, node_id, inputs)


def _function_problems(
    tree: ast.Module,
    function: str,
    file: str,
    line: int,
    column: int,
    node_id: str,
    inputs: Collection[str],
) -> list[Problem]:
    defined = _top_level(tree.body)
    found = defined.get(function)
    if isinstance(found, ast.AsyncFunctionDef):
        message = f"node {node_id!r}: {function} is an async function; a step calls a plain def"
        return [Problem(file, found.lineno, found.col_offset + column, message)]
    if isinstance(found, ast.FunctionDef) and not found.decorator_list:
        where = (file, found.lineno, found.col_offset + column)
        return [Problem(*where, f"node {node_id!r}: {m}") for m in _mismatches(found, inputs)]
    if found is not None:
        return []
    names = ", ".join(sorted(n for n, d in defined.items() if isinstance(d, ast.FunctionDef)))
    message = f"node {node_id!r}: the step defines no function {function!r}"
    message += f" (it defines {names})" if names else ""
    if function == "main":
        message += "; define `def main(...)`, or name the function with `function:`"
    return [Problem(file, line, column, message)]


def _mismatches(function: ast.FunctionDef, inputs: Collection[str]) -> list[str]:
    """How calling `function` with `inputs` as keyword arguments would fail (a TypeError at
    every attempt otherwise)."""
    args, name = function.args, function.name
    takes = {a.arg for a in (*args.args, *args.kwonlyargs)}  # positional-only: not by keyword
    by_position = {a.arg for a in args.posonlyargs}
    found = []
    for key in inputs if args.kwarg is None else ():
        if key in takes:
            continue
        if key in by_position:
            found.append(f"{name}() takes {key!r} by position only; a step passes it by keyword")
        elif not key.isidentifier():
            found.append(f"the input {key!r} is not a Python name, and {name}() takes no **kwargs")
        else:
            found.append(f"{name}() has no parameter {key!r}, which `inputs` passes")
    positional = [*args.posonlyargs, *args.args]
    required = positional[: len(positional) - len(args.defaults)]
    required += [
        a for a, default in zip(args.kwonlyargs, args.kw_defaults, strict=True) if default is None
    ]
    for arg in required:
        if arg.arg not in inputs:
            found.append(f"{name}() needs {arg.arg!r}, which `inputs` does not pass")
    return found


def _top_level(body: list[ast.stmt]) -> dict[str, ast.AST]:
    """The names a module body binds, looking into top-level `if` and `try` blocks."""
    names: dict[str, ast.AST] = {}
    for statement in body:
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names[statement.name] = statement
        elif isinstance(statement, ast.Assign | ast.AnnAssign):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            names.update({t.id: statement for t in targets if isinstance(t, ast.Name)})
        elif isinstance(statement, ast.Import | ast.ImportFrom):
            for alias in statement.names:
                names[(alias.asname or alias.name).split(".")[0]] = statement
        elif isinstance(statement, ast.If):
            names.update(_top_level(statement.body + statement.orelse))
        elif isinstance(statement, ast.Try):
            blocks = [statement.body, statement.orelse, *(h.body for h in statement.handlers)]
            names.update(_top_level([s for block in blocks for s in block]))
    return names


def _raw(source: Source, loc: Loc) -> Any:
    value: Any = source.data
    for part in loc:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _read_step(
    node_id: str, step: PythonStep, source: Source, at: Loc
) -> tuple[str, str] | Problem:
    """The step file's path as shown and its text, or the problem reading it."""
    assert step.file is not None
    path = beside(source.file, step.file, "step file")
    if isinstance(path, str):
        return source.problem(at, f"node {node_id!r}: {path}")
    shown = str(Path(source.file).parent / step.file)
    try:
        if not stat.S_ISREG(path.stat().st_mode):  # a fifo would block, a device never end
            kind = "a directory" if path.is_dir() else "not a regular file"
            return source.problem(at, f"node {node_id!r}: the step file {shown} is {kind}")
        raw = read_at_most(path, MAX_STEP_BYTES)
    except FileNotFoundError:
        return source.problem(at, f"node {node_id!r}: no step file {step.file!r} ({shown})")
    except OSError as exc:
        return source.problem(at, f"node {node_id!r}: cannot read {shown}: {exc.strerror}")
    if len(raw) > MAX_STEP_BYTES:
        return source.problem(at, f"node {node_id!r}: the step file {shown} is over 1 MiB")
    try:
        return shown, raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return source.problem(at, f"node {node_id!r}: {shown} is not UTF-8 text (byte {exc.start})")
