"""The federation schema (docs/reference.md §4): customers and their details in `postgres_primary`,
ten years of orders in `mysql_historical`, a copy of the customers in `sqlite_cache` that answers
when the primary is down.

The only copy. Deployed, the databases are PostgreSQL, MariaDB and SQLite (the sample data of
deploy/compose/initdb/ and deploy/sqlite/); `dbmesh demo` serves the same schema over three SQLite
files. Kubernetes ships this file in its ConfigMap (kustomize reads only files below
deploy/k8s/base), so deploy/schema.py (what compose mounts) and dbmesh/demo/schema.py (what the
wheel ships) are symbolic links to it.
"""

from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

from dbmesh import database, types


@types.object
class Customer:
    """A customer, from the primary database (or the cache when the primary is down)."""

    id: UUID
    email: str
    name: str
    created_at: datetime
    source_database: str

    @database("postgres_primary")
    def details(self) -> "CustomerDetails | None":
        """Contact details, from the primary database."""

    @database("mysql_historical")
    def all_orders(self) -> list["Order"]:
        """Every order, from the historical database: a cross-database join on customer_id."""

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
        """The customer who placed it, back in the primary database (or the cache)."""


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
        """Customers from the primary database; from the cache when it is down."""

    @database("postgres_primary", fallback="sqlite_cache", fallback_on=("unavailable", "not_found"))
    def customer(self, id: str) -> Customer | None:
        """One customer; the cache answers when the primary is down or lacks the row."""

    @database("mysql_historical")
    def orders(self, customer_id: str | None = None) -> list[Order]:
        """Orders from the historical database, of every customer or of one."""

    @database("mysql_historical", args={"year": ("order_date", "year")})
    def historical_orders(self, customer_id: str, year: int) -> list[Order]:
        """One customer's orders of one year, from the historical database."""

    def customer_with_history(self, id: str) -> CustomerWithHistory:
        """A customer and their order history in one object."""
