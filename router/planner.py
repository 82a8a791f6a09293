"""Turn a validated GraphQL operation into a `Plan` (see `router.plan`). No network.

Fields are collected by graphql-core's own CollectFields (fragments, inline fragments,
`@skip`/`@include`, fields with one response key merged), then each database-served field becomes
a fetch: only the requested columns plus the join keys its relations need are fetched, and each
relation becomes one `BatchedJoin` per (relation, level), never one fetch per parent row; one
served by the same databases as its parent is nested in the parent's fetch (`_nest`), so a
chain of relations in one database is one Query RPC. The
request of every fetch that reads no variable is built here, once per plan (`Plan.templates`),
and that of every fetch whose variables are only comparison values, with their slots (`Plan.slotted`).
A mutation operation's root fields are planned by `router.mutation_plan`.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from types import MappingProxyType
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    ListValueNode,
    NullValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    OperationType,
    Undefined,
    ValueNode,
    VariableNode,
    value_from_ast,
)
from graphql.execution.collect_fields import FieldDetails, FragmentDetails, collect_fields, collect_subfields
from graphql.execution.values import VariableValues

from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.router.errors import BadUserInput
from dbmesh.router.plan import (
    BatchedJoin,
    ColumnSpec,
    Fetch,
    FieldSelection,
    Mutate,
    Node,
    Parallel,
    Plan,
    Sequence,
    VarRef,
    Virtual,
    variable_usages,
)
from dbmesh.router.requests import Slotted, build_request, slotted
from dbmesh.router.schema import DATABASE_STATUS, SchemaIndex
from dbmesh.router.sync_status import SYNC_STATUS
from dbmesh.schema.model import FieldSource, ObjectType

__all__ = ["Planner", "directive_variables", "get_operation"]

INTROSPECTION_FIELDS = ("__schema", "__type")


def get_operation(document: DocumentNode, operation_name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is None:
        return operations[0] if len(operations) == 1 else None
    return next((o for o in operations if o.name and o.name.value == operation_name), None)


def directive_variables(document: DocumentNode) -> tuple[str, ...]:
    """Variables used by `@skip`/`@include` anywhere: the only ones a plan depends on. An explicit
    stack: selection sets nest as deep as the parser allows."""
    names: set[str] = set()
    stack = [s for d in document.definitions if (s := getattr(d, "selection_set", None)) is not None]
    while stack:
        for sel in stack.pop().selections:
            for directive in sel.directives or ():
                for arg in directive.arguments or ():
                    if isinstance(arg.value, VariableNode):
                        names.add(arg.value.name.value)
            if (nested := getattr(sel, "selection_set", None)) is not None:
                stack.append(nested)
    return tuple(sorted(names))


def _template(node: ValueNode, type_: GraphQLInputType) -> Any:
    """An argument value with literals coerced and variables left as `VarRef`s."""
    if isinstance(node, VariableNode):
        return VarRef(node.name.value)
    if isinstance(node, NullValueNode):
        return None
    inner = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    if isinstance(inner, GraphQLList):
        item_type = inner.of_type
        if isinstance(node, ListValueNode):
            return [_template(v, item_type) for v in node.values]
        return [_template(node, item_type)]
    if isinstance(inner, GraphQLInputObjectType) and isinstance(node, ObjectValueNode):
        return {f.name.value: _template(f.value, inner.fields[f.name.value].type) for f in node.fields}
    return value_from_ast(node, inner)


def _arguments(field_def: GraphQLField, nodes: list[FieldNode]) -> tuple[tuple[str, Any], ...]:
    provided = {a.name.value: a.value for a in nodes[0].arguments or ()}
    out: list[tuple[str, Any]] = []
    for name, arg in field_def.args.items():
        if isinstance(provided.get(name), VariableNode):
            variable = provided[name]
            assert isinstance(variable, VariableNode)
            out.append((name, VarRef(variable.name.value, arg.default_value)))
        elif name in provided:
            out.append((name, _template(provided[name], arg.type)))
        elif arg.default_value is not Undefined:
            out.append((name, arg.default_value))
    return tuple(out)


def _located(selection: FieldSelection, node: FieldNode) -> FieldSelection:
    """`selection` with the offset of `node` in the query text (for error `locations`)."""
    return selection if node.loc is None else replace(selection, offset=node.loc.start)


def _head(node: Node) -> Node:
    """The node that runs first in `node`'s subtree."""
    return node.nodes[0] if isinstance(node, Sequence) else node


