"""A fallback list, tried in order (docs/reference.md §7)."""

from dbmesh import database, types


@types.object
class Item:
    id: int
    name: str
    source_database: str


@types.object
class Query:
    @database("first", fallback=["second", "third"])
    def items(self) -> list[Item]: ...
