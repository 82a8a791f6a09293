"""One table in MariaDB, for the secrets test."""

from dbmesh import database, types


@types.object
class Note:
    id: int
    text: str


@types.object
class Query:
    @database("vault")
    def notes(self) -> list[Note]: ...