def _nestable(parent: Fetch, child: Node) -> bool:
    """Whether the relation fetch heading `child` can be nested in `parent`'s fetch: the same
    databases and affinity, and neither falls back per variable set on rows not found (that
    fallback asks later databases for some keys only, level by level)."""
    head = _head(child)
    return (
        isinstance(head, BatchedJoin)
        and head.fetch.chain == parent.chain
        and head.fetch.affinity == parent.affinity
        and not parent.falls_back_on_not_found
        and not head.fetch.falls_back_on_not_found
    )


def _nest(parent: Fetch, children: list[Node]) -> tuple[Fetch, list[Node]]:
    """`parent` with the relation fetches of `children` it can serve in its own call nested in it,
    and what is left to run after it: the other children, and what ran after each nested one."""
    nested: list[BatchedJoin] = []
    rest: list[Node] = []
    for child in children:
        if not _nestable(parent, child):
            rest.append(child)
            continue
        head = _head(child)
        assert isinstance(head, BatchedJoin)
        nested.append(head)
        if isinstance(child, Sequence):
            after = child.nodes[1]
            rest.extend(after.nodes if isinstance(after, Parallel) else (after,))
    return (replace(parent, nested=tuple(nested)) if nested else parent), rest


def _tree(first: Node, children: list[Node]) -> Node:
    if not children:
        return first
    return Sequence((first, children[0] if len(children) == 1 else Parallel(tuple(children))))


