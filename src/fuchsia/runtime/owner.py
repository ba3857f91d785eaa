"""Who runs an execution, and whether that process is still alive.

An owner is one engine in one process. It proves it is alive by renewing a lease in its row in
the store, on the database's clock. A process on the same host that is gone (or is a zombie,
or whose pid now belongs to a newer process) is known dead at once, so `fuchsia runs resume`
after a `kill -9` need not wait for the lease; an owner on another host is dead once its
lease has passed.
"""

from __future__ import annotations

import math
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from fuchsia.store.records import OwnerRecord


@dataclass(frozen=True)
class Identity:
    id: str
    host: str
    pid: int
    started_at: float


def current_identity() -> Identity:
    host = socket.gethostname()
    pid = os.getpid()
    started = process_start_time(pid)
    if started is None or math.isnan(started):
        started = time.time()
    return Identity(f"{host}:{pid}:{os.urandom(4).hex()}", host, pid, started)


def process_start_time(pid: int) -> float | None:
    """When a live, non-zombie process started (from Linux /proc); None when it is gone.

    Where /proc is unavailable a live pid's start time is unknown: `math.nan`.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, StopIteration, ValueError, IndexError):
        return math.nan if _pid_exists(pid) else None
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    ticks = float(fields[19])
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_dead(owner: OwnerRecord | None, *, me: Identity) -> bool:
    """True when an execution's owner can no longer make progress."""
    if owner is None:
        return True
    if owner.host == me.host and owner.id != me.id and gone(owner):
        return True
    return not owner.alive


def gone(owner: OwnerRecord) -> bool:
    """Whether `owner`, a process on this host, has exited (or its pid is now another's)."""
    running_since = process_start_time(owner.pid)
    if running_since is None:
        return True
    return abs(running_since - owner.started_at) > 2.0  # False for nan: unknown, use the lease
