"""The guest side of `python` nodes: exec a step's code, call its function, return the result.

The host sends one JSON document per attempt: the step's `code`, the `function` to call, the
`file` its frames name and the `line` of that file where the code starts, and the rendered
`inputs`. The code is compiled padded with blank lines so that every line number in a
traceback is the line of the workflow file (or the step file) itself, and registered with
`linecache` so the traceback shows the source lines too.

Compiling is most of what a small step costs here (CPython's compiler runs as wasm: about
0.2 ms for three lines, 2 ms for eighty), so the host may send the code compiled already:
`compiled` is the marshalled code object (base64) that the `compile` task returned for the same
`code`, `file` and `line` in an instance of this same build. That task runs none of the step's
code, so what it returns depends on the source alone, and no attempt can shape what another
attempt loads.

Each attempt runs in a fresh instance of this component (the host never reuses one), so a
module-level name the step sets is gone at the next attempt. What the standard library
imports below put into the build's memory snapshot is shared by every instance: importing
them again from a step costs nothing, and needs no filesystem (the sandbox has none).
"""

from __future__ import annotations

# The standard library a step may use without a filesystem: imported at build time, so they
# are part of the snapshot every instance starts from.
import base64
import bisect  # noqa: F401
import builtins
import calendar  # noqa: F401
import collections  # noqa: F401
import contextlib  # noqa: F401
import copy  # noqa: F401
import csv  # noqa: F401
import dataclasses  # noqa: F401
import datetime  # noqa: F401
import decimal  # noqa: F401
import difflib  # noqa: F401
import enum  # noqa: F401
import fnmatch  # noqa: F401
import fractions  # noqa: F401
import functools  # noqa: F401
import gzip  # noqa: F401
import hashlib  # noqa: F401
import heapq  # noqa: F401
import hmac  # noqa: F401
import html  # noqa: F401
import io  # noqa: F401
import ipaddress  # noqa: F401
import itertools  # noqa: F401
import json
import linecache
import marshal
import math  # noqa: F401
import operator  # noqa: F401
import pprint  # noqa: F401
import random  # noqa: F401
import re  # noqa: F401
import secrets  # noqa: F401
import shlex  # noqa: F401
import statistics  # noqa: F401
import string  # noqa: F401
import struct  # noqa: F401
import textwrap  # noqa: F401
import time  # noqa: F401
import traceback
import typing  # noqa: F401
import unicodedata  # noqa: F401
import urllib.parse  # noqa: F401
import uuid  # noqa: F401
import zlib  # noqa: F401
from typing import Any

from fuchsia_sdk import Permanent, Retryable, task

STEP_MODULE = "__step__"


@task("compile")
def compile_step(step: dict[str, Any]) -> Any:
    """The step's code compiled, none of it run: `{"compiled": base64 of the marshalled code
    object}`, for the host to send with the step's attempts; a syntax error fails for good."""
    compiled = _compile(_padded(step), step["file"])
    return {"compiled": base64.b64encode(marshal.dumps(compiled)).decode()}


@task("run")
def run(step: dict[str, Any]) -> Any:
    function, file = step["function"], step["file"]
    inputs = step.get("inputs") or {}
    if not isinstance(inputs, dict):
        raise Permanent(f"a python step's inputs are keyword arguments: a mapping, not {inputs!r}")
    padded = _padded(step)
    linecache.cache[file] = (len(padded), None, padded.splitlines(keepends=True), file)
    if step.get("compiled"):
        compiled = marshal.loads(base64.b64decode(step["compiled"]))
    else:
        compiled = _compile(padded, file)
    namespace: dict[str, Any] = {"__name__": STEP_MODULE, "__builtins__": builtins}
    _guarded(exec, compiled, namespace)
    target = namespace.get(function)
    if not callable(target):
        raise Permanent(f"{file}: the step defines no function {function!r}")
    result = _guarded(target, **inputs)
    try:
        json.dumps(result, allow_nan=False)  # NaN and infinities are not JSON
    except (TypeError, ValueError, RecursionError) as exc:
        raise Permanent(f"{function}() returned a value that is not JSON: {exc}") from None
    return result


def _padded(step: dict[str, Any]) -> str:
    """The step's code after `line - 1` blank lines: its line numbers are the file's."""
    return "\n" * (int(step.get("line", 1)) - 1) + step["code"]


def _compile(padded: str, file: str) -> Any:
    """The padded code compiled as `file`; a syntax error fails for good, as `FILE:LINE:COL`."""
    try:
        return compile(padded, file, "exec", dont_inherit=True)
    except SyntaxError as exc:
        message = f"{file}:{exc.lineno}:{exc.offset}: {type(exc).__name__}: {exc.msg}"
        raise Permanent(message) from None


def _guarded(call: Any, *args: Any, **kwargs: Any) -> Any:
    """Run the step's code: what it raises becomes the attempt's error, with its traceback;
    `Permanent` (and what derives from it, such as `HttpDenied`) is never retried."""
    try:
        return call(*args, **kwargs)
    except MemoryError:
        raise
    except ModuleNotFoundError as exc:
        raise Permanent(f"{_describe(exc)}\n{_IMPORTS}") from None
    except Permanent as exc:
        raise Permanent(_describe(exc)) from None
    except BaseException as exc:  # even SystemExit: the step's, to report
        raise Retryable(_describe(exc)) from None


_IMPORTS = (
    "(a python step imports the standard library modules the runtime preloads, fuchsia_sdk "
    "and what its own code defines: the sandbox has no filesystem to import more from)"
)


def _describe(exc: BaseException) -> str:
    """`Type: message`, then the traceback from the step's first frame on: this module's own
    frame and the SDK's are left out, and so are the last lines (they repeat the first)."""
    tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
    report = traceback.TracebackException(type(exc), exc, tb)
    kept = [frame for frame in report.stack if not frame.filename.endswith(_SDK_FILE)]
    report.stack = traceback.StackSummary.from_list(kept)
    only = list(report.format_exception_only())
    lines = list(report.format())
    stack = lines[: len(lines) - len(only)] if lines[-len(only) :] == only else lines
    return "".join(only).rstrip() + "\n" + "".join(stack).rstrip()


_SDK_FILE = "/fuchsia_sdk.py"
