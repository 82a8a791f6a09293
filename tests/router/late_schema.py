"""A database that is down when the router starts (docs/reference.md §7): `late` serves widgets
(falling back to `store`) and gadgets (no fallback)."""

from dbmesh import database, types


@types.object
class Widget:
    name: str
    color: str
    source_database: str


@types.object
class Gadget:
    name: str


@types.object
class Query:
    @database("late", fallback="store")
    def widgets(self) -> list[Widget]: ...

    @database("late")
    def gadgets(self) -> list[Gadget]: ...
