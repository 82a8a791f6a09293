"""dbmesh as an Apollo Federation 2 subgraph, with `[router] federation = true` (docs/reference.md §15):
the schema side. `router.entities` plans and serves `_entities`.

The schema then also has, per the federation subgraph specification:
- `_service: _Service!`, whose `sdl` is the schema as a subgraph prints it: the GraphQL schema
  without these federation fields and types, after `extend schema @link(url:
  "https://specs.apollo.dev/federation/v2.3", import: ["@key"])`, with `@key(fields: "id")` on
  every entity type;
- `_entities(representations: [_Any!]!): [_Entity]!`, the union `_Entity` of the entity types and
  the scalar `_Any` (a representation: `{"__typename": "Customer", "id": ...}`); left out, as the
  specification says, when there is no entity type.

An entity type is a table-backed type with an `id` column (its key: dbmesh's schemas name a
table's primary key `id`, and `<type>_id` columns reference it) and a database that serves it:
that of its first single-object root field, else of its first root field, else of the first
relation returning it, with that field's fallbacks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from graphql import (
    ConstArgumentNode,
    ConstDirectiveNode,
    DefinitionNode,
    DocumentNode,
    GraphQLArgument,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLString,
    GraphQLUnionType,
    NameNode,
    ObjectTypeDefinitionNode,
    StringValueNode,
    TypeDefinitionNode,
    ValueNode,
    parse,
    print_ast,
    print_schema,
    value_from_ast_untyped,
)

from dbmesh.schema.model import Column, FieldSource, ObjectType, RootField, SchemaModel

__all__ = ["ENTITIES", "KEY_FIELD", "LINK", "SERVICE", "TYPE_OF", "Entity", "Subgraph", "entity_types", "subgraph_sdl"]

ENTITIES = "_entities"
SERVICE = "_service"
KEY_FIELD = "id"
LINK = 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])'
_FEDERATION_TYPES = frozenset({"_Any", "_Entity", "_Service"})
_FIELDS = (SERVICE, ENTITIES)
# Where a shaped entity keeps its type, for `_Entity`'s resolve_type: not a GraphQL name, so no
# response key can collide with it, and graphql-core never copies it into the response.
TYPE_OF = "#type"


@dataclass(frozen=True)
class Entity:
    """A type references can name: its key column and the database that serves it."""

    type: ObjectType
    key: Column
    source: FieldSource


def entity_types(model: SchemaModel) -> dict[str, Entity]:
    """The entity types of `model`, by name (see the module docstring)."""
    sources: dict[str, FieldSource] = {}
    for root in sorted(model.query, key=lambda r: r.many):  # single-object root fields first
        if root.source is not None:
            sources.setdefault(root.target, root.source)
    for obj in model.types.values():
        for relation in obj.relations:
            sources.setdefault(relation.target, relation.source)
    found: dict[str, Entity] = {}
    for name, obj in model.types.items():
        key = next((c for c in obj.columns if c.graphql_name == KEY_FIELD), None)
        if not obj.virtual and key is not None and name in sources:
            found[name] = Entity(obj, key, sources[name])
    return found


def _as_is(value: Any) -> Any:
    return value


def _literal(node: ValueNode, variables: dict[str, Any] | None = None) -> Any:
    return value_from_ast_untyped(node, variables)


_ANY = GraphQLScalarType(
    "_Any",
    serialize=_as_is,
    parse_value=_as_is,
    parse_literal=_literal,
    description="An entity representation: its __typename and key fields.",
)


class Subgraph:
    """The federation fields of one schema, and its subgraph SDL once the schema is built."""

    def __init__(self, model: SchemaModel, objects: Mapping[str, GraphQLObjectType]) -> None:
        self.entities = entity_types(model)
        self.objects = objects
        self.sdl = ""

    def fields(self) -> dict[str, GraphQLField]:
        service = GraphQLObjectType("_Service", {"sdl": GraphQLField(GraphQLString)})
        fields = {
            SERVICE: GraphQLField(
                GraphQLNonNull(service),
                resolve=lambda _root, _info: {"sdl": self.sdl},
                description="This subgraph's SDL, for a federation gateway.",
            )
        }
        if self.entities:
            union = GraphQLUnionType(
                "_Entity",
                [self.objects[name] for name in self.entities],
                resolve_type=lambda value, _info, _type: value[TYPE_OF],
            )
            fields[ENTITIES] = GraphQLField(
                GraphQLNonNull(GraphQLList(union)),
                {"representations": GraphQLArgument(GraphQLNonNull(GraphQLList(GraphQLNonNull(_ANY))))},
                description="The entities these representations reference, in their order (null: no such row).",
            )
        return fields

    def root_field(self) -> RootField:
        """What `SchemaIndex.roots` holds for `_entities`: the (no) arguments its fetches read."""
        first = next(iter(self.entities))
        return RootField(ENTITIES, ENTITIES, first, many=True, item_nullable=True, source=None)


def subgraph_sdl(schema: GraphQLSchema, entities: Sequence[str]) -> str:
    """`schema` as a federation 2 subgraph prints it (see the module docstring)."""
    document = parse(print_schema(schema))
    key = ConstDirectiveNode(
        name=NameNode(value="key"),
        arguments=(ConstArgumentNode(name=NameNode(value="fields"), value=StringValueNode(value=KEY_FIELD)),),
    )
    kept: list[DefinitionNode] = []
    for definition in document.definitions:
        if isinstance(definition, TypeDefinitionNode) and definition.name.value in _FEDERATION_TYPES:
            continue
        if isinstance(definition, ObjectTypeDefinitionNode):
            name = definition.name.value
            fields = tuple(f for f in definition.fields or () if name != "Query" or f.name.value not in _FIELDS)
            directives = (*(definition.directives or ()), *((key,) if name in entities else ()))
            definition = ObjectTypeDefinitionNode(
                name=definition.name,
                description=definition.description,
                interfaces=definition.interfaces,
                directives=directives,
                fields=fields,
            )
        kept.append(definition)
    return f"{LINK}\n\n{print_ast(DocumentNode(definitions=tuple(kept)))}\n"
