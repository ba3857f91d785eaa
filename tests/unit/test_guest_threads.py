"""`GuestThreads`: the daemon threads component calls run on."""

from __future__ import annotations

import threading

import pytest

from fuchsia.components.threads import GuestThreads


def test_calls_run_and_their_errors_reach_the_caller() -> None:
    pool = GuestThreads(2, "t")
    assert pool.submit(lambda a, b: a + b, 1, b=2).result() == 3
    with pytest.raises(ZeroDivisionError):
        pool.submit(lambda: 1 / 0).result()
    pool.shutdown()


def test_at_most_size_calls_run_at_once_and_the_rest_wait() -> None:
    pool = GuestThreads(2, "t")
    release = threading.Event()
    started = threading.Semaphore(0)

    def held() -> str:
        started.release()
        release.wait()
        return threading.current_thread().name

    futures = [pool.submit(held) for _ in range(5)]
    started.acquire()
    started.acquire()
    assert sum(f.running() for f in futures) == 2
    release.set()
    names = {f.result() for f in futures}
    assert names <= {"t_0", "t_1"} and len(pool._threads) == 2
    pool.shutdown()


def test_a_shutdown_drops_calls_not_started_and_does_not_wait_past_its_bound() -> None:
    pool = GuestThreads(1, "t")
    release = threading.Event()
    started = threading.Event()

    def asleep() -> None:
        started.set()
        release.wait()

    running = pool.submit(asleep)
    queued = pool.submit(lambda: None)
    started.wait()
    pool.shutdown(wait=True, cancel_futures=True, within=0.05)
    assert queued.cancelled()
    assert not running.done()  # still asleep: left to end by itself
    assert all(t.daemon for t in pool._threads)  # it would not hold the interpreter's exit
    with pytest.raises(RuntimeError, match="shut down"):
        pool.submit(lambda: None)
    release.set()
    assert running.result() is None
