"""`@types.object class Mutation` (docs/reference.md §10): what loads, and every mistake as one
exact `SchemaError` line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from dbmesh.errors import SchemaError
from dbmesh.schema import MutationField, MutationKind, load_schema

DATABASES = ("postgres_primary", "mysql_historical", "sqlite_cache")
HEADER = """\
from dbmesh import types, database

@types.object
class Customer:
    id: UUID
    email: str

@types.object
class Mutation:
"""


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "schema.py"
    path.write_text(HEADER + textwrap.indent(textwrap.dedent(body), "    "))
    return path


def test_mutation_fields_load(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        @database('postgres_primary', write_through='sqlite_cache')
        def insert_customers(self) -> list[Customer]:
            "New customers."
        @database('postgres_primary')
        def update_customers(self) -> list[Customer]: ...
        @database('mysql_historical')
        def delete_customers(self) -> list[Customer]: ...
        """,
    )
    model = load_schema(path, DATABASES)
    assert model.mutation == (
        MutationField(
            "insert_customers", "insertCustomers", MutationKind.INSERT, "Customer", "postgres_primary",
            ("sqlite_cache",), "New customers.",
        ),
        MutationField("update_customers", "updateCustomers", MutationKind.UPDATE, "Customer", "postgres_primary"),
        MutationField("delete_customers", "deleteCustomers", MutationKind.DELETE, "Customer", "mysql_historical"),
    )  # fmt: skip
    assert model.source == str(path)


FIELD = "@database('postgres_primary')\ndef insert_customers(self) -> list[Customer]: ..."

MISTAKES = {
    "read_only database": (
        FIELD,
        {"read_only": ["postgres_primary"]},
        "Mutation.insert_customers: database 'postgres_primary' is read_only: the API never writes there",
    ),
    "unknown prefix": (
        "@database('postgres_primary')\ndef upsert_customers(self) -> list[Customer]: ...",
        {},
        "Mutation.upsert_customers: a mutation field's name starts with insert_, update_ or delete_ (then the"
        " rows it writes)",
    ),
    "no @database": (
        "def insert_customers(self) -> list[Customer]: ...",
        {},
        "Mutation.insert_customers: a mutation field needs @database(...) naming the database it writes",
    ),
    "not a list": (
        "@database('postgres_primary')\ndef insert_customers(self) -> Customer: ...",
        {},
        "Mutation.insert_customers: a mutation field returns list[Customer] (the rows it writes)",
    ),
    "not an object type": (
        "@database('postgres_primary')\ndef insert_customers(self) -> list[str]: ...",
        {},
        "Mutation.insert_customers: unsupported return annotation list[str]; a field returns an @types.object"
        " class or a list of one",
    ),
    "parameters": (
        "@database('postgres_primary')\ndef insert_customers(self, email: str) -> list[Customer]: ...",
        {},
        "Mutation.insert_customers: a mutation field takes no parameters besides self (got email); its arguments"
        " (objects, onConflict, where, set, inc) come from the type it returns",
    ),
    "fallback": (
        "@database('postgres_primary', fallback='sqlite_cache')\ndef insert_customers(self) -> list[Customer]: ...",
        {},
        "Mutation.insert_customers: fallback= does not apply to a mutation field: a write goes to its own"
        " database or fails",
    ),
    "unknown database": (
        "@database('postgres')\ndef insert_customers(self) -> list[Customer]: ...",
        {},
        "Mutation.insert_customers: unknown database 'postgres'; configured databases: mysql_historical,"
        " postgres_primary, sqlite_cache",
    ),
    "write_through to itself": (
        "@database('postgres_primary', write_through=['postgres_primary'])\n"
        "def insert_customers(self) -> list[Customer]: ...",
        {},
        "Mutation.insert_customers: write_through database 'postgres_primary' is the field's own database",
    ),
    "a column": (
        "id: UUID",
        {},
        "Mutation.id: Mutation has no columns; a mutation field is a method",
    ),
}


@pytest.mark.parametrize("case", MISTAKES, ids=list(MISTAKES))
def test_mistakes(tmp_path: Path, case: str) -> None:
    body, options, problem = MISTAKES[case]
    path = write(tmp_path, body + "\n")
    with pytest.raises(SchemaError) as raised:
        load_schema(path, DATABASES, **options)
    assert str(raised.value) == f"{path}: {problem}"


def test_write_through_on_a_read_is_a_mistake(tmp_path: Path) -> None:
    path = tmp_path / "schema.py"
    path.write_text(
        "from dbmesh import types, database\n@types.object\nclass Customer:\n    id: UUID\n"
        "@types.object\nclass Query:\n    @database('postgres_primary', write_through='sqlite_cache')\n"
        "    def customers(self) -> list[Customer]: ...\n"
    )
    with pytest.raises(SchemaError) as raised:
        load_schema(path, DATABASES)
    assert (
        str(raised.value)
        == f"{path}: Query.customers: write_through= is for Mutation fields; a read has nothing to write"
    )
