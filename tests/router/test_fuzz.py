"""Fuzzing the router (docs/reference.md §5): queries generated from its own schema by
hypothesis-graphql (valid ones, and mutated ones that break the schema's rules), sent over HTTP to
a real `dbmesh up` over the demo. Whatever arrives, the answer is JSON with GraphQL errors that
carry a code — never an HTTP 500 and never INTERNAL_SERVER_ERROR."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import graphql
import httpx
import pytest
from harness.mesh import UpProcess
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, queries

from dbmesh.demo import prepare
from dbmesh.router.schema import build_graphql_schema
from dbmesh.schema import load_schema

EXAMPLES = 60  # per test: bounded, the suite stays well under its time budget
CODES = {
    "GRAPHQL_PARSE_FAILED",
    "GRAPHQL_VALIDATION_FAILED",
    "BAD_USER_INPUT",
    "QUERY_TOO_DEEP",
    "QUERY_TOO_COMPLEX",
    "DATABASE_ERROR",
}


def _string(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[graphql.StringValueNode]:
    return strategy.map(lambda v: graphql.StringValueNode(value=str(v)))


SCALARS = {
    "DateTime": _string(st.datetimes().map(lambda d: d.isoformat())),
    "Date": _string(st.dates().map(lambda d: d.isoformat())),
    "Decimal": _string(st.decimals(allow_nan=False, allow_infinity=False, places=4)),
    "JSON": _string(st.text(max_size=20)),
}


@pytest.fixture(scope="module")
async def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[str, graphql.GraphQLSchema]]:
    config, schema_path = prepare(tmp_path_factory.mktemp("demo"))
    up = await UpProcess(config, schema_path).start()
    schema, _ = build_graphql_schema(load_schema(schema_path, ["postgres_primary", "mysql_historical", "sqlite_cache"]))
    yield up.url, schema
    await up.stop()


def _check(client: httpx.Client, url: str, query: str) -> None:
    response = client.post(url, json={"query": query})
    assert response.status_code != 500, (query, response.text)
    body = response.json()
    for error in body.get("errors", []):
        code = error.get("extensions", {}).get("code")
        assert code in CODES, (query, error)


def test_valid_queries_from_the_schema(fuzzed: tuple[str, graphql.GraphQLSchema]) -> None:
    url, schema = fuzzed

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(queries(schema, custom_scalars=SCALARS))
    def run(query: str) -> None:
        _check(client, url, query)

    with httpx.Client(timeout=30) as client:
        run()


def test_mutated_queries(fuzzed: tuple[str, graphql.GraphQLSchema]) -> None:
    url, schema = fuzzed

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(queries(schema, custom_scalars=SCALARS, mode=Mode.NEGATIVE))
    def run(query: str) -> None:
        _check(client, url, query)

    with httpx.Client(timeout=30) as client:
        run()


def test_mangled_text(fuzzed: tuple[str, graphql.GraphQLSchema]) -> None:
    url, schema = fuzzed

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(queries(schema, custom_scalars=SCALARS), st.data())
    def run(query: str, data: st.DataObject) -> None:
        cut = data.draw(st.integers(0, len(query)))
        junk = data.draw(st.text(alphabet='{}()[]:$@!.,"#\\ \n\t', max_size=5))
        _check(client, url, query[:cut] + junk + query[cut:])

    with httpx.Client(timeout=30) as client:
        run()
