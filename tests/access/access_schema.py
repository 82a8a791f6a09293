"""The schema of the access-control tests (docs/reference.md §14): customers on PostgreSQL
(`shop`, falling back to the SQLite `cache`, also when a customer is not found), their orders on
MariaDB (`history`, with each order's `siblings` there too), and secrets on SQLite that role
`customer` may not see at all."""

from dbmesh import database, types


@types.object
class Customer:
    id: str
    name: str
    email: str
    tenant: str

    @database("history")
    def orders(self) -> list["Order"]: ...


@types.object
class Order:
    id: int
    customer_id: str
    total: int
    tenant: str

    @database("shop", fallback="cache")
    def customer(self) -> Customer | None: ...

    @database("history", on={"customer_id": "customer_id"})
    def siblings(self) -> list["Order"]:
        """The orders of the same customer: a relation within one database (nested in its parent's call)."""


@types.object
class Secret:
    id: int
    note: str


@types.object
class Query:
    @database("shop", fallback="cache")
    def customers(self) -> list[Customer]: ...

    @database("shop", fallback="cache", fallback_on=("unavailable", "not_found"))
    def customer(self, id: str) -> Customer | None: ...

    @database("history")
    def orders(self) -> list[Order]: ...

    @database("cache")
    def secrets(self) -> list[Secret]: ...


@types.object
class Mutation:
    @database("history")
    def insert_orders(self) -> list[Order]: ...

    @database("history")
    def update_orders(self) -> list[Order]: ...

    @database("history")
    def delete_orders(self) -> list[Order]: ...
