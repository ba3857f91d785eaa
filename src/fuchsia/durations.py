"""Durations as users write them: `500ms`, `30s`, `10m`, `1h30m`, `2d`, or a number of seconds."""

from __future__ import annotations

import math
import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def parse_duration(value: object) -> float:
    """Return the duration in seconds, or raise ValueError with a message fit for a user."""
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}: expected e.g. 500ms, 30s, 10m, 1h30m")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"invalid duration {value!r}: must be a finite number of seconds")
        if value < 0:
            raise ValueError(f"invalid duration {value!r}: must not be negative")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"invalid duration {value!r}: expected e.g. 500ms, 30s, 10m, 1h30m")
    text = value.strip()
    pos, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"invalid duration {value!r}: expected e.g. 500ms, 30s, 10m, 1h30m")
    return total
