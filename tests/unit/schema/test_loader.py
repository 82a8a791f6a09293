"""The schema loader (docs/reference.md §4): the guide's and the SPEC's modules load, a composite type and the
consistency fields work, and the decorators only record. Mistakes: test_loader_errors.py."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from dbmesh import database, types
from dbmesh.errors import SchemaError
from dbmesh.schema import (
    MISSING,
    Argument,
    ArgumentKind,
    Column,
    FieldSource,
    Scalar,
    SchemaModel,
    build_schema,
    load_schema,
)

SAMPLES = Path(__file__).parent / "samples"
DATABASES = ("postgres_primary", "mysql_historical", "sqlite_cache")


def load(tmp_path: Path, text: str) -> SchemaModel:
    path = tmp_path / "schema.py"
    path.write_text("from dbmesh import types, database\n\n" + textwrap.dedent(text))
    return load_schema(path, DATABASES)


# The guide's module, with only its import changed -----------------------------------------------


@pytest.fixture(scope="module")
def guide() -> SchemaModel:
    return load_schema(SAMPLES / "guide_schema.py", DATABASES)


def test_guide_module_differs_from_the_guide_only_in_its_import() -> None:
    text = (SAMPLES / "guide_schema.py").read_text()
    assert "from dbmesh import types, database\n" in text
    assert "import" not in text.replace("from dbmesh import types, database", "")


def test_guide_tables(guide: SchemaModel) -> None:
    assert {n: t.table for n, t in guide.types.items()} == {
        "Customer": "customers",
        "CustomerDetails": "customer_details",
        "Order": "orders",
        "OrderItem": "order_items",
    }
    assert guide.type("Customer").description == "Primary customer data from PostgreSQL"
    assert guide.type("Customer").column("id") == Column("id", "id", Scalar.ID, False)
    assert guide.type("Customer").column("created_at") == Column("created_at", "createdAt", Scalar.STRING, False)


def test_guide_relations(guide: SchemaModel) -> None:
    details, historical = guide.type("Customer").relations
    assert (details.name, details.target, details.many, details.join) == (
        "details",
        "CustomerDetails",
        False,
        (("customer_id", "id"),),
    )
    assert details.source == FieldSource("postgres_primary")
    assert details.description == "Detailed info from PostgreSQL"
    assert (historical.graphql_name, historical.many, historical.join) == (
        "historicalOrders",
        True,
        (("customer_id", "id"),),
    )
    assert historical.arguments == (
        Argument("year", "year", ArgumentKind.FILTER, Scalar.INT, False, False, MISSING, "order_date", "year"),
    )
    (items,) = guide.type("Order").relations
    assert (items.target, items.many, items.join) == ("OrderItem", True, (("order_id", "id"),))


def test_guide_root_fields(guide: SchemaModel) -> None:
    customer, customers = guide.query
    assert customer.name == "customer" and not customer.many
    assert customer.arguments == (
        Argument("id", "id", ArgumentKind.FILTER, Scalar.ID, False, False, MISSING, "id", "eq"),
    )
    assert customers.many and customers.target == "Customer"
    assert customers.arguments == (
        Argument("limit", "limit", ArgumentKind.LIMIT, Scalar.INT, True, False, 50, None, "eq"),
    )
    assert customers.source == FieldSource("postgres_primary", fallbacks=("sqlite_cache",))
    assert guide.databases() == set(DATABASES)


def test_guide_composite_field_without_a_type_is_left_out_with_a_warning(guide: SchemaModel) -> None:
    assert "customer_with_history" not in [f.name for f in guide.query]
    assert guide.warnings == (
        "Query.customer_with_history: type 'CustomerWithHistory' is not defined; the field is left out",
    )


# The docs/reference.md §4 example and a composite type ---------------------------------------------------------


def test_spec_example() -> None:
    model = load_schema(SAMPLES / "spec_schema.py", DATABASES)
    (all_orders,) = model.type("Customer").relations
    assert (all_orders.graphql_name, all_orders.source.database, all_orders.join) == (
        "allOrders",
        "mysql_historical",
        (("customer_id", "id"),),
    )
    customers, customer = model.query
    assert customers.source == FieldSource("postgres_primary", fallbacks=("sqlite_cache",))
    assert customer.arguments[0].scalar is Scalar.ID and not customer.arguments[0].nullable
    assert model.type("Order").column("order_date") == Column("order_date", "orderDate", Scalar.STRING, False)
    assert model.warnings == ()


@pytest.fixture(scope="module")
def composite() -> SchemaModel:
    return load_schema(SAMPLES / "composite_schema.py", DATABASES)


def test_composite_root_field_builds_a_virtual_type(composite: SchemaModel) -> None:
    overview = composite.type("CustomerOverview")
    assert overview.virtual and overview.table == ""
    field = composite.query[0]
    assert (field.name, field.graphql_name, field.source, field.target) == (
        "customer_overview",
        "customerOverview",
        None,
        "CustomerOverview",
    )
    assert field.arguments == (
        Argument("customer_id", "customerId", ArgumentKind.FILTER, Scalar.ID, False, False, MISSING, "customer_id"),
    )
    customer, orders = overview.relations
    assert customer.join == (("id", "customer_id"),)
    assert customer.source == FieldSource(
        "postgres_primary", ("sqlite_cache",), frozenset({"unavailable", "not_found"})
    )
    assert orders.join == (("customer_id", "customer_id"),)
    assert (orders.many, orders.item_nullable, orders.source.affinity) == (True, True, "read_replica")
    assert orders.arguments == (
        Argument("status", "status", ArgumentKind.FILTER, Scalar.STRING, True, True, None, "status", "in"),
    )
    assert not composite.type("Customer").virtual


def test_args_mapping_paging_and_batch(composite: SchemaModel) -> None:
    orders = composite.query[1]
    assert [(a.name, a.kind, a.scalar, a.column, a.operator, a.default) for a in orders.arguments] == [
        ("since", ArgumentKind.FILTER, Scalar.DATETIME, "placed_at", "gte", None),
        ("year", ArgumentKind.FILTER, Scalar.INT, "placed_at", "year", None),
        ("limit", ArgumentKind.LIMIT, Scalar.INT, None, "eq", 20),
        ("offset", ArgumentKind.OFFSET, Scalar.INT, None, "eq", 0),
    ]
    customers = composite.query[2]
    assert customers.source == FieldSource("postgres_primary", ("sqlite_cache",), affinity="read_primary")
    (id_in,) = customers.arguments
    assert (id_in.scalar, id_in.is_list, id_in.operator) == (Scalar.ID, True, "in")


def test_consistency_fields(composite: SchemaModel) -> None:
    customer = composite.type("Customer")
    assert customer.table == "clients"
    assert customer.columns == (
        Column("id", "id", Scalar.ID, False),
        Column("email", "email", Scalar.STRING, False),
        Column("synced_at", "lastSync", Scalar.DATETIME, False),
    )
    assert customer.has_source_database and customer.has_is_stale
    assert customer.last_sync_column == "synced_at"
    assert customer.max_staleness == timedelta(minutes=5)
    assert customer.description == "A customer, as the primary database has it.\n\nThe SQLite cache holds a copy."


def test_default_consistency_options(tmp_path: Path) -> None:
    model = load(
        tmp_path,
        """
        @types.object
        class Product:
            id: UUID
            last_sync: datetime | None
        """,
    )
    product = model.type("Product")
    assert product.last_sync_column == "last_sync"
    assert product.column("last_sync") == Column("last_sync", "lastSync", Scalar.DATETIME, True)
    assert product.max_staleness == timedelta(hours=1)
    assert not product.has_is_stale and not product.has_source_database
    assert model.warnings == ("no @types.object class Query: the schema has no root fields",)


def test_scalars_and_nullability(tmp_path: Path) -> None:
    model = load(
        tmp_path,
        """
        from typing import Dict
        @types.object
        class Everything:
            s: str
            i: int | None
            f: Optional[float]
            b: bool
            u: UUID
            dt: datetime
            d: date
            n: Decimal
            j: dict
            k: Dict[str, Any]
        """,
    )
    columns = {c.name: (c.scalar, c.nullable) for c in model.type("Everything").columns}
    assert columns == {
        "s": (Scalar.STRING, False),
        "i": (Scalar.INT, True),
        "f": (Scalar.FLOAT, True),
        "b": (Scalar.BOOLEAN, False),
        "u": (Scalar.ID, False),
        "dt": (Scalar.DATETIME, False),
        "d": (Scalar.DATE, False),
        "n": (Scalar.DECIMAL, False),
        "j": (Scalar.JSON, False),
        "k": (Scalar.JSON, False),
    }


def test_databases_are_not_checked_without_a_list(tmp_path: Path) -> None:
    path = tmp_path / "schema.py"
    path.write_text(
        "from dbmesh import types, database\n@types.object\nclass Customer:\n    id: UUID\n"
        "@types.object\nclass Query:\n    @database('anything')\n    def c(self) -> Customer: ...\n"
    )
    assert load_schema(path).query[0].source == FieldSource("anything")


def test_build_schema_reads_a_namespace() -> None:
    @types.object(table="people")
    class Person:
        id: int

        @database("db")
        @database.batch
        def friends(self) -> list[Friend]:
            return []

    @types.object
    class Friend:
        id: int
        person_id: int

    @types.object
    class Query:
        @database.batch()
        @database("db")
        def person(self, id: int) -> Person | None: ...

    model = build_schema({"Person": Person, "Friend": Friend, "Query": Query, "unrelated": 1})
    assert model.type("Person").table == "people"
    assert model.type("Person").relations[0].join == (("person_id", "id"),)
    assert Person().friends() == [] and Query().person(1) is None
    with pytest.raises(SchemaError, match=r"^db\.py: Person\.friends: unknown database 'db'; configured"):
        build_schema({"Person": Person, "Friend": Friend, "Query": Query}, ["other"], source="db.py")


def test_decorators_only_record() -> None:
    @types.object
    class Plain:
        @database.batch
        def alone(self) -> int:
            return 1

        @database("x", fallback=["y"], on={"a": "b"}, args={"c": ("d", "eq")})
        def marked(self) -> None: ...

    assert Plain.__name__ == "Plain" and Plain().alone() == 1 and Plain().marked() is None
    assert types.object(table="t")(Plain) is Plain
    with pytest.raises(TypeError, match="decorates a class"):
        types.object()(len)  # type: ignore[type-var]
