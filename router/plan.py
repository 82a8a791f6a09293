"""The query plan: frozen, JSON-serializable data, separate from the executor that walks it.

A plan has two parts:
- `root`, a tree of nodes saying which fetches run and in what order: `Parallel` children run
  concurrently, `Sequence` children one after another, a `Fetch` is one Query RPC to one
  database (a root field) and a `BatchedJoin` is one Query RPC that fetches a relation for
  EVERY parent row of another fetch at once (one variable set per distinct parent key, SPEC §8);
  a `Virtual` node builds a composite object from its arguments.
- `selections`, the response shape: which response key reads which column of which fetch.

Argument values that depend on the request are kept as `VarRef`s and resolved by the executor,
so one plan serves every request with the same document (the planner caches it).
`dbmesh plan` and the trace print `plan_to_json(plan)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Literal

__all__ = [
    "BatchedJoin",
    "ColumnSpec",
    "Fetch",
    "FieldSelection",
    "Node",
    "Parallel",
    "Plan",
    "Sequence",
    "VarRef",
    "Virtual",
    "describe_plan",
    "plan_to_json",
]


@dataclass(frozen=True)
class VarRef:
    """A GraphQL variable inside an argument value, resolved per request."""

    name: str


@dataclass(frozen=True)
class ColumnSpec:
    name: str  # the column
    scalar: str  # its GraphQL scalar (ID, String, DateTime, ...): the logical type to read it as


@dataclass(frozen=True)
class Fetch:
    """One Query RPC for a root field."""

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
    kind: Literal["Fetch"] = "Fetch"


@dataclass(frozen=True)
class BatchedJoin:
    """One Query RPC serving a relation for every row of the parent fetch: the parent's distinct
    `join` keys become the request's variable sets (SPEC §8 batching)."""

    id: int
    path: tuple[str, ...]
    field: str  # the GraphQL field it serves
    owner: str  # the type that declares the field ("Query" for root fields)
    type: str
    database: str
    fallbacks: tuple[str, ...]
    fallback_on: tuple[str, ...]
    affinity: str
    collection: str
    columns: tuple[ColumnSpec, ...]
    many: bool
    parent: int
    # (target column, index of the parent's column in the parent fetch's row) pairs.
    join: tuple[tuple[str, int], ...]
    join_scalars: tuple[str, ...]  # the parent columns' scalars, for typing the key values
    arguments: tuple[tuple[str, Any], ...] = ()
    kind: Literal["BatchedJoin"] = "BatchedJoin"


@dataclass(frozen=True)
class Virtual:
    """A composite root field: one object whose columns are its arguments (SPEC §4)."""

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

SelectionKind = Literal[
    "column",  # row[index]
    "typename",  # the constant `typename`
    "relation",  # rows of fetch `fetch` for this row's join key
    "root",  # the rows of root fetch `fetch`
    "source_database",  # the database that served the row
    "is_stale",  # row[index] (last_sync) older than `max_staleness_secs`
    "database_status",  # the router's health snapshot
    "status_field",  # a field of one DatabaseStatus
    "introspection",  # __schema / __type: answered by graphql-core
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
    max_staleness_secs: float = 0.0
    selections: tuple[FieldSelection, ...] = ()
    line: int = 0  # where the field is in the document, for error locations
    column: int = 0


@dataclass(frozen=True)
class Plan:
    operation: str  # query (dbmesh serves no mutations)
    root: Node | None
    selections: tuple[FieldSelection, ...]
    fetch_count: int
    introspection: bool = False
    # Not part of the JSON form: the node of each fetch id, for the executor, and the requests of
    # nodes whose arguments use no variable (the same for every execution of this plan).
    nodes: dict[int, Fetch | BatchedJoin | Virtual] = field(default_factory=dict, compare=False, repr=False)
    requests: dict[int, Any] = field(default_factory=dict, compare=False, repr=False)


def _json(value: Any) -> Any:
    if isinstance(value, VarRef):
        return {"$var": value.name}
    if is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        for f in fields(value):
            if f.name in ("nodes", "requests") and isinstance(value, Plan):
                continue
            item = getattr(value, f.name)
            if f.name == "arguments":
                out[f.name] = {k: _json(v) for k, v in item}
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

    def walk(node: Node | None, indent: str) -> None:
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
        columns = ", ".join(c.name for c in node.columns)
        chain = " -> ".join((node.database, *node.fallbacks))
        target = f"{chain}.{node.collection}[{columns}]"
        args = _describe_args(node.arguments)
        if isinstance(node, BatchedJoin):
            on = ", ".join(f"{t} = #{node.parent}[{i}]" for t, i in node.join)
            lines.append(f"{indent}BatchedJoin #{node.id} {path}{args}: {target} on {on}")
        else:
            lines.append(f"{indent}Fetch #{node.id} {path}{args}: {target}")

    walk(plan.root, "  ")
    return "\n".join(lines)
