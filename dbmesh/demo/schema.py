"""The demo's schema: the guide's shapes over three SQLite databases (primary, historical, cache)."""

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

    @database("primary")
    def details(self) -> "CustomerDetails | None":
        """Contact details, from the primary database."""

    @database("historical")
    def all_orders(self) -> list["Order"]:
        """Every order, from the historical database: a cross-database join on customer_id."""

    @database("historical")
    def historical_orders(self, year: int) -> list["Order"]:
        """Orders of one year (an index-friendly date range on order_date)."""


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

    @database("historical")
    def items(self) -> list["OrderItem"]:
        """Line items of the order."""

    @database("primary", fallback="cache")
    def customer(self) -> Customer | None:
        """The customer who placed it (many-to-one, back to the primary database)."""


@types.object
class OrderItem:
    order_id: UUID
    product_id: UUID
    quantity: int
    price: Decimal


@types.object
class CustomerWithHistory:
    """A composite object: a customer and their orders, fetched from two databases at once."""

    id: UUID

    @database("primary", fallback="cache", on={"id": "id"})
    def customer(self) -> Customer | None: ...

    @database("historical", on={"customer_id": "id"})
    def orders(self) -> list[Order]: ...


@types.object
class Query:
    @database("primary", fallback="cache")
    def customers(self, limit: int = 50) -> list[Customer]:
        """Customers from the primary database; from the cache when it is down."""

    @database("primary", fallback="cache", fallback_on=("unavailable", "not_found"))
    def customer(self, id: str) -> Customer | None:
        """One customer; the cache answers when the primary is down or lacks the row."""

    @database("historical")
    def orders(self, customer_id: str | None = None) -> list[Order]:
        """Orders from the historical database."""

    def customer_with_history(self, id: str) -> CustomerWithHistory:
        """A customer and their order history in one object."""
