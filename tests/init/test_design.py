"""What `dbmesh init` makes of a schema (docs/reference.md §15), for the cases the deployed tables
do not have: names (plurals, reserved and clashing names, tables the DSL cannot name), columns it
must leave out, relations from composite, self-referencing and repeated foreign keys, `<type>_id`
columns whose types disagree, tables without keys and dbmesh's own. GetSchema answers are built
here; each generated module is loaded by the schema loader and the router's GraphQL schema, and
its model is what is asserted."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.router.schema import build_graphql_schema
from dbmesh.scaffold import generate
from dbmesh.scaffold._names import class_name, singular
from dbmesh.schema import SchemaModel, load_schema

L = pb.LogicalType


def col(name: str, kind: int = pb.LOGICAL_TYPE_INT, nullable: bool = False) -> pb.Column:
    return pb.Column(name=name, type=kind, nullable=nullable)  # type: ignore[arg-type]


def table(name: str, *columns: pb.Column, key: tuple[str, ...] = ("id",), **extra: object) -> pb.Collection:
    return pb.Collection(name=name, columns=list(columns), primary_key=list(key), **extra)  # type: ignore[arg-type]


def fk(columns: list[str], referenced: str, referenced_columns: list[str], name: str = "") -> pb.ForeignKey:
    return pb.ForeignKey(
        name=name, columns=columns, referenced_collection=referenced, referenced_columns=referenced_columns
    )


def load(tmp_path: Path, schemas: dict[str, pb.Schema]) -> tuple[str, SchemaModel]:
    text, _ = generate(list(schemas), schemas, "dbmesh.toml")
    path = tmp_path / "schema.py"
    path.write_text(text)
    model = load_schema(path, list(schemas))
    build_graphql_schema(model)
    return text, model


def relations(model: SchemaModel, type_name: str) -> dict[str, tuple[str, bool, str, tuple[tuple[str, str], ...]]]:
    """relation name -> (target, many, database, join pairs (target column, source column))."""
    return {r.name: (r.target, r.many, r.source.database, r.join) for r in model.types[type_name].relations}


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("customers", "customer"),
        ("categories", "category"),
        ("addresses", "address"),
        ("boxes", "box"),
        ("statuses", "status"),
        ("analyses", "analysis"),
        ("details", "detail"),
        ("data", "data"),
    ],
)
def test_singular_is_what_the_dsl_pluralizes_back(word: str, expected: str) -> None:
    assert singular(word) == expected


@pytest.mark.parametrize(
    ("table_", "taken", "expected"),
    [
        ("order_items", set(), "OrderItem"),
        ("OrderLines", set(), "OrderLine"),
        ("queries", set(), "QueryRow"),
        ("dates", set(), "DateRow"),
        ("2fa_codes", set(), "T2faCode"),
        ("order_item", {"OrderItem"}, "OrderItemRow"),
        ("order_items", {"OrderItem", "OrderItemRow"}, "OrderItems"),
    ],
)
def test_class_names(table_: str, taken: set[str], expected: str) -> None:
    assert class_name(table_, taken) == expected


def test_names_of_types_and_root_fields(tmp_path: Path) -> None:
    names = ["data", "queries", "OrderLines", "2fa_codes"]
    text, model = load(tmp_path, {"db": pb.Schema(collections=[table(n, col("id")) for n in names])})
    assert {name: t.table for name, t in model.types.items()} == {
        "T2faCode": "2fa_codes",
        "OrderLine": "OrderLines",
        "Data": "data",
        "QueryRow": "queries",
    }
    assert '@types.object(table="data")' in text and '@types.object(table="queries")' in text
    assert [r.graphql_name for r in model.query] == [
        "t2faCodes",
        "t2faCode",
        "orderLines",
        "orderLine",
        "data",
        "dataById",
        "queries",
        "query",
    ]


def test_relations_from_repeated_self_referencing_composite_and_unique_foreign_keys(tmp_path: Path) -> None:
    schema = pb.Schema(
        collections=[
            table("users", col("id"), col("name", pb.LOGICAL_TYPE_STRING)),
            table(
                "messages",
                col("id"),
                col("sender_id"),
                col("recipient_id"),
                foreign_keys=[fk(["sender_id"], "users", ["id"], "m_sender"), fk(["recipient_id"], "users", ["id"])],
            ),
            table(
                "employees",
                col("id"),
                col("manager_id", nullable=True),
                foreign_keys=[fk(["manager_id"], "employees", ["id"])],
            ),
            table("parents", col("code", pb.LOGICAL_TYPE_STRING), col("region"), key=("code", "region")),
            table(
                "kids",
                col("id"),
                col("code", pb.LOGICAL_TYPE_STRING),
                col("region"),
                foreign_keys=[fk(["code", "region"], "parents", ["code", "region"])],
            ),
            table("profiles", col("user_id"), key=("user_id",), foreign_keys=[fk(["user_id"], "users", ["id"])]),
        ]
    )
    text, model = load(tmp_path, {"db": schema})
    assert relations(model, "Message") == {
        "sender": ("User", False, "db", (("id", "sender_id"),)),
        "recipient": ("User", False, "db", (("id", "recipient_id"),)),
    }
    assert relations(model, "User") == {
        "messages": ("Message", True, "db", (("sender_id", "id"),)),
        "messages_by_recipient": ("Message", True, "db", (("recipient_id", "id"),)),
        "profile": ("Profile", False, "db", (("user_id", "id"),)),
    }
    assert relations(model, "Employee") == {
        "manager": ("Employee", False, "db", (("id", "manager_id"),)),
        "employees": ("Employee", True, "db", (("manager_id", "id"),)),
    }
    assert relations(model, "Kid") == {"parent": ("Parent", False, "db", (("code", "code"), ("region", "region")))}
    assert relations(model, "Parent") == {"kids": ("Kid", True, "db", (("code", "code"), ("region", "region")))}
    assert relations(model, "Profile") == {"user": ("User", False, "db", (("id", "user_id"),))}
    assert "(foreign key m_sender: messages.sender_id -> users.id)" in text
    assert [r.graphql_name for r in model.query if r.target == "Parent"] == ["parents", "parent"]
    assert [a.name for a in next(r for r in model.query if r.name == "parent").arguments] == ["code", "region"]


def test_type_id_columns_across_databases_when_the_types_agree(tmp_path: Path) -> None:
    uuid, string = pb.LOGICAL_TYPE_UUID, pb.LOGICAL_TYPE_STRING
    schemas = {
        "a": pb.Schema(collections=[table("accounts", col("id", uuid))]),
        "b": pb.Schema(
            collections=[
                table("accounts", col("id", string)),
                table("invoices", col("id"), col("account_id", string)),
                table("payments", col("id"), col("account_id")),  # an int: no relation to a UUID key
                table("notes", col("id"), col("invoice_id", nullable=True)),
            ]
        ),
    }
    _, model = load(tmp_path, schemas)
    assert relations(model, "Account") == {"invoices": ("Invoice", True, "b", (("account_id", "id"),))}
    assert relations(model, "Invoice") == {
        "account": ("Account", False, "a", (("id", "account_id"),)),
        "notes": ("Note", True, "b", (("invoice_id", "id"),)),
    }
    assert relations(model, "Payment") == {}
    assert model.types["Account"].description == (
        "Table accounts of a. Also in b (not used: add fallback= to a field to read it there when a is down)."
    )
    assert [r.source.database for r in model.query if r.target == "Account"] == ["a", "a"]
    assert all(not r.source.fallbacks for r in model.query if r.source)


def test_what_is_left_out_is_said(tmp_path: Path) -> None:
    string = pb.LOGICAL_TYPE_STRING
    schema = pb.Schema(
        collections=[
            table(
                "things",
                col("id"),
                col("from", string),
                col("my col", string),
                col("source_database", string),
                col("is_stale", pb.LOGICAL_TYPE_BOOLEAN),
                col("last_sync", string),
                col("order_date", pb.LOGICAL_TYPE_DATE, nullable=True),
                col("orderDate", string),
                col("doc", pb.LOGICAL_TYPE_JSON),
            ),
            table("big_things", col("id"), key=(), is_view=True),
            table("codes", col("code", string), key=(), unique_keys=[pb.UniqueKey(columns=["code"])]),
            table("empty", col("from", string)),
            table("dbmesh_outbox", col("id")),
        ]
    )
    text, model = load(tmp_path, {"db": schema})
    assert set(model.types) == {"BigThing", "Code", "Thing"}
    assert [(c.name, c.scalar.value, c.nullable) for c in model.types["Thing"].columns] == [
        ("id", "Int", False),
        ("order_date", "Date", True),
        ("doc", "JSON", False),
    ]
    assert [line.strip() for line in text.splitlines() if line.strip().startswith("# column")] == [
        "# column 'from' is left out: a Python keyword or a __ name",
        "# column 'my col' is left out: not a Python identifier",
        "# column 'source_database' is left out: source_database is a consistency field in the schema DSL",
        "# column 'is_stale' is left out: is_stale is a consistency field in the schema DSL",
        "# column 'last_sync' is left out: the schema DSL reads last_sync as a timestamp",
        "# column 'orderDate' is left out: another column is the GraphQL field 'orderDate' too",
    ]
    assert "- db.empty is left out: none of its columns can be a field" in text.splitlines()
    assert "- BigThing has no by-key field: big_things has no primary or unique key dbmesh can use" in text.splitlines()
    assert [r.graphql_name for r in model.query] == ["bigThings", "codes", "code", "things", "thing"]
    assert "View big_things of db." in text
