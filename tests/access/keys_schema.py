"""One SQLite table, for the tests of key kinds (tests/access/test_token_keys.py)."""

from dbmesh import database, types


@types.object
class Item:
    id: int
    owner: str


@types.object
class Query:
    @database("only")
    def items(self) -> list[Item]: ...
