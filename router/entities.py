"""`_entities` of a federation subgraph (docs/reference.md §15): planned like a relation whose
parent rows are the representations.

Per entity type the field's selection asks for, ONE `BatchedJoin` fetches every key of that type
the request references at once (the keys as the request's variable sets, docs/reference.md §8),
with its nested relations batched below it as anywhere else. `EntityPlan` is that part of a cached
plan; `EntityRequest` is one request's representations, as the seeded parent rows of those joins
(`seed`), and shapes `_entities` in representation order: an entity no row has is null.

Representations are checked before any fetch: each must be an object with a `__typename` naming
an entity type and an `id` of its key's type (BAD_USER_INPUT otherwise, naming the representation).
The cost counts each type's fetches once per representation of it (docs/reference.md §14).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLField,
    GraphQLObjectType,
    GraphQLSchema,
    OperationType,
)
from graphql.execution.collect_fields import FragmentDetails
from graphql.execution.values import VariableValues, get_argument_values

from dbmesh.config import RouterConfig
from dbmesh.router.cost import estimate
from dbmesh.router.executor import Outcome
from dbmesh.router.federation import ENTITIES, KEY_FIELD, SERVICE, TYPE_OF, Entity
from dbmesh.router.graphql_errors import request_error
from dbmesh.router.plan import BatchedJoin, FieldSelection, Node, Parallel, Plan, Virtual
from dbmesh.router.plan import Sequence as SequenceNode
from dbmesh.router.planner import Planner, _Planning, get_operation
from dbmesh.router.shaping import Shaper

__all__ = ["EntityFetch", "EntityPlan", "EntityRequest", "FederationPlanner", "seed"]

# The Python types a representation's key may have, per key scalar (any other scalar: a string).
_KEY_TYPES: dict[str, tuple[type, ...]] = {"ID": (str, int), "Int": (int,), "String": (str,)}


@dataclass(frozen=True)
class EntityFetch:
    """The fetch of one entity type under `_entities`: its join reads `slot` of the parent rows."""

    slot: int
    selection: FieldSelection  # a "relation" selection on the BatchedJoin
    cost: Plan  # its subtree under a one-row parent, for the cost of N representations


@dataclass(frozen=True)
class EntityPlan:
    """One `_entities` field of a plan: its seeded parent fetch and a fetch per entity type."""

    key: str  # the response key
    parent: int  # the id of the (seeded) representations
    types: Mapping[str, EntityFetch]
    node: FieldNode  # the field, for its `representations` argument


@dataclass(frozen=True)
class EntityRequest:
    """One request's representations of one `EntityPlan`: their types and parent rows."""

    plan: EntityPlan
    typenames: tuple[str, ...]
    rows: tuple[list[Any], ...]

    def shape(self, shaper: Shaper, data: dict[str, Any]) -> None:
        """`_entities` in representation order, from what the joins fetched (into `data`)."""
        items: list[dict[str, Any] | None] = []
        for i, (typename, row) in enumerate(zip(self.typenames, self.rows, strict=True)):
            fetch = self.plan.types.get(typename)
            if fetch is None:  # the selection asks nothing of this type: an empty object
                items.append({TYPE_OF: typename})
                continue
            item = shaper._relation(row, fetch.selection, [self.plan.key, i])
            if item is not None:
                item[TYPE_OF] = typename
            items.append(item)
        data[self.plan.key] = items


def seed(requests: Sequence[EntityRequest]) -> dict[int, Outcome]:
    """The outcomes the entity joins read their keys from: one parent row per representation."""
    return {r.plan.parent: Outcome(rows=list(r.rows)) for r in requests}


