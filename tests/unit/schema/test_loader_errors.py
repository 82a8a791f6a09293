"""Every schema mistake (docs/reference.md §4) is one `SchemaError` line: `<file>: <Class>.<field>: <problem>`,
or `<file>:<line>: <Exception>: <message>` when the module fails to run. One test per mistake, each
asserting the exact message."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from dbmesh.errors import SchemaError
from dbmesh.schema import load_schema

DATABASES = ("postgres_primary", "mysql_historical", "sqlite_cache")
KNOWN = "configured databases: mysql_historical, postgres_primary, sqlite_cache"
ON_HINT = 'state it with on={"target_column": "source_column"}'
COLUMN_KINDS = "a column is str, int, float, bool, UUID, datetime, date, Decimal or dict, or one of them | None"

# Prepended to every inline module (UUID, datetime, ... come from the loader's prelude).
HEADER = """\
from dbmesh import types, database

@types.object
class Customer:
    id: UUID
    email: str
    created_at: datetime

@types.object
class Order:
    id: UUID
    customer_id: UUID
    order_date: date
    total: Decimal
"""


def write(tmp_path: Path, body: str, header: str = HEADER) -> Path:
    path = tmp_path / "schema.py"
    path.write_text(f"{header}\n{textwrap.dedent(body)}" if header else textwrap.dedent(body))
    return path


def query(source: str, method: str) -> str:
    """An inline `Query` with one root field: `@database(<source>)` on `def <method>: ...`."""
    return f"@types.object\nclass Query:\n    @database({source})\n    def {method}: ..."


MISTAKES = {
    "unknown database": (
        query("'postgres_primry'", "customers(self) -> list[Customer]"),
        f"Query.customers: unknown database 'postgres_primry'; {KNOWN}",
    ),
    "unknown fallback database": (
        query("'postgres_primary', fallback=['sqlite_cache', 'redis']", "customers(self) -> list[Customer]"),
        f"Query.customers: unknown fallback database 'redis'; {KNOWN}",
    ),
    "fallback to itself": (
        query("'sqlite_cache', fallback='sqlite_cache'", "customers(self) -> list[Customer]"),
        "Query.customers: fallback database 'sqlite_cache' is the field's own database",
    ),
    "relation with no possible join": (
        "@types.object\nclass Product:\n    sku: str\n"
        "    @database('mysql_historical')\n    def orders(self) -> list[Order]: ...",
        "Product.orders: cannot infer the join to Order: tried Order.product_id = Product.id (no "
        "Order.product_id or Product.id), Order.id = Product.orders_id (no Product.orders_id), "
        f"Order.id = Product.order_id (no Product.order_id); {ON_HINT}",
    ),
    "relation with two possible joins": (
        "@types.object\nclass Invoice:\n    id: UUID\n    payment_id: UUID\n"
        "    @database('mysql_historical')\n    def payment(self) -> 'Payment': ...\n"
        "@types.object\nclass Payment:\n    id: UUID\n    invoice_id: UUID\n",
        "Invoice.payment: ambiguous join to Payment: Payment.invoice_id = Invoice.id or "
        f"Payment.id = Invoice.payment_id; {ON_HINT}",
    ),
    "on= names a missing target column": (
        "@types.object\nclass Shop:\n    id: UUID\n"
        "    @database('mysql_historical', on={'shop_id': 'id'})\n    def orders(self) -> list[Order]: ...",
        "Shop.orders: on={'shop_id': 'id'}: Order has no column 'shop_id'",
    ),
    "on= names a missing source column": (
        "@types.object\nclass Shop:\n    id: UUID\n"
        "    @database('mysql_historical', on={'customer_id': 'owner_id'})\n"
        "    def orders(self) -> list[Order]: ...",
        "Shop.orders: on={'customer_id': 'owner_id'}: Shop has no column 'owner_id'",
    ),
    "unsupported column annotation": (
        "@types.object\nclass Product:\n    id: UUID\n    tags: list[str]",
        f"Product.tags: unsupported annotation list[str]; {COLUMN_KINDS}",
    ),
    "column of a class that is not an object type": (
        "class Money: ...\n@types.object\nclass Product:\n    price: Money | None",
        f"Product.price: unsupported annotation Money | None; {COLUMN_KINDS}",
    ),
    "unsupported return annotation": (
        "@types.object\nclass Shop:\n    id: UUID\n"
        "    @database('mysql_historical')\n    def legacy_details(self) -> dict: ...",
        "Shop.legacy_details: unsupported return annotation dict; "
        "a field returns an @types.object class or a list of one",
    ),
    "undefined return type": (
        "@types.object\nclass Shop:\n    id: UUID\n"
        "    @database('mysql_historical')\n    def orders(self) -> list['Ordr']: ...",
        "Shop.orders: type 'Ordr' is not defined",
    ),
    "argument neither a column nor mapped": (
        query("'postgres_primary'", "customers(self, country: str) -> list[Customer]"),
        "Query.customers: argument 'country' is not a column of Customer; "
        "map it with args={'country': (column, operator)}",
    ),
    "args= with an unknown operator": (
        query(
            "'postgres_primary', args={'since': ('created_at', 'after')}",
            "customers(self, since: datetime) -> list[Customer]",
        ),
        "Query.customers: args= maps 'since' to unknown operator 'after'; operators: eq, neq, gt, gte, lt, "
        "lte, in, nin, like, ilike, is_null, year",
    ),
    "args= with an unknown column": (
        query(
            "'postgres_primary', args={'since': ('created', 'gte')}",
            "customers(self, since: datetime) -> list[Customer]",
        ),
        "Query.customers: args= maps 'since' to column 'created', which Customer does not have",
    ),
    "in without a list": (
        query("'postgres_primary', args={'mail': ('email', 'in')}", "customers(self, mail: str) -> list[Customer]"),
        "Query.customers: argument 'mail': operator 'in' needs a list[...] argument",
    ),
    "not_found on a list field": (
        query(
            "'postgres_primary', fallback='sqlite_cache', fallback_on=('unavailable', 'not_found')",
            "customers(self) -> list[Customer]",
        ),
        "Query.customers: fallback_on 'not_found' is for single-object fields, and this field returns a list",
    ),
    "not_found without a fallback": (
        query("'postgres_primary', fallback_on=('not_found',)", "customer(self, id: str) -> Customer"),
        "Query.customer: fallback_on 'not_found' needs a fallback= database",
    ),
    "unknown fallback_on": (
        query("'postgres_primary', fallback_on=('timeout',)", "customer(self, id: str) -> Customer"),
        "Query.customer: unknown fallback_on value 'timeout'; use 'unavailable' or 'not_found'",
    ),
    "unknown affinity": (
        query("'postgres_primary', affinity='fastest'", "customer(self, id: str) -> Customer"),
        "Query.customer: unknown affinity 'fastest'; use 'read_primary', 'read_replica' or 'cache'",
    ),
    "method without @database on an object type": (
        "@types.object\nclass Shop:\n    id: UUID\n    def full_name(self) -> str: ...",
        "Shop.full_name: a method of an object type must be a relation decorated with @database(...)",
    ),
    "@database twice": (
        "@types.object\nclass Query:\n    @database('postgres_primary')\n    @database('sqlite_cache')\n"
        "    def customer(self, id: str) -> Customer: ...",
        "Query.customer: @database is applied more than once",
    ),
    "no return annotation": (
        query("'postgres_primary'", "customer(self, id: str)"),
        "Query.customer: no return annotation; a field returns an @types.object class or a list of one",
    ),
    "first parameter not self": (
        query("'postgres_primary'", "customer(id: str) -> Customer"),
        "Query.customer: the first parameter must be self",
    ),
    "limit on a single-object field": (
        query("'postgres_primary'", "customer(self, id: str, limit: int = 1) -> Customer"),
        "Query.customer: argument 'limit' pages a list, and this field returns one object",
    ),
    "where declared on a list field": (
        query("'postgres_primary'", "customers(self, where: str) -> list[Customer]"),
        "Query.customers: argument 'where' clashes with the automatic 'where' of list fields",
    ),
    "year with no date column": (
        "@types.object\nclass Product:\n    id: UUID\n    name: str\n"
        + query("'postgres_primary'", "products(self, year: int) -> list[Product]"),
        "Query.products: argument 'year' is not a column of Product; map it with args={'year': (column, operator)}",
    ),
    "year with two date columns": (
        "@types.object\nclass Shipment:\n    id: UUID\n    sent_on: date\n    received_at: datetime\n"
        + query("'postgres_primary'", "shipments(self, year: int) -> list[Shipment]"),
        "Query.shipments: argument 'year' could filter any of sent_on, received_at of Shipment; "
        "map it with args={'year': (column, operator)}",
    ),
    "Query with a column": (
        "@types.object\nclass Query:\n    version: str",
        "Query.version: Query has no columns; a root field is a method",
    ),
    "databaseStatus redefined": (
        query("'postgres_primary'", "database_status(self) -> list[Customer]"),
        "Query.database_status: databaseStatus is a built-in field (docs/reference.md §6)",
    ),
    "two fields with one GraphQL name": (
        "@types.object\nclass Product:\n    unit_price: int\n    unitPrice: int",
        "Product.unitPrice: 'unit_price' and 'unitPrice' are both the GraphQL field 'unitPrice'",
    ),
    "composite field returning a list": (
        "@types.object\nclass Pair:\n    customer_id: UUID\n"
        "@types.object\nclass Query:\n    def pairs(self, customer_id: str) -> list[Pair]: ...",
        "Query.pairs: a root field without @database builds one object from its arguments, not a list",
    ),
    "composite argument that is no column": (
        "@types.object\nclass Pair:\n    customer_id: UUID\n"
        "@types.object\nclass Query:\n    def pair(self, customer_id: str, other: str) -> Pair: ...",
        "Query.pair: argument 'other' is not a column of Pair; "
        "the arguments of a root field without @database fill its type's columns",
    ),
    "composite type also served by a database": (
        "@types.object\nclass Pair:\n    customer_id: UUID\n"
        "@types.object\nclass Query:\n    def pair(self, customer_id: str) -> Pair: ...\n"
        "    @database('postgres_primary')\n    def pairs(self) -> list[Pair]: ...",
        "Query.pairs: Pair is virtual (built by the root field Query.pair without @database) and no database serves it",
    ),
    "source_database not a str": (
        "@types.object\nclass Product:\n    id: UUID\n    source_database: int",
        "Product.source_database: source_database must be str, not int",
    ),
    "last_sync not a datetime": (
        "@types.object\nclass Product:\n    id: UUID\n    last_sync: date",
        "Product.last_sync: last_sync must be datetime, not date",
    ),
    "is_stale without last_sync": (
        "@types.object(max_staleness=timedelta(minutes=1))\nclass Product:\n    id: UUID\n    is_stale: bool",
        "Product: is_stale needs a `last_sync: datetime` attribute",
    ),
    "max_staleness not a timedelta": (
        "@types.object(max_staleness=3600)\nclass Product:\n    id: UUID",
        "Product: max_staleness= must be a positive timedelta, not 3600",
    ),
    "two classes with one name": (
        "@types.object\nclass Shop:\n    id: UUID\nOldShop = Shop\n@types.object\nclass Shop:\n    id: UUID",
        "Shop: two @types.object classes have this name",
    ),
}


@pytest.mark.parametrize(("body", "message"), list(MISTAKES.values()), ids=list(MISTAKES))
def test_schema_mistake(tmp_path: Path, body: str, message: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(SchemaError) as caught:
        load_schema(path, DATABASES)
    assert str(caught.value) == f"{path}: {message}"


RUN_ERRORS = {
    "syntax error": (
        "from dbmesh import types, database\n\n@types.object\nclass Customer:\n    def broken(self:\n",
        "5: SyntaxError: '(' was never closed",
    ),
    "undefined name": (
        "from dbmesh import types, database\n\n@types.object\nclass Customer:\n    id: UUDI\n",
        "5: NameError: name 'UUDI' is not defined",
    ),
    "the guide's import left as it is": (
        "# federation_schema.py\nfrom FraiseQL import types, database\n",
        "2: ModuleNotFoundError: No module named 'FraiseQL'",
    ),
    "positional option to types.object": (
        "from dbmesh import types, database\n\n\n@types.object('customers')\nclass Customer:\n    id: UUID\n",
        '4: TypeError: types.object takes its options by keyword: @types.object(table="...")',
    ),
}


@pytest.mark.parametrize(("text", "message"), list(RUN_ERRORS.values()), ids=list(RUN_ERRORS))
def test_module_that_fails_to_run(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text, header="")
    with pytest.raises(SchemaError) as caught:
        load_schema(path)
    assert str(caught.value) == f"{path}:{message}"
    assert "\n" not in str(caught.value) and caught.value.__cause__ is None


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.py"
    with pytest.raises(SchemaError) as caught:
        load_schema(path)
    assert str(caught.value) == f"{path}: cannot read the schema module: No such file or directory"
