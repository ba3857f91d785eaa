"""Caps on everything a guest hands the host, and the bounded log sink of one attempt.

Nothing a component sends may take unbounded host memory. Each value that crosses from guest
to host has a cap, checked while it is copied out of the guest (`abi.Cap`): the length is
read before the bytes are, so an oversized value is refused (or, for a log line, cut) before
Python allocates it. A refused value fails the node with an `OutputError` naming the cap.

Logs are bounded per attempt, whatever writes them (`log` calls, the SDK's `print`, WASI
stdout and stderr): a line longer than `LOG_LINE` is cut with a marker, and past
`LOG_LINES` lines or `LOG_BYTES` bytes further lines are dropped and counted, and one last
line says how many.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from fuchsia.errors import OutputError

KiB = 1024
MiB = 1024 * KiB

LOG_LINE = 16 * KiB  # one log message, and separately its fields
LOG_LINES = 10_000  # log lines kept per attempt
LOG_BYTES = 4 * MiB  # log bytes kept per attempt
KV_KEY = 1 * KiB
KV_VALUE = 1 * MiB
NAME = 1 * KiB  # an artifact's name or id, a config key
CONTENT_TYPE = 256
# wasmtime's component API copies a `list<u8>` as one value per byte, and refuses a call that
# copies more than about 2.7 MB of them: these caps sit below that, so the host's own message
# names them.
ARTIFACT_DATA = 2 * MiB
HTTP_URL = 8 * KiB
HTTP_HEADERS = 64 * KiB  # all of one request's header names and values
HTTP_BODY = 2 * MiB
HTTP_REQUEST = HTTP_URL + HTTP_HEADERS + HTTP_BODY + 64  # the whole request record


INTEGER_DIGITS = 4300  # Python's own limit for converting digits to an int


def parse_json(text: str, what: str) -> Any:
    """`text`, JSON a guest handed the host (`what` names it), parsed; `OutputError` when it
    is not JSON. That covers what `json.loads` takes but JSON does not (`NaN`, `Infinity`)
    and what it refuses without a `JSONDecodeError`: nesting deeper than the interpreter's
    recursion limit, an integer of more than `INTEGER_DIGITS` digits."""
    try:
        return json.loads(text, parse_constant=_not_json, parse_int=_integer)
    except json.JSONDecodeError as exc:
        raise OutputError(f"{what} is not JSON: {exc.msg} at position {exc.pos}") from None
    except _NotJson as exc:
        raise OutputError(f"{what} is not JSON: {exc}") from None
    except RecursionError:
        raise OutputError(f"{what} is nested too deeply to parse") from None


class _NotJson(ValueError):
    pass


def _not_json(constant: str) -> Any:
    raise _NotJson(f"it holds {constant}, which JSON has no literal for")


def _integer(digits: str) -> int:
    if len(digits.lstrip("-")) > INTEGER_DIGITS:
        raise _NotJson(
            f"it holds an integer of {len(digits.lstrip('-'))} digits; "
            f"the limit is {INTEGER_DIGITS} digits"
        )
    return int(digits)


def size_text(size: int) -> str:
    """`16 KiB (16384 bytes)`: a cap as a user reads it."""
    for unit, factor in (("MiB", MiB), ("KiB", KiB)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit} ({size} bytes)"
    return f"{size} bytes"


class LogSink:
    """The log lines of one attempt, at most `lines` lines and `size` bytes of them.

    Thread-safe: WASI output callbacks and import calls may come from the attempt's thread
    while the engine reads the lines afterwards."""

    def __init__(self, lines: int = LOG_LINES, size: int = LOG_BYTES) -> None:
        self.max_lines = lines
        self.max_bytes = size
        self._lines: list[dict[str, Any]] = []
        self._bytes = 0
        self._dropped = 0
        self._dropped_bytes = 0
        self._lock = threading.Lock()

    def add(
        self, level: str, message: str, fields: dict[str, Any], cost: int | None = None
    ) -> None:
        """Keep the line if the attempt's budget allows it, else count it as dropped."""
        if cost is None:
            cost = len(message.encode()) + len(json.dumps(fields))
        with self._lock:
            if len(self._lines) >= self.max_lines or self._bytes + cost > self.max_bytes:
                self._dropped += 1
                self._dropped_bytes += cost
                return
            self._bytes += cost
            self._lines.append({"level": level, "message": message, "fields": fields})

    @property
    def lines(self) -> list[dict[str, Any]]:
        """The kept lines, and when some were dropped, one line saying how many."""
        with self._lock:
            kept = list(self._lines)
            if self._dropped:
                kept.append(
                    {
                        "level": "warn",
                        "message": (
                            f"{self._dropped} log lines dropped: an attempt keeps at most "
                            f"{self.max_lines} lines and {size_text(self.max_bytes)} of log"
                        ),
                        "fields": {"dropped": self._dropped, "dropped_bytes": self._dropped_bytes},
                    }
                )
            return kept


# Lines a runtime writes after its fatal message that say nothing of it: Rust's panic footer
# (componentize-py's runtime panics on a binding called with the wrong types).
_FOOTERS = (b"note: run with `RUST_BACKTRACE=1`",)


class OutputStream:
    """A guest's WASI stdout or stderr, written to a `LogSink` line by line.

    At most `LOG_LINE` bytes of a line are held; the rest of an overlong line is counted,
    not kept, and the line is logged cut, with a marker. `last_line` is the last line with
    something to say (not blank, not a footer such as Rust's after a panic)."""

    def __init__(self, sink: LogSink, level: str, name: str) -> None:
        self.sink = sink
        self.level = level
        self.name = name
        self._pending = bytearray()
        self._cut = 0
        self.last_line = b""

    @property
    def pending(self) -> bytes:
        """What was written after the last newline."""
        return bytes(self._pending)

    def write(self, data: bytes) -> None:
        start = 0
        while (end := data.find(b"\n", start)) >= 0:
            self._hold(data[start:end])
            self._emit()
            start = end + 1
        self._hold(data[start:])

    def flush(self) -> None:
        if self._pending or self._cut:
            self._emit()

    def _hold(self, piece: bytes) -> None:
        room = LOG_LINE - len(self._pending)
        self._pending += piece[:room]
        self._cut += max(0, len(piece) - room)

    def _emit(self) -> None:
        text = self._pending.decode("utf-8", errors="replace")
        if self._cut:
            text += cut_marker(self._cut, LOG_LINE)
        self.sink.add(self.level, text, {"stream": self.name}, len(self._pending) + 16)
        if self._pending.strip() and not self._pending.startswith(_FOOTERS):
            self.last_line = bytes(self._pending)
        self._pending.clear()
        self._cut = 0


def cut_marker(cut: int, cap: int) -> str:
    return f"… [{cut} more bytes cut: a log line is kept up to {size_text(cap)}]"
