"""The query plan: frozen, JSON-serializable data, separate from the executor that walks it.

A plan has two parts:
- `root`, a tree of nodes saying which fetches run and in what order: `Parallel` children run
  concurrently, `Sequence` children one after another, a `Fetch` is one Query RPC to one
  database (a root field) and a `BatchedJoin` is one Query RPC that fetches a relation for
  EVERY parent row of another fetch at once (one variable set per distinct parent key, docs/reference.md §8);
  a BatchedJoin served by the same databases as its parent is `nested` in the parent's fetch
  instead: one RPC serves the chain, and the resolver runs its statements on one connection;
  a `Virtual` node builds a composite object from its arguments.
- `selections`, the response shape: which response key reads which column of which fetch.

A mutation operation's plan also has `mutations`: one `Mutate` per root field, run in document
order in one transaction (`router.mutations`); its `root` then holds only the reads of the
relations its `returning` selects, run after commit with each `Mutate`'s returned rows as their
parent rows (docs/reference.md §10).

Argument values that depend on the request are kept as `VarRef`s and resolved by the executor;
each fetch records the variables it reads (`variable_usages`, as Apollo's router does), and the
planner builds the request of every fetch that reads none (`Plan.templates`), and of every fetch
whose variables are only its comparisons' values, with slots for them (`Plan.slotted`). A plan is never
written after planning, so one plan serves every request with the same document (it is cached and
shared between concurrent requests). `dbmesh plan` and the trace print `plan_to_json(plan)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from graphql import Undefined

from dbmesh.resolver.v1 import resolver_pb2 as pb

if TYPE_CHECKING:
    from dbmesh.router.requests import Slotted

__all__ = [
    "BatchedJoin",
    "ColumnSpec",
    "Fetch",
    "FieldSelection",
    "Mutate",
    "Node",
    "Parallel",
    "Plan",
    "Sequence",
    "VarRef",
    "Virtual",
    "describe_plan",
    "plan_to_json",
    "variable_usages",
]


@dataclass(frozen=True)
class VarRef:
    """A GraphQL variable inside an argument value, resolved per request. `default`: the
    argument's own default, which applies when the request leaves the variable unset (GraphQL
    spec, CoerceArgumentValues); Undefined when it has none."""

    name: str
    default: Any = field(default=Undefined, compare=False)


def variable_usages(value: Any) -> tuple[str, ...]:
    """The names of the variables an argument value (or a tuple of `(name, value)` arguments) reads,
    sorted and without repeats."""
    names: set[str] = set()

    def visit(item: Any) -> None:
        if isinstance(item, VarRef):
            names.add(item.name)
        elif isinstance(item, (list, tuple)):
            for part in item:
                visit(part)
        elif isinstance(item, dict):
            for part in item.values():
                visit(part)

    visit(value)
    return tuple(sorted(names))


@dataclass(frozen=True)
class ColumnSpec:
    name: str  # the column
    scalar: str  # its GraphQL scalar (ID, String, DateTime, ...): the logical type to read it as


@dataclass(frozen=True)
class Fetch:
    """One Query RPC to one database (with its fallbacks): a root field on its own, or the fetch
    of a `BatchedJoin`."""

    id: int
    path: tuple[str, ...]  # response path of the field it serves (keys, without list indices)
    field: str  # the GraphQL field it serves
    owner: str  # the type that declares the field ("Query" for root fields)
    type: str  # the object type it returns
    database: str
    fallbacks: tuple[str, ...]
    fallback_on: tuple[str, ...]
    affinity: str
    collection: str
    columns: tuple[ColumnSpec, ...]
    many: bool
    # GraphQL argument name -> value (a VarRef, or a structure that may contain VarRefs).
    arguments: tuple[tuple[str, Any], ...] = ()
    variable_usages: tuple[str, ...] = ()  # the variables `arguments` read (`variable_usages()`)
    # Relations of this fetch served by the same databases, fetched in this same Query RPC (the
    # request's `nested`, docs/reference.md §8) instead of as BatchedJoins of their own after it.
    nested: tuple[BatchedJoin, ...] = ()
    kind: Literal["Fetch"] = "Fetch"

    @property
    def chain(self) -> tuple[str, ...]:
        """The database, then its fallbacks in order."""
        return (self.database, *self.fallbacks)

    @property
    def falls_back_on_not_found(self) -> bool:
        return not self.many and "not_found" in self.fallback_on


@dataclass(frozen=True)
class BatchedJoin:
    """A fetch serving a relation for every row of the parent fetch at once, in ONE Query RPC: the
    parent's distinct `join` keys become the request's variable sets (docs/reference.md §8)."""

    fetch: Fetch
    parent: int  # the id of the fetch whose rows give the keys
    # (target column, index of the parent's column in the parent fetch's row) pairs.
    join: tuple[tuple[str, int], ...]
    join_scalars: tuple[str, ...]  # the parent columns' scalars, for typing the key values
    kind: Literal["BatchedJoin"] = "BatchedJoin"

    @property
    def id(self) -> int:
        return self.fetch.id

    @property
    def path(self) -> tuple[str, ...]:
        return self.fetch.path


@dataclass(frozen=True)
class Virtual:
    """A composite root field: one object whose columns are its arguments (docs/reference.md §4)."""

    id: int
    path: tuple[str, ...]
    type: str
    columns: tuple[ColumnSpec, ...]
    arguments: tuple[tuple[str, Any], ...] = ()  # column order: the argument each column reads
    kind: Literal["Virtual"] = "Virtual"


@dataclass(frozen=True)
class Parallel:
    nodes: tuple[Node, ...]
    kind: Literal["Parallel"] = "Parallel"


@dataclass(frozen=True)
class Sequence:
    nodes: tuple[Node, ...]
    kind: Literal["Sequence"] = "Sequence"


Node = Fetch | BatchedJoin | Virtual | Parallel | Sequence


@dataclass(frozen=True)
class Mutate:
    """One root field of a mutation operation: one or more Mutate RPCs to `database` inside the
    operation's transaction, returning `columns` of the rows written (the `returning` selection
    plus the join keys of its relations)."""

    id: int
    path: tuple[str, ...]
    field: str  # the GraphQL field (insertCustomers, ...)
    operation: str  # insert | update | delete
    type: str
    database: str
    collection: str
    columns: tuple[ColumnSpec, ...]
    arguments: tuple[tuple[str, Any], ...] = ()
    variable_usages: tuple[str, ...] = ()
    kind: Literal["Mutate"] = "Mutate"


SelectionKind = Literal[
    "column",  # row[index]
    "typename",  # the constant `typename`
    "relation",  # rows of fetch `fetch` for this row's join key
    "root",  # the rows of root fetch `fetch`
    "source_database",  # the database that served the row
    "is_stale",  # row[index] (last_sync) older than `max_staleness_secs`
    "database_status",  # the router's health snapshot
    "status_field",  # a field of one DatabaseStatus (or SyncStatus)
    "sync_status",  # the [[sync]] jobs' states (router.sync_status)
    "introspection",  # __schema / __type: answered by graphql-core
    "mutation",  # the result of Mutate `fetch`
    "affected_rows",  # its affectedRows
    "returning",  # its returning rows
]


@dataclass(frozen=True)
class FieldSelection:
    key: str  # the response key (alias or field name)
    kind: SelectionKind
    field: str = ""  # the GraphQL field name
    parent_type: str = ""
    nullable: bool = True
    index: int = -1
    fetch: int = -1
    many: bool = False
    item_nullable: bool = False
    typename: str = ""
    int32: bool = False  # an Int column: values outside 32 bits are field errors (GraphQL spec, Int)
    max_staleness_secs: float = 0.0
    selections: tuple[FieldSelection, ...] = ()
    # Where the field starts in the query text (a character offset; -1: unknown). Line and column
    # are computed from it only for an error that is reported (`router.shaping`).
    offset: int = -1


@dataclass(frozen=True)
class Plan:
    operation: str  # query | mutation
    root: Node | None
    selections: tuple[FieldSelection, ...]
    fetch_count: int
    introspection: bool = False
    # Not part of the JSON form: the node of each fetch id, and the request of every fetch whose
    # arguments read no variable, built once when planning (the executor copies, never changes, it).
    nodes: Mapping[int, Fetch | BatchedJoin | Virtual] = field(
        default_factory=lambda: MappingProxyType({}), compare=False, repr=False
    )
    templates: Mapping[int, pb.QueryRequest] = field(
        default_factory=lambda: MappingProxyType({}), compare=False, repr=False
    )
    source: str = field(default="", compare=False, repr=False)  # the query text offsets point into
    mutations: tuple[Mutate, ...] = ()  # run before `root`, in this order, in one transaction
    # Not part of the JSON form either: the request of every fetch whose variables are only plain
    # comparison values, with their slots (`requests.Slotted`), built once when planning.
    slotted: Mapping[int, Slotted] = field(default_factory=lambda: MappingProxyType({}), compare=False, repr=False)


def _json(value: Any) -> Any:
    if isinstance(value, VarRef):
        return {"$var": value.name}
    if is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        for f in fields(value):
            if f.name in ("nodes", "templates", "slotted", "source") and isinstance(value, Plan):
                continue
            item = getattr(value, f.name)
            if f.name == "arguments":
                out[f.name] = {k: _json(v) for k, v in item}
            elif f.name == "nested" and not item:  # shown only where a fetch serves a chain
                continue
            elif f.name == "join" and isinstance(value, BatchedJoin):
                out[f.name] = [[target, index] for target, index in item]
            else:
                out[f.name] = _json(item)
        return out
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    return value


def plan_to_json(plan: Plan, *, with_selections: bool = False) -> dict[str, Any]:
    """The plan as JSON: the fetch tree, and the response shape when asked."""
    out: dict[str, Any] = {"operation": plan.operation, "fetches": plan.fetch_count, "root": _json(plan.root)}
    if plan.mutations:
        out["mutations"] = _json(plan.mutations)
    if with_selections:
        out["selections"] = _json(plan.selections)
    return out


def _describe_args(arguments: tuple[tuple[str, Any], ...]) -> str:
    if not arguments:
        return ""
    shown = ", ".join(f"{k}: {_render(v)}" for k, v in arguments)
    return f"({shown})"


def _render(value: Any) -> str:
    if isinstance(value, VarRef):
        return f"${value.name}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_render(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_render(v) for v in value) + "]"
    return repr(value) if isinstance(value, str) else str(value)


def describe_plan(plan: Plan) -> str:
    """The plan as an indented tree, for people (`dbmesh plan`)."""
    lines = [f"{plan.operation}: {plan.fetch_count} fetch{'es' if plan.fetch_count != 1 else ''}"]
    if plan.mutations:
        lines.append("  Transaction (in order, then commit)")
    for step in plan.mutations:
        columns = ", ".join(c.name for c in step.columns)
        args = _describe_args(step.arguments)
        lines.append(
            f"    Mutate #{step.id} {'.'.join(step.path)}{args}: {step.operation} {step.database}.{step.collection}"
            f" returning [{columns}]"
        )

    def walk(node: Node | None, indent: str, label: str = "") -> None:
        if node is None:
            return
        if isinstance(node, (Parallel, Sequence)):
            lines.append(f"{indent}{node.kind}")
            for child in node.nodes:
                walk(child, indent + "  ")
            return
        path = ".".join(node.path)
        if isinstance(node, Virtual):
            lines.append(f"{indent}Virtual #{node.id} {path}: {node.type}{_describe_args(node.arguments)}")
            return
        fetch = node.fetch if isinstance(node, BatchedJoin) else node
        columns = ", ".join(c.name for c in fetch.columns)
        target = f"{' -> '.join(fetch.chain)}.{fetch.collection}[{columns}]"
        args = _describe_args(fetch.arguments)
        if isinstance(node, BatchedJoin):
            on = ", ".join(f"{t} = #{node.parent}[{i}]" for t, i in node.join)
            lines.append(f"{indent}{label}BatchedJoin #{node.id} {path}{args}: {target} on {on}")
        else:
            lines.append(f"{indent}Fetch #{node.id} {path}{args}: {target}")
        for child in fetch.nested:
            walk(child, indent + "  ", "Nested ")

    walk(plan.root, "  ")
    return "\n".join(lines)
