"""Prometheus metrics of one router (docs/reference.md §5 `/metrics`), in a registry of its own so that two
routers in one process (tests) do not share counters.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_CIRCUIT = {"closed": 0, "half_open": 1, "open": 2}


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "dbmesh_requests", "GraphQL requests by outcome (ok, partial, error).", ["outcome"], registry=r
        )
        self.request_seconds = Histogram("dbmesh_request_seconds", "GraphQL request latency.", registry=r)
        self.fetch_seconds = Histogram(
            "dbmesh_fetch_seconds", "Latency of fetches from each database.", ["database"], registry=r
        )
        self.fetch_errors = Counter(
            "dbmesh_fetch_errors", "Failed fetches by database and error code.", ["database", "code"], registry=r
        )
        self.fallbacks = Counter(
            "dbmesh_fallbacks", "Fetches served by a fallback database.", ["from_database", "to_database"], registry=r
        )
        self.circuit_state = Gauge(
            "dbmesh_circuit_state", "Circuit breaker state: 0 closed, 1 half open, 2 open.", ["database"], registry=r
        )
        self.database_up = Gauge(
            "dbmesh_database_up", "1 when the last probe reached the database.", ["database"], registry=r
        )
        self.pool_in_use = Gauge(
            "dbmesh_pool_in_use", "Connections in use, as each resolver reports.", ["database"], registry=r
        )
        self.pool_size = Gauge("dbmesh_pool_size", "Pool size, as each resolver reports.", ["database"], registry=r)
        self.coalesced_calls = Counter(
            "dbmesh_coalesced_calls",
            "Resolver calls each shared by several fetches of one shape (router.coalescing).",
            ["database"],
            registry=r,
        )
        self.coalesced_fetches = Counter(
            "dbmesh_coalesced_fetches", "Fetches served by those shared calls.", ["database"], registry=r
        )
        self.coalesced_holds = Counter(
            "dbmesh_coalesced_holds",
            "Shared calls held while others of their shape were in flight, by how the hold ended:"
            " a call landed, or the hold's time was up (a slow database).",
            ["database", "ended"],
            registry=r,
        )
        self._fetch_ok: dict[str, Histogram] = {}  # labelled children, looked up once
        self._outcomes: dict[str, Counter] = {}

    def request(self, outcome: str, seconds: float) -> None:
        child = self._outcomes.get(outcome)
        if child is None:
            child = self._outcomes[outcome] = self.requests.labels(outcome)
        child.inc()
        self.request_seconds.observe(seconds)

    def fetch(self, database: str, code: str, seconds: float) -> None:
        if code == "ok":
            child = self._fetch_ok.get(database)
            if child is None:
                child = self._fetch_ok[database] = self.fetch_seconds.labels(database)
            child.observe(seconds)
        else:
            self.fetch_errors.labels(database, code).inc()

    def fallback(self, from_database: str, to_database: str) -> None:
        self.fallbacks.labels(from_database, to_database).inc()

    def coalesced(self, database: str, fetches: int) -> None:
        self.coalesced_calls.labels(database).inc()
        self.coalesced_fetches.labels(database).inc(fetches)

    def held(self, database: str, ended: str) -> None:
        self.coalesced_holds.labels(database, ended).inc()

    def circuit(self, database: str, state: str) -> None:
        self.circuit_state.labels(database).set(_CIRCUIT[state])

    def probe(self, database: str, up: bool, in_use: int, size: int) -> None:
        self.database_up.labels(database).set(1 if up else 0)
        if up:
            self.pool_in_use.labels(database).set(in_use)
            self.pool_size.labels(database).set(size)

    def render(self) -> bytes:
        return generate_latest(self.registry)
