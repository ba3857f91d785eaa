"""The budget's watchdog: the backstop for code that reaches no cooperative check.

Templates check their deadline on every call, operator, filter and loop pass, so these tests
run plain Python inside `budget.run` to reach the code only the watchdog can stop.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from fuchsia import budget
from fuchsia.budget import BudgetExceeded, Limits

FOREVER = 10**12  # loop passes no test lives to see end


@pytest.fixture
def short_grace(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(budget, "_GRACE", 0.05)
    yield


def spin() -> None:
    for _ in range(FOREVER):
        pass


def test_only_the_watchdog_stops_code_that_reaches_no_check_even_after_it_parked(
    short_grace: None,
) -> None:
    budget.run(lambda: None)  # the watchdog exists
    budget._WATCHDOG.last_run = 0.0  # as if idle for long: it parks at its next poll
    while not budget._WATCHDOG.parked:
        time.sleep(0.01)
    with pytest.raises(BudgetExceeded, match=r"time budget of 0\.05 s"):
        budget.run(spin, Limits(seconds=0.05))


class StopsInDel:
    """The watchdog's exception lands in `__del__`, where Python can only report it."""

    def __del__(self) -> None:
        spin()


def test_an_expiry_python_could_only_report_is_dropped_and_the_watchdog_fires_again(
    short_grace: None,
) -> None:
    """Before, the report reached `sys.unraisablehook` (pytest fails the test on it) and the
    run, its one shot spent, went on for good."""

    def body() -> None:
        StopsInDel()  # freed at once: the first expiry is swallowed inside its __del__
        spin()  # only a second one stops this

    with pytest.raises(BudgetExceeded, match="time budget"):
        budget.run(body, Limits(seconds=0.02))
    total = sum(range(200_000))  # and nothing is left pending for the code after the run
    assert total == 199_999 * 100_000


def test_a_thread_waiting_past_its_deadline_is_not_interrupted_while_it_does_not_run(
    short_grace: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The grace is the thread's own CPU time: a thread kept off the CPU at its deadline (a
    busy machine) reaches its next check instead of taking an exception wherever it is."""
    monkeypatch.setattr(budget, "_WALL_GRACE", 3600.0)

    def waits() -> str:
        time.sleep(0.5)  # ten graces of the clock, next to none of CPU
        return "reached its next check"

    def checks_after_waiting() -> None:
        time.sleep(0.05)
        budget.tick()

    assert budget.run(waits, Limits(seconds=0.01)) == "reached its next check"
    with pytest.raises(BudgetExceeded, match="time budget"):  # the check itself stops it
        budget.run(checks_after_waiting, Limits(seconds=0.01))


def test_a_thread_waiting_past_the_wall_grace_is_interrupted(
    short_grace: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(budget, "_WALL_GRACE", 0.1)

    def waits() -> None:
        for _ in range(FOREVER):
            time.sleep(0.01)  # never runs long enough to spend its CPU grace

    with pytest.raises(BudgetExceeded, match="time budget"):
        budget.run(waits, Limits(seconds=0.01))
