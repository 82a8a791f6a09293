"""The shaper (`router.shaping.Shaper`) on planned selections and hand-made fetch outcomes.

Null propagation as the GraphQL spec states it ("Handling Field Errors"): a null in a non-null
field nulls the nearest nullable parent — the list item when items are nullable, else the whole
list or the relation — with ONE error at the non-null field's path; a failed fetch gives one error
however many fields it nulls (docs/reference.md §5); response keys, `__typename` and the
consistency fields come out as asked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from dbmesh.router.errors import CallError
from dbmesh.router.executor import Outcome
from dbmesh.router.plan import FieldSelection, Plan
from dbmesh.router.preparation import Prepared
from dbmesh.router.shaping import Shaper
from dbmesh.router.traffic import Attempt

Prepare = Callable[..., Prepared]  # the `prepare` fixture (conftest.py)

A1, A2, A3 = (f"00000000-0000-4000-8000-00000000000{n}" for n in (1, 2, 3))
NOW = datetime(2024, 1, 1, 0, 1, tzinfo=UTC)


def shape(
    plan: Plan, outcomes: Mapping[int, Outcome], status: Sequence[Mapping[str, Any]] = ()
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    shaper = Shaper(plan, outcomes, lambda: status)
    shaper.now = NOW
    return shaper.data(), shaper.errors


def selection(plan: Plan, *keys: str) -> FieldSelection:
    """The selection at a response path, e.g. ("authors", "books")."""
    found: FieldSelection | None = None
    for key in keys:
        found = next(s for s in (found.selections if found else plan.selections) if s.key == key)
    assert found is not None
    return found


def non_null(field: str, path: list[str | int]) -> dict[str, Any]:
    """The error of a null in a non-null field, without its locations (test_locations_... has those)."""
    return {
        "message": f"Cannot return null for non-nullable field {field}.",
        "path": path,
        "extensions": {"code": "INTERNAL_SERVER_ERROR"},
    }


def unlocated(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in e.items() if k != "locations"} for e in errors]


def test_a_null_item_of_a_non_null_list_nulls_the_root_list(prepare: Prepare) -> None:
    plan = prepare("{ authors { id name } }").plan
    rows: list[list[Any]] = [[A1, "Ann", "people_db"], [A2, None, "people_db"], [A3, None, "people_db"]]
    data, errors = shape(plan, {selection(plan, "authors").fetch: Outcome(rows=rows)})
    assert data == {"authors": None}
    assert unlocated(errors) == [non_null("Author.name", ["authors", 1, "name"])]


def test_a_null_in_a_nullable_item_nulls_the_item_only(prepare: Prepare) -> None:
    plan = prepare("{ shelf { title pages } }").plan
    rows: list[list[Any]] = [["t1", None, "books_db"], [None, 3, "books_db"], ["t3", 4, "books_db"]]
    data, errors = shape(plan, {selection(plan, "shelf").fetch: Outcome(rows=rows)})
    assert data == {"shelf": [{"title": "t1", "pages": None}, None, {"title": "t3", "pages": 4}]}
    assert unlocated(errors) == [non_null("Book.title", ["shelf", 1, "title"])]


def test_a_null_under_a_list_relation_nulls_that_relation_only(prepare: Prepare) -> None:
    plan = prepare("{ authors { id books { title } drafts { title } } }").plan
    books, drafts = selection(plan, "authors", "books"), selection(plan, "authors", "drafts")
    by_key: dict[tuple[Any, ...], list[list[Any]]] = {
        (A1,): [["b1", "books_db"], [None, "books_db"]],
        (A2,): [["b2", "books_db"]],
    }
    outcomes = {
        selection(plan, "authors").fetch: Outcome(rows=[[A1, "people_db"], [A2, "people_db"]]),
        books.fetch: Outcome(by_key=by_key),
        drafts.fetch: Outcome(by_key=by_key),
    }
    data, errors = shape(plan, outcomes)
    assert data == {
        "authors": [
            {"id": A1, "books": None, "drafts": [{"title": "b1"}, None]},
            {"id": A2, "books": [{"title": "b2"}], "drafts": [{"title": "b2"}]},
        ]
    }
    assert unlocated(errors) == [
        non_null("Book.title", ["authors", 0, "books", 1, "title"]),
        non_null("Book.title", ["authors", 0, "drafts", 1, "title"]),
    ]


def test_a_null_under_a_single_object_nulls_that_object(prepare: Prepare) -> None:
    plan = prepare('{ books { title author { name } } author(id: "x") { name } }').plan
    outcomes = {
        selection(plan, "books").fetch: Outcome(rows=[["b1", A1, "books_db"], ["b2", A2, "books_db"]]),
        selection(plan, "books", "author").fetch: Outcome(
            by_key={(A1,): [[None, "people_db"]], (A2,): [["Bea", "people_db"]]}
        ),
        selection(plan, "author").fetch: Outcome(rows=[[None, "people_copy"]]),
    }
    data, errors = shape(plan, outcomes)
    assert data == {
        "books": [{"title": "b1", "author": None}, {"title": "b2", "author": {"name": "Bea"}}],
        "author": None,
    }
    assert unlocated(errors) == [
        non_null("Author.name", ["books", 0, "author", "name"]),
        non_null("Author.name", ["author", "name"]),
    ]


def test_locations_of_a_null_in_a_non_null_field_are_that_field(prepare: Prepare) -> None:
    """GraphQL spec (and graphql-core): the error is located at the field that could not be null
    (line 4, column 5: `name`), not at the parent it nulled."""
    plan = prepare("{\n  authors {\n    id\n    name\n  }\n}").plan
    data, errors = shape(plan, {selection(plan, "authors").fetch: Outcome(rows=[[A1, None, "people_db"]])})
    assert data == {"authors": None}
    assert errors == [
        {
            "message": "Cannot return null for non-nullable field Author.name.",
            "locations": [{"line": 4, "column": 5}],
            "path": ["authors", 0, "name"],
            "extensions": {"code": "INTERNAL_SERVER_ERROR"},
        }
    ]


def test_a_failed_relation_fetch_is_one_error_however_many_rows_it_nulls(prepare: Prepare) -> None:
    plan = prepare("{\n  authors {\n    id\n    books { title }\n  }\n}").plan
    error = CallError("books_db", "DATABASE_UNAVAILABLE", "database 'books_db' is unavailable: gone", unavailable=True)
    rows = [[key, "people_db"] for key in (A1, A2, A3)]
    outcomes = {
        selection(plan, "authors").fetch: Outcome(rows=rows),
        selection(plan, "authors", "books").fetch: Outcome(error=error),
    }
    data, errors = shape(plan, outcomes)
    assert data == {"authors": [{"id": A1, "books": None}, {"id": A2, "books": None}, {"id": A3, "books": None}]}
    assert errors == [
        {
            "message": "database 'books_db' is unavailable: gone",
            "locations": [{"line": 4, "column": 5}],
            "path": ["authors", 0, "books"],
            "extensions": {"code": "DATABASE_UNAVAILABLE", "database": "books_db"},
        }
    ]


def test_a_failed_root_fetch_names_every_database_tried_and_spares_the_others(prepare: Prepare) -> None:
    plan = prepare("{ authors { id } shelf { title } }").plan
    first, last = (CallError(db, "DATABASE_UNAVAILABLE", f"{db} down", unavailable=True) for db in ("a", "b"))
    last.attempts = [Attempt("a", first), Attempt("b", last)]
    outcomes = {
        selection(plan, "authors").fetch: Outcome(error=last),
        selection(plan, "shelf").fetch: Outcome(rows=[["t1", "books_db"]]),
    }
    data, errors = shape(plan, outcomes)
    assert data == {"authors": None, "shelf": [{"title": "t1"}]}
    assert errors == [
        {
            "message": "b down",
            "locations": [{"line": 1, "column": 3}],
            "path": ["authors"],
            "extensions": {"code": "DATABASE_UNAVAILABLE", "database": "b", "tried": ["a", "b"]},
        }
    ]


def test_aliases_typename_and_source_database(prepare: Prepare) -> None:
    plan = prepare("{ writers: authors { key: id kind: __typename __typename sourceDatabase } __typename }").plan
    rows = [[A1, "people_copy"], [A2, "people_db"]]
    data, errors = shape(plan, {selection(plan, "writers").fetch: Outcome(rows=rows)})
    assert list(data) == ["writers", "__typename"]
    assert data == {
        "writers": [
            {"key": A1, "kind": "Author", "__typename": "Author", "sourceDatabase": "people_copy"},
            {"key": A2, "kind": "Author", "__typename": "Author", "sourceDatabase": "people_db"},
        ],
        "__typename": "Query",
    }
    assert [list(w) for w in data["writers"]] == [["key", "kind", "__typename", "sourceDatabase"]] * 2
    assert errors == []


def test_is_stale_compares_last_sync_with_max_staleness(prepare: Prepare) -> None:
    """`Author` has max_staleness 60 s and NOW is 2024-01-01T00:01:00Z: exactly 60 s old is not
    stale, a time without an offset is UTC, and no last_sync is unknown (null)."""
    plan = prepare("{ authors { lastSync isStale } }").plan
    synced = [None, "2024-01-01T00:00:00Z", "2024-01-01T00:00:00", "2023-12-31T23:59:59Z", "2024-01-01T00:30:00+01:00"]
    rows = [[value, "people_db"] for value in synced]
    data, errors = shape(plan, {selection(plan, "authors").fetch: Outcome(rows=rows)})
    stale = [None, False, False, True, True]
    assert data == {"authors": [{"lastSync": v, "isStale": s} for v, s in zip(synced, stale, strict=True)]}
    assert errors == []


def test_database_status_fields_come_from_the_snapshot(prepare: Prepare) -> None:
    plan = prepare("{ databaseStatus { name circuit kind: __typename } }").plan
    status = [{"name": "people_db", "circuit": "open", "engine": "sqlite"}]
    expected = {"databaseStatus": [{"name": "people_db", "circuit": "open", "kind": "DatabaseStatus"}]}
    assert shape(plan, {}, status) == (expected, [])
