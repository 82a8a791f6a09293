"""What a role may see and reach (docs/reference.md §14), applied by the router.

- `check_permissions`: every `[[permissions]]` entry against the schema module (types, columns,
  operators for each column's type), at start, one line naming the entry and key.
- `RoleView`: one role's GraphQL schema (only its types, columns, root fields and mutations:
  `router.schema.Visibility`), its `Preparation` (so its document and plan caches are its own:
  one role is never served another's plan) and its limits. Built once per role when the router
  is made; the admin role (and every request without `[auth]`) has the full schema.
- `RowAccess`: one request's row filters, with the token's claims bound as values. The executor
  ANDs `read(type)` into the request of every read of that type — root field, relation, batched
  join, federation entity — and, since a fallback re-sends the same request, into every fallback
  and not-found fallback; mutations AND `write(type, operation)` into every update and delete, so
  affectedRows never counts a row outside it, and check every inserted row against `insert.check`
  (`passes`) inside the transaction. A filter that names a claim the token does not carry (or
  whose value the column cannot hold) matches no row.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from graphql import GraphQLSchema

from dbmesh.auth.config import CLAIMS_PREFIX, OPERATIONS, Permission, is_claim
from dbmesh.auth.tokens import Principal, claim, missing
from dbmesh.config import Config, RouterConfig
from dbmesh.errors import ConfigError
from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.router.errors import BadUserInput
from dbmesh.router.preparation import Preparation
from dbmesh.router.requests import _Where, all_of, match_nothing, to_value
from dbmesh.router.schema import OPERATORS, SchemaIndex, Visibility, build_graphql_schema
from dbmesh.schema.model import Column, ObjectType, SchemaModel

__all__ = ["FULL", "RoleView", "RowAccess", "check_permissions", "role_views"]


class _Unbound(Exception):
    """A claim a filter names is missing, or its value does not fit the column."""


def check_permissions(config: Config, model: SchemaModel) -> None:
    """Every permission entry names a type of the schema module, its columns and operators that
    fit them, and every `[auth.roles.<role>]` a role that exists; raises ConfigError naming the
    entry and key."""
    if config.auth is not None:
        known_roles = {p.role for p in config.permissions} | {config.auth.admin_role}
        known_roles |= {config.auth.anonymous_role} if config.auth.anonymous_role else set()
        for role in config.auth.roles:
            if role not in known_roles:
                raise ConfigError(
                    f"{config.source}: auth.roles.{role}: no such role (roles: {', '.join(sorted(known_roles))})"
                )
    for permission in config.permissions:
        where = f"{config.source}: {permission.where}"
        obj = model.types.get(permission.type)
        if obj is None:
            known = ", ".join(sorted(model.types))
            raise ConfigError(f"{where}.type: unknown type {permission.type!r} (known: {known})")
        columns = {c.name: c for c in obj.columns}
        for operation, grant in permission.grants.items():
            for column in grant.get("columns", ()):
                _known_column(f"{where}.{operation}.columns", column, obj)
            for key in ("filter", "check"):
                for at, column, op in _comparisons(grant.get(key, {})):
                    _known_column(f"{where}.{operation}.{key}{at}", column, obj)
                    allowed = OPERATORS[columns[column].scalar]
                    if op not in allowed:
                        raise ConfigError(
                            f"{where}.{operation}.{key}{at}.{column}: operator {op!r} does not apply to "
                            f"{columns[column].scalar.value} column {column!r} (it takes {', '.join(allowed)})"
                        )
        if set(permission.grants) - {"select"} and "select" not in permission.grants:
            raise ConfigError(
                f"{where}: writes need select on {obj.name} too (a mutation returns rows and filters with where)"
            )


def _known_column(where: str, column: str, obj: ObjectType) -> None:
    if column not in {c.name for c in obj.columns}:
        known = ", ".join(c.name for c in obj.columns)
        raise ConfigError(f"{where}: unknown column {column!r} of {obj.name} (known: {known})")


def _comparisons(predicate: Mapping[str, Any], at: str = "") -> Iterator[tuple[str, str, str]]:
    """(path, column, operator) of every comparison in a filter/check."""
    for key, value in predicate.items():
        if key in ("_and", "_or"):
            for i, item in enumerate(value):
                yield from _comparisons(item, f"{at}.{key}[{i}]")
        elif key == "_not":
            yield from _comparisons(value, f"{at}._not")
        else:
            for op in value:
                yield at, key, op


@dataclass(frozen=True)
class RoleView:
    """What one role is served with."""

    role: str
    schema: GraphQLSchema
    index: SchemaIndex
    preparation: Preparation
    limits: RouterConfig
    privileged: bool
    permissions: Mapping[str, Permission] = field(default_factory=dict)  # by type; empty: no filters
    admin: bool = False


FULL = ""  # the view of the admin role, and of every request without [auth]


def role_views(config: Config, model: SchemaModel, full: tuple[GraphQLSchema, SchemaIndex]) -> dict[str, RoleView]:
    """One view per role: FULL (admin) and each role `[[permissions]]` or `anonymous_role` names."""
    schema, index = full
    auth = config.auth
    admin_limits = _limits(config, auth.admin_role if auth is not None else None)
    views = {
        FULL: RoleView(FULL, schema, index, Preparation(schema, index, admin_limits), admin_limits, True, admin=True)
    }
    if auth is None:
        return views
    by_role: dict[str, dict[str, Permission]] = {}
    for permission in config.permissions:
        by_role.setdefault(permission.role, {})[permission.type] = permission
    if auth.anonymous_role is not None and auth.anonymous_role != auth.admin_role:
        by_role.setdefault(auth.anonymous_role, {})
    for role, permissions in by_role.items():
        visibility = Visibility(
            columns={
                t: frozenset(p.grants["select"]["columns"]) for t, p in permissions.items() if "select" in p.grants
            },
            writes={
                (t, op): frozenset(p.grants[op].get("columns", ()))
                for t, p in permissions.items()
                for op in OPERATIONS[1:]
                if op in p.grants
            },
            status_error=auth.privileged(role),
        )
        role_schema, role_index = build_graphql_schema(model, visibility=visibility)
        limits = _limits(config, role)
        preparation = Preparation(role_schema, role_index, limits)
        views[role] = RoleView(role, role_schema, role_index, preparation, limits, auth.privileged(role), permissions)
    return views


def _limits(config: Config, role: str | None) -> RouterConfig:
    """`[router]` with the role's `[auth.roles.<role>]` overrides."""
    if config.auth is None or role is None or role not in config.auth.roles:
        return config.router
    overrides: dict[str, Any] = dict(config.auth.roles[role].overrides)
    return dataclasses.replace(config.router, **overrides)


