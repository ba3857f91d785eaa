"""Who runs an execution, and whether that process is still alive.

An owner is one engine in one process. It proves it is alive by renewing a lease in its row in
the store, on the database's clock. A process on the same machine that is gone (or is a
zombie, or whose pid now belongs to a newer process) is known dead at once, so `fuchsia runs
resume` after a `kill -9` need not wait for the lease; any other owner is dead once its lease
has passed.

"The same machine" is the same running kernel (its boot id) and the same pid namespace (the
inode of /proc/self/ns/pid): a pid means one process only there. A hostname is not enough:
two hosts may share one, and containers on the host network share the host's name but not
its pids; either would see the other's live owners as gone. Where /proc is missing the key
is unknown (None) and no owner is ever judged by its pid: the lease alone says.
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
    machine: str | None = None  # `machine_key()`: whose pids this process can check


def current_identity() -> Identity:
    host = socket.gethostname()
    pid = os.getpid()
    started = process_start_time(pid)
    if started is None or math.isnan(started):
        started = time.time()
    return Identity(f"{host}:{pid}:{os.urandom(4).hex()}", host, pid, started, machine_key())


def machine_key(proc: Path = Path("/proc")) -> str | None:
    """This kernel's boot id and this process's pid namespace: equal for two processes
    exactly when a pid names the same process for both. None where /proc cannot tell."""
    try:
        boot = (proc / "sys/kernel/random/boot_id").read_text().strip()
        namespace = os.stat(proc / "self/ns/pid").st_ino
    except OSError:
        return None
    return f"{boot}/pidns:{namespace}" if boot else None


def same_machine(owner: OwnerRecord, me: Identity) -> bool:
    """Whether `owner`'s pid can be checked here (its machine key is known and ours)."""
    return me.machine is not None and owner.machine == me.machine and owner.id != me.id


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
    if same_machine(owner, me) and gone(owner):
        return True
    return not owner.alive


def gone(owner: OwnerRecord) -> bool:
    """Whether `owner`, a process on this machine (`same_machine`), has exited (or its pid
    is now another's)."""
    running_since = process_start_time(owner.pid)
    if running_since is None:
        return True
    return abs(running_since - owner.started_at) > 2.0  # False for nan: unknown, use the lease
