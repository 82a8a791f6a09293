"""The router: one GraphQL endpoint over every configured database (SPEC §5).

`Router.execute` takes a GraphQL request and returns the GraphQL response body: parse, check
depth, validate (parsed and validated documents are cached by text, plans by text, operation and
the values of `@skip`/`@include` variables; both caches are bounded), coerce variables, plan, run
the plan, shape the data, answer introspection through graphql-core, and attach the trace when
asked. `Router.start` connects to every resolver, checks the schema against what each database
has, and starts the background probes.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLResolveInfo,
    NoSchemaIntrospectionCustomRule,
    default_field_resolver,
    execute,
    get_variable_values,
    parse,
    specified_rules,
    validate,
)
from graphql.error import GraphQLSyntaxError

from dbmesh.config import Config
from dbmesh.errors import SchemaError
from dbmesh.router.depth import query_depth
from dbmesh.router.errors import CallError
from dbmesh.router.executor import Execution
from dbmesh.router.health import HealthMonitor
from dbmesh.router.metrics import Metrics
from dbmesh.router.plan import Plan, plan_to_json
from dbmesh.router.planner import Planner, directive_variables, get_operation
from dbmesh.router.schema import build_graphql_schema
from dbmesh.router.shaping import Shaper
from dbmesh.router.traffic import Traffic
from dbmesh.schema.check import schema_problems, served_types
from dbmesh.schema.model import SchemaModel

__all__ = ["GraphQLRequest", "Router"]

log = logging.getLogger("dbmesh.router")

K = TypeVar("K")
V = TypeVar("V")


class _Lru(Generic[K, V]):
    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self.items.get(key)
        if value is not None:
            self.items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self.items[key] = value
        self.items.move_to_end(key)
        while len(self.items) > self.size:
            self.items.popitem(last=False)


@dataclass(frozen=True)
class GraphQLRequest:
    query: str
    variables: Mapping[str, Any] | None = None
    operation_name: str | None = None
    extensions: Mapping[str, Any] | None = None


@dataclass
class _Document:
    document: DocumentNode | None
    errors: list[dict[str, Any]]
    directive_variables: tuple[str, ...] = ()


@dataclass
class Response:
    body: dict[str, Any]
    # A request error (parse, validation, variables): no `data` at all (GraphQL-over-HTTP 4xx).
    request_error: bool = False
    outcome: str = "ok"
    plan: Plan | None = field(default=None, repr=False)


def _request_error(message: str, code: str, error: GraphQLError | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"message": message}
    if error is not None and error.locations:
        out["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    out["extensions"] = {"code": code}
    return out


def _by_response_key(source: Any, info: GraphQLResolveInfo[Any], **args: Any) -> Any:
    """graphql-core's resolver over data dbmesh already shaped (keyed by response key)."""
    if isinstance(source, dict) and info.path.key in source:
        return source[info.path.key]
    return default_field_resolver(source, info, **args)


def new_traceparent() -> str:
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


