"""The persisted-query tests' schema (tests/router/test_persisted_queries.py): notes in SQLite."""

from dbmesh import database, types


@types.object
class Note:
    id: int
    text: str


@types.object
class Query:
    @database("main")
    def notes(self) -> list[Note]: ...


@types.object
class Mutation:
    @database("main")
    def insert_notes(self) -> list[Note]: ...
