"""Build the GraphQL schema the router serves from the schema model (docs/reference.md §4, §6).

Every object type becomes a GraphQL object type with its columns, its consistency fields and its
relations. Relations and database-served root fields are nullable whatever their annotation (their
database can be down, their row missing: docs/reference.md §4, §5 partial results); list items keep their
non-null-ness. Every list field takes `where`, `orderBy`, `limit` and `offset`. `databaseStatus`
is built in. Mutation fields and their types come from `router.mutation_schema`; with
`federation`, `_service`, `_entities` and their types from `router.federation`. `SchemaIndex`
maps each GraphQL field back to what serves it, for the planner.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from graphql import (
    GraphQLArgument,
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLField,
    GraphQLFloat,
    GraphQLID,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLString,
)

from dbmesh.router.federation import ENTITIES, Entity, Subgraph, subgraph_sdl
from dbmesh.router.mutation_schema import MutationTypes
from dbmesh.router.scalars import DateScalar, DateTimeScalar, DecimalScalar, JSONScalar
from dbmesh.router.sync_status import SYNC_STATUS, sync_status_type
from dbmesh.schema.model import (
    MISSING,
    Argument,
    ArgumentKind,
    Column,
    MutationField,
    ObjectType,
    Relation,
    RootField,
    Scalar,
    SchemaModel,
)

__all__ = ["DATABASE_STATUS", "OPERATORS", "FieldBinding", "SchemaIndex", "Visibility", "build_graphql_schema"]

DATABASE_STATUS = "databaseStatus"

_SCALARS: dict[Scalar, GraphQLScalarType] = {
    Scalar.STRING: GraphQLString,
    Scalar.INT: GraphQLInt,
    Scalar.FLOAT: GraphQLFloat,
    Scalar.BOOLEAN: GraphQLBoolean,
    Scalar.ID: GraphQLID,
    Scalar.DATETIME: DateTimeScalar,
    Scalar.DATE: DateScalar,
    Scalar.DECIMAL: DecimalScalar,
    Scalar.JSON: JSONScalar,
}

# Which `where` operators each scalar's comparison input offers.
_ORDERED = ("_eq", "_neq", "_gt", "_gte", "_lt", "_lte", "_in", "_nin", "_is_null")
OPERATORS: dict[Scalar, tuple[str, ...]] = {
    Scalar.STRING: (*_ORDERED, "_like", "_ilike"),
    Scalar.INT: _ORDERED,
    Scalar.FLOAT: _ORDERED,
    Scalar.ID: ("_eq", "_neq", "_in", "_nin", "_is_null"),
    Scalar.DATETIME: _ORDERED,
    Scalar.DATE: _ORDERED,
    Scalar.DECIMAL: _ORDERED,
    Scalar.BOOLEAN: ("_eq", "_neq", "_is_null"),
    Scalar.JSON: ("_is_null",),
}


@dataclass(frozen=True)
class Visibility:
    """What one role's schema shows (`router.access`, docs/reference.md §14): the types it may
    read, with the columns it may read; the (type, insert|update|delete) it may write, with the
    columns it may write; and whether `DatabaseStatus.error` and `syncStatus` are there. A relation to a hidden type,
    a root field returning one and an argument filtering a hidden column are left out."""

    columns: Mapping[str, frozenset[str]]
    writes: Mapping[tuple[str, str], frozenset[str]]
    status_error: bool = False


BindingKind = Literal["column", "relation", "source_database", "last_sync", "is_stale"]


@dataclass(frozen=True)
class FieldBinding:
    """What serves one field of an object type."""

    kind: BindingKind
    column: Column | None = None
    relation: Relation | None = None


@dataclass
class SchemaIndex:
    model: SchemaModel
    fields: dict[tuple[str, str], FieldBinding] = field(default_factory=dict)
    roots: dict[str, RootField] = field(default_factory=dict)
    mutations: dict[str, MutationField] = field(default_factory=dict)
    entities: dict[str, Entity] = field(default_factory=dict)  # federation's entity types, by name

    def binding(self, type_name: str, field_name: str) -> FieldBinding:
        return self.fields[(type_name, field_name)]


def _graphql_default(value: Any) -> Any:
    if isinstance(value, (UUID, Decimal)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_graphql_default(v) for v in value]
    return value


class _Builder:
    def __init__(self, model: SchemaModel, federation: bool, visibility: Visibility | None = None) -> None:
        self.model = model
        self.federation = federation
        self.visibility = visibility
        self.index = SchemaIndex(model)
        self.objects: dict[str, GraphQLObjectType] = {}
        self.inputs: dict[str, GraphQLInputObjectType] = {}
        self.direction = GraphQLEnumType(
            "OrderDirection",
            {"ASC": "ASC", "DESC": "DESC"},
            description="ASC sorts NULLs last, DESC sorts them first, on every engine.",
        )

    # --- what a role sees (all of it without a Visibility) --------------------------------------

    def visible(self, type_name: str) -> bool:
        return self.visibility is None or type_name in self.visibility.columns

    def columns(self, obj: ObjectType) -> tuple[Column, ...]:
        if self.visibility is None:
            return obj.columns
        shown = self.visibility.columns.get(obj.name, frozenset())
        return tuple(c for c in obj.columns if c.name in shown)

    def writable(self, obj: ObjectType, operation: str) -> tuple[Column, ...]:
        if self.visibility is None:
            return obj.columns
        allowed = self.visibility.writes.get((obj.name, operation), frozenset())
        return tuple(c for c in obj.columns if c.name in allowed)

    def shown_arguments(self, target: ObjectType, declared: tuple[Argument, ...]) -> tuple[Argument, ...] | None:
        """The declared arguments a role may use (not those filtering a column it cannot read);
        None when a required one is hidden, which hides the field."""
        if self.visibility is None:
            return declared
        readable = {c.name for c in self.columns(target)}
        shown = []
        for arg in declared:
            if arg.kind is ArgumentKind.FILTER and (arg.column or arg.name) not in readable:
                if not arg.nullable and arg.default is MISSING:
                    return None
                continue
            shown.append(arg)
        return tuple(shown)

    # --- inputs -------------------------------------------------------------------------------

    def comparison(self, scalar: Scalar) -> GraphQLInputObjectType:
        name = f"{_SCALARS[scalar].name}Comparison"
        if name not in self.inputs:
            graphql_scalar = _SCALARS[scalar]
            fields: dict[str, GraphQLInputField] = {}
            for op in OPERATORS[scalar]:
                if op in ("_in", "_nin"):
                    fields[op] = GraphQLInputField(GraphQLList(GraphQLNonNull(graphql_scalar)))
                elif op == "_is_null":
                    fields[op] = GraphQLInputField(GraphQLBoolean)
                else:
                    fields[op] = GraphQLInputField(graphql_scalar)
            self.inputs[name] = GraphQLInputObjectType(name, fields)
        return self.inputs[name]

    def where(self, obj: ObjectType) -> GraphQLInputObjectType:
        name = f"{obj.name}Where"
        if name not in self.inputs:

            def fields() -> dict[str, GraphQLInputField]:
                result = {c.graphql_name: GraphQLInputField(self.comparison(c.scalar)) for c in self.columns(obj)}
                this = self.inputs[name]
                result["_and"] = GraphQLInputField(GraphQLList(GraphQLNonNull(this)))
                result["_or"] = GraphQLInputField(GraphQLList(GraphQLNonNull(this)))
                result["_not"] = GraphQLInputField(this)
                return result

            self.inputs[name] = GraphQLInputObjectType(
                name, fields, description=f"A filter on {obj.name}; fields combine with AND."
            )
        return self.inputs[name]

    def order_by(self, obj: ObjectType) -> GraphQLInputObjectType:
        name = f"{obj.name}OrderBy"
        if name not in self.inputs:
            fields = {c.graphql_name: GraphQLInputField(self.direction) for c in self.columns(obj)}
            self.inputs[name] = GraphQLInputObjectType(
                name, fields, description=f"One sort key of {obj.name}: exactly one field per item."
            )
        return self.inputs[name]

    def arguments(self, target: ObjectType, many: bool, declared: tuple[Argument, ...]) -> dict[str, GraphQLArgument]:
        args: dict[str, GraphQLArgument] = {}
        for arg in declared:
            if arg.kind in (ArgumentKind.LIMIT, ArgumentKind.OFFSET):
                base: GraphQLInputType = GraphQLInt
            else:
                base = _SCALARS[arg.scalar]
            if arg.is_list:
                base = GraphQLList(GraphQLNonNull(base))
            arg_type: GraphQLInputType = base if arg.nullable else GraphQLNonNull(base)  # type: ignore[arg-type]
            default = _graphql_default(arg.default) if arg.default is not MISSING else None
            if arg.default is not MISSING:
                args[arg.graphql_name] = GraphQLArgument(arg_type, default_value=default)
            else:
                args[arg.graphql_name] = GraphQLArgument(arg_type)
        if many:
            args.setdefault("where", GraphQLArgument(self.where(target)))
            args.setdefault("orderBy", GraphQLArgument(GraphQLList(GraphQLNonNull(self.order_by(target)))))
            args.setdefault("limit", GraphQLArgument(GraphQLInt))
            args.setdefault("offset", GraphQLArgument(GraphQLInt))
        return args

    # --- outputs ------------------------------------------------------------------------------

    def served_type(self, target: str, many: bool, item_nullable: bool) -> GraphQLOutputType:
        """A relation's or database-served root field's type: always nullable."""
        obj = self.objects[target]
        if many:
            return GraphQLList(obj if item_nullable else GraphQLNonNull(obj))
        return obj

    def object_type(self, obj: ObjectType) -> GraphQLObjectType:
        def fields() -> dict[str, GraphQLField]:
            result: dict[str, GraphQLField] = {}
            for column in self.columns(obj):
                graphql_type: GraphQLOutputType = _SCALARS[column.scalar]
                result[column.graphql_name] = GraphQLField(
                    graphql_type if column.nullable else GraphQLNonNull(graphql_type)  # type: ignore[arg-type]
                )
                kind: BindingKind = "last_sync" if column.name == obj.last_sync_column else "column"
                self.index.fields[(obj.name, column.graphql_name)] = FieldBinding(kind, column=column)
            if obj.has_source_database:
                result["sourceDatabase"] = GraphQLField(
                    GraphQLNonNull(GraphQLString), description="The database that served this object."
                )
                self.index.fields[(obj.name, "sourceDatabase")] = FieldBinding("source_database")
            if obj.has_is_stale:
                result["isStale"] = GraphQLField(
                    GraphQLBoolean, description=f"lastSync is older than {obj.max_staleness} (null when unknown)."
                )
                self.index.fields[(obj.name, "isStale")] = FieldBinding("is_stale")
            for rel in obj.relations:
                target = self.model.types[rel.target]
                arguments = self.shown_arguments(target, rel.arguments)
                if not self.visible(rel.target) or arguments is None:
                    continue
                result[rel.graphql_name] = GraphQLField(
                    self.served_type(rel.target, rel.many, rel.item_nullable),
                    self.arguments(target, rel.many, arguments),
                    description=rel.description,
                )
                self.index.fields[(obj.name, rel.graphql_name)] = FieldBinding("relation", relation=rel)
            return result

        return GraphQLObjectType(obj.name, fields, description=obj.description)

    def database_status(self) -> GraphQLObjectType:
        return GraphQLObjectType(
            "DatabaseStatus",
            {
                "name": GraphQLField(GraphQLNonNull(GraphQLString)),
                "engine": GraphQLField(GraphQLNonNull(GraphQLString)),
                "connected": GraphQLField(GraphQLNonNull(GraphQLBoolean)),
                "latency_ms": GraphQLField(GraphQLFloat, description="The last probe's round trip, in ms."),
                "last_check": GraphQLField(DateTimeScalar, description="When the last probe finished."),
                "circuit": GraphQLField(GraphQLNonNull(GraphQLString), description="closed, open or half_open."),
                **(
                    {"error": GraphQLField(GraphQLString)}
                    if self.visibility is None or self.visibility.status_error
                    else {}
                ),
            },
            description="A configured database, from the router's background probes (docs/reference.md §6).",
        )

    def build(self) -> tuple[GraphQLSchema, SchemaIndex]:
        for obj in self.model.types.values():
            if self.visible(obj.name):
                self.objects[obj.name] = self.object_type(obj)
        query_fields: dict[str, GraphQLField] = {}
        for root in self.model.query:
            target = self.model.types[root.target]
            arguments = self.shown_arguments(target, root.arguments)
            if not self.visible(root.target) or arguments is None:
                continue
            if root.source is None:  # composite: a virtual object built from the arguments
                root_type: GraphQLOutputType = self.objects[root.target]
            else:
                root_type = self.served_type(root.target, root.many, root.item_nullable)
            query_fields[root.graphql_name] = GraphQLField(
                root_type, self.arguments(target, root.many, arguments), description=root.description
            )
            self.index.roots[root.graphql_name] = root
        query_fields[DATABASE_STATUS] = GraphQLField(
            GraphQLNonNull(GraphQLList(GraphQLNonNull(self.database_status()))),
            description="Every configured database, as the background probes last saw it.",
        )
        if self.visibility is None or self.visibility.status_error:  # operators' detail: privileged roles only
            query_fields[SYNC_STATUS] = GraphQLField(
                GraphQLNonNull(GraphQLList(GraphQLNonNull(sync_status_type()))),
                description="Every [[sync]] job of the config, from its state in its target.",
            )
        subgraph = Subgraph(self.model, self.objects) if self.federation else None
        if subgraph is not None:
            query_fields.update(subgraph.fields())
            self.index.entities = subgraph.entities
            if subgraph.entities:
                self.index.roots[ENTITIES] = subgraph.root_field()
        query = GraphQLObjectType("Query", query_fields)
        schema = GraphQLSchema(query, self.mutation(), types=list(self.objects.values()))
        if subgraph is not None:
            subgraph.sdl = subgraph_sdl(schema, list(subgraph.entities))
        return schema, self.index

    def mutation(self) -> GraphQLObjectType | None:
        mutations = [
            m
            for m in self.model.mutation
            if self.visibility is None
            or (self.visible(m.target) and (m.target, m.kind.value) in self.visibility.writes)
        ]
        if not mutations:
            return None
        types = MutationTypes(_SCALARS, self.objects, self.where, self.writable, upsert=self.visibility is None)
        fields: dict[str, GraphQLField] = {}
        for mutation in mutations:
            fields[mutation.graphql_name] = types.field(mutation, self.model.types[mutation.target])
            self.index.mutations[mutation.graphql_name] = mutation
        return GraphQLObjectType("Mutation", fields)


def build_graphql_schema(
    model: SchemaModel, *, federation: bool = False, visibility: Visibility | None = None
) -> tuple[GraphQLSchema, SchemaIndex]:
    """The schema served over `model`; with `federation`, an Apollo Federation 2 subgraph's; with
    `visibility`, only what one role may see and do (docs/reference.md §14)."""
    return _Builder(model, federation, visibility).build()
