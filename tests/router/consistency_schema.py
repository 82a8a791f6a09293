"""Consistency fields (docs/reference.md §4): source_database, last_sync, is_stale."""

from datetime import datetime, timedelta
from uuid import UUID

from dbmesh import database, types


@types.object(last_sync_column="synced_at", max_staleness=timedelta(days=1))
class Product:
    id: UUID
    name: str
    source_database: str
    last_sync: datetime | None
    is_stale: bool


@types.object
class Query:
    @database("store", fallback="mirror")
    def products(self) -> list[Product]: ...
