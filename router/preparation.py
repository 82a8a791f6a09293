"""From GraphQL text to a plan, with no network: check the text's size, parse, check the
document's limits (depth, fragment nesting, aliases, root fields: `router.limits`), validate,
coerce variables, plan, and check the plan's limits and cost for these variables (`router.cost`)
(docs/reference.md §5, §14). The router runs every request through `Preparation.prepare`;
`dbmesh plan` uses `Preparation.plan` on the same pipeline, without resolvers. With
`[router] federation`, an operation selecting `_entities` or `_service` is planned by
`router.entities`, and its representations are checked and costed here (docs/reference.md §15).

Both caches are bounded by entries (`document_cache_size`) and by bytes (`document_cache_bytes`,
each cache on its own): validated documents by query text, plans by (text, operation, the values
of the variables `@skip`/`@include` read) — the only variables a plan depends on. An entry weighs
its query text's UTF-8 bytes plus `TOKEN_BYTES` per token of its document: a parsed document takes
some 90 to 280 times its text in memory (graphql-core's nodes and token list, measured), so the
text alone would let 16 MiB of text hold gigabytes. A refused document weighs its text only.
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
from dbmesh.router.cost import estimate, request_limits
from dbmesh.router.entities import EntityPlan, EntityRequest, FederationPlanner
from dbmesh.router.graphql_errors import request_error
from dbmesh.router.limits import document_limits, max_tokens, text_limit, token_limit_error
from dbmesh.router.plan import Plan
from dbmesh.router.planner import Planner, directive_variables, get_operation
from dbmesh.router.schema import SchemaIndex

__all__ = ["TOKEN_BYTES", "Lru", "Preparation", "Prepared", "Rejected"]

K = TypeVar("K")
V = TypeVar("V")

TOKEN_BYTES = 512  # memory of one parsed token, rounded up from graphql-core's measured 440-560


class Lru(Generic[K, V]):
    """Least recently used first out, at most `size` entries weighing at most `max_bytes`."""

    def __init__(self, size: int, max_bytes: int) -> None:
        self.size = size
        self.max_bytes = max_bytes
        self.bytes = 0
        self.items: OrderedDict[K, tuple[V, int]] = OrderedDict()

    def get(self, key: K) -> V | None:
        found = self.items.get(key)
        if found is None:
            return None
        self.items.move_to_end(key)
        return found[0]

    def put(self, key: K, value: V, weight: int) -> None:
        if weight > self.max_bytes or self.size == 0:
            return
        if (old := self.items.pop(key, None)) is not None:
            self.bytes -= old[1]
        self.items[key] = (value, weight)
        self.bytes += weight
        while len(self.items) > self.size or self.bytes > self.max_bytes:
            _, (_, dropped) = self.items.popitem(last=False)
            self.bytes -= dropped


@dataclass(frozen=True)
class _Document:
    document: DocumentNode | None  # None: refused, see errors
    errors: tuple[dict[str, Any], ...]
    directive_variables: tuple[str, ...] = ()
    weight: int = 0  # what caching it costs (see the module docstring)


# A cached plan, and the `_entities` fields it serves (router.entities; none without federation).
_Planned = tuple[Plan, tuple[EntityPlan, ...]]


@dataclass(frozen=True)
class Prepared:
    """A request ready to run: its plan, its document and its coerced variables."""

    plan: Plan
    document: DocumentNode
    variables: dict[str, Any]
    entities: tuple[EntityRequest, ...] = ()  # the representations of each `_entities` field


@dataclass(frozen=True)
class Rejected:
    """A request refused as a whole (no `data`): its GraphQL errors."""

    errors: list[dict[str, Any]]


class Preparation:
    def __init__(self, schema: GraphQLSchema, index: SchemaIndex, config: RouterConfig) -> None:
        self.schema = schema
        self.config = config
        self.planner = Planner(schema, index, default_limit=config.default_limit)
        self.federation = FederationPlanner(schema, self.planner, index.entities) if config.federation else None
        size, max_bytes = config.document_cache_size, config.document_cache_bytes
        self._documents: Lru[str, _Document] = Lru(size, max_bytes)
        self._plans: Lru[tuple[str, str | None, tuple[Any, ...]], _Planned] = Lru(size, max_bytes)
        self._rules = list(specified_rules)
        if not config.introspection:
            self._rules.append(NoSchemaIntrospectionCustomRule)

    def cache_usage(self) -> dict[str, tuple[int, int]]:
        """(entries, bytes) the document and the plan cache hold now: at most `document_cache_size`
        entries and `document_cache_bytes` bytes each."""
        return {
            "documents": (len(self._documents.items), self._documents.bytes),
            "plans": (len(self._plans.items), self._plans.bytes),
        }

    def document(self, query: str) -> _Document:
        """`query` size-checked, parsed, limit-checked and validated (cached by text)."""
        size = len(query.encode("utf-8", "surrogatepass"))
        if (too_large := text_limit(size, self.config)) is not None:
            return _Document(None, (too_large,))
        cached = self._documents.get(query)
        if cached is not None:
            return cached
        doc = self._check(query, size)
        self._documents.put(query, doc, doc.weight)
        return doc

    def _check(self, query: str, size: int) -> _Document:
        try:
            document = parse(query, max_tokens=max_tokens(self.config))
        except GraphQLSyntaxError as exc:
            error = token_limit_error(exc.message, self.config) or request_error(
                exc.message, "GRAPHQL_PARSE_FAILED", exc
            )
            return _Document(None, (error,), weight=size)
        if (refused := document_limits(document, self.config)) is not None:
            return _Document(None, (refused,), weight=size)
        errors = validate(self.schema, document, self._rules)
        if errors:
            refusals = tuple(request_error(e.message, "GRAPHQL_VALIDATION_FAILED", e) for e in errors)
            return _Document(None, refusals, weight=size)
        return _Document(document, (), directive_variables(document), size + TOKEN_BYTES * _tokens(document))

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
        plan, entity_plans = self._plan(query, doc, operation_name, coerced)
        if (refused := request_limits(plan, coerced.coerced, self.config)) is not None:
            return Rejected([refused])
        if not entity_plans:
            return Prepared(plan, doc.document, coerced.coerced)
        assert self.federation is not None
        base_cost = estimate(plan, coerced.coerced, self.config)
        entities = self.federation.request(entity_plans, coerced, self.config, base_cost)
        if isinstance(entities, list):
            return Rejected(entities)
        return Prepared(plan, doc.document, coerced.coerced, entities)

    def _plan(self, query: str, doc: _Document, operation_name: str | None, variables: VariableValues) -> _Planned:
        assert doc.document is not None
        key = (query, operation_name, tuple(variables.coerced.get(v) for v in doc.directive_variables))
        planned = self._plans.get(key)
        if planned is None:
            if self.federation is not None:
                planned = self.federation.plan(doc.document, operation_name, variables)
            else:
                planned = (self.planner.plan(doc.document, operation_name, variables), ())
            self._plans.put(key, planned, doc.weight)
        return planned

    def is_mutation(self, query: str, operation_name: str | None) -> bool:
        """Whether the operation `operation_name` selects in `query` is a mutation, valid or not
        (False when the text is too large or does not parse: `prepare` reports that)."""
        doc = self.document(query)
        document = doc.document
        if document is None:
            if text_limit(len(query.encode()), self.config) is not None:
                return False
            try:
                document = parse(query, max_tokens=max_tokens(self.config))
            except GraphQLSyntaxError:
                return False
        operation = get_operation(document, operation_name)
        return operation is not None and operation.operation.value == "mutation"

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
        return self._plan(query, doc, operation_name, coerced)[0]


def _tokens(document: DocumentNode) -> int:
    """How many tokens (comments included) the parser kept for `document`."""
    count = 0
    token = document.loc.start_token if document.loc is not None else None
    while token is not None:
        count += 1
        token = token.next
    return count
