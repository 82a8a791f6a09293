"""The circuit breaker's states (`router.breaker`, docs/reference.md §7) on a clock the test moves:
closed until `failures_to_open` consecutive failures, open (refusing) for `reset_secs`, then
half-open with exactly one trial whose outcome closes or re-opens it."""

from __future__ import annotations

from typing import Protocol

from dbmesh.router.breaker import CircuitBreaker


class Clock(Protocol):
    """The `clock` fixture (conftest.py): the circuit breakers' time."""

    now: float

    def advance(self, seconds: float) -> None: ...


def _opened(clock: Clock, failures: int = 3, reset: float = 5.0) -> CircuitBreaker:
    breaker = CircuitBreaker(failures, reset)
    for _ in range(failures):
        assert breaker.allow()
        breaker.failure()
    return breaker


def test_closed_until_the_configured_number_of_consecutive_failures(clock: Clock) -> None:
    breaker = CircuitBreaker(3, 5.0)
    breaker.failure()
    breaker.failure()
    assert (breaker.state, breaker.failures, breaker.allow()) == ("closed", 2, True)
    breaker.failure()
    assert (breaker.state, breaker.opened_at, breaker.opened_count) == ("open", clock.now, 1)


def test_a_success_resets_the_count_of_failures(clock: Clock) -> None:
    breaker = CircuitBreaker(3, 5.0)
    breaker.failure()
    breaker.failure()
    breaker.success()
    breaker.failure()
    breaker.failure()
    assert (breaker.state, breaker.failures) == ("closed", 2)


def test_at_least_one_failure_opens_it(clock: Clock) -> None:
    breaker = CircuitBreaker(0, 5.0)
    breaker.failure()
    assert (breaker.failures_to_open, breaker.state) == (1, "open")


def test_open_refuses_until_reset_secs_have_passed(clock: Clock) -> None:
    breaker = _opened(clock)
    clock.advance(4.999)
    assert [breaker.allow(), breaker.allow()] == [False, False]
    assert breaker.state == "open"


def test_half_open_lets_exactly_one_trial_through(clock: Clock) -> None:
    breaker = _opened(clock)
    clock.advance(5.0)
    assert breaker.allow()
    assert breaker.state == "half_open"
    clock.advance(60.0)
    assert [breaker.allow(), breaker.allow()] == [False, False]


def test_a_successful_trial_closes_it(clock: Clock) -> None:
    breaker = _opened(clock)
    clock.advance(5.0)
    assert breaker.allow()
    breaker.success()
    assert (breaker.state, breaker.failures) == ("closed", 0)
    assert [breaker.allow(), breaker.allow()] == [True, True]


def test_a_failed_trial_reopens_it_for_another_reset_secs(clock: Clock) -> None:
    breaker = _opened(clock)
    clock.advance(5.0)
    assert breaker.allow()
    breaker.failure()
    assert (breaker.state, breaker.opened_at, breaker.opened_count) == ("open", clock.now, 2)
    clock.advance(4.0)
    assert not breaker.allow()
    clock.advance(1.0)
    assert breaker.allow()
    assert breaker.state == "half_open"