class RowAccess:
    """One request's row filters: a role's permissions with the caller's claims bound."""

    def __init__(self, view: RoleView, principal: Principal | None, model: SchemaModel) -> None:
        self.view = view
        self.claims: Mapping[str, Any] = principal.claims if principal is not None else {}
        self.model = model
        self._reads: dict[str, pb.Expression | None] = {}

    @property
    def unrestricted(self) -> bool:
        return self.view.admin

    def _predicate(self, type_name: str, operation: str, key: str) -> Mapping[str, Any] | None:
        if self.view.admin or type_name not in self.view.permissions:
            return None
        grant = self.view.permissions[type_name].grants.get(operation, {})
        predicate: Mapping[str, Any] | None = grant.get(key)
        return predicate

    def read(self, type_name: str) -> pb.Expression | None:
        """The filter every read of `type_name` is ANDed with (None: none)."""
        if not self.view.admin and type_name not in self.view.permissions:
            return match_nothing()  # not reachable through the role's schema; never served anyway
        if type_name not in self._reads:
            self._reads[type_name] = self._compile(type_name, self._predicate(type_name, "select", "filter"))
        return self._reads[type_name]

    def write(self, type_name: str, operation: str) -> pb.Expression | None:
        """What an update or delete of `type_name` is ANDed with: its own filter and the select
        filter (a role never writes a row it cannot read)."""
        if not self.view.admin and type_name not in self.view.permissions:
            return match_nothing()
        own = self._compile(type_name, self._predicate(type_name, operation, "filter"))
        return all_of([e for e in (own, self.read(type_name)) if e is not None])

    def _compile(self, type_name: str, predicate: Mapping[str, Any] | None) -> pb.Expression | None:
        if predicate is None:
            return None
        obj = self.model.types[type_name]
        try:
            where = self._bind(obj, predicate)
            return _Where(obj, type_name).expression(where, "filter") or None
        except (_Unbound, ValueError, TypeError, ArithmeticError):
            return match_nothing()

    def _bind(self, obj: ObjectType, predicate: Mapping[str, Any]) -> dict[str, Any]:
        """`predicate` with GraphQL column names and claims replaced by their values."""
        names = {c.name: c.graphql_name for c in obj.columns}
        out: dict[str, Any] = {}
        for key, value in predicate.items():
            if key in ("_and", "_or"):
                out[key] = [self._bind(obj, item) for item in value]
            elif key == "_not":
                out[key] = self._bind(obj, value)
            else:
                out[names[key]] = {op: self.value(v, op) for op, v in value.items()}
        return out

    def value(self, value: Any, op: str) -> Any:
        """A filter value with `claims.X` replaced by the claim's value."""
        if isinstance(value, list):
            return [self.value(v, "_eq") for v in value]
        if not is_claim(value):
            return value
        found = claim(self.claims, value[len(CLAIMS_PREFIX) :])
        if missing(found) or found is None or isinstance(found, dict):
            raise _Unbound(value)
        if op in ("_in", "_nin") and not isinstance(found, list):
            return [found]
        return found

    # --- inserted and returned rows, checked here (the database already wrote them) -----------

    def columns(self, type_name: str, operation: str) -> tuple[str, ...]:
        """The columns `passes` reads for `operation`'s rows: its check's and the select filter's."""
        found: dict[str, None] = {}
        for predicate in (
            self._predicate(type_name, operation, "check"),
            self._predicate(type_name, "select", "filter"),
        ):
            if predicate is not None:
                found.update((column, None) for _, column, _ in _comparisons(predicate))
        return tuple(found)

    def passes(self, type_name: str, key: str, row: Mapping[str, Any], operation: str = "select") -> bool:
        """Whether `row` (column -> value) satisfies `operation`'s `key` ("check" or "filter")."""
        predicate = self._predicate(type_name, operation, key)
        if predicate is None:
            return True
        scalars = {c.name: c for c in self.model.types[type_name].columns}
        try:
            return _holds(predicate, row, scalars, self.value)
        except (_Unbound, ValueError, TypeError, ArithmeticError):
            return False

    def check_insert(self, type_name: str, rows: Sequence[Mapping[str, Any]], field_name: str) -> None:
        """Raise BadUserInput when an inserted row fails the role's insert check."""
        for row in rows:
            if not self.passes(type_name, "check", row, "insert"):
                raise BadUserInput(
                    f"{field_name}: a row fails the insert check of role {self.view.role!r} on {type_name};"
                    " nothing was written"
                )


