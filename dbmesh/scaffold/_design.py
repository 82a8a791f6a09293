"""What `dbmesh init` writes, worked out from each database's GetSchema (docs/reference.md §15),
before any text is written (`_render` turns it into the module).

- **Types.** One per table or view, named by `_names.class_name`. A table found in several
  databases is served by the first of them in the configuration; the others are named in its
  docstring (fallbacks are not guessed). dbmesh's own `dbmesh_*` tables are left out.
- **Columns.** Python types from the logical types the resolvers report; a nullable column is
  `X | None`. A column whose name cannot be a class attribute (not an identifier, a keyword,
  a `__` name, another column's GraphQL name) or that the DSL reads as a consistency field
  (`source_database`, `is_stale`, a `last_sync` that is not a timestamp) is left out with a note.
- **Relations**, each with an explicit `on=`, both directions:
  1. from each foreign key between two tables served by the same database: many-to-one on the
     referencing type, and on the referenced type one-to-one (the key columns are the referencing
     table's primary or a unique key) or one-to-many;
  2. from each `<type>_id` column no foreign key covers, onto the single-column primary key of the
     type whose snake_case name is `<type>` (any database, this one included), when the two
     columns' types agree (a string and a UUID agree).
- **Root fields.** Per type, a list field named as its table and a by-key field named as the type
  in snake_case taking the primary key's columns (else the first unique key's); none for a type
  without either. No fallbacks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.scaffold._names import FieldNames, class_name, field_names, is_attribute
from dbmesh.schema.naming import table_name, to_camel, to_snake

__all__ = ["Column", "Relation", "RootField", "SchemaDesign", "TypeDesign", "design"]

SYSTEM_PREFIX = "dbmesh_"
_PYTHON = {
    pb.LOGICAL_TYPE_STRING: "str",
    pb.LOGICAL_TYPE_INT: "int",
    pb.LOGICAL_TYPE_FLOAT: "float",
    pb.LOGICAL_TYPE_BOOLEAN: "bool",
    pb.LOGICAL_TYPE_UUID: "UUID",
    pb.LOGICAL_TYPE_DATETIME: "datetime",
    pb.LOGICAL_TYPE_DATE: "date",
    pb.LOGICAL_TYPE_DECIMAL: "Decimal",
    pb.LOGICAL_TYPE_JSON: "dict",
}
_KEY_LIKE = frozenset({"str", "UUID"})


@dataclass(frozen=True)
class Column:
    name: str
    annotation: str  # "UUID", "str", ...
    nullable: bool


@dataclass(frozen=True)
class Relation:
    name: str
    target: str  # a class name
    database: str
    many: bool
    on: tuple[tuple[str, str], ...]  # (target column, source column)
    description: str


@dataclass
class TypeDesign:
    name: str
    table: str
    database: str
    is_view: bool
    also_in: list[str]
    columns: list[Column]
    primary_key: tuple[str, ...]
    key: tuple[str, ...]  # primary key, else the first unique key; () for none
    unique: list[tuple[str, ...]]  # the primary key and every unique key
    notes: list[str] = field(default_factory=list)
    referencing: set[str] = field(default_factory=set)  # columns a foreign-key relation uses
    relations: list[Relation] = field(default_factory=list)
    names: FieldNames = field(default_factory=FieldNames)

    @property
    def plural(self) -> str:
        """The name of a field with every row of this type (`order_items`)."""
        return field_names(self.table, self.name)[0]

    @property
    def single(self) -> str:
        """The name of a field with one row of this type (`order_item`)."""
        return field_names(self.table, self.name)[1]

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


@dataclass(frozen=True)
class RootField:
    name: str
    target: str
    database: str
    many: bool
    arguments: tuple[tuple[str, str], ...]  # (name, annotation)
    description: str


@dataclass
class SchemaDesign:
    types: list[TypeDesign]
    roots: list[RootField]
    notes: list[str]


def design(databases: Sequence[str], schemas: Mapping[str, pb.Schema]) -> SchemaDesign:
    """The module for `schemas` (database name -> its GetSchema), `databases` in config order."""
    notes: list[str] = []
    types = _types(databases, schemas, notes)
    by_table = {t.table: t for t in types}
    for t in types:
        _foreign_key_relations(t, _collection(schemas[t.database], t.table), by_table)
    for t in types:
        _naming_relations(t, types)
    return SchemaDesign(types, _roots(types, notes), notes)


def _collection(schema: pb.Schema, name: str) -> pb.Collection:
    return next(c for c in schema.collections if c.name == name)


def _types(databases: Sequence[str], schemas: Mapping[str, pb.Schema], notes: list[str]) -> list[TypeDesign]:
    types: dict[str, TypeDesign] = {}
    for database in databases:
        for collection in sorted(schemas[database].collections, key=lambda c: c.name):
            if collection.name.startswith(SYSTEM_PREFIX):
                continue
            if collection.name in types:
                types[collection.name].also_in.append(database)
                continue
            designed = _type(collection, database, {t.name for t in types.values()})
            if designed.columns:
                types[collection.name] = designed
            else:
                notes.append(f"{database}.{collection.name} is left out: none of its columns can be a field")
    return list(types.values())


def _type(collection: pb.Collection, database: str, taken: set[str]) -> TypeDesign:
    designed = TypeDesign(
        name=class_name(collection.name, taken),
        table=collection.name,
        database=database,
        is_view=collection.is_view,
        also_in=[],
        columns=[],
        primary_key=(),
        key=(),
        unique=[],
    )
    for column in collection.columns:
        annotation = _PYTHON.get(column.type, "str")
        problem = _column_problem(column.name, annotation, designed.names)
        if problem:
            designed.notes.append(f"column {column.name!r} is left out: {problem}")
            continue
        designed.columns.append(Column(column.name, annotation, column.nullable))
        designed.names.take(column.name)
    present = {c.name for c in designed.columns}
    keys = [tuple(collection.primary_key)] if collection.primary_key else []
    keys += [tuple(k.columns) for k in collection.unique_keys]
    designed.unique = [k for k in keys if k and set(k) <= present]
    designed.key = designed.unique[0] if designed.unique else ()
    if collection.primary_key and designed.key == tuple(collection.primary_key):
        designed.primary_key = designed.key
    return designed


def _column_problem(name: str, annotation: str, names: FieldNames) -> str:
    if not is_attribute(name):
        return "not a Python identifier" if not name.isidentifier() else "a Python keyword or a __ name"
    if name in ("source_database", "is_stale"):
        return f"{name} is a consistency field in the schema DSL"
    if name == "last_sync" and annotation != "datetime":
        return "the schema DSL reads last_sync as a timestamp"
    if not names.free(name):
        return f"another column is the GraphQL field {to_camel(name)!r} too"
    return ""


def _relate(
    source: TypeDesign,
    target: TypeDesign,
    pairs: Sequence[tuple[str, str]],
    forward: str,
    why: str,
) -> None:
    """`source.<column> = target.<referenced>` for each pair: a many-to-one relation on `source`
    (named `forward` when free) and its inverse on `target`, one-to-one when the columns are
    unique in `source`. `why` ends both descriptions."""
    columns = tuple(c for c, _ in pairs)
    source.relations.append(
        Relation(
            name=source.names.claim(forward, to_snake(target.name)),
            target=target.name,
            database=target.database,
            many=False,
            on=tuple((r, c) for c, r in pairs),
            description=f"The row of {target.table} this one references ({why}).",
        )
    )
    one = set(columns) in [set(k) for k in source.unique]
    base = source.single if one else source.plural
    fallback = to_snake(source.name) if one else table_name(source.name)
    target.relations.append(
        Relation(
            name=target.names.claim(base, f"{base}_by_{source.relations[-1].name}", fallback),
            target=source.name,
            database=source.database,
            many=not one,
            on=tuple(pairs),
            description=f"The {'row' if one else 'rows'} of {source.table} referencing this one ({why}).",
        )
    )


def _foreign_key_relations(source: TypeDesign, collection: pb.Collection, by_table: Mapping[str, TypeDesign]) -> None:
    for key in collection.foreign_keys:
        target = by_table.get(key.referenced_collection)
        pairs = list(zip(key.columns, key.referenced_columns, strict=True))
        if (
            target is None
            or target.database != source.database
            or not all(source.column(c) and target.column(r) for c, r in pairs)
        ):
            continue
        named = f"foreign key {key.name}" if key.name else "a foreign key"
        shown = ", ".join(f"{source.table}.{c} -> {target.table}.{r}" for c, r in pairs)
        forward = pairs[0][0].removesuffix("_id") if len(pairs) == 1 and pairs[0][0].endswith("_id") else ""
        _relate(source, target, pairs, forward, f"{named}: {shown}")
        source.referencing.update(key.columns)


def _naming_relations(source: TypeDesign, types: Sequence[TypeDesign]) -> None:
    by_snake = {to_snake(t.name): t for t in types}
    for column in list(source.columns):
        if not column.name.endswith("_id") or column.name in source.referencing:
            continue
        target = by_snake.get(column.name.removesuffix("_id"))
        if target is None or len(target.primary_key) != 1:
            continue
        key = target.column(target.primary_key[0])
        assert key is not None
        if (source is target and source.primary_key == (column.name,)) or not _agree(column.annotation, key.annotation):
            continue
        where = "across databases" if source.database != target.database else f"in {source.database}"
        shown = f"{source.table}.{column.name} -> {target.table}.{key.name}"
        _relate(
            source, target, [(column.name, key.name)], column.name.removesuffix("_id"), f"by name, {where}: {shown}"
        )


def _agree(a: str, b: str) -> bool:
    return a == b or (a in _KEY_LIKE and b in _KEY_LIKE)


def _roots(types: Sequence[TypeDesign], notes: list[str]) -> list[RootField]:
    names = FieldNames(["database_status"])
    roots: list[RootField] = []
    for t in types:
        roots.append(
            RootField(
                name=names.claim(t.plural, table_name(t.name)),
                target=t.name,
                database=t.database,
                many=True,
                arguments=(),
                description=f"Rows of {t.table} in {t.database}: where, orderBy, limit and offset filter, order and "
                "page them.",
            )
        )
        if not t.key or set(t.key) & {"limit", "offset", "self"}:
            notes.append(f"{t.name} has no by-key field: {t.table} has no primary or unique key dbmesh can use")
            continue
        arguments = []
        for name in t.key:
            column = t.column(name)
            assert column is not None
            arguments.append((name, column.annotation))
        key = " and ".join(t.key)
        roots.append(
            RootField(
                name=names.claim(t.single, f"{t.single}_by_{'_and_'.join(t.key)}", to_snake(t.name)),
                target=t.name,
                database=t.database,
                many=False,
                arguments=tuple(arguments),
                description=f"The row of {t.table} with this {key}, or null.",
            )
        )
    return roots
