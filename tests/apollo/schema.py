"""The federation tests' subgraph: customers in PostgreSQL (`pg`), their orders in SQLite (`shop`).
Customer and Order have an `id`, so both are entities; Note has none, so it is not one."""

from uuid import UUID

from dbmesh import database, types


@types.object
class Customer:
    id: UUID
    name: str

    @database("shop", on={"customer_id": "id"})
    def orders(self) -> list["Order"]:
        """The customer's orders, from the shop database."""


@types.object
class Order:
    id: int
    customer_id: UUID
    total: int


@types.object
class Note:
    customer_id: UUID
    text: str


@types.object
class Query:
    @database("pg")
    def customers(self) -> list[Customer]: ...

    @database("pg")
    def customer(self, id: str) -> Customer | None: ...

    @database("shop")
    def orders(self) -> list[Order]: ...

    @database("pg")
    def notes(self) -> list[Note]: ...
