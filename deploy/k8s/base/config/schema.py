"""The deployed federation schema (SPEC §4): customers and their details in PostgreSQL, ten years
of orders in MySQL/MariaDB, a copy of the customers in SQLite that answers when PostgreSQL is down.

It matches the sample data in deploy/compose/initdb/ and deploy/sqlite/. This file is the
Kubernetes ConfigMap's; deploy/schema.py (compose, the end-to-end tests, the benchmark) links to it.
"""

from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

from dbmesh import database, types


@types.object
class Customer:
    """A customer, from PostgreSQL (or the SQLite cache when PostgreSQL is down)."""

    id: UUID
    email: str
    name: str
    created_at: datetime
    source_database: str

    @database("postgres_primary")
    def details(self) -> "CustomerDetails | None":
        """Contact details, from PostgreSQL."""

    @database("mysql_historical")
    def all_orders(self) -> list["Order"]:
        """Every order, from MySQL: a cross-database join on customer_id."""

    @database("mysql_historical", args={"year": ("order_date", "year")})
    def historical_orders(self, year: int) -> list["Order"]:
        """Orders of one year (an index-friendly range on order_date)."""


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
    def items(self) -> list["OrderItem"]:
        """Line items of the order."""

    @database("postgres_primary", fallback="sqlite_cache")
    def customer(self) -> Customer | None:
        """The customer who placed it, back in PostgreSQL (or the cache)."""


@types.object
class OrderItem:
    order_id: UUID
    product_id: UUID
    quantity: int
    price: Decimal


@types.object
class CustomerWithHistory:
    """A customer and their orders, fetched from two databases at once."""

    id: UUID

    @database("postgres_primary", fallback="sqlite_cache", on={"id": "id"})
    def customer(self) -> Customer | None: ...

    @database("mysql_historical", on={"customer_id": "id"})
    def orders(self) -> list[Order]: ...


@types.object
class Query:
    @database("postgres_primary", fallback="sqlite_cache")
    def customers(self, limit: int = 50) -> list[Customer]:
        """Customers from PostgreSQL; from the cache when it is down."""

    @database("postgres_primary", fallback="sqlite_cache", fallback_on=("unavailable", "not_found"))
    def customer(self, id: str) -> Customer | None:
        """One customer; the cache answers when PostgreSQL is down or lacks the row."""

    @database("mysql_historical", args={"year": ("order_date", "year")})
    def historical_orders(self, customer_id: str, year: int) -> list[Order]:
        """One customer's orders of one year, from MySQL."""

    def customer_with_history(self, id: str) -> CustomerWithHistory:
        """A customer and their order history in one object."""