class _Planning:
    """The state of planning one operation."""

    def __init__(
        self,
        schema: GraphQLSchema,
        index: SchemaIndex,
        operation: OperationDefinitionNode,
        fragments: dict[str, FragmentDetails],
        variables: VariableValues,
        *,
        nest: bool = True,
    ) -> None:
        self.schema = schema
        self.nest = nest  # nest same-database relation fetches in their parent's (`_nest`)
        self.index = index
        self.operation = operation
        self.fragments = fragments
        self.variables = variables
        self.ids = itertools.count(1)
        self.nodes: dict[int, Fetch | BatchedJoin | Virtual] = {}
        self.introspection = False

    def collect_root(self) -> dict[str, list[FieldNode]]:
        """The operation's root fields: response key -> the field nodes merged under it."""
        mutation = self.operation.operation == OperationType.MUTATION
        root = self.schema.mutation_type if mutation else self.schema.query_type
        assert root is not None
        collected = collect_fields(self.schema, self.fragments, self.variables, root, self.operation)
        return {key: [d.node for d in details] for key, details in collected.grouped_field_set.items()}

    def collect(self, type_name: str, nodes: list[FieldNode]) -> dict[str, list[FieldNode]]:
        """The subfields of `nodes` (fields returning `type_name`), merged by response key."""
        graphql_type = self.schema.get_type(type_name)
        assert isinstance(graphql_type, GraphQLObjectType)
        collected = collect_subfields(
            self.schema,
            self.fragments,
            self.variables,
            self.operation,
            graphql_type,
            [FieldDetails(n, None) for n in nodes],
        )
        return {key: [d.node for d in details] for key, details in collected.grouped_field_set.items()}

    def graphql_field(self, type_name: str, field_name: str) -> GraphQLField:
        graphql_type = self.schema.get_type(type_name)
        assert isinstance(graphql_type, GraphQLObjectType)
        found: GraphQLField = graphql_type.fields[field_name]
        return found

    def object_selections(
        self,
        target: ObjectType,
        nodes: list[FieldNode],
        fetch_id: int,
        columns: list[ColumnSpec],
        path: tuple[str, ...],
    ) -> tuple[tuple[FieldSelection, ...], list[Node]]:
        """The selections of `target` objects read from fetch `fetch_id` (whose `columns` grow
        with what they need), and the nodes of the relations they select."""

        def column(name: str, scalar: str) -> int:
            for position, spec in enumerate(columns):
                if spec.name == name:
                    return position
            columns.append(ColumnSpec(name, scalar))
            return len(columns) - 1

        selections: list[FieldSelection] = []
        children: list[Node] = []
        collected = self.collect(target.name, nodes)
        for key, field_nodes in collected.items():
            name = field_nodes[0].name.value
            if name == "__typename":
                selections.append(FieldSelection(key, "typename", name, target.name, False, typename=target.name))
                continue
            before = len(selections)
            binding = self.index.binding(target.name, name)
            if binding.kind in ("column", "last_sync"):
                assert binding.column is not None
                index = column(binding.column.name, binding.column.scalar.value)
                int32 = binding.column.scalar.value == "Int"
                selections.append(
                    FieldSelection(key, "column", name, target.name, binding.column.nullable, index, int32=int32)
                )
            elif binding.kind == "source_database":
                selections.append(FieldSelection(key, "source_database", name, target.name, False))
            elif binding.kind == "is_stale":
                assert target.last_sync_column is not None
                index = column(target.last_sync_column, "DateTime")
                seconds = target.max_staleness.total_seconds()
                selections.append(
                    FieldSelection(key, "is_stale", name, target.name, True, index, max_staleness_secs=seconds)
                )
            else:
                relation = binding.relation
                assert relation is not None
                child_type = self.index.model.types[relation.target]
                join = []
                scalars = []
                for target_column, source_column in relation.join:
                    source = target.column(source_column)
                    assert source is not None
                    join.append((target_column, column(source_column, source.scalar.value)))
                    scalars.append(source.scalar.value)
                child, child_selections = self.fetch(
                    child_type,
                    relation.source,
                    field_nodes,
                    self.graphql_field(target.name, name),
                    (*path, key),
                    relation.many,
                    target.name,
                    parent=(fetch_id, tuple(join), tuple(scalars)),
                )
                children.append(child)
                child_id = child.nodes[0].id if isinstance(child, Sequence) else child.id  # type: ignore[union-attr]
                selections.append(
                    FieldSelection(
                        key,
                        "relation",
                        name,
                        target.name,
                        True,
                        fetch=child_id,
                        many=relation.many,
                        item_nullable=relation.item_nullable,
                        selections=child_selections,
                    )
                )
            selections[before:] = [_located(sel, field_nodes[0]) for sel in selections[before:]]
        return tuple(selections), children

    def fetch(
        self,
        target: ObjectType,
        source: FieldSource,
        nodes: list[FieldNode],
        field_def: GraphQLField,
        path: tuple[str, ...],
        many: bool,
        owner: str,
        parent: tuple[int, tuple[tuple[str, int], ...], tuple[str, ...]] | None = None,
    ) -> tuple[Node, tuple[FieldSelection, ...]]:
        fetch_id = next(self.ids)
        columns: list[ColumnSpec] = []
        selections, children = self.object_selections(target, nodes, fetch_id, columns, path)
        arguments = _arguments(field_def, nodes)
        fetch = Fetch(
            id=fetch_id,
            path=path,
            field=nodes[0].name.value,
            owner=owner,
            type=target.name,
            database=source.database,
            fallbacks=source.fallbacks,
            fallback_on=tuple(sorted(source.fallback_on)),
            affinity=source.affinity,
            collection=target.table,
            columns=tuple(columns),
            many=many,
            arguments=arguments,
            variable_usages=variable_usages(arguments),
        )
        if self.nest:
            fetch, children = _nest(fetch, children)
        node = fetch if parent is None else BatchedJoin(fetch, parent[0], parent[1], parent[2])
        self.nodes[fetch_id] = node
        return _tree(node, children), selections

    def virtual(
        self, target: ObjectType, nodes: list[FieldNode], field_def: GraphQLField, key: str
    ) -> tuple[Node, FieldSelection]:
        virtual_id = next(self.ids)
        columns = [ColumnSpec(c.name, c.scalar.value) for c in target.columns]
        root = self.index.roots[nodes[0].name.value]
        by_column = {a.name: a.graphql_name for a in root.arguments}
        provided = dict(_arguments(field_def, nodes))
        arguments = tuple((c.name, provided.get(by_column.get(c.name, ""))) for c in columns)
        selections, children = self.object_selections(target, nodes, virtual_id, columns, (key,))
        node = Virtual(virtual_id, (key,), target.name, tuple(columns), arguments)
        self.nodes[virtual_id] = node
        selection = FieldSelection(
            key, "root", root.graphql_name, "Query", True, fetch=virtual_id, selections=selections
        )
        return _tree(node, children), selection

    def root(self, key: str, nodes: list[FieldNode]) -> tuple[Node | None, FieldSelection]:
        name = nodes[0].name.value
        if name == "__typename":
            return None, FieldSelection(key, "typename", name, "Query", False, typename="Query")
        if name in INTROSPECTION_FIELDS:
            self.introspection = True
            return None, FieldSelection(key, "introspection", name, "Query")
        if name == DATABASE_STATUS:
            fields = self.collect("DatabaseStatus", nodes)
            status_fields = tuple(
                FieldSelection(k, "typename", "__typename", "DatabaseStatus", False, typename="DatabaseStatus")
                if f[0].name.value == "__typename"
                else FieldSelection(k, "status_field", f[0].name.value, "DatabaseStatus")
                for k, f in fields.items()
            )
            return None, FieldSelection(key, "database_status", name, "Query", False, selections=status_fields)
        if name == SYNC_STATUS:
            fields = self.collect("SyncStatus", nodes)
            status_fields = tuple(
                FieldSelection(k, "typename", "__typename", "SyncStatus", False, typename="SyncStatus")
                if f[0].name.value == "__typename"
                else FieldSelection(k, "status_field", f[0].name.value, "SyncStatus")
                for k, f in fields.items()
            )
            return None, FieldSelection(key, "sync_status", name, "Query", False, selections=status_fields)
        root = self.index.roots[name]
        target = self.index.model.types[root.target]
        field_def = self.graphql_field("Query", name)
        if root.source is None:
            return self.virtual(target, nodes, field_def, key)
        node, selections = self.fetch(target, root.source, nodes, field_def, (key,), root.many, "Query")
        fetch_id = node.nodes[0].id if isinstance(node, Sequence) else node.id  # type: ignore[union-attr]
        return node, FieldSelection(
            key,
            "root",
            name,
            "Query",
            True,
            fetch=fetch_id,
            many=root.many,
            item_nullable=root.item_nullable,
            selections=selections,
        )


