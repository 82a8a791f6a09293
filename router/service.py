"""The router: one GraphQL endpoint over every configured database (docs/reference.md §5).

`Router.execute` takes a GraphQL request and returns the GraphQL response body: prepare it
(`router.preparation`: size, parse, limits, validation, variables, plan, cost, with their
caches), run the plan within the response budget (`router.budget`), shape the data, answer
introspection through graphql-core, and attach the trace when asked. A mutation operation's
writes run first, as one transaction of the router's `Coordinator` (`router.mutations`), and the
reads of its `returning` relations after commit. `Router.start` connects to every resolver, checks
the schema against what each database has, and starts the background probes, the
coordinator's recovery (in the background: a database that is down does not delay the start) and
the write-through outbox drainers (`dbmesh.outbox`, docs/reference.md §11).

With `[telemetry]` each request is an OpenTelemetry span, the parent of its fetches' spans
(`dbmesh.telemetry`, docs/reference.md §15).

`isStale` of a row served by a write-through target is also true while that row has a change the
target has not applied yet (`Router.pending_change`): the router asks its outbox, which knows the
changes it committed itself at once and every router's from its drainers' rounds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import GraphQLResolveInfo, default_field_resolver, execute, get_operation_ast

from dbmesh.auth.tokens import Authenticator, Principal
from dbmesh.config import Config
from dbmesh.coordinator import Coordinator
from dbmesh.errors import SchemaError
from dbmesh.outbox import Outbox, row_key
from dbmesh.router.access import FULL, RoleView, RowAccess, check_permissions, role_views
from dbmesh.router.budget import ResponseBudget
from dbmesh.router.entities import seed
from dbmesh.router.executor import Execution
from dbmesh.router.health import HealthMonitor
from dbmesh.router.metrics import Metrics
from dbmesh.router.mutations import run_mutations
from dbmesh.router.plan import Plan, plan_to_json
from dbmesh.router.preparation import Rejected
from dbmesh.router.schema import build_graphql_schema
from dbmesh.router.shaping import Shaper
from dbmesh.router.sync_status import SyncStatusReader
from dbmesh.router.traffic import Traffic
from dbmesh.schema.check import read_only_writes
from dbmesh.schema.model import SchemaModel
from dbmesh.telemetry import Span, current

__all__ = ["GraphQLRequest", "Router"]

log = logging.getLogger("dbmesh.router")


@dataclass(frozen=True)
class GraphQLRequest:
    query: str
    variables: Mapping[str, Any] | None = None
    operation_name: str | None = None
    extensions: Mapping[str, Any] | None = None


@dataclass
class Response:
    body: dict[str, Any]
    # A request error (parse, validation, variables): no `data` at all (GraphQL-over-HTTP 4xx).
    request_error: bool = False
    outcome: str = "ok"
    plan: Plan | None = field(default=None, repr=False)


def _by_response_key(source: Any, info: GraphQLResolveInfo[Any], **args: Any) -> Any:
    """graphql-core's resolver over data dbmesh already shaped (keyed by response key)."""
    if isinstance(source, dict) and info.path.key in source:
        return source[info.path.key]
    return default_field_resolver(source, info, **args)


def new_traceparent() -> str:
    """A fresh W3C traceparent. Trace and span ids need to be random, not secret: the Mersenne
    Twister (as OpenTelemetry's own id generator) costs no system call, where `secrets` read
    /dev/urandom twice per request (1.5 % of the router's CPU on a Point request). Neither id may
    be all zeros."""
    trace_id = random.getrandbits(128) or 1
    span_id = random.getrandbits(64) or 1
    return f"00-{trace_id:032x}-{span_id:016x}-01"


