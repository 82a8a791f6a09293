"""Fault-test schema: customers in PostgreSQL (cache fallback in SQLite), orders in SQLite."""

from datetime import datetime
from uuid import UUID

from dbmesh import database, types


@types.object
class Customer:
    id: UUID
    email: str
    name: str
    created_at: datetime
    source_database: str

    @database("history")
    def all_orders(self) -> list["Order"]: ...


@types.object
class Order:
    id: int
    customer_id: UUID
    total: float


@types.object
class Query:
    @database("postgres_primary", fallback="sqlite_cache")
    def customers(self, limit: int = 50) -> list[Customer]: ...

    @database("postgres_primary")
    def customer(self, id: str) -> Customer | None: ...

    @database("history")
    def orders(self) -> list[Order]: ...
