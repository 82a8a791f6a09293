"""An Int column (docs/reference.md §4): GraphQL's Int is 32 bits, SQLite's integers 64."""

from dbmesh import database, types


@types.object
class Counter:
    name: str
    hits: int
    peak: int | None


@types.object
class Query:
    @database("store")
    def counters(self, limit: int = 50) -> list[Counter]: ...
