"""The schema of the coalescing tests (docs/reference.md §7): customers on PostgreSQL (`shop`,
falling back to the SQLite `cache`), orders and their items on MariaDB (`history`), notes and
char(4) codes on PostgreSQL with no fallback."""

from uuid import UUID

from dbmesh import database, types


@types.object
class Customer:
    id: UUID
    name: str

    @database("history")
    def orders(self) -> list["Order"]: ...


@types.object
class Order:
    id: int
    customer_id: UUID
    total: int

    @database("history")
    def items(self) -> list["Item"]: ...


@types.object
class Item:
    order_id: int
    line: int
    sku: str


@types.object
class Note:
    id: int
    text: str


@types.object
class Code:
    code: str
    label: str


@types.object
class Query:
    @database("shop")
    def code(self, code: str) -> Code | None: ...

    @database("shop", fallback="cache")
    def customer(self, id: str) -> Customer | None: ...

    @database("history")
    def order(self, id: int) -> Order | None: ...

    @database("history")
    def orders(self, customer_id: str, limit: int = 50) -> list[Order]: ...

    @database("shop")
    def note(self, id: int) -> Note | None: ...
