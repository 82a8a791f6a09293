"""From GraphQL text to a plan, with no network: parse, check depth, validate, coerce variables
and plan (docs/reference.md §5). The router runs every request through `Preparation.prepare`;
`dbmesh plan` uses `Preparation.plan` on the same pipeline, without resolvers.

Both caches are bounded: validated documents by query text, plans by (text, operation, the values
of the variables `@skip`/`@include` read) — the only variables a plan depends on.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from graphql import (
    DocumentNode,
    GraphQLSchema,
    NoSchemaIntrospectionCustomRule,
    get_variable_values,
    parse,
    specified_rules,
    validate,
)
from graphql.error import GraphQLSyntaxError
from graphql.execution.values import VariableValues

from dbmesh.config import RouterConfig
from dbmesh.router.depth import query_depth
from dbmesh.router.graphql_errors import request_error
from dbmesh.router.plan import Plan
from dbmesh.router.planner import Planner, directive_variables, get_operation
from dbmesh.router.schema import SchemaIndex

__all__ = ["Preparation", "Prepared", "Rejected"]

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
class _Document:
    document: DocumentNode | None  # None: refused, see errors
    errors: tuple[dict[str, Any], ...]
    directive_variables: tuple[str, ...] = ()


@dataclass(frozen=True)
class Prepared:
    """A request ready to run: its plan, its document and its coerced variables."""

    plan: Plan
    document: DocumentNode
    variables: dict[str, Any]


@dataclass(frozen=True)
class Rejected:
    """A request refused as a whole (no `data`): its GraphQL errors."""

    errors: list[dict[str, Any]]


class Preparation:
    def __init__(self, schema: GraphQLSchema, index: SchemaIndex, config: RouterConfig) -> None:
        self.schema = schema
        self.config = config
        self.planner = Planner(schema, index)
        self._documents: _Lru[str, _Document] = _Lru(config.document_cache_size)
        self._plans: _Lru[tuple[str, str | None, tuple[Any, ...]], Plan] = _Lru(config.document_cache_size)
        self._rules = list(specified_rules)
        if not config.introspection:
            self._rules.append(NoSchemaIntrospectionCustomRule)

    def document(self, query: str) -> _Document:
        """`query` parsed, depth-checked and validated (cached by text)."""
        cached = self._documents.get(query)
        if cached is not None:
            return cached
        doc = self._check(query)
        self._documents.put(query, doc)
        return doc

    def _check(self, query: str) -> _Document:
        try:
            document = parse(query)
        except GraphQLSyntaxError as exc:
            return _Document(None, (request_error(exc.message, "GRAPHQL_PARSE_FAILED", exc),))
        depth = query_depth(document)
        if depth > self.config.max_depth:
            message = f"Query is too deep: depth {depth} exceeds the maximum of {self.config.max_depth}."
            return _Document(None, (request_error(message, "QUERY_TOO_DEEP"),))
        errors = validate(self.schema, document, self._rules)
        if errors:
            return _Document(None, tuple(request_error(e.message, "GRAPHQL_VALIDATION_FAILED", e) for e in errors))
        return _Document(document, (), directive_variables(document))

    def prepare(
        self, query: str, operation_name: str | None, variables: Mapping[str, Any] | None
    ) -> Prepared | Rejected:
        """The plan of a request, or why the request is refused."""
        doc = self.document(query)
        if doc.document is None:
            return Rejected(list(doc.errors))
        operation = get_operation(doc.document, operation_name)
        if operation is None:
            message = (
                f"Unknown operation named '{operation_name}'." if operation_name else "Must provide operation name."
            )
            return Rejected([request_error(message, "BAD_USER_INPUT")])
        coerced = get_variable_values(self.schema, operation.variable_definitions or (), dict(variables or {}))
        if isinstance(coerced, list):
            return Rejected([request_error(e.message, "BAD_USER_INPUT", e) for e in coerced])
        return Prepared(self._plan(query, doc, operation_name, coerced), doc.document, coerced.coerced)

    def _plan(self, query: str, doc: _Document, operation_name: str | None, variables: VariableValues) -> Plan:
        assert doc.document is not None
        key = (query, operation_name, tuple(variables.coerced.get(v) for v in doc.directive_variables))
        plan = self._plans.get(key)
        if plan is None:
            plan = self.planner.plan(doc.document, operation_name, variables)
            self._plans.put(key, plan)
        return plan

    def plan(self, query: str, operation_name: str | None = None, variables: Mapping[str, Any] | None = None) -> Plan:
        """The plan of `query` (for `dbmesh plan`); raises ValueError with the document's errors.

        A plan depends on variables only through `@skip`/`@include`, so variables may be left out:
        arguments show as `$name`, and a directive on a missing variable counts as false."""
        doc = self.document(query)
        if doc.document is None:
            raise ValueError("; ".join(e["message"] for e in doc.errors))
        operation = get_operation(doc.document, operation_name)
        if operation is None:
            raise ValueError(
                f"unknown operation {operation_name!r}" if operation_name else "name the operation to plan"
            )
        provided = dict(variables or {})
        definitions = []
        for definition in operation.variable_definitions or ():
            name = definition.variable.name.value
            if name in provided or definition.default_value is not None:
                definitions.append(definition)
            elif name in doc.directive_variables:
                provided[name] = False
                definitions.append(definition)
        coerced = get_variable_values(self.schema, definitions, provided)
        if isinstance(coerced, list):
            raise ValueError("; ".join(e.message for e in coerced))
        return self._plan(query, doc, operation_name, coerced)