class Router:
    def __init__(self, config: Config, model: SchemaModel) -> None:
        self.config = config
        self.model = model
        self.schema, self.index = build_graphql_schema(model)
        self.planner = Planner(self.schema, self.index)
        self.metrics = Metrics()
        self.traffic = Traffic(config, self.metrics)
        self.health = HealthMonitor(config, model, self.traffic, self.metrics)
        size = config.router.document_cache_size
        self._documents: _Lru[str, _Document] = _Lru(size)
        self._plans: _Lru[tuple[str, str | None, tuple[Any, ...]], Plan] = _Lru(size)
        self._rules = list(specified_rules)
        if not config.router.introspection:
            self._rules.append(NoSchemaIntrospectionCustomRule)

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self, *, check_schema: bool = True) -> None:
        await self.health.probe_all()
        if check_schema:
            await self.check_schema()
        self.health.start()

    async def stop(self) -> None:
        await self.health.stop()
        await self.traffic.close()

    async def check_schema(self) -> None:
        """Refuse to start when a database lacks a table or column a type it serves needs
        (a fallback database must have it too). A database that cannot be reached now is not
        checked: a warning says so."""
        for database in served_types(self.model):
            try:
                schema = await self.traffic.clients[database].schema()
            except CallError as exc:
                log.warning("cannot check the schema of %s now: %s", database, exc.message)
                continue
            tables = {c.name: {col.name for col in c.columns} for c in schema.collections}
            problems = schema_problems(self.model, database, tables)
            if problems:
                raise SchemaError(problems[0])

    # --- requests -------------------------------------------------------------------------------

    def _document(self, query: str) -> _Document:
        cached = self._documents.get(query)
        if cached is not None:
            return cached
        try:
            document = parse(query)
        except GraphQLSyntaxError as exc:
            doc = _Document(None, [_request_error(exc.message, "GRAPHQL_PARSE_FAILED", exc)])
        else:
            depth = query_depth(document)
            max_depth = self.config.router.max_depth
            if depth > max_depth:
                message = f"Query is too deep: depth {depth} exceeds the maximum of {max_depth}."
                doc = _Document(None, [_request_error(message, "QUERY_TOO_DEEP")])
            else:
                errors = validate(self.schema, document, self._rules)
                doc = _Document(
                    None if errors else document,
                    [_request_error(e.message, "GRAPHQL_VALIDATION_FAILED", e) for e in errors],
                    directive_variables(document),
                )
        self._documents.put(query, doc)
        return doc

    def plan(self, query: str, operation_name: str | None = None, variables: Mapping[str, Any] | None = None) -> Plan:
        """The plan of `query` (for `dbmesh plan`); raises ValueError with the document's errors.

        A plan depends on variables only through `@skip`/`@include`, so variables may be left out:
        arguments show as `$name`, and a directive on a missing variable counts as false."""
        doc = self._document(query)
        if doc.document is None:
            raise ValueError("; ".join(e["message"] for e in doc.errors))
        operation = get_operation(doc.document, operation_name)
        if operation is None:
            missing = f"unknown operation {operation_name!r}" if operation_name else "name the operation to plan"
            raise ValueError(missing)
        provided = dict(variables or {})
        definitions = [
            d
            for d in operation.variable_definitions or ()
            if d.variable.name.value in provided or d.default_value is not None
        ]
        coerced = get_variable_values(self.schema, definitions, provided)
        if isinstance(coerced, list):
            raise ValueError("; ".join(e.message for e in coerced))
        return self.planner.plan(doc.document, operation_name, coerced.coerced)

    def _prepare(self, request: GraphQLRequest) -> Response | tuple[Plan, DocumentNode, dict[str, Any]]:
        doc = self._document(request.query)
        if doc.document is None:
            return Response({"errors": doc.errors}, request_error=True, outcome="error")
        document = doc.document
        operation = get_operation(document, request.operation_name)
        if operation is None:
            name = request.operation_name
            message = f"Unknown operation named '{name}'." if name else "Must provide operation name."
            return Response(
                {"errors": [_request_error(message, "BAD_USER_INPUT")]}, request_error=True, outcome="error"
            )
        coerced = get_variable_values(self.schema, operation.variable_definitions or (), dict(request.variables or {}))
        if isinstance(coerced, list):
            errors = [_request_error(e.message, "BAD_USER_INPUT", e) for e in coerced]
            return Response({"errors": errors}, request_error=True, outcome="error")
        variables = coerced.coerced
        key = (request.query, request.operation_name, tuple(variables.get(v) for v in doc.directive_variables))
        plan = self._plans.get(key)
        if plan is None:
            plan = self.planner.plan(document, request.operation_name, variables)
            self._plans.put(key, plan)
        return plan, document, variables

    def _wants_trace(self, request: GraphQLRequest) -> bool:
        mode = self.config.router.tracing
        if mode == "always":
            return True
        return mode == "request" and bool((request.extensions or {}).get("trace"))

    async def execute(self, request: GraphQLRequest, traceparent: str | None = None) -> Response:
        start = time.perf_counter()
        response = await self._execute(request, traceparent or new_traceparent())
        self.metrics.request(response.outcome, time.perf_counter() - start)
        return response

    async def _execute(self, request: GraphQLRequest, traceparent: str) -> Response:
        prepared = self._prepare(request)
        if isinstance(prepared, Response):
            return prepared
        plan, document, variables = prepared
        execution = Execution(plan, self.index, self.traffic, variables, traceparent)
        started = time.perf_counter()
        await execution.run()
        shaper = Shaper(plan, execution.outcomes, self.health.snapshot)
        data: dict[str, Any] | None = shaper.data()
        errors = shaper.errors
        if plan.introspection:
            result = execute(
                self.schema,
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
        if self._wants_trace(request):
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
