"""Loading a schema module (docs/reference.md §4) into the schema model.

`load_schema(path)` runs the file as a fresh module whose namespace already holds `UUID`,
`datetime`, `date`, `timedelta`, `Decimal`, `Any`, `Optional` and `List` (the guide's module uses
`UUID` without importing it, and must load with only its import changed); `build_schema` reads the
`@types.object` classes of a namespace or module. Every mistake is a `SchemaError` of one line:
`<file>: <Class>.<field>: <problem>`, or `<file>:<line>: <Exception>: <message>` when the module
itself fails to run (no traceback). `<file>` is the path as given to `load_schema`.

Decisions where docs/reference.md §4 is silent:

- Object types are the `@types.object` classes found in the namespace, in declaration order;
  `Query` is the root type. Columns are the annotated attributes (inherited ones too, `ClassVar`s
  excepted); every other function defined in the class (dunders aside) is a field: a relation when
  decorated with `@database`, an error otherwise. staticmethods, classmethods and properties are
  errors. A field's first parameter must be `self`.
- A name that is defined nowhere is an error ("type 'X' is not defined"), except as the return
  type of a composite root field: the guide's `customer_with_history -> 'CustomerWithHistory'`
  has no such class, so that field is left out with a line in `SchemaModel.warnings`.
- Join inference tries both rules of docs/reference.md §4 and fails when both fit (see `_joins`).
- Arguments: see `_arguments` (including the `year: int` inference the guide needs).
- Sources: see `_sources` (`affinity="cache"` is read_primary; `fallback_on` always includes
  `unavailable`; `not_found` needs `fallback=` and a single-object field).
- Consistency fields: `source_database` must be `str` and `is_stale` must be `bool` (neither is a
  column); `last_sync` must be `datetime` (or `datetime | None`) and is the column named by
  `last_sync_column=` (default `last_sync`), shown as `lastSync`. `is_stale` and
  `last_sync_column=` need `last_sync`; `max_staleness` must be a positive `timedelta`.
- A composite root field (no `@database`) returns one object, never a list; its type is virtual
  (`table` is ""), may not be returned by a field served by a database, and every non-null column
  of it must be filled by an argument. A schema without `Query` loads with a warning.
- Descriptions are the docstrings, cleaned with `inspect.cleandoc`.
- Two fields of a type (or of Query) may not have the same GraphQL name, and no root field may be
  called `databaseStatus` (built in, docs/reference.md §6).
- `Mutation` is the mutation root type (docs/reference.md §10): see `_mutations`. Its fields'
  types count as served by the databases they write (the schema check wants their tables there).
  With `read_only` (the names of the databases configured `read_only`), a mutation field aimed
  at one of them is an error. `write_through=` is for mutation fields only.
"""

from __future__ import annotations

import inspect
import itertools
import os
import re
import sys
import traceback
import typing
from collections.abc import Collection, Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn
from uuid import UUID

from dbmesh.errors import SchemaError
from dbmesh.schema._annotations import Fail, Hints, Shape, Undefined, column_scalar, describe, return_shape
from dbmesh.schema._arguments import composite_arguments, field_arguments
from dbmesh.schema._joins import explicit_join, infer_join
from dbmesh.schema._mutations import check_declaration, mutation_kind, write_through
from dbmesh.schema._sources import field_source
from dbmesh.schema.dsl import DATABASE_MARK, OBJECT_MARK, DatabaseDeclaration, ObjectDeclaration
from dbmesh.schema.model import (
    DEFAULT_MAX_STALENESS,
    Column,
    MutationField,
    ObjectType,
    Relation,
    RootField,
    Scalar,
    SchemaModel,
)
from dbmesh.schema.naming import table_name, to_camel

__all__ = ["PRELUDE", "build_schema", "load_schema"]