class FederationPlanner:
    """Plans operations that select `_entities` or `_service`; every other one goes to `planner`."""

    def __init__(self, schema: GraphQLSchema, planner: Planner, entities: Mapping[str, Entity]) -> None:
        self.schema = schema
        self.planner = planner
        self.entities = entities

    def plan(
        self, document: DocumentNode, operation_name: str | None, variables: VariableValues
    ) -> tuple[Plan, tuple[EntityPlan, ...]]:
        operation = get_operation(document, operation_name)
        if operation is None or operation.operation != OperationType.QUERY:
            return self.planner.plan(document, operation_name, variables), ()
        fragments = {
            d.name.value: FragmentDetails(d) for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        planning = _Planning(self.schema, self.planner.index, operation, fragments, variables, nest=self.planner.nest)
        roots = planning.collect_root()
        if not any(nodes[0].name.value in (SERVICE, ENTITIES) for nodes in roots.values()):
            return self.planner.plan(document, operation_name, variables), ()
        nodes: list[Node] = []
        selections: list[FieldSelection] = []
        entity_plans: list[EntityPlan] = []
        for key, field_nodes in roots.items():
            name = field_nodes[0].name.value
            if name in (SERVICE, ENTITIES):
                planning.introspection = True  # graphql-core answers them over the shaped data
                selections.append(FieldSelection(key, "introspection", name, "Query"))
                if name == ENTITIES:
                    entity_plan, tree = self._entities(planning, key, field_nodes)
                    entity_plans.append(entity_plan)
                    nodes += tree
                continue
            node, selection = planning.root(key, field_nodes)
            if node is not None:
                nodes.append(node)
            selections.append(selection)
        root: Node | None = nodes[0] if len(nodes) == 1 else (Parallel(tuple(nodes)) if nodes else None)
        plan = Plan(
            operation.operation.value,
            root,
            tuple(selections),
            sum(1 for n in planning.nodes.values() if not isinstance(n, Virtual)),
            planning.introspection,
            MappingProxyType(planning.nodes),
            MappingProxyType({}),
            document.loc.source.body if document.loc is not None else "",
        )
        return plan, tuple(entity_plans)

    def _entities(self, planning: _Planning, key: str, field_nodes: list[FieldNode]) -> tuple[EntityPlan, list[Node]]:
        """The joins of one `_entities` field: one per entity type its selection asks for."""
        parent = next(planning.ids)
        types: dict[str, EntityFetch] = {}
        trees: list[Node] = []
        slots = itertools.count()
        for name, entity in self.entities.items():
            if not planning.collect(name, field_nodes):
                continue
            slot = next(slots)
            before = set(planning.nodes)
            graphql_type = planning.schema.get_type(name)
            assert isinstance(graphql_type, GraphQLObjectType)
            tree, child_selections = planning.fetch(
                entity.type,
                entity.source,
                field_nodes,
                GraphQLField(graphql_type),  # no arguments: the keys are the join's
                (key,),
                False,
                "Query",
                parent=(parent, ((entity.key.name, slot),), (entity.key.scalar.value,)),
            )
            join = tree.nodes[0] if isinstance(tree, SequenceNode) else tree
            assert isinstance(join, BatchedJoin)
            offset = field_nodes[0].loc.start if field_nodes[0].loc is not None else -1
            selection = FieldSelection(
                key, "relation", ENTITIES, "Query", True, fetch=join.id, selections=child_selections, offset=offset
            )
            subtree = {i: n for i, n in planning.nodes.items() if i not in before}
            cost = Plan(
                "query", None, (), 0, nodes=MappingProxyType({parent: Virtual(parent, (), name, ()), **subtree})
            )
            types[name] = EntityFetch(slot, selection, cost)
            trees.append(tree)
        return EntityPlan(key, parent, MappingProxyType(types), field_nodes[0]), trees

    def request(
        self, plans: Sequence[EntityPlan], variables: VariableValues, config: RouterConfig, base_cost: int
    ) -> tuple[EntityRequest, ...] | list[dict[str, Any]]:
        """Each `_entities` field's representations, checked and costed; or the errors refusing
        the request (BAD_USER_INPUT, or QUERY_TOO_COMPLEX with the plan's other fetches' cost
        `base_cost`)."""
        requests: list[EntityRequest] = []
        cost = base_cost
        for plan in plans:
            field_def = self.schema.query_type.fields[ENTITIES]  # type: ignore[union-attr]
            representations = get_argument_values(field_def, plan.node, variables)["representations"]
            typenames: list[str] = []
            rows: list[list[Any]] = []
            for i, representation in enumerate(representations):
                checked = self._representation(i, representation)
                if isinstance(checked, dict):
                    return [checked]
                typename, value = checked
                row: list[Any] = [None] * len(plan.types)
                if (fetch := plan.types.get(typename)) is not None:
                    row[fetch.slot] = value
                    cost += estimate(fetch.cost, variables.coerced, config)
                typenames.append(typename)
                rows.append(row)
            requests.append(EntityRequest(plan, tuple(typenames), tuple(rows)))
        if cost > config.max_cost:
            message = f"Query is too complex: estimated cost {cost} rows exceeds the maximum of {config.max_cost}."
            return [request_error(message, "QUERY_TOO_COMPLEX")]
        return tuple(requests)

    def _representation(self, i: int, representation: Any) -> tuple[str, Any] | dict[str, Any]:
        """(type, key value) of representation `i`, or the error refusing it."""
        where = f"{ENTITIES}: representations[{i}]"
        typename = representation.get("__typename") if isinstance(representation, dict) else None
        if not isinstance(typename, str):
            return request_error(f"{where} must be an object with a __typename", "BAD_USER_INPUT")
        entity = self.entities.get(typename)
        if entity is None:
            known = ", ".join(self.entities)
            return request_error(
                f"{where}: {typename!r} is not an entity of this subgraph (entities: {known})", "BAD_USER_INPUT"
            )
        value = representation.get(KEY_FIELD)
        if value is None:
            return request_error(f"{where}: {typename} needs its key field {KEY_FIELD}", "BAD_USER_INPUT")
        scalar = entity.key.scalar.value
        if isinstance(value, bool) or not isinstance(value, _KEY_TYPES.get(scalar, (str,))):
            return request_error(f"{where}: {typename}.{KEY_FIELD} is not a valid {scalar}", "BAD_USER_INPUT")
        return typename, value
