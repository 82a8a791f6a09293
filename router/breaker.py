"""A per-database circuit breaker (docs/reference.md §7).

closed: calls go through; `failures_to_open` consecutive *unavailable* outcomes open it.
open: calls fail at once (fallbacks are immediate instead of waiting for a deadline); the
background probes (`router.health`) keep asking the database, and the first successful probe
closes it again. half_open: after `reset_secs` open, ONE call is let through as a trial; its
success closes the circuit, its failure re-opens it. Only unavailability counts: a bad request
or a constraint error says nothing about the database's health.
"""

from __future__ import annotations

import time
from typing import Literal

__all__ = ["CircuitBreaker", "CircuitState"]

CircuitState = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    def __init__(self, failures_to_open: int = 3, reset_secs: float = 5.0) -> None:
        self.failures_to_open = max(1, failures_to_open)
        self.reset_secs = reset_secs
        self.state: CircuitState = "closed"
        self.failures = 0
        self.opened_at = 0.0
        self.opened_count = 0  # how many times it opened, for metrics and tests
        self._trial_in_flight = False

    def allow(self) -> bool:
        """May a call go to the database now?"""
        if self.state == "closed":
            return True
        if self.state == "open" and time.monotonic() - self.opened_at >= self.reset_secs:
            self.state = "half_open"
        if self.state == "half_open" and not self._trial_in_flight:
            self._trial_in_flight = True
            return True
        return False

    def success(self) -> None:
        self.state = "closed"
        self.failures = 0
        self._trial_in_flight = False

    def release_trial(self) -> None:
        """The trial call ended without an answer either way (cancelled): let another through."""
        self._trial_in_flight = False

    def failure(self) -> None:
        self._trial_in_flight = False
        self.failures += 1
        if self.state == "half_open" or (self.state == "closed" and self.failures >= self.failures_to_open):
            self.state = "open"
            self.opened_at = time.monotonic()
            self.opened_count += 1
