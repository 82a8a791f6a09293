"""The databases of dbmesh.toml as `dbmesh init` found them (docs/reference.md §4, §15): a type
per table, relations from foreign keys and from `<type>_id` columns, and per table a list field and
a by-key field on Query. No fallbacks are guessed: add `fallback=` (and `args=`, descriptions,
composite types) where you want them.
"""

from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

from dbmesh import database, types


@types.object
class CustomerDetail:
    """Table customer_details of postgres_primary. Also in sqlite_cache (not used: add fallback= to a field
    to read it there when postgres_primary is down).
    """

    customer_id: UUID
    phone: str
    address: str
    preferred_timezone: str

    @database("postgres_primary", on={"id": "customer_id"})
    def customer(self) -> "Customer | None":
        """The row of customers this one references (foreign key customer_details_customer_id_fkey:
        customer_details.customer_id -> customers.id).
        """


@types.object
class Customer:
    """Table customers of postgres_primary. Also in sqlite_cache (not used: add fallback= to a field to
    read it there when postgres_primary is down).
    """

    id: UUID
    email: str
    name: str
    created_at: datetime

    @database("postgres_primary", on={"customer_id": "id"})
    def customer_detail(self) -> "CustomerDetail | None":
        """The row of customer_details referencing this one (foreign key customer_details_customer_id_fkey:
        customer_details.customer_id -> customers.id).
        """

    @database("mysql_historical", on={"customer_id": "id"})
    def orders(self) -> list["Order"]:
        """The rows of orders referencing this one (by name, across databases: orders.customer_id ->
        customers.id).
        """


@types.object
class OrderItem:
    """Table order_items of mysql_historical. Also in sqlite_cache (not used: add fallback= to a field to
    read it there when mysql_historical is down).
    """

    order_id: str
    product_id: str
    quantity: int
    price: Decimal

    @database("mysql_historical", on={"id": "order_id"})
    def order(self) -> "Order | None":
        """The row of orders this one references (by name, in mysql_historical: order_items.order_id ->
        orders.id).
        """


@types.object
class Order:
    """Table orders of mysql_historical. Also in sqlite_cache (not used: add fallback= to a field to read
    it there when mysql_historical is down).
    """

    id: str
    customer_id: str
    order_date: date
    total_amount: Decimal

    @database("mysql_historical", on={"order_id": "id"})
    def order_items(self) -> list["OrderItem"]:
        """The rows of order_items referencing this one (by name, in mysql_historical: order_items.order_id
        -> orders.id).
        """

    @database("postgres_primary", on={"id": "customer_id"})
    def customer(self) -> "Customer | None":
        """The row of customers this one references (by name, across databases: orders.customer_id ->
        customers.id).
        """


@types.object
class Query:
    @database("postgres_primary")
    def customer_details(self) -> list[CustomerDetail]:
        """Rows of customer_details in postgres_primary: where, orderBy, limit and offset filter, order and
        page them.
        """

    @database("postgres_primary")
    def customer_detail(self, customer_id: UUID) -> CustomerDetail | None:
        """The row of customer_details with this customer_id, or null."""

    @database("postgres_primary")
    def customers(self) -> list[Customer]:
        """Rows of customers in postgres_primary: where, orderBy, limit and offset filter, order and page
        them.
        """

    @database("postgres_primary")
    def customer(self, id: UUID) -> Customer | None:
        """The row of customers with this id, or null."""

    @database("mysql_historical")
    def order_items(self) -> list[OrderItem]:
        """Rows of order_items in mysql_historical: where, orderBy, limit and offset filter, order and page
        them.
        """

    @database("mysql_historical")
    def order_item(self, order_id: str, product_id: str) -> OrderItem | None:
        """The row of order_items with this order_id and product_id, or null."""

    @database("mysql_historical")
    def orders(self) -> list[Order]:
        """Rows of orders in mysql_historical: where, orderBy, limit and offset filter, order and page
        them.
        """

    @database("mysql_historical")
    def order(self, id: str) -> Order | None:
        """The row of orders with this id, or null."""
