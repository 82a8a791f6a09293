"""The write-through tests' schema (tests/outbox): customers written to `postgres_primary` and
through to `sqlite_cache`; `cachedCustomers` reads the cache."""

from datetime import datetime
from uuid import UUID

from dbmesh import database, types


@types.object
class Customer:
    id: UUID
    email: str
    name: str | None
    visits: int
    last_sync: datetime | None
    is_stale: bool


@types.object
class Query:
    @database("postgres_primary")
    def customers(self) -> list[Customer]: ...

    @database("sqlite_cache")
    def cached_customers(self) -> list[Customer]: ...


@types.object
class Mutation:
    @database("postgres_primary", write_through="sqlite_cache")
    def insert_customers(self) -> list[Customer]: ...

    @database("postgres_primary", write_through="sqlite_cache")
    def update_customers(self) -> list[Customer]: ...

    @database("postgres_primary", write_through="sqlite_cache")
    def delete_customers(self) -> list[Customer]: ...
