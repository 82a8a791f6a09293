"""Planning one root field of a mutation operation (docs/reference.md §10), for `router.planner`.

A mutation field becomes a `Mutate` step: its arguments as templates (variables stay `VarRef`s),
and the columns its `returning` selections read, which grow with the join keys of the relations
they select. Those relations are planned exactly as a read's (`BatchedJoin`s keyed by the parent's
rows), with the step's id as their parent: after commit, the rows the step wrote are their parent
rows, so every relation is one batched read however many rows were written.
"""

from __future__ import annotations

from graphql import FieldNode

from dbmesh.router.plan import ColumnSpec, FieldSelection, Mutate, Node, Parallel, variable_usages
from dbmesh.router.planner import _arguments, _located, _Planning

__all__ = ["plan_mutation_field"]


def plan_mutation_field(
    planning: _Planning, key: str, nodes: list[FieldNode]
) -> tuple[Node | None, FieldSelection, Mutate | None]:
    """The reads after commit (or None), the response selection and the `Mutate` of one root
    field of a mutation (None for `__typename`)."""
    name = nodes[0].name.value
    if name == "__typename":
        return None, FieldSelection(key, "typename", name, "Mutation", False, typename="Mutation"), None
    field = planning.index.mutations[name]
    target = planning.index.model.types[field.target]
    step_id = next(planning.ids)
    result_type = f"{target.name}MutationResult"
    columns: list[ColumnSpec] = []
    children: list[Node] = []
    selections: list[FieldSelection] = []
    for sub_key, sub_nodes in planning.collect(result_type, nodes).items():
        sub_name = sub_nodes[0].name.value
        if sub_name == "__typename":
            selection = FieldSelection(sub_key, "typename", sub_name, result_type, False, typename=result_type)
        elif sub_name == "affectedRows":
            selection = FieldSelection(sub_key, "affected_rows", sub_name, result_type, False)
        else:
            rows, nested = planning.object_selections(target, sub_nodes, step_id, columns, (key, sub_key))
            children += nested
            selection = FieldSelection(
                sub_key, "returning", sub_name, result_type, False, fetch=step_id, many=True, selections=rows
            )
        selections.append(_located(selection, sub_nodes[0]))
    arguments = _arguments(planning.graphql_field("Mutation", name), nodes)
    step = Mutate(
        id=step_id,
        path=(key,),
        field=name,
        operation=field.kind.value,
        type=target.name,
        database=field.database,
        collection=target.table,
        columns=tuple(columns),
        arguments=arguments,
        variable_usages=variable_usages(arguments),
    )
    reads: Node | None = None
    if len(children) == 1:
        reads = children[0]
    elif children:
        reads = Parallel(tuple(children))
    selection = FieldSelection(key, "mutation", name, "Mutation", True, fetch=step_id, selections=tuple(selections))
    return reads, selection, step
