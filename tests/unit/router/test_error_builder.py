"""`router.graphql_errors`, the one builder of GraphQL error objects: keys in the spec's order
(`message`, `locations`, `path`, `extensions`), `extensions.code` first, and nothing that was not
given (docs/reference.md §5)."""

from __future__ import annotations

import pytest
from graphql import GraphQLError, parse
from graphql.error import GraphQLSyntaxError

from dbmesh.router.graphql_errors import graphql_error, request_error


def test_a_bare_error_is_its_message_and_code() -> None:
    error = graphql_error("boom", "INTERNAL_SERVER_ERROR")
    assert error == {"message": "boom", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}
    assert list(error) == ["message", "extensions"]


def test_every_part_in_the_spec_order_and_the_code_first() -> None:
    error = graphql_error(
        "database 'a' is unavailable",
        "DATABASE_UNAVAILABLE",
        locations=[(2, 3), (5, 7)],
        path=("authors", 0, "books"),
        extensions={"database": "a", "tried": ["a", "b"]},
    )
    assert error == {
        "message": "database 'a' is unavailable",
        "locations": [{"line": 2, "column": 3}, {"line": 5, "column": 7}],
        "path": ["authors", 0, "books"],
        "extensions": {"code": "DATABASE_UNAVAILABLE", "database": "a", "tried": ["a", "b"]},
    }
    assert list(error) == ["message", "locations", "path", "extensions"]
    assert list(error["extensions"]) == ["code", "database", "tried"]
    assert list(error["locations"][0]) == ["line", "column"]
    assert type(error["path"]) is list


def test_an_empty_path_is_kept_and_no_locations_are_left_out() -> None:
    error = graphql_error("m", "C", locations=(), path=[])
    assert error == {"message": "m", "path": [], "extensions": {"code": "C"}}
    assert list(error) == ["message", "path", "extensions"]


def test_a_request_error_is_located_where_graphql_core_located_it() -> None:
    with pytest.raises(GraphQLSyntaxError) as raised:
        parse("{\n  authors(\n}")
    error = request_error(raised.value.message, "GRAPHQL_PARSE_FAILED", raised.value)
    assert error == {
        "message": "Syntax Error: Expected Name, found '}'.",
        "locations": [{"line": 3, "column": 1}],
        "extensions": {"code": "GRAPHQL_PARSE_FAILED"},
    }
    assert list(error) == ["message", "locations", "extensions"]


def test_a_request_error_without_a_graphql_error_or_locations_has_none() -> None:
    assert request_error("Must provide operation name.", "BAD_USER_INPUT") == {
        "message": "Must provide operation name.",
        "extensions": {"code": "BAD_USER_INPUT"},
    }
    unlocated = GraphQLError("Variable '$n' of required type 'Int!' was not provided.")
    assert request_error(unlocated.message, "BAD_USER_INPUT", unlocated) == {
        "message": "Variable '$n' of required type 'Int!' was not provided.",
        "extensions": {"code": "BAD_USER_INPUT"},
    }