class Planner:
    def __init__(
        self, schema: GraphQLSchema, index: SchemaIndex, *, default_limit: int | None = None, nest: bool = True
    ) -> None:
        self.schema = schema
        self.index = index
        self.nest = nest  # one Query RPC per chain of relations served by the same databases
        self.default_limit = default_limit  # the `limit` of a list field given none (router.requests)

    def plan(self, document: DocumentNode, operation_name: str | None, variables: VariableValues) -> Plan:
        """The plan of a VALIDATED document. `variables` (coerced) decide `@skip`/`@include`."""
        operation = get_operation(document, operation_name)
        if operation is None:
            raise ValueError("no such operation")  # validated documents always have one
        fragments = {
            d.name.value: FragmentDetails(d) for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        planning = _Planning(self.schema, self.index, operation, fragments, variables, nest=self.nest)
        roots = planning.collect_root()
        nodes: list[Node] = []
        selections: list[FieldSelection] = []
        mutations: list[Mutate] = []
        for key, field_nodes in roots.items():
            if operation.operation == OperationType.MUTATION:
                from dbmesh.router.mutation_plan import plan_mutation_field  # it builds on this module

                node, selection, step = plan_mutation_field(planning, key, field_nodes)
                if step is not None:
                    mutations.append(step)
            else:
                node, selection = planning.root(key, field_nodes)
            selection = _located(selection, field_nodes[0])
            if node is not None:
                nodes.append(node)
            selections.append(selection)
        root: Node | None = None
        if len(nodes) == 1:
            root = nodes[0]
        elif nodes:
            root = Parallel(tuple(nodes))
        fetch_count = sum(1 for n in planning.nodes.values() if not isinstance(n, Virtual))
        return Plan(
            operation.operation.value,
            root,
            tuple(selections),
            fetch_count,
            planning.introspection,
            MappingProxyType(planning.nodes),
            MappingProxyType(self._templates(planning.nodes)),
            document.loc.source.body if document.loc is not None else "",
            tuple(mutations),
            slotted=MappingProxyType(self._slotted(planning.nodes)),
        )

    def _slotted(self, nodes: dict[int, Fetch | BatchedJoin | Virtual]) -> dict[int, Slotted]:
        """The `Slotted` request of every fetch whose variables are only plain comparison values."""
        out = {}
        for node in nodes.values():
            if isinstance(node, Virtual) or not (node.fetch if isinstance(node, BatchedJoin) else node).variable_usages:
                continue
            if (request := slotted(node, self.index, default_limit=self.default_limit)) is not None:
                out[node.id] = request
        return out

    def _templates(self, nodes: dict[int, Fetch | BatchedJoin | Virtual]) -> dict[int, pb.QueryRequest]:
        """The request of every fetch that reads no variable: the same for every execution. One
        whose literal arguments the databases cannot take is left to fail when it runs, as a field
        error at its path."""
        templates = {}
        for node in nodes.values():
            fetch = node.fetch if isinstance(node, BatchedJoin) else node
            if not isinstance(fetch, Fetch) or fetch.variable_usages:
                continue
            arguments = {name: value for name, value in fetch.arguments}
            try:
                templates[fetch.id] = build_request(
                    node,  # type: ignore[arg-type]
                    self.index,
                    arguments,
                    default_limit=self.default_limit,
                )
            except BadUserInput:
                continue
        return templates
