"""Walk a plan: run its fetches (concurrently where the plan says Parallel), batch every relation
into one call per (relation, level), and keep what each fetch returned or why it failed.

A failed fetch never fails the request: it is recorded, its dependants are skipped, and the
shaper nulls only the fields it serves (docs/reference.md §5 partial results). Deadlines,
fallbacks (on unavailability and on rows not found) and circuit breaking happen in
`router.traffic`; the executor only hands it each fetch's chain. The plan is read, never written.

Batching contract (the `graphql/dataloader` one, stated plainly): a `BatchedJoin` sends the
DISTINCT join keys of all its parent rows as one request's variable sets and gets back exactly one
row set per key, in the same order; a length mismatch is an error, never silently truncated.

Every fetch spends the request's `ResponseBudget` (`router.budget`): its rows' JSON size before
they are decoded, then its row count; past either bound it fails, and no further fetch starts.

Every call is an OpenTelemetry span (`dbmesh.fetch`, a child of the request's span; none without
`[telemetry]`) whose `traceparent` goes to the resolver, so its statements' spans are its children.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from graphql import Undefined

from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.router.budget import ResponseBudget
from dbmesh.router.errors import CallError, CodedError
from dbmesh.router.plan import BatchedJoin, Fetch, Node, Parallel, Plan, Sequence, Virtual
from dbmesh.router.requests import all_of, build_request, key_variables, resolve_arguments
from dbmesh.router.schema import SchemaIndex
from dbmesh.router.traffic import Fetched, Traffic
from dbmesh.telemetry import NO_SPAN, Span

if TYPE_CHECKING:
    from dbmesh.router.access import RowAccess

__all__ = ["Execution", "Outcome"]


@dataclass
class Outcome:
    """What one plan node produced. Each row is the requested column values followed by the name
    of the database that served it."""

    rows: list[list[Any]] = field(default_factory=list)
    by_key: dict[tuple[Any, ...], list[list[Any]]] = field(default_factory=dict)
    error: CodedError | None = None
    affected: int = 0  # a mutation step's affected rows (router.mutations)


class Execution:
    """One request's run of a plan."""

    def __init__(
        self,
        plan: Plan,
        index: SchemaIndex,
        traffic: Traffic,
        variables: Mapping[str, Any],
        traceparent: str | None,
        *,
        default_limit: int | None = None,
        budget: ResponseBudget | None = None,
        span: Span = NO_SPAN,
        rows: RowAccess | None = None,
    ) -> None:
        """`rows`: the caller's row filters (`router.access`), ANDed into every request; None: none."""
        self.plan = plan
        self.rows = rows
        self.span = span
        self.default_limit = default_limit
        self.budget = budget or ResponseBudget(1 << 62, 1 << 62)
        self.index = index
        self.traffic = traffic
        self.variables = variables
        self.traceparent = traceparent
        self.outcomes: dict[int, Outcome] = {}
        self.routes: list[dict[str, Any]] = []
        self.failures: list[dict[str, Any]] = []

    async def run(self) -> None:
        if self.plan.root is not None:
            await self._node(self.plan.root)

    async def _node(self, node: Node) -> None:
        if isinstance(node, Parallel):
            await asyncio.gather(*(self._node(n) for n in node.nodes))
        elif isinstance(node, Sequence):
            for child in node.nodes:
                await self._node(child)
        elif isinstance(node, Virtual):
            row = [resolve_arguments(t, self.variables) if t is not None else None for _, t in node.arguments]
            self.outcomes[node.id] = Outcome(rows=[[None if v is Undefined else v for v in row] + [""]])
        else:
            try:
                self.outcomes[node.id] = await self._fetch(node)
            except CodedError as exc:
                self.outcomes[node.id] = Outcome(error=exc)
                self._failed(node, exc)

    # --- fetches --------------------------------------------------------------------------------

    def _request(self, node: Fetch | BatchedJoin) -> pb.QueryRequest:
        """A request of this execution's own, with the caller's row filter for its type ANDed in
        (every database of the fetch's chain gets this same request)."""
        request = self._unfiltered(node)
        fetch = node.fetch if isinstance(node, BatchedJoin) else node
        if self.rows is not None and (allowed := self.rows.read(fetch.type)) is not None:
            both = [request.predicate, allowed] if request.HasField("predicate") else [allowed]
            combined = all_of(both)
            assert combined is not None
            request.predicate.CopyFrom(combined)
        return request

    def _unfiltered(self, node: Fetch | BatchedJoin) -> pb.QueryRequest:
        """A copy of the plan's template when the fetch reads no variable, else built from this
        request's variables. The plan itself is never written."""
        request = pb.QueryRequest()
        template = self.plan.templates.get(node.id)
        if template is not None:
            request.CopyFrom(template)
            return request
        fetch = node.fetch if isinstance(node, BatchedJoin) else node
        arguments = {
            name: value
            for name, template_value in fetch.arguments
            if (value := resolve_arguments(template_value, self.variables)) is not Undefined
        }
        return build_request(node, self.index, arguments, default_limit=self.default_limit)

    async def _fetch(self, node: Fetch | BatchedJoin) -> Outcome:
        self.budget.check()
        if isinstance(node, Fetch):
            rows = (await self._call(node, self._request(node)))[0]
            return Outcome(rows=rows)
        parent = self.outcomes.get(node.parent)
        if parent is None or parent.error is not None:
            return Outcome()
        keys = list(
            dict.fromkeys(
                key for row in parent.rows if None not in (key := tuple(row[index] for _, index in node.join))
            )
        )
        if not keys:
            return Outcome()
        request = self._request(node)
        request.variables.extend(key_variables(keys, node.join_scalars))
        by_key = dict(zip(keys, await self._call(node.fetch, request), strict=True))
        return Outcome(rows=[row for rows in by_key.values() for row in rows], by_key=by_key)

    async def _call(self, fetch: Fetch, request: pb.QueryRequest) -> list[list[list[Any]]]:
        """The decoded row sets of `request` to `fetch`'s databases, within the fetch's span."""
        span = self.span.child("dbmesh.fetch", _attributes(fetch, request)) if self.span.recording else NO_SPAN
        with span:
            fetched = await self._traffic(fetch, request, span.traceparent or self.traceparent)
            row_sets = self._spend(fetched)
            if span.recording and fetched.served:  # attributes only for a trace being recorded
                served = fetched.served[0]
                span.set("dbmesh.database", served.database)
                span.set("dbmesh.rows", sum(len(rows) for rows in row_sets))
                if served.fallback_from:
                    span.set("dbmesh.fallback_from", served.fallback_from)
                if served.replica:
                    span.set("dbmesh.replica", served.replica)
        return row_sets

    def _spend(self, fetched: Fetched) -> list[list[list[Any]]]:
        """The decoded row sets of `fetched`, paid for from the budget (bytes before decoding)."""
        self.budget.spend_bytes(sum(len(rows_json) for rows_json, _ in fetched.row_sets))
        row_sets = [_rows(*row_set) for row_set in fetched.row_sets]
        self.budget.spend_rows(sum(len(rows) for rows in row_sets))
        return row_sets

    async def _traffic(self, fetch: Fetch, request: pb.QueryRequest, traceparent: str | None) -> Fetched:
        """The row sets of `request` from `fetch`'s databases (the traffic policy decides which),
        with every response's statements recorded as trace routes."""
        fetched = await self.traffic.fetch(
            fetch.chain, request, traceparent, fetch.affinity, not_found=fetch.falls_back_on_not_found
        )
        for served in fetched.served:
            for attempt in served.failed:
                self._failure(fetch.id, attempt.database, attempt.error)
            for statement in served.response.statements:
                route: dict[str, Any] = {
                    "database": served.database,
                    "query": statement.sql,
                    "time_ms": round(statement.time_ms, 3),
                    "rows": statement.rows,
                    "fetch": fetch.id,
                }
                if served.fallback_from:
                    route["fallback_from"] = served.fallback_from
                if served.replica:
                    route["replica"] = served.replica
                self.routes.append(route)
        return fetched

    def _failure(self, fetch: int, database: str, error: CallError) -> None:
        self.failures.append({"fetch": fetch, "database": database, "code": error.code, "message": error.message})

    def _failed(self, node: Fetch | BatchedJoin, error: CodedError) -> None:
        if isinstance(error, CallError):
            for attempt in error.attempts[:-1]:
                self._failure(node.id, attempt.database, attempt.error)
            self._failure(node.id, error.database, error)


def _attributes(fetch: Fetch, request: pb.QueryRequest) -> dict[str, str | int]:
    """A fetch span's first attributes: where it goes and what it serves (names and counts only)."""
    attributes: dict[str, str | int] = {"dbmesh.database": fetch.database, "dbmesh.collection": fetch.collection}
    attributes |= {"dbmesh.fetch": fetch.id, "dbmesh.path": ".".join(fetch.path)}
    if request.variables:
        attributes["dbmesh.keys"] = len(request.variables)
    return attributes


def _rows(rows_json: bytes, database: str) -> list[list[Any]]:
    """Decoded rows, each followed by the name of the database that served it."""
    rows: list[list[Any]] = orjson.loads(rows_json)
    for row in rows:
        row.append(database)
    return rows
