"""A composite root field, `@database.batch`, args= and the consistency fields (docs/reference.md §4)."""

from datetime import datetime, timedelta
from uuid import UUID

from dbmesh import database, types


@types.object(table="clients", last_sync_column="synced_at", max_staleness=timedelta(minutes=5))
class Customer:
    """A customer, as the primary database has it.

    The SQLite cache holds a copy.
    """

    id: UUID
    email: str
    source_database: str
    last_sync: datetime
    is_stale: bool


@types.object
class Order:
    id: UUID
    customer_id: UUID
    placed_at: datetime
    status: str | None


@types.object
class CustomerOverview:
    """One customer seen across databases, built from the root field's arguments."""

    customer_id: UUID
    note: str | None

    @database("postgres_primary", fallback=["sqlite_cache"], fallback_on=("unavailable", "not_found"))
    def customer(self) -> Customer | None: ...

    @database.batch
    @database("mysql_historical", on={"customer_id": "customer_id"}, affinity="read_replica")
    def orders(self, status: list[str] | None = None) -> list[Order | None]: ...


@types.object
class Query:
    def customer_overview(self, customer_id: str) -> CustomerOverview: ...

    @database("mysql_historical", args={"since": ("placed_at", "gte"), "year": ("placed_at", "year")})
    @database.batch
    def orders(
        self, since: datetime | None = None, year: int | None = None, limit: int = 20, offset: int = 0
    ) -> list[Order]: ...

    @database("postgres_primary", fallback="sqlite_cache", affinity="cache")
    def customers(self, id: list[str]) -> list[Customer]: ...
