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
import contextlib
from collections.abc import Mapping
from collections.abc import Sequence as Seq
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from graphql import Undefined

from dbmesh.canonical import distinct_keys
from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.router.budget import ResponseBudget
from dbmesh.router.errors import BadUserInput, CallError, CodedError
from dbmesh.router.plan import BatchedJoin, Fetch, Node, Parallel, Plan, Sequence, Virtual
from dbmesh.router.requests import all_of, build_request, key_variables, nested_keys, resolve_arguments
from dbmesh.router.schema import SchemaIndex
from dbmesh.router.traffic import Fetched, Served, Traffic
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
        coalesce: bool = False,
        routes: bool = True,
    ) -> None:
        """`rows`: the caller's row filters (`router.access`), ANDed into every request; None: none.
        `coalesce`: its fetches may share calls with other requests' (`router.coalescing`).
        `routes`: record the statements the resolvers ran (`routes`, for the trace extension)."""
        self.coalesce = coalesce
        self.record_routes = routes
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
        self._nested_spans: dict[int, Span] = {}  # fetch spans of nested fetches in a call in flight

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
            await self._run_fetch(node)

    async def _run_fetch(self, node: Fetch | BatchedJoin) -> None:
        """Run a fetch and the relation fetches nested in it: in its one call, or, when that call
        cannot be made or fails for a reason other than unavailability, each after it on its own,
        as if never nested (so their results and errors are what they would have been)."""
        separate: tuple[BatchedJoin, ...]
        try:
            outcome, separate = await self._fetch(node)
        except CodedError as exc:
            outcome, separate = Outcome(error=exc), _fetch_of(node).nested  # they find it failed
            self._failed(node, exc)
        self.outcomes[node.id] = outcome
        if separate:
            await asyncio.gather(*(self._run_fetch(child) for child in separate))

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
        """A copy of the plan's template when the fetch reads no variable, a copy of its slotted
        request with this request's values set when its variables are only comparison values,
        else built from this request's variables. The plan itself is never written."""
        request = pb.QueryRequest()
        template = self.plan.templates.get(node.id)
        if template is not None:
            request.CopyFrom(template)
            return request
        slotted = self.plan.slotted.get(node.id)
        if slotted is not None and (filled := slotted.fill(self.variables)) is not None:
            return filled
        fetch = node.fetch if isinstance(node, BatchedJoin) else node
        arguments = {
            name: value
            for name, template_value in fetch.arguments
            if (value := resolve_arguments(template_value, self.variables)) is not Undefined
        }
        return build_request(node, self.index, arguments, default_limit=self.default_limit)

    async def _fetch(self, node: Fetch | BatchedJoin) -> tuple[Outcome, tuple[BatchedJoin, ...]]:
        """The fetch's outcome, and the nested fetches still to run on their own (the outcomes of
        those it served are recorded already)."""
        self.budget.check()
        fetch = _fetch_of(node)
        keys = None
        if isinstance(node, BatchedJoin):
            parent = self.outcomes.get(node.parent)
            if parent is None or parent.error is not None:
                return Outcome(), fetch.nested
            keys = _keys(parent.rows, node.join)
            if not keys:
                return Outcome(), fetch.nested
        request = self._request(node)
        if keys is not None:
            request.variables.extend(key_variables(keys, node.join_scalars))  # type: ignore[union-attr]
        if fetch.nested:
            with contextlib.ExitStack() as spans:
                try:
                    request.nested.extend(self._nested(child, spans) for child in fetch.nested)
                    row_sets, fetched = await self._call(fetch, request)
                except BadUserInput as exc:  # a nested fetch's arguments: it fails on its own, at its path
                    self._abandoned(fetch.nested, exc.code)
                    del request.nested[:]
                except CallError as exc:
                    self._abandoned(fetch.nested, exc.code)
                    if exc.unavailable:  # its fallbacks were tried already: so would theirs be
                        raise
                    del request.nested[:]
                else:
                    outcome = _outcome(keys, row_sets)
                    served = fetched.served[-1]  # one response: a nested fetch has no not_found fallback
                    self._nested_outcomes(fetch.nested, outcome.rows, served.response.nested, served)
                    return outcome, ()
        return _outcome(keys, (await self._call(fetch, request))[0]), fetch.nested

    def _nested(self, child: BatchedJoin, spans: contextlib.ExitStack) -> pb.NestedQuery:
        """The nested request of `child` (row filters ANDed in, as for any fetch), with its own
        nested; traced, each has a fetch span of its own (in `spans`), named to the resolver."""
        request = self._request(child)
        traceparent = ""
        if self.span.recording:
            span = spans.enter_context(self.span.child("dbmesh.fetch", _attributes(child.fetch, request)))
            self._nested_spans[child.id] = span
            traceparent = span.traceparent or ""
        request.nested.extend(self._nested(grandchild, spans) for grandchild in child.fetch.nested)
        return pb.NestedQuery(request=request, keys=nested_keys(child.join), traceparent=traceparent)

    def _nested_outcomes(
        self,
        nested: tuple[BatchedJoin, ...],
        parent_rows: list[list[Any]],
        responses: Seq[pb.QueryResponse],
        served: Served,
    ) -> None:
        """The outcome of each nested fetch from its part of the response, paid for from the budget
        as a fetch of its own would be; one that fails fails alone, and its own nested find it failed."""
        for child, response in zip(nested, responses, strict=True):
            self._record(child.id, served, response.statements)
            try:
                self.budget.check()
                keys = _keys(parent_rows, child.join)
                if len(response.row_sets) != len(keys):
                    raise CallError(
                        served.database,
                        "DATABASE_ERROR",
                        f"resolver of {served.database!r} returned {len(response.row_sets)} row sets for "
                        f"{len(keys)} nested keys",
                    )
                outcome = _outcome(keys, self._spend([(rs.rows_json, served.database) for rs in response.row_sets]))
            except CodedError as exc:
                outcome = Outcome(error=exc)
                self._failed(child, exc)
            if (span := self._nested_spans.pop(child.id, None)) is not None:
                span.set("dbmesh.database", served.database)
                if outcome.error is not None:
                    span.failed(outcome.error.code)
                else:
                    span.set("dbmesh.keys", len(outcome.by_key))
                    span.set("dbmesh.rows", len(outcome.rows))
            self.outcomes[child.id] = outcome
            if outcome.error is None:
                self._nested_outcomes(child.fetch.nested, outcome.rows, response.nested, served)
            else:
                self._skipped(child.fetch.nested)

    def _abandoned(self, nested: tuple[BatchedJoin, ...], code: str) -> None:
        """The spans of nested fetches whose one call failed or was never made: failed."""
        for child in nested:
            if (span := self._nested_spans.pop(child.id, None)) is not None:
                span.failed(code)
            self._abandoned(child.fetch.nested, code)

    def _skipped(self, nested: tuple[BatchedJoin, ...]) -> None:
        for child in nested:
            self.outcomes[child.id] = Outcome()
            self._skipped(child.fetch.nested)

    async def _call(self, fetch: Fetch, request: pb.QueryRequest) -> tuple[list[list[list[Any]]], Fetched]:
        """The decoded row sets of `request` to `fetch`'s databases, within the fetch's span, and
        what served them."""
        span = self.span.child("dbmesh.fetch", _attributes(fetch, request)) if self.span.recording else NO_SPAN
        with span:
            fetched = await self._traffic(fetch, request, span.traceparent or self.traceparent)
            row_sets = self._spend(fetched.row_sets)
            if span.recording and fetched.served:  # attributes only for a trace being recorded
                served = fetched.served[0]
                span.set("dbmesh.database", served.database)
                span.set("dbmesh.rows", sum(len(rows) for rows in row_sets))
                if served.fallback_from:
                    span.set("dbmesh.fallback_from", served.fallback_from)
                if served.replica:
                    span.set("dbmesh.replica", served.replica)
        return row_sets, fetched

    def _spend(self, encoded: list[tuple[bytes, str]]) -> list[list[list[Any]]]:
        """The decoded row sets of `encoded` (rows as JSON, the database that served them), paid
        for from the budget (bytes before decoding)."""
        self.budget.spend_bytes(sum(len(rows_json) for rows_json, _ in encoded))
        row_sets = [_rows(*row_set) for row_set in encoded]
        self.budget.spend_rows(sum(len(rows) for rows in row_sets))
        return row_sets

    async def _traffic(self, fetch: Fetch, request: pb.QueryRequest, traceparent: str | None) -> Fetched:
        """The row sets of `request` from `fetch`'s databases (the traffic policy decides which),
        with every response's statements recorded as trace routes."""
        fetched = await self.traffic.fetch(
            fetch.chain,
            request,
            traceparent,
            fetch.affinity,
            not_found=fetch.falls_back_on_not_found,
            coalesce=self.coalesce,
        )
        for served in fetched.served:
            for attempt in served.failed:
                self._failure(fetch.id, attempt.database, attempt.error)
            self._record(fetch.id, served, served.response.statements)
        return fetched

    def _record(self, fetch: int, served: Served, statements: Seq[pb.Statement]) -> None:
        """The statements the resolver ran for fetch `fetch`, as trace routes (when recorded)."""
        if not self.record_routes:
            return
        for statement in statements:
            route: dict[str, Any] = {
                "database": served.database,
                "query": statement.sql,
                "time_ms": round(statement.time_ms, 3),
                "rows": statement.rows,
                "fetch": fetch,
            }
            if served.fallback_from:
                route["fallback_from"] = served.fallback_from
            if served.replica:
                route["replica"] = served.replica
            self.routes.append(route)

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


def _fetch_of(node: Fetch | BatchedJoin) -> Fetch:
    return node.fetch if isinstance(node, BatchedJoin) else node


def _keys(rows: list[list[Any]], join: tuple[tuple[str, int], ...]) -> list[tuple[Any, ...]]:
    """The distinct join keys of the parent's rows (`dbmesh.canonical.distinct_keys`, as the
    resolver derives a nested request's keys)."""
    return distinct_keys(rows, [index for _, index in join])


def _outcome(keys: list[tuple[Any, ...]] | None, row_sets: list[list[list[Any]]]) -> Outcome:
    """A root fetch's rows (`keys` None), or a relation fetch's: one row set per key, in order."""
    if keys is None:
        return Outcome(rows=row_sets[0])
    by_key = dict(zip(keys, row_sets, strict=True))
    return Outcome(rows=[row for rows in by_key.values() for row in rows], by_key=by_key)


def _rows(rows_json: bytes, database: str) -> list[list[Any]]:
    """Decoded rows, each followed by the name of the database that served it."""
    rows: list[list[Any]] = orjson.loads(rows_json)
    for row in rows:
        row.append(database)
    return rows
