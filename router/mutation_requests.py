"""Turn a planned `Mutate` and its request-time arguments into contract `MutateRequest`s
(docs/reference.md §8, §10). Values are typed by their column's GraphQL scalar, as reads are.

- `insertX(objects:)`: consecutive objects that set the same fields go in one request (the
  contract's rows all carry the same columns); a field left out is left to the database's default.
  With `onConflict`, an upsert on its `columns`; `update: []` means the rows that exist stay as
  they are, which the contract spells as updating only conflict columns (to the values they
  already have): the resolvers then insert or skip, never update, and count and return only the
  rows they inserted.
- `updateX(where:, set:, inc:)` and `deleteX(where:)`: one request each (`inc`: amounts added
  to numeric columns; a column is in `set` or in `inc`, not both, and an amount is never null). A `where` that names no
  condition would write every row; it is refused, as are an update that changes nothing and an
  `onConflict` without columns. Each refusal is a BAD_USER_INPUT naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.router.errors import BadUserInput
from dbmesh.router.plan import Mutate
from dbmesh.router.requests import LOGICAL, _Where, all_of, to_value
from dbmesh.router.schema import SchemaIndex
from dbmesh.schema.model import ObjectType

__all__ = ["mutate_requests"]


def mutate_requests(
    step: Mutate, index: SchemaIndex, arguments: Mapping[str, Any], restrict: pb.Expression | None = None
) -> list[pb.MutateRequest]:
    """The requests that carry out `step` with these resolved arguments (GraphQL name -> value),
    in order; none for an insert of no objects. `restrict` (a role's row filter, docs/reference.md
    §14) is ANDed into an update's or delete's `where`."""
    target = index.model.types[step.type]
    returning = [pb.ColumnRef(name=c.name, type=LOGICAL[c.scalar]) for c in step.columns]
    field = ".".join(step.path)
    if step.operation == "insert":
        return [
            pb.MutateRequest(collection=step.collection, returning=returning, **operation)
            for operation in _inserts(target, arguments.get("objects") or [], arguments.get("onConflict"), field)
        ]
    predicate = _predicate(target, arguments.get("where") or {}, field)
    if restrict is not None:
        predicate = all_of([predicate, restrict]) or predicate
    if step.operation == "update":
        values = _values(target, arguments.get("set") or {})
        amounts = _values(target, arguments.get("inc") or {})
        if not values and not amounts:
            raise BadUserInput(f"{field}: set and inc name no column to change")
        both = sorted(set(values) & set(amounts))
        if both:
            raise BadUserInput(f"{field}: column {both[0]!r} is both in set and in inc; name it in one")
        if any(v.WhichOneof("kind") == "null" for v in amounts.values()):
            raise BadUserInput(f"{field}: inc takes amounts to add, not null")
        update = pb.Update(predicate=predicate, set=values, inc=amounts)
        return [pb.MutateRequest(collection=step.collection, update=update, returning=returning)]
    delete = pb.Delete(predicate=predicate)
    return [pb.MutateRequest(collection=step.collection, delete=delete, returning=returning)]


def _values(target: ObjectType, values: Mapping[str, Any]) -> dict[str, pb.Value]:
    """GraphQL field name -> value, as column name -> contract value."""
    columns = {c.graphql_name: c for c in target.columns}
    return {columns[k].name: to_value(v, columns[k].scalar.value) for k, v in values.items()}


def _predicate(target: ObjectType, where: Mapping[str, Any], field: str) -> pb.Expression:
    expression = _Where(target, field).expression(where, "where")
    if expression is None:
        raise BadUserInput(f"{field}: where names no condition, so it would write every row; name the rows")
    return expression


def _inserts(
    target: ObjectType, objects: list[Mapping[str, Any]], on_conflict: Mapping[str, Any] | None, field: str
) -> list[dict[str, Any]]:
    """One `insert=` or `upsert=` keyword per run of objects that set the same fields."""
    runs: list[list[pb.Row]] = []
    previous: tuple[str, ...] | None = None
    for obj in objects:
        row = pb.Row(values=_values(target, obj))
        fields = tuple(sorted(obj))
        if fields != previous:
            runs.append([])
            previous = fields
        runs[-1].append(row)
    if on_conflict is None:
        return [{"insert": pb.Insert(rows=rows)} for rows in runs]
    conflict = list(on_conflict["columns"])
    if not conflict:
        raise BadUserInput(f"{field}: onConflict.columns must name a unique key (got none)")
    update = list(on_conflict["update"]) or conflict
    return [{"upsert": pb.Upsert(rows=rows, conflict_columns=conflict, update_columns=update)} for rows in runs]