class Router:
    def __init__(self, config: Config, model: SchemaModel) -> None:
        """Raises SchemaError for a mutation field aimed at a database the config makes read_only."""
        if problems := read_only_writes(model, [d.name for d in config.databases if d.read_only]):
            raise SchemaError(problems[0])
        self.config = config
        self.model = model
        if config.auth is not None:
            check_permissions(config, model)
        self.schema, self.index = build_graphql_schema(model, federation=config.router.federation)
        # One view per role (router.access): its schema, its caches, its limits. FULL: the admin's.
        self.views = role_views(config, model, (self.schema, self.index))
        self.preparation = self.views[FULL].preparation
        self.authenticator = (
            Authenticator(config.auth, [r for r in self.views if r != FULL]) if config.auth is not None else None
        )
        self.metrics = Metrics()
        self.traffic = Traffic(config, self.metrics)
        self.health = HealthMonitor(config, model, self.traffic, self.metrics)
        self.coordinator = Coordinator(config, self.traffic.clients)
        self.sync_status = SyncStatusReader(config, self.traffic.clients)
        self._coordinator_start: asyncio.Task[None] | None = None
        routes: dict[str, list[str]] = {}
        for m in model.mutation:
            routes.setdefault(m.database, [])
            routes[m.database] += [t for t in m.write_through if t not in routes[m.database]]
        routes = {database: targets for database, targets in routes.items() if targets}
        self.outbox = Outbox(self.traffic.clients, routes, config.transactions.lease_secs)
        self.tracing = current()

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self, *, check_schema: bool = True) -> None:
        """Connect, check the schema of every database reached (a mismatch refuses to start; one
        not reached is checked when it comes back) and start the background probes."""
        await self.health.start(check_schema=check_schema)
        self._coordinator_start = asyncio.get_running_loop().create_task(self.coordinator.start())
        self.outbox.start()

    async def stop(self) -> None:
        await self.health.stop()
        if self._coordinator_start is not None:
            self._coordinator_start.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._coordinator_start
        await self.coordinator.stop()
        await self.outbox.stop()
        await self.traffic.close()

    # --- requests -------------------------------------------------------------------------------

    def pending_change(self, database: str, type_name: str, fields: Mapping[str, Any]) -> bool:
        """Whether the row of `type_name` read from `database`, with these GraphQL fields
        selected, has a write-through change not applied there yet. A row whose key is not
        selected counts as pending when any row of its table is."""
        obj = self.model.types[type_name]
        pending = self.outbox.pending(database, obj.table)
        if pending is None:
            return False
        key = None
        if pending.key_columns is not None:
            names = {c.name: c.graphql_name for c in obj.columns}
            graphql = [names.get(column, "") for column in pending.key_columns]
            if all(name in fields for name in graphql):
                key = row_key([fields[name] for name in graphql])
        return pending.holds(key)

    def view(self, principal: Principal | None) -> RoleView:
        """What `principal` is served with: the full schema without [auth] or for the admin role."""
        if principal is None or self.config.auth is None or principal.role == self.config.auth.admin_role:
            return self.views[FULL]
        return self.views[principal.role]

    def _wants_trace(self, request: GraphQLRequest, view: RoleView) -> bool:
        if not view.privileged:
            return False
        mode = self.config.router.tracing
        if mode == "always":
            return True
        return mode == "request" and bool((request.extensions or {}).get("trace"))

    async def execute(
        self, request: GraphQLRequest, traceparent: str | None = None, principal: Principal | None = None
    ) -> Response:
        """The response to `request` from `principal` (None: no [auth], or an in-process caller
        with every permission)."""
        start = time.perf_counter()
        with self.tracing.request(traceparent, {}) as span:
            traceparent = span.traceparent or traceparent or new_traceparent()
            response = await self._execute(request, traceparent, span, principal)
            span.set("dbmesh.outcome", response.outcome)
        self.metrics.request(response.outcome, time.perf_counter() - start)
        return response

    async def _execute(
        self, request: GraphQLRequest, traceparent: str, span: Span, principal: Principal | None
    ) -> Response:
        view = self.view(principal)
        rows = None if view.admin else RowAccess(view, principal, self.model)
        prepared = view.preparation.prepare(request.query, request.operation_name, request.variables)
        if isinstance(prepared, Rejected):
            return Response({"errors": prepared.errors}, request_error=True, outcome="error")
        plan, document = prepared.plan, prepared.document
        if span.recording:
            span.set("graphql.operation.type", plan.operation)
            if (operation := get_operation_ast(document, request.operation_name)) and operation.name:
                span.set("graphql.operation.name", operation.name.value)
        limits = view.limits
        traced = self._wants_trace(request, view)
        execution = Execution(
            plan,
            view.index,
            self.traffic,
            prepared.variables,
            traceparent,
            default_limit=limits.default_limit,
            budget=ResponseBudget(limits.max_response_rows, limits.max_response_bytes),
            span=span,
            rows=rows,
            # A shared call belongs to no one request's trace: a traced request makes its own.
            coalesce=not span.recording and not traced,
            routes=traced,
        )
        execution.outcomes.update(seed(prepared.entities))
        started = time.perf_counter()
        if plan.mutations:
            execution.outcomes.update(
                await run_mutations(
                    plan, view.index, self.coordinator, prepared.variables, execution.routes, self.outbox, rows
                )
            )
        await execution.run()
        sync_status = await self.sync_status.read() if any(s.kind == "sync_status" for s in plan.selections) else []
        shaper = Shaper(plan, execution.outcomes, self.health.snapshot, self.pending_change, sync_status)
        shaped = shaper.data()
        for entities in prepared.entities:  # federation's `_entities` fields (router.entities)
            entities.shape(shaper, shaped)
        data: dict[str, Any] | None = shaped
        errors = shaper.errors
        if plan.introspection:
            result = execute(
                view.schema,
                document,
                root_value=data,
                variable_values=dict(request.variables or {}),
                operation_name=request.operation_name,
                field_resolver=_by_response_key,
            )
            assert not isinstance(result, Awaitable)
            data = result.data
            errors = errors + [dict(e.formatted) for e in result.errors or ()]
        body: dict[str, Any] = {}
        if errors:
            body["errors"] = errors
        body["data"] = data
        if traced:
            body["extensions"] = {
                "trace": {
                    "query": request.query,
                    "traceparent": traceparent,
                    "time_ms": round((time.perf_counter() - started) * 1000, 3),
                    "routes": execution.routes,
                    "failures": execution.failures,
                    "plan": plan_to_json(plan),
                }
            }
        return Response(body, outcome="partial" if errors else "ok", plan=plan)
