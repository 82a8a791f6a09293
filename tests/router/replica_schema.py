"""Replica tests: one table read with affinity="read_replica", one with the default."""

from dbmesh import database, types


@types.object
class Note:
    id: int
    text: str


@types.object
class Query:
    @database("pg", affinity="read_replica")
    def notes(self) -> list[Note]: ...

    @database("pg")
    def primary_notes(self) -> list[Note]:
        """The same table, always from the database itself (affinity read_primary)."""