PRELUDE: dict[str, Any] = {
    "UUID": UUID,
    "datetime": datetime,
    "date": date,
    "timedelta": timedelta,
    "Decimal": Decimal,
    "Any": Any,
    "Optional": typing.Optional,
    "List": typing.List,  # noqa: UP006
}

_module_ids = itertools.count()
_GRAPHQL_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RETURNS = "a field returns an @types.object class or a list of one"
_COLUMNS = "a column is str, int, float, bool, UUID, datetime, date, Decimal or dict, or one of them | None"


def load_schema(
    path: str | os.PathLike[str], databases: Collection[str] | None = None, *, read_only: Collection[str] = ()
) -> SchemaModel:
    """Run the schema module at `path` and build its model. With `databases` (the configured
    names), every database a field names must be one of them; no mutation may write a database
    named in `read_only`."""
    label = os.fspath(path)
    return build_schema(_run(Path(path), label), databases, source=label, read_only=read_only)


def build_schema(
    namespace_or_module: ModuleType | Mapping[str, Any],
    databases: Collection[str] | None = None,
    source: str = "<module>",
    *,
    read_only: Collection[str] = (),
) -> SchemaModel:
    """Build the model from the `@types.object` classes of a module or namespace; `source` names
    it in error messages."""
    if isinstance(namespace_or_module, ModuleType):
        namespace: Mapping[str, Any] = vars(namespace_or_module)
    else:
        namespace = namespace_or_module
    return _Builder(namespace, databases, source, frozenset(read_only)).build()


def _run(path: Path, label: str) -> dict[str, Any]:
    """Execute the file as a new module with the prelude in its namespace; return the namespace."""
    try:
        code_text = path.read_bytes()
    except OSError as exc:
        raise SchemaError(f"{label}: cannot read the schema module: {exc.strerror}") from None
    module = ModuleType(f"_dbmesh_schema_{next(_module_ids)}")
    module.__file__ = str(path)
    module.__dict__.update(PRELUDE)
    sys.modules[module.__name__] = module
    try:
        code = compile(code_text, str(path), "exec", dont_inherit=True)
        exec(code, module.__dict__)  # noqa: S102 - running the user's schema module is the point
    except SyntaxError as exc:
        raise SchemaError(f"{label}:{exc.lineno}: {type(exc).__name__}: {exc.msg}") from None
    except Exception as exc:
        lines = [n for frame, n in traceback.walk_tb(exc.__traceback__) if frame.f_code.co_filename == str(path)]
        where = f"{label}:{lines[-1]}" if lines else label
        text = " ".join(str(exc).splitlines())
        message = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
        raise SchemaError(f"{where}: {message}") from None
    finally:
        sys.modules.pop(module.__name__, None)
    return module.__dict__


def _object_classes(namespace: Mapping[str, Any], source: str) -> dict[str, type]:
    found: dict[str, type] = {}
    for value in namespace.values():
        if isinstance(value, type) and OBJECT_MARK in vars(value):
            other = found.setdefault(value.__name__, value)
            if other is not value:
                raise SchemaError(f"{source}: {value.__name__}: two @types.object classes have this name")
    return found


def _methods(cls: type) -> dict[str, Any]:
    """The fields a class defines as methods (its bases' too), in declaration order."""
    methods: dict[str, Any] = {}
    for base in reversed(cls.__mro__[:-1]):
        for name, value in vars(base).items():
            if name.startswith("__") and name.endswith("__"):
                continue
            if inspect.isfunction(value) or isinstance(value, staticmethod | classmethod | property):
                methods[name] = value
    return methods


def _doc(obj: Any) -> str | None:
    doc = obj.__doc__
    return (inspect.cleandoc(doc) or None) if isinstance(doc, str) else None


def _columns(hints: dict[str, Any]) -> dict[str, Any]:
    return {name: a for name, a in hints.items() if typing.get_origin(a) is not typing.ClassVar}


