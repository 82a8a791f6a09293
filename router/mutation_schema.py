"""The GraphQL side of mutation fields (docs/reference.md §10), for `router.schema`.

For each object type `T` a mutation field writes, and only for those:

    input TInsert      { <every column> }            non-null where the column is non-null
    enum  TColumn      { <every column's GraphQL name> }
    input TOnConflict  { columns: [TColumn!]!  update: [TColumn!]! }
    input TSet         { <every column> }            all optional; null sets NULL
    type  TMutationResult { affectedRows: Int!  returning: [T!]! }

and the fields `insertX(objects: [TInsert!]!, onConflict: TOnConflict)`, `updateX(where:
TWhere!, set: TSet, inc: TInc)` and `deleteX(where: TWhere!)`, each returning a nullable `TMutationResult`
(nothing is applied when any field of the operation fails, and then every field is null).

Nullability of `TInsert`: the schema module says it. A column annotated `X | None` may be left
out or null; any other column must be given. The router builds its schema before it reaches any
database, so a database default is not known here: a column the database fills by default (an
identity, `now()`) that clients may leave out is declared `X | None` in the schema module.

    input TInc         { <every Int, Float and Decimal column> }   amounts to add; offered only
                       when T has such a column

`updateX(where:, set:, inc:)`: `inc` adds to numeric columns (the contract's `Update.inc`,
compiled by each resolver as `col = col + amount`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from graphql import (
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLEnumValue,
    GraphQLField,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
)

from dbmesh.schema.model import Column, MutationField, MutationKind, ObjectType, Scalar

__all__ = ["MUTATION_RESULT_FIELDS", "NUMERIC", "MutationTypes"]

MUTATION_RESULT_FIELDS = ("affectedRows", "returning")
NUMERIC = (Scalar.INT, Scalar.FLOAT, Scalar.DECIMAL)


class MutationTypes:
    """Builds the input, enum and result types of the types mutation fields write, once each."""

    def __init__(
        self,
        scalars: Mapping[Scalar, GraphQLScalarType],
        objects: Mapping[str, GraphQLObjectType],
        where: Callable[[ObjectType], GraphQLInputObjectType],
        columns: Callable[[ObjectType, str], tuple[Column, ...]] = lambda obj, _operation: obj.columns,
        *,
        upsert: bool = True,
    ) -> None:
        """`columns(obj, operation)`: the columns an insert or update may write; without `upsert`
        no `onConflict` (a role's schema: an upsert would update rows outside its filters, §14)."""
        self.scalars = scalars
        self.columns = columns
        self.upsert = upsert
        self.objects = objects
        self.where = where
        self._inputs: dict[str, GraphQLInputObjectType] = {}
        self._enums: dict[str, GraphQLEnumType] = {}
        self._results: dict[str, GraphQLObjectType] = {}

    def field(self, mutation: MutationField, obj: ObjectType) -> GraphQLField:
        """The GraphQL field of one mutation field, writing rows of `obj`."""
        result = self.result(obj)
        if mutation.kind is MutationKind.INSERT:
            args = {"objects": GraphQLArgument(GraphQLNonNull(GraphQLList(GraphQLNonNull(self.insert(obj)))))}
            if self.upsert:
                args["onConflict"] = GraphQLArgument(self.on_conflict(obj))
        elif mutation.kind is MutationKind.UPDATE:
            args = {"where": GraphQLArgument(GraphQLNonNull(self.where(obj))), "set": GraphQLArgument(self.set(obj))}
            inc = self.inc(obj)
            if inc is not None:
                args["inc"] = GraphQLArgument(inc)
        else:
            args = {"where": GraphQLArgument(GraphQLNonNull(self.where(obj)))}
        return GraphQLField(result, args, description=mutation.description)

    def insert(self, obj: ObjectType) -> GraphQLInputObjectType:
        name = f"{obj.name}Insert"
        if name not in self._inputs:
            fields = {
                c.graphql_name: GraphQLInputField(
                    self.scalars[c.scalar] if c.nullable else GraphQLNonNull(self.scalars[c.scalar])
                )
                for c in self.columns(obj, "insert")
            }
            self._inputs[name] = GraphQLInputObjectType(
                name, fields, description=f"One {obj.name} to insert; a nullable field may be left out."
            )
        return self._inputs[name]

    def set(self, obj: ObjectType) -> GraphQLInputObjectType:
        name = f"{obj.name}Set"
        if name not in self._inputs:
            fields = {c.graphql_name: GraphQLInputField(self.scalars[c.scalar]) for c in self.columns(obj, "update")}
            self._inputs[name] = GraphQLInputObjectType(
                name, fields, description=f"The columns of {obj.name} an update sets (null sets NULL)."
            )
        return self._inputs[name]

    def inc(self, obj: ObjectType) -> GraphQLInputObjectType | None:
        """`TInc`: the numeric columns of `obj`, or None when it has none."""
        name = f"{obj.name}Inc"
        numeric = [c for c in self.columns(obj, "update") if c.scalar in NUMERIC]
        if not numeric:
            return None
        if name not in self._inputs:
            fields = {c.graphql_name: GraphQLInputField(self.scalars[c.scalar]) for c in numeric}
            self._inputs[name] = GraphQLInputObjectType(
                name, fields, description=f"Amounts an update adds to numeric columns of {obj.name}."
            )
        return self._inputs[name]

    def column(self, obj: ObjectType) -> GraphQLEnumType:
        name = f"{obj.name}Column"
        if name not in self._enums:
            values = {c.graphql_name: GraphQLEnumValue(c.name) for c in self.columns(obj, "insert")}
            self._enums[name] = GraphQLEnumType(name, values, description=f"A column of {obj.name}.")
        return self._enums[name]

    def on_conflict(self, obj: ObjectType) -> GraphQLInputObjectType:
        name = f"{obj.name}OnConflict"
        if name not in self._inputs:
            columns = GraphQLNonNull(GraphQLList(GraphQLNonNull(self.column(obj))))
            fields = {
                "columns": GraphQLInputField(columns, description="A unique key of the table."),
                "update": GraphQLInputField(
                    columns, description="What a row that exists takes from the new one; [] leaves it as it is."
                ),
            }
            self._inputs[name] = GraphQLInputObjectType(name, fields, description="Insert, or update on conflict.")
        return self._inputs[name]

    def result(self, obj: ObjectType) -> GraphQLObjectType:
        name = f"{obj.name}MutationResult"
        if name not in self._results:
            item = self.objects[obj.name]
            self._results[name] = GraphQLObjectType(
                name,
                {
                    "affectedRows": GraphQLField(GraphQLNonNull(GraphQLInt), description="Rows written."),
                    "returning": GraphQLField(
                        GraphQLNonNull(GraphQLList(GraphQLNonNull(item))),
                        description="The rows as written (deleted rows as they were); relations are read after commit.",
                    ),
                },
            )
        return self._results[name]
