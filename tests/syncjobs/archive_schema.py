"""The sync tests' schema: the archived orders, read from `mysql_historical` (syncStatus is built in)."""

from datetime import datetime
from decimal import Decimal

from dbmesh import database, types


@types.object
class Order:
    id: int
    customer_id: int
    status: str
    total: Decimal
    created_at: datetime
    note: str | None


@types.object
class Query:
    @database("mysql_historical")
    def archived_orders(self) -> list[Order]: ...