class _Builder:
    """One load: the namespace's object types, then their relations, then Query's root fields."""

    def __init__(
        self, namespace: Mapping[str, Any], databases: Collection[str] | None, source: str, read_only: frozenset[str]
    ) -> None:
        self.source = source
        self.databases = None if databases is None else frozenset(databases)
        self.read_only = read_only
        self.classes = _object_classes(namespace, source)
        self.hints = Hints(namespace, dict(self.classes))
        self.query = self.classes.pop("Query", None)
        self.mutation = self.classes.pop("Mutation", None)
        self.types: dict[str, ObjectType] = {}
        self.virtual: dict[str, str] = {}  # virtual type -> the composite root field that builds it
        self.served: dict[str, str] = {}  # type -> the first field served by a database returning it
        self.warnings: list[str] = []

    def fail_at(self, owner: str, field: str | None = None) -> Fail:
        where = f"{owner}.{field}" if field else owner

        def fail(problem: str) -> NoReturn:
            raise SchemaError(f"{self.source}: {where}: {problem}")

        return fail

    def build(self) -> SchemaModel:
        for name, cls in self.classes.items():
            self.types[name] = self._object_type(name, cls)
        for name, cls in self.classes.items():
            relations = tuple(self._relation(name, f, m) for f, m in _methods(cls).items())
            self.types[name] = replace(self.types[name], relations=relations)
            self._check_names(name, cls)
        query = self._root_fields() if self.query else ()
        mutation = self._mutation_fields() if self.mutation else ()
        if not self.query:
            self.warnings.append("no @types.object class Query: the schema has no root fields")
        for name, field in self.served.items():
            if name in self.virtual:
                self.fail_at(field)(
                    f"{name} is virtual (built by the root field {self.virtual[name]} without @database) "
                    "and no database serves it"
                )
        for name in self.virtual:
            self.types[name] = replace(self.types[name], virtual=True, table="")
        return SchemaModel(self.types, query, tuple(self.warnings), mutation, self.source)

    def _object_type(self, name: str, cls: type) -> ObjectType:
        declaration: ObjectDeclaration = vars(cls)[OBJECT_MARK]
        fail = self.fail_at(name)
        table, last_sync = declaration.table, declaration.last_sync_column
        staleness = declaration.max_staleness
        if table is not None and not (isinstance(table, str) and table.strip()):
            fail(f"table= must be a non-empty string, not {table!r}")
        if last_sync is not None and not (isinstance(last_sync, str) and _IDENTIFIER.fullmatch(last_sync)):
            fail(f"last_sync_column= must be a column name, not {last_sync!r}")
        if staleness is not None and not (isinstance(staleness, timedelta) and staleness > timedelta(0)):
            fail(f"max_staleness= must be a positive timedelta, not {staleness!r}")
        columns: dict[str, Column] = {}
        flags = {"source_database": False, "is_stale": False, "last_sync": False}
        for field, annotation in _columns(self.hints.of(cls, fail)).items():
            field_fail = self.fail_at(name, field)
            if field in ("source_database", "is_stale"):
                expected = str if field == "source_database" else bool
                if annotation is not expected:
                    field_fail(f"{field} must be {expected.__name__}, not {describe(annotation)}")
                flags[field] = True
                continue
            scalar = column_scalar(annotation)
            if scalar is None:
                self._unsupported(annotation, "annotation", _COLUMNS, field_fail)
            column = Column(field, to_camel(field), *scalar)
            if field == "last_sync":
                if scalar[0] is not Scalar.DATETIME:
                    field_fail(f"last_sync must be datetime, not {describe(annotation)}")
                flags["last_sync"] = True
                column = Column(last_sync or "last_sync", "lastSync", *scalar)
            if column.name in columns:
                field_fail(f"column {column.name!r} is declared twice (see last_sync_column=)")
            columns[column.name] = column
        if not flags["last_sync"] and (last_sync is not None or flags["is_stale"]):
            what = "last_sync_column=" if last_sync is not None else "is_stale"
            fail(f"{what} needs a `last_sync: datetime` attribute")
        return ObjectType(
            name=name,
            table=table_name(name) if table is None else table,
            columns=tuple(columns.values()),
            has_source_database=flags["source_database"],
            last_sync_column=(last_sync or "last_sync") if flags["last_sync"] else None,
            has_is_stale=flags["is_stale"],
            max_staleness=staleness or DEFAULT_MAX_STALENESS,
            description=_doc(cls),
        )

    def _unsupported(self, annotation: Any, what: str, expected: str, fail: Fail) -> NoReturn:
        """Fail on an annotation, naming a type it uses that is defined nowhere if there is one."""
        pending = [annotation]
        while pending:
            a = pending.pop()
            if isinstance(a, type) and issubclass(a, Undefined):
                fail(f"type {a.__name__!r} is not defined")
            pending.extend(typing.get_args(a))
        fail(f"unsupported {what} {describe(annotation)}; {expected}")

    def _declaration(self, method: Any, fail: Fail) -> DatabaseDeclaration | None:
        if not inspect.isfunction(method):
            fail("a field is a plain method, not a staticmethod, classmethod or property")
        declarations: tuple[DatabaseDeclaration, ...] = getattr(method, DATABASE_MARK, ())
        if len(declarations) > 1:
            fail("@database is applied more than once")
        return declarations[0] if declarations else None

    def _read_declaration(self, method: Any, fail: Fail) -> DatabaseDeclaration | None:
        """The `@database` of a root field or relation: `write_through=` is for mutations."""
        declaration = self._declaration(method, fail)
        if declaration is not None and declaration.write_through is not None:
            fail("write_through= is for Mutation fields; a read has nothing to write")
        return declaration

    def _returns(self, hints: dict[str, Any], fail: Fail) -> Shape:
        if "return" not in hints:
            fail(f"no return annotation; {_RETURNS}")
        shape = return_shape(hints["return"])
        if shape is None:
            self._unsupported(hints["return"], "return annotation", _RETURNS, fail)
        return shape

    def _target(self, shape: Shape, annotation: Any, fail: Fail) -> ObjectType:
        if issubclass(shape.target, Undefined):
            fail(f"type {shape.target.__name__!r} is not defined")
        if shape.target is self.query:
            fail("Query is the root type; no field returns it")
        if shape.target is self.mutation:
            fail("Mutation is the mutation root type; no field returns it")
        target = self.types.get(shape.target.__name__)
        if target is None or self.classes[target.name] is not shape.target:
            self._unsupported(annotation, "return annotation", _RETURNS, fail)
        return target

    def _relation(self, owner: str, field: str, method: Any) -> Relation:
        fail = self.fail_at(owner, field)
        declaration = self._read_declaration(method, fail)
        if declaration is None:
            fail("a method of an object type must be a relation decorated with @database(...)")
        hints = self.hints.of(method, fail)
        shape = self._returns(hints, fail)
        target = self._target(shape, hints["return"], fail)
        source = field_source(declaration, shape.many, self.databases, fail)
        columns = self.types[owner].columns
        source_columns, target_columns = [c.name for c in columns], [c.name for c in target.columns]
        if declaration.on is not None:
            join = explicit_join(declaration.on, owner, source_columns, target.name, target_columns, fail)
        else:
            join = infer_join(field, owner, source_columns, target.name, target_columns, fail)
        arguments = field_arguments(method, hints, declaration.args, target, shape.many, fail)
        self.served.setdefault(target.name, f"{owner}.{field}")
        return Relation(
            name=field,
            graphql_name=to_camel(field),
            owner=owner,
            target=target.name,
            many=shape.many,
            item_nullable=shape.item_nullable,
            source=source,
            join=join,
            arguments=arguments,
            description=_doc(method),
        )

    def _root_fields(self) -> tuple[RootField, ...]:
        assert self.query is not None
        for field in _columns(self.hints.of(self.query, self.fail_at("Query"))):
            self.fail_at("Query", field)("Query has no columns; a root field is a method")
        fields: list[RootField] = []
        for field, method in _methods(self.query).items():
            fail = self.fail_at("Query", field)
            declaration = self._read_declaration(method, fail)
            hints = self.hints.of(method, fail)
            shape = self._returns(hints, fail)
            if declaration is None and issubclass(shape.target, Undefined):
                self.warnings.append(
                    f"Query.{field}: type {shape.target.__name__!r} is not defined; the field is left out"
                )
                continue
            target = self._target(shape, hints["return"], fail)
            if declaration is None:
                if shape.many:
                    fail("a root field without @database builds one object from its arguments, not a list")
                self.virtual.setdefault(target.name, f"Query.{field}")
                source, arguments = None, composite_arguments(method, hints, target, fail)
            else:
                if declaration.on is not None:
                    fail("on= states the join of a relation; a root field has nothing to join")
                source = field_source(declaration, shape.many, self.databases, fail)
                arguments = field_arguments(method, hints, declaration.args, target, shape.many, fail)
                self.served.setdefault(target.name, f"Query.{field}")
            fields.append(
                RootField(
                    name=field,
                    graphql_name=to_camel(field),
                    target=target.name,
                    many=shape.many,
                    item_nullable=shape.item_nullable,
                    source=source,
                    arguments=arguments,
                    description=_doc(method),
                )
            )
        self._check_names("Query", self.query)
        return tuple(fields)

    def _mutation_fields(self) -> tuple[MutationField, ...]:
        assert self.mutation is not None
        for field in _columns(self.hints.of(self.mutation, self.fail_at("Mutation"))):
            self.fail_at("Mutation", field)("Mutation has no columns; a mutation field is a method")
        fields: list[MutationField] = []
        for field, method in _methods(self.mutation).items():
            fail = self.fail_at("Mutation", field)
            kind = mutation_kind(field, fail)
            declaration = self._declaration(method, fail)
            database = check_declaration(declaration, method, self.databases, self.read_only, fail)
            assert declaration is not None
            hints = self.hints.of(method, fail)
            shape = self._returns(hints, fail)
            target = self._target(shape, hints["return"], fail)
            if not shape.many or shape.item_nullable:
                fail(f"a mutation field returns list[{target.name}] (the rows it writes)")
            self.served.setdefault(target.name, f"Mutation.{field}")
            fields.append(
                MutationField(
                    name=field,
                    graphql_name=to_camel(field),
                    kind=kind,
                    target=target.name,
                    database=database,
                    write_through=write_through(declaration, self.databases, fail),
                    description=_doc(method),
                )
            )
        self._check_names("Mutation", self.mutation)
        return tuple(fields)

    def _check_names(self, owner: str, cls: type) -> None:
        """Every field has a valid GraphQL name of its own; no root field is `databaseStatus` or `syncStatus`."""
        seen: dict[str, str] = {}
        for field in [*_columns(self.hints.of(cls, self.fail_at(owner))), *_methods(cls)]:
            graphql_name = "lastSync" if field == "last_sync" else to_camel(field)
            fail = self.fail_at(owner, field)
            if not _GRAPHQL_NAME.fullmatch(graphql_name) or graphql_name.startswith("__"):
                fail(f"{graphql_name!r} is not a valid GraphQL name")
            if owner == "Query" and graphql_name == "databaseStatus":
                fail("databaseStatus is a built-in field (docs/reference.md §6)")
            if owner == "Query" and graphql_name == "syncStatus":
                fail("syncStatus is a built-in field (docs/reference.md §12)")
            if graphql_name in seen:
                other = seen[graphql_name]
                if other == field:
                    fail("declared both as a column and as a method")
                fail(f"{other!r} and {field!r} are both the GraphQL field {graphql_name!r}")
            seen[graphql_name] = field
