"""The threads component calls run on: a fixed pool of daemon threads, closed within a bound.

A guest is stopped by the epoch check while its wasm runs, but not while it waits inside a
WASI call the host implements (a `time.sleep` in a python step blocks in wasmtime's
`poll`): its attempt is recorded timed out or cancelled, and its thread sleeps on. The
standard `ThreadPoolExecutor` would make the engine's close, and the interpreter's exit,
wait for that thread, for as long as the guest asked to sleep. These threads are daemons
and `shutdown` waits for the calls still running only up to `within` seconds: a thread still
asleep then is left to end with the process.
"""

from __future__ import annotations

import concurrent.futures
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
_Job = tuple[concurrent.futures.Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class GuestThreads(concurrent.futures.Executor):
    """`size` daemon threads, started as calls need them; a call waits for a free one."""

    def __init__(self, size: int, name: str) -> None:
        self._size = size
        self._name = name
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._lock = threading.Lock()
        self._closed = False

    def submit(
        self, fn: Callable[..., T], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the component threads are shut down")
            self._jobs.put((future, fn, args, kwargs))
            if self._idle:
                self._idle -= 1  # an idle thread takes it
            elif len(self._threads) < self._size:
                thread = threading.Thread(
                    target=self._work, name=f"{self._name}_{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
        return future

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            future, fn, args, kwargs = job
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(*args, **kwargs)
                except BaseException as exc:  # the caller's to see, as the pool's would be
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            del job, future, fn, args, kwargs
            with self._lock:
                self._idle += 1

    @property
    def ended(self) -> bool:
        """Whether every thread has ended (after `shutdown`: no call runs any more)."""
        return not any(thread.is_alive() for thread in self._threads)

    def shutdown(
        self, wait: bool = True, *, cancel_futures: bool = False, within: float | None = None
    ) -> None:
        """Take no more calls; with `cancel_futures`, drop those not started. With `wait`,
        wait for the running ones, up to `within` seconds when given."""
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        if cancel_futures:
            while True:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is not None:
                    job[0].cancel()
        for _ in threads:
            self._jobs.put(None)
        if not wait:
            return
        deadline = None if within is None else time.monotonic() + within
        for thread in threads:
            thread.join(None if deadline is None else max(deadline - time.monotonic(), 0.0))
