"""Per-database traffic policy, in one object (docs/reference.md §7): deadlines, the circuit
breaker, read replicas, fallback chains on unavailability and, for single-object fields, on rows
not found. The executor asks `Traffic.fetch` for row sets and never retries anything itself.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from dbmesh.config import Config
from dbmesh.resolver.client import ResolverClient
from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.router.breaker import CircuitBreaker
from dbmesh.router.coalescing import Coalescer
from dbmesh.router.errors import CallError, CircuitOpen
from dbmesh.router.metrics import Metrics

__all__ = ["Attempt", "Fetched", "Served", "Traffic"]


@dataclass(frozen=True)
class Attempt:
    database: str
    error: CallError


@dataclass
class Served:
    """A response, the database that served it, and the failed attempts before it."""

    response: pb.QueryResponse
    database: str
    replica: str = ""
    failed: list[Attempt] = field(default_factory=list)

    @property
    def fallback_from(self) -> str | None:
        return self.failed[0].database if self.failed else None


@dataclass
class Fetched:
    """One fetch's answer: for each variable set (one when there are none), in order, its rows as
    the resolver sent them (JSON) and the database that served them; and every response that
    went into it, in the order they came (for the trace)."""

    row_sets: list[tuple[bytes, str]]
    served: list[Served]


class Traffic:
    def __init__(self, config: Config, metrics: Metrics) -> None:
        router = config.router
        self.config = config
        self.metrics = metrics
        self.clients: dict[str, ResolverClient] = {d.name: ResolverClient(d, config.mesh) for d in config.databases}
        self.breakers: dict[str, CircuitBreaker] = {
            d.name: CircuitBreaker(router.breaker_failures, router.breaker_reset_secs) for d in config.databases
        }
        # Replica address -> healthy, kept by the health probes.
        self.replica_health: dict[str, dict[str, bool]] = {d.name: {} for d in config.databases}
        self._replica_turn = {d.name: itertools.count() for d in config.databases}
        # Databases kept out of service, with why (a schema mismatch found after start).
        self.refused: dict[str, str] = {}
        self.coalescer = Coalescer(self.clients, metrics) if router.coalesce else None

    async def close(self) -> None:
        for client in self.clients.values():
            await client.close()

    def _replica(self, database: str) -> str:
        healthy = [r for r, ok in self.replica_health[database].items() if ok]
        if not healthy:
            return ""
        return healthy[next(self._replica_turn[database]) % len(healthy)]

    def deadline(self, database: str) -> float:
        """Seconds every call to `database` may take (its `timeout_secs`)."""
        return self.clients[database].timeout

    async def call(
        self, database: str, request: pb.QueryRequest, traceparent: str | None, *, coalesce: bool = False
    ) -> pb.QueryResponse:
        """One call to `database`, through its circuit breaker; with `coalesce` (and `[router]
        coalesce` on), shared with the calls of the same shape made in this turn (`router.coalescing`)."""
        if database in self.refused:
            raise CallError(
                database, "DATABASE_UNAVAILABLE", f"database {database!r} {self.refused[database]}", unavailable=True
            )
        breaker = self.breakers[database]
        if not breaker.allow():
            self.metrics.fetch(database, "circuit_open", 0.0)
            raise CircuitOpen(database)
        start = time.perf_counter()
        try:
            if coalesce and self.coalescer is not None:
                response = await self.coalescer.query(database, request, traceparent, self.deadline(database))
            else:
                response = await self.clients[database].query(request, traceparent, self.deadline(database))
        except CallError as exc:
            self.metrics.fetch(database, exc.code, time.perf_counter() - start)
            if exc.unavailable:
                breaker.failure()
            else:  # the database answered: it is up, whatever it said about the request
                breaker.success()
            self.metrics.circuit(database, breaker.state)
            raise
        except BaseException:  # cancelled: a half-open trial must not stay in flight for ever
            breaker.release_trial()
            raise
        self.metrics.fetch(database, "ok", time.perf_counter() - start)
        if breaker.state != "closed" or breaker.failures:  # failures count only when consecutive
            breaker.success()
            self.metrics.circuit(database, breaker.state)
        return response

    async def query(
        self,
        chain: Sequence[str],
        request: pb.QueryRequest,
        traceparent: str | None,
        affinity: str = "read_primary",
        *,
        coalesce: bool = False,
    ) -> Served:
        """The first answer along `chain` (a database, then its fallbacks in order): a database
        that is unavailable passes the request on; any other failure is final."""
        failed: list[Attempt] = []
        for position, database in enumerate(chain):
            if affinity == "read_replica" and (replica := self._replica(database)):
                replicated = pb.QueryRequest()
                replicated.CopyFrom(request)
                replicated.replica = replica
                try:
                    response = await self.clients[database].query(replicated, traceparent, self.deadline(database))
                    return Served(response, database, replica, failed)
                except CallError as exc:
                    if not exc.unavailable:
                        raise
                    self.replica_health[database][replica] = False  # the next probe may restore it
            try:
                response = await self.call(database, request, traceparent, coalesce=coalesce)
            except CallError as exc:
                if not exc.unavailable or position == len(chain) - 1:
                    exc.attempts = [*failed, Attempt(database, exc)]
                    raise
                failed.append(Attempt(database, exc))
                continue
            if failed:
                self.metrics.fallback(failed[0].database, database)
            return Served(response, database, "", failed)
        raise AssertionError("empty fallback chain")  # pragma: no cover

    async def fetch(
        self,
        chain: Sequence[str],
        request: pb.QueryRequest,
        traceparent: str | None,
        affinity: str = "read_primary",
        *,
        not_found: bool = False,
        coalesce: bool = False,
    ) -> Fetched:
        """The row sets of `request` along `chain` (see `query`). With `not_found` (a single-object
        field with `fallback_on=not_found`), variable sets that found no row are asked again, and
        only those, of each later database in the chain in turn, until every one has a row or the
        chain ends (docs/reference.md §7). `coalesce`: see `call`."""
        served = await self.query(chain, request, traceparent, affinity, coalesce=coalesce)
        row_sets = [(rs.rows_json, served.database) for rs in served.response.row_sets]
        answers = [served]
        if not_found:
            for later in chain[list(chain).index(served.database) + 1 :]:
                missing = [i for i in range(len(row_sets)) if _empty(row_sets[i][0])]
                if not missing:
                    break
                retry = pb.QueryRequest()
                retry.CopyFrom(request)
                if request.variables:
                    del retry.variables[:]
                    retry.variables.extend(request.variables[i] for i in missing)
                served = await self.query((later,), retry, traceparent, affinity, coalesce=coalesce)
                answers.append(served)
                for position, i in enumerate(missing):
                    row_sets[i] = (served.response.row_sets[position].rows_json, later)
        return Fetched(row_sets, answers)


def _empty(rows_json: bytes) -> bool:
    return rows_json.strip() in (b"[]", b"")
