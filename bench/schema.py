# mypy: disable-error-code="empty-body"
"""The benchmark's schema: the guide's federation (a copy of tests/e2e/schema.py without the
composite type). Customers and their details in PostgreSQL, orders and order items in MariaDB,
a customers cache in SQLite as the fallback of `customers`."""

from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

from dbmesh import database, types


@types.object
class Customer:
    id: UUID
    email: str
    name: str
    created_at: datetime

    @database("postgres_primary")
    def details(self) -> "CustomerDetails": ...

    @database("mysql_historical")
    def all_orders(self) -> list["Order"]: ...

    @database("mysql_historical")
    def historical_orders(self, year: int) -> list["Order"]: ...


@types.object
class CustomerDetails:
    customer_id: UUID
    phone: str
    address: str
    preferred_timezone: str


@types.object
class Order:
    id: UUID
    customer_id: UUID
    order_date: date
    total_amount: Decimal

    @database("mysql_historical")
    def items(self) -> list["OrderItem"]: ...

    @database("postgres_primary", fallback="sqlite_cache")
    def customer(self) -> Customer: ...


@types.object
class OrderItem:
    order_id: UUID
    product_id: UUID
    quantity: int
    price: Decimal


@types.object
class Query:
    @database("postgres_primary")
    def customer(self, id: str) -> Customer | None: ...

    @database("postgres_primary", fallback="sqlite_cache")
    def customers(self, limit: int = 50) -> list[Customer]: ...

    @database("mysql_historical", args={"year": ("order_date", "year")})
    def historical_orders(self, customer_id: str, year: int) -> list[Order]: ...
