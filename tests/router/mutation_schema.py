"""The schema of the mutation tests (tests/router/test_mutations.py): customers and their orders
in database `main`, written through Mutation; `ledger` is a second writable database (for a
cross-database operation), `archive` a read-only one that Query may read."""

from decimal import Decimal
from uuid import UUID

from dbmesh import database, types


@types.object
class Customer:
    id: UUID
    email: str
    name: str | None
    balance: int

    @database("main")
    def orders(self) -> list["Order"]: ...


@types.object
class Order:
    id: UUID
    customer_id: UUID
    total: Decimal

    @database("main")
    def customer(self) -> Customer | None: ...


@types.object
class Entry:
    id: UUID
    account: str
    amount: Decimal


@types.object
class Query:
    @database("main")
    def customers(self) -> list[Customer]: ...

    @database("ledger")
    def entries(self) -> list[Entry]: ...


@types.object
class Mutation:
    @database("main")
    def insert_customers(self) -> list[Customer]: ...

    @database("main")
    def update_customers(self) -> list[Customer]: ...

    @database("main")
    def delete_customers(self) -> list[Customer]: ...

    @database("main")
    def insert_orders(self) -> list[Order]: ...

    @database("ledger")
    def insert_entries(self) -> list[Entry]: ...
