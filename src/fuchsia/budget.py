"""Time and size budgets for work a user's text makes the engine do (templates, today).

`run(fn, limits)` calls `fn` with a deadline and a size allowance for the calling thread:

- Size: code that is about to create a value asks `charge(n)` first (n: about the size the
  value has as JSON text: characters of a string, items of a list); once the total a run has
  charged passes `limits.size`, `charge` raises `BudgetExceeded`. Single C-level operations
  (`'x' * n`, `s.center(n)`) are bounded this way before they run, since nothing can stop
  them once started.
- Time: `tick()` checks the deadline cooperatively where the caller already does work (a
  call, an operator, a filter, each pass of a template loop) and stops the run there. A
  watchdog thread is the backstop for code that reaches no check: once the running thread has
  spent `_GRACE` seconds of its own CPU time past the deadline without reaching one, it raises
  `Expired` inside that thread (`PyThreadState_SetAsyncExc`). Counting the thread's CPU time,
  not the clock's, keeps a busy machine (the thread waiting for a core right at its deadline)
  from firing it at code that would have stopped itself at its next check; `_WALL_GRACE` of
  clock time is the limit for a thread that waits without running.

An asynchronous exception lands wherever the thread is, and where that is a weakref callback
or a `__del__`, Python can only report it (`sys.unraisablehook`) and go on. The hook this
module installs drops such a report of `Expired` and re-arms the run, so the watchdog fires
again at its next poll: a misplaced delivery costs a poll, never a message or a runaway run.

The invariant that keeps the asynchronous exception from leaking out of `run`: the watchdog
fires at most once per run, only while holding `_LOCK` and only while the run is armed; the
run disarms itself under `_LOCK`, clearing an exception fired but not yet delivered
(`PyThreadState_SetAsyncExc` with NULL). All the code between arming and the end of
disarming sits inside `run`'s `try`, so an exception delivered anywhere in that window is
caught there; after disarming, nothing is pending and nothing can fire. A cooperative
`Expired` (from `tick`/`charge`) first disarms the watchdog the same way, so the code
handling it is not interrupted a second time. A nested `run` on the same thread shares the
outer budget.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

DEFAULT_SECONDS = 1.0
DEFAULT_SIZE = 16 * 1024 * 1024
MAX_INT_BITS = 65_536  # about 19,700 digits: multiplying two of these stays far under 1 ms

_TICK = 0.01  # how late the watchdog may notice a deadline
# The watchdog waits until the running thread has used this much CPU time past its deadline
# before it interrupts: the cooperative checks (every call, operator, filter and loop pass)
# normally stop a run first, at the deadline, so it stays the backstop for code that reaches
# no check. A thread that is past its deadline by `_WALL_GRACE` on the clock is interrupted
# whatever its CPU time (code that waits without running, which no template can do).
_GRACE = 1.0
_WALL_GRACE = 10.0
_PARK_AFTER = 2.0  # an idle watchdog sleeps until the next run after this many seconds

_ARMED, _FIRED, _DONE = 0, 1, 2


@dataclass(frozen=True)
class Limits:
    """What one run may spend: `seconds` of time and `size` units of values it creates."""

    seconds: float = DEFAULT_SECONDS
    size: int = DEFAULT_SIZE


DEFAULT_LIMITS = Limits()


class BudgetExceeded(Exception):
    """A run went over its time or size budget; the message says which, for a user."""


class Expired(BaseException):
    """Raised inside a run at its deadline. A BaseException, so that no `except Exception`
    inside the code being run (Jinja's constant folding has one) can swallow it. Code inside
    the run may catch it only to raise its own error instead (with `time_message()`)."""


class _Slot:
    __slots__ = ("cpu_at_deadline", "deadline", "limits", "state", "thread", "used")

    def __init__(self, thread: int, limits: Limits) -> None:
        self.thread = thread
        self.limits = limits
        self.deadline = time.monotonic() + limits.seconds
        self.used = 0
        self.state = _ARMED
        self.cpu_at_deadline: float | None = None  # the thread's CPU clock, first seen late

    def overdue(self, now: float) -> bool:
        """Whether the watchdog should interrupt this run now (called by the watchdog)."""
        if now < self.deadline:
            return False
        if now >= self.deadline + _WALL_GRACE:
            return True
        try:
            cpu = time.clock_gettime(time.pthread_getcpuclockid(self.thread))
        except (OSError, AttributeError):  # the thread just ended; or no such clock here
            return now >= self.deadline + _GRACE
        if self.cpu_at_deadline is None:
            self.cpu_at_deadline = cpu
        return cpu - self.cpu_at_deadline >= _GRACE


_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
_set_async_exc.argtypes = (ctypes.c_ulong, ctypes.py_object)
_set_async_exc.restype = ctypes.c_int
_NULL = ctypes.py_object()

_LOCK = threading.Lock()
_RUNS: dict[int, _Slot] = {}  # thread id -> its armed run
_local = threading.local()


class _Watchdog:
    """One daemon thread for the process; it polls every `_TICK` while runs happen and parks
    after `_PARK_AFTER` idle seconds, so a busy engine never pays to wake it."""

    def __init__(self) -> None:
        self.thread: threading.Thread | None = None
        self.parked = False
        self.wake = threading.Event()
        self.last_run = 0.0

    def ensure(self, now: float) -> None:
        self.last_run = now
        if self.thread is None:
            with _LOCK:
                if self.thread is None:
                    _install_unraisable_hook()
                    self.thread = threading.Thread(
                        target=self._loop, name="fuchsia-budget", daemon=True
                    )
                    self.thread.start()
        elif self.parked:
            self.wake.set()

    def _loop(self) -> None:
        while True:
            self.wake.wait(_TICK)
            self.wake.clear()
            now = time.monotonic()
            _fire(now)
            if not _RUNS and now - self.last_run > _PARK_AFTER:
                # park: a run registers itself before it reads `parked`, so either it
                # sees True and wakes us, or we see its slot here and do not wait
                self.parked = True
                if not _RUNS:
                    self.wake.wait()
                self.parked = False


def _fire(now: float) -> None:
    for slot in list(_RUNS.values()):
        if slot.state == _ARMED and slot.overdue(now):
            with _LOCK:
                if slot.state == _ARMED:
                    slot.state = _FIRED
                    _set_async_exc(slot.thread, Expired)


_WATCHDOG = _Watchdog()


def _install_unraisable_hook() -> None:
    """Chain a hook before the current `sys.unraisablehook` (once per process) that drops the
    report of an `Expired` Python could not raise (it landed in a weakref callback or a
    `__del__`) and re-arms that thread's run, so the watchdog fires again at its next poll."""
    previous = sys.unraisablehook
    if getattr(previous, "_fuchsia_budget", False):
        return

    def hook(unraisable: sys.UnraisableHookArgs) -> None:
        if unraisable.exc_type is not None and issubclass(unraisable.exc_type, Expired):
            # no lock: this can run inside `_disarm`, which holds it; only this thread moves a
            # run from fired to armed, and the watchdog only from armed to fired
            slot = _RUNS.get(threading.get_ident())
            if slot is not None and slot.state == _FIRED:
                slot.state = _ARMED
            return
        previous(unraisable)

    hook._fuchsia_budget = True  # type: ignore[attr-defined]
    sys.unraisablehook = hook


def _after_fork() -> None:
    global _LOCK, _WATCHDOG, _local
    _LOCK = threading.Lock()
    _RUNS.clear()
    _WATCHDOG = _Watchdog()
    _local = threading.local()


os.register_at_fork(after_in_child=_after_fork)


def run(fn: Callable[[], T], limits: Limits = DEFAULT_LIMITS) -> T:
    """Call `fn` within `limits`; raise BudgetExceeded (with a message for a user) when it
    runs out of time or size. Inside an outer `run` on the same thread, just call `fn`."""
    if getattr(_local, "slot", None) is not None:
        return fn()
    slot = _Slot(threading.get_ident(), limits)
    try:
        try:
            _local.slot = slot
            _RUNS[slot.thread] = slot
            _WATCHDOG.ensure(slot.deadline)
            return fn()
        finally:
            _disarm(slot)
    except Expired:
        _disarm(slot)
        raise BudgetExceeded(_time_message(limits.seconds)) from None


def _disarm(slot: _Slot) -> None:
    with _LOCK:
        if slot.state == _FIRED:
            _set_async_exc(slot.thread, _NULL)  # fired but maybe not delivered: clear it
        slot.state = _DONE
        if _RUNS.get(slot.thread) is slot:
            del _RUNS[slot.thread]
    _local.slot = None


def _time_message(seconds: float) -> str:
    return f"it ran longer than its time budget of {seconds:g} s"


def time_message() -> str:
    """What to tell a user whose run (the current one) ran out of time."""
    return _time_message(limits().seconds)


def tick() -> None:
    """Stop the current run if its deadline has passed (a no-op outside a run)."""
    slot: _Slot | None = getattr(_local, "slot", None)
    if slot is not None and time.monotonic() > slot.deadline:
        _expire(slot)


def _expire(slot: _Slot) -> None:
    """Raise Expired here and now, and make sure the watchdog will not raise it again later
    (while the code of the run handles this one, which could make it lose its context)."""
    with _LOCK:
        if slot.state == _FIRED:
            _set_async_exc(slot.thread, _NULL)
        slot.state = _DONE
    raise Expired


def charge(size: int, what: str = "a value") -> None:
    """Count `size` units about to be created by the current run; raise BudgetExceeded before
    the total passes the run's size budget (a no-op outside a run)."""
    slot: _Slot | None = getattr(_local, "slot", None)
    if slot is None:
        return
    slot.used += size
    if slot.used > slot.limits.size:
        raise BudgetExceeded(
            f"{what} (about {size:,} more) would take it past its size budget of "
            f"{slot.limits.size:,} (values counted by the length of their JSON text)"
        )
    if time.monotonic() > slot.deadline:
        _expire(slot)


def limits() -> Limits:
    """The limits of the current run, or the defaults outside one."""
    slot: _Slot | None = getattr(_local, "slot", None)
    return DEFAULT_LIMITS if slot is None else slot.limits


def used() -> int:
    """Units the current run has charged so far (0 outside a run)."""
    slot: _Slot | None = getattr(_local, "slot", None)
    return 0 if slot is None else slot.used
