"""Walk a plan: run its fetches (concurrently where the plan says Parallel), batch every relation
into one call per (relation, level), and keep what each fetch returned or why it failed.

A failed fetch never fails the request: it is recorded, its dependants are skipped, and the
shaper nulls only the fields it serves (SPEC §5 partial results). Fallbacks and circuit breaking
happen in `router.traffic`; the executor only says which chain to try.

Batching contract (the `graphql/dataloader` one, stated plainly): a `BatchedJoin` sends the
DISTINCT join keys of all its parent rows as one request's variable sets and gets back exactly one
row set per key, in the same order; a length mismatch is an error, never silently truncated.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from graphql import Undefined

from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.router.errors import CallError, CodedError
from dbmesh.router.plan import BatchedJoin, Fetch, Node, Parallel, Plan, Sequence, VarRef, Virtual
from dbmesh.router.requests import build_request, key_variables, resolve_arguments
from dbmesh.router.schema import SchemaIndex
from dbmesh.router.traffic import Served, Traffic
from dbmesh.schema.model import Argument

__all__ = ["Execution", "Outcome"]


@dataclass
class Outcome:
    """What one plan node produced. Each row is the requested column values followed by the name
    of the database that served it."""

    rows: list[list[Any]] = field(default_factory=list)
    by_key: dict[tuple[Any, ...], list[list[Any]]] = field(default_factory=dict)
    error: CodedError | None = None


class Execution:
    """One request's run of a plan."""

    def __init__(
        self, plan: Plan, index: SchemaIndex, traffic: Traffic, variables: Mapping[str, Any], traceparent: str | None
    ) -> None:
        self.plan = plan
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

    def _declared(self, node: Fetch | BatchedJoin) -> dict[str, Argument]:
        if node.owner == "Query":
            arguments = self.index.roots[node.field].arguments
        else:
            binding = self.index.binding(node.owner, node.field)
            assert binding.relation is not None
            arguments = binding.relation.arguments
        return {a.graphql_name: a for a in arguments}

    def _request(self, node: Fetch | BatchedJoin) -> pb.QueryRequest:
        """The node's request. One whose arguments use no variable is the same for every
        request of this plan: it is built once and copied."""
        template = self.plan.requests.get(node.id)
        if template is None:
            arguments = {
                name: value
                for name, template_value in node.arguments
                if (value := resolve_arguments(template_value, self.variables)) is not Undefined
            }
            template = build_request(node, self._declared(node), self.index.model.types[node.type], arguments)
            if not _uses_variables(node.arguments):
                self.plan.requests[node.id] = template
        request = pb.QueryRequest()
        request.CopyFrom(template)
        return request

    async def _fetch(self, node: Fetch | BatchedJoin) -> Outcome:
        if isinstance(node, BatchedJoin):
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
            return await self._batched(node, request, keys)
        request = self._request(node)
        served = await self._query(node, request)
        rows = _rows(served, 0)
        if not rows and _falls_back_on_not_found(node):
            for later in self._later(node, served.database):
                rows = _rows(await self._query(node, request, (later,)), 0)
                if rows:
                    break
        return Outcome(rows=rows)

    async def _batched(self, node: BatchedJoin, request: pb.QueryRequest, keys: list[tuple[Any, ...]]) -> Outcome:
        served = await self._query(node, request)
        by_key = {key: _rows(served, i) for i, key in enumerate(keys)}
        if _falls_back_on_not_found(node):
            for later in self._later(node, served.database):
                missing = [key for key in keys if not by_key[key]]
                if not missing:
                    break
                retry = pb.QueryRequest()
                retry.CopyFrom(request)
                del retry.variables[:]
                retry.variables.extend(key_variables(missing, node.join_scalars))
                again = await self._query(node, retry, (later,))
                for i, key in enumerate(missing):
                    by_key[key] = _rows(again, i)
        rows = [row for rows in by_key.values() for row in rows]
        return Outcome(rows=rows, by_key=by_key)

    def _later(self, node: Fetch | BatchedJoin, served_by: str) -> list[str]:
        chain = [node.database, *node.fallbacks]
        return chain[chain.index(served_by) + 1 :]

    async def _query(
        self, node: Fetch | BatchedJoin, request: pb.QueryRequest, chain: tuple[str, ...] | None = None
    ) -> Served:
        served = await self.traffic.query(
            chain or (node.database, *node.fallbacks), request, self.traceparent, node.affinity
        )
        expected = max(1, len(request.variables))
        if len(served.response.row_sets) != expected:
            raise CallError(
                served.database,
                "DATABASE_ERROR",
                f"resolver of {served.database!r} returned {len(served.response.row_sets)} row sets "
                f"for {expected} variable sets",
            )
        for attempt in served.failed:
            self._failure(node, attempt.database, attempt.error)
        for statement in served.response.statements:
            route: dict[str, Any] = {
                "database": served.database,
                "query": statement.sql,
                "time_ms": round(statement.time_ms, 3),
                "rows": statement.rows,
                "fetch": node.id,
            }
            if served.fallback_from:
                route["fallback_from"] = served.fallback_from
            if served.replica:
                route["replica"] = served.replica
            self.routes.append(route)
        return served

    def _failure(self, node: Fetch | BatchedJoin, database: str, error: CallError) -> None:
        self.failures.append({"fetch": node.id, "database": database, "code": error.code, "message": error.message})

    def _failed(self, node: Fetch | BatchedJoin, error: CodedError) -> None:
        if isinstance(error, CallError):
            attempts = error.attempts or []
            for attempt in attempts[:-1]:
                self._failure(node, attempt.database, attempt.error)
            self._failure(node, error.database, error)


def _uses_variables(value: Any) -> bool:
    if isinstance(value, VarRef):
        return True
    if isinstance(value, (list, tuple)):
        return any(_uses_variables(v) for v in value)
    if isinstance(value, dict):
        return any(_uses_variables(v) for v in value.values())
    return False


def _falls_back_on_not_found(node: Fetch | BatchedJoin) -> bool:
    return not node.many and "not_found" in node.fallback_on


def _rows(served: Served, index: int) -> list[list[Any]]:
    rows: list[list[Any]] = orjson.loads(served.response.row_sets[index].rows_json)
    database = served.database
    for row in rows:
        row.append(database)
    return rows
