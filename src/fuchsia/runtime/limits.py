"""What one attempt may leave in the store, checked before anything is written.

A value is measured as the JSON the store writes (UTF-8 bytes), once, where it enters the
runtime: an attempt's inputs and output, a `foreach`'s items, the context a node writes, an
execution's result, a sub-workflow's result before it is loaded, an http response body while
it streams. A value over its cap fails its node with `LimitExceeded`, which names the cap and
the size; the store never sees it. So the store is not asked to refuse what the runtime can
refuse first (a value past SQLite's or PostgreSQL's own limits, a string that is not UTF-8),
and what it still refuses is handled by the driver as a failed node (see `Driver`).

Log lines are not refused but truncated: a line is cut at `log_line` bytes and an attempt
keeps `log_volume` bytes of lines, then one line that says how many were dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fuchsia.errors import FuchsiaError, NodeError, PayloadError

MiB = 1024 * 1024
DEFAULT_MAX_OUTPUT = 64 * MiB
DEFAULT_MAX_RESPONSE = 10 * MiB
DEFAULT_MAX_LOG_LINE = 16 * 1024
DEFAULT_MAX_LOG_VOLUME = 1 * MiB
DEFAULT_MAX_SIDE_EFFECTS = 64 * MiB


class LimitExceeded(NodeError):
    """A value an attempt produced is larger than its cap; running it again makes the same."""

    kind = "limit_exceeded"
    retryable = False


class Unstorable(NodeError):
    """A value cannot be stored at all (not JSON data, or text that is not valid Unicode),
    or the store refused to write it."""

    kind = "unstorable"
    retryable = False


@dataclass(frozen=True)
class Limits:
    """Caps in bytes. `output`: the JSON of one stored value (an attempt's inputs or output,
    a foreach's items, the context, a result); `response`: an http node's response body
    (after decompression); `log_line` and `log_volume`: one log line, and all of one
    attempt's lines; `side_effects`: what one component attempt writes to kv (keys and
    values) and stores as artifacts (names, content types and contents), held until the
    attempt succeeds (see `fuchsia.runtime.effects`)."""

    output: int = DEFAULT_MAX_OUTPUT
    response: int = DEFAULT_MAX_RESPONSE
    log_line: int = DEFAULT_MAX_LOG_LINE
    log_volume: int = DEFAULT_MAX_LOG_VOLUME
    side_effects: int = DEFAULT_MAX_SIDE_EFFECTS

    def __post_init__(self) -> None:
        for name in ("output", "response", "log_line", "log_volume", "side_effects"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1024:
                raise FuchsiaError(
                    f"limits.{name} must be a number of bytes of at least 1024, got {value!r}"
                )

    def check(self, value: Any, what: str) -> None:
        """Refuse `value` (named `what` in the error) if it is over the output cap or cannot
        be stored as JSON text."""
        size = encoded_size(value, what)
        if size > self.output:
            raise LimitExceeded(
                f"{what} is {size_text(size)} as JSON, over the output cap of "
                f"{size_text(self.output)} (limits.output)"
            )

    def check_payload(self, value: Any, what: str) -> None:
        """`check` for a value a caller sends (a signal): refused with a `PayloadError`."""
        try:
            self.check(value, what)
        except NodeError as exc:
            raise PayloadError(exc.message) from None


def encoded_size(value: Any, what: str) -> int:
    """Bytes of the UTF-8 JSON the store would write for `value`."""
    if value is None:
        return 0
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        return len(text.encode())
    except (TypeError, ValueError) as exc:
        raise Unstorable(f"{what} cannot be stored as JSON: {exc}") from None
    except UnicodeEncodeError as exc:
        raise Unstorable(f"{what} holds text that is not valid Unicode: {exc.reason}") from None
    except RecursionError:
        raise Unstorable(f"{what} is nested too deeply to store") from None


def size_text(size: int) -> str:
    if size >= MiB:
        return f"{size / MiB:.1f} MiB ({size} bytes)"
    return f"{size} bytes"


class BoundedLogs(list[dict[str, Any]]):
    """An attempt's log lines, capped as they are recorded: each line's message and fields
    are cut to `line` bytes of JSON, and once `volume` bytes are kept, later lines are only
    counted; `close()` appends the line that says how many were dropped."""

    def __init__(self, line: int = DEFAULT_MAX_LOG_LINE, volume: int = DEFAULT_MAX_LOG_VOLUME):
        super().__init__()
        self.line_cap = line
        self.volume_cap = volume
        self.kept_bytes = 0
        self.dropped = 0
        self.dropped_bytes = 0

    def append(self, entry: dict[str, Any]) -> None:
        entry, size = self._bounded(entry)
        if self.dropped or self.kept_bytes + size > self.volume_cap:
            self.dropped += 1
            self.dropped_bytes += size
            return
        self.kept_bytes += size
        super().append(entry)

    def extend(self, entries: Any) -> None:
        for entry in entries:
            self.append(entry)

    def close(self) -> None:
        if self.dropped:
            super().append(
                {
                    "level": "warn",
                    "message": f"log volume cap of {size_text(self.volume_cap)} reached: "
                    f"{self.dropped} more line(s) ({size_text(self.dropped_bytes)}) dropped",
                    "fields": {"dropped_lines": self.dropped},
                }
            )
            self.dropped = 0

    def _bounded(self, entry: Any) -> tuple[dict[str, Any], int]:
        if not isinstance(entry, dict):
            entry = {"level": "info", "message": str(entry)[: self.line_cap]}
        try:
            size = len(json.dumps(entry, ensure_ascii=False, default=str).encode())
        except (ValueError, UnicodeEncodeError, RecursionError):
            size = self.line_cap + 1
        if size <= self.line_cap:
            return entry, size
        message = str(entry.get("message", ""))
        keep = max(self.line_cap - 256, 0)
        cut = message.encode()[:keep].decode(errors="ignore")
        line = {
            "level": entry.get("level", "info"),
            "message": f"{cut} [line of {size_text(size)} cut at the cap of "
            f"{size_text(self.line_cap)}]",
            "fields": {"truncated": True},
        }
        return line, len(json.dumps(line, ensure_ascii=False).encode())