def _holds(
    predicate: Mapping[str, Any], row: Mapping[str, Any], columns: Mapping[str, Column], bind: Callable[[Any, str], Any]
) -> bool:
    for key, value in predicate.items():
        if key == "_and":
            ok = all(_holds(p, row, columns, bind) for p in value)
        elif key == "_or":
            ok = any(_holds(p, row, columns, bind) for p in value)
        elif key == "_not":
            ok = not _holds(value, row, columns, bind)
        else:
            ok = all(_compare(row.get(key), op, bind(v, op), columns[key]) for op, v in value.items())
        if not ok:
            return False
    return True


def _compare(actual: Any, op: str, expected: Any, column: Column) -> bool:
    """One comparison as the databases make it (NULL compares false except `_is_null`)."""
    if op == "_is_null":
        return (actual is None) is bool(expected)
    if actual is None:
        return False
    scalar = column.scalar.value
    if op in ("_in", "_nin"):
        inside = any(to_value(actual, scalar) == to_value(e, scalar) for e in expected)
        return inside if op == "_in" else not inside
    if op in ("_eq", "_neq"):
        same = to_value(actual, scalar) == to_value(expected, scalar)
        return same if op == "_eq" else not same
    if op in ("_like", "_ilike"):
        pattern = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in str(expected))
        return re.fullmatch(pattern, str(actual), re.DOTALL | (re.IGNORECASE if op == "_ilike" else 0)) is not None
    left, right = _ordered(actual, scalar), _ordered(expected, scalar)
    result: bool = {"_gt": left > right, "_gte": left >= right, "_lt": left < right, "_lte": left <= right}[op]
    return result


def _ordered(value: Any, scalar: str) -> Any:
    if scalar in ("Int", "Float", "Decimal"):
        try:
            return Decimal(str(value))
        except InvalidOperation as error:
            raise ValueError(str(value)) from error
    return str(value)
