"""dbmesh.Client (docs/reference.md §9) against scripted HTTP answers (httpx.MockTransport: this tests
the client's handling, not a service) and a port nothing listens on: GraphQL errors whatever the
status, `trace=True` reaching `meta.trace`, and one clear ClientError for what is not GraphQL."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from dbmesh import Client
from dbmesh.client import ClientError
from dbmesh.supervisor import free_port

URL = "http://router.test/graphql"
QUERY = "query($id: ID!) { customer(id: $id) { name } }"


def answering(respond: Callable[[dict[str, Any]], httpx.Response], seen: list[httpx.Request]) -> Client:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return respond(json.loads(request.content))

    return Client(URL, transport=httpx.MockTransport(handler))


async def test_a_query_sends_query_variables_and_operation_name_and_returns_data() -> None:
    seen: list[httpx.Request] = []
    async with answering(lambda body: httpx.Response(200, json={"data": {"customer": {"name": "Ada"}}}), seen) as c:
        result = await c.query(QUERY, variables={"id": "1"}, operation_name="Q")
    assert json.loads(seen[0].content) == {"query": QUERY, "variables": {"id": "1"}, "operationName": "Q"}
    assert seen[0].headers["accept"] == "application/graphql-response+json, application/json;q=0.9"
    assert (result.data, result.errors, result.ok) == ({"customer": {"name": "Ada"}}, [], True)
    assert (result.meta.status_code, result.meta.trace) == (200, None)


async def test_trace_true_asks_for_the_trace_and_it_reaches_meta_trace() -> None:
    trace = {"fetches": [{"database": "primary", "sql": "SELECT ..."}]}
    seen: list[httpx.Request] = []

    def respond(body: dict[str, Any]) -> httpx.Response:
        extensions = {"trace": trace} if body.get("extensions") == {"trace": True} else {}
        return httpx.Response(200, json={"data": {"customer": None}, "extensions": extensions})

    async with answering(respond, seen) as client:
        traced = await client.query(QUERY, variables={"id": "1"}, trace=True)
        plain = await client.query(QUERY, variables={"id": "1"})
    assert traced.meta.trace == trace
    assert traced.meta.extensions == {"trace": trace}
    assert plain.meta.trace is None
    assert "extensions" not in json.loads(seen[1].content)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, {"data": {"customer": None}, "errors": [{"message": "primary is down", "path": ["customer"]}]}),
        (400, {"errors": [{"message": "Cannot query field 'nope' on type 'Customer'."}]}),
        (401, {"errors": [{"message": "unauthenticated", "extensions": {"code": "UNAUTHENTICATED"}}]}),
        (503, {"data": None, "errors": [{"message": "no database can serve customer"}]}),
    ],
)
async def test_graphql_errors_come_back_in_the_result_whatever_the_status(status: int, body: dict[str, Any]) -> None:
    async with answering(lambda _: httpx.Response(status, json=body), []) as client:
        result = await client.query(QUERY, variables={"id": "1"})
    assert result.errors == body["errors"]
    assert result.data == body.get("data")
    assert result.ok is False
    assert result.meta.status_code == status


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (
            httpx.Response(502, text="<html>Bad Gateway</html>", headers={"content-type": "text/html"}),
            "answered HTTP 502 (text/html), not a GraphQL response",
        ),
        (
            httpx.Response(404, json={"detail": "Not Found"}),
            "answered HTTP 404 (application/json), not a GraphQL response",
        ),
        (httpx.Response(200, json=[1, 2]), "answered HTTP 200 (application/json), not a GraphQL response"),
        (httpx.Response(500), "answered HTTP 500 (no content type), not a GraphQL response"),
    ],
)
async def test_an_answer_that_is_not_graphql_is_a_client_error(response: httpx.Response, expected: str) -> None:
    async with answering(lambda _: response, []) as client:
        with pytest.raises(ClientError) as caught:
            await client.query(QUERY)
    assert str(caught.value) == f"{URL} {expected}"


async def test_connection_refused_is_a_clear_client_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/graphql"
    async with Client(url) as client:
        with pytest.raises(ClientError) as caught:
            await client.query("{ __typename }")
    assert str(caught.value) == f"cannot connect to {url} (All connection attempts failed)"


async def test_a_timeout_is_a_client_error_naming_the_deadline() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    async with Client(URL, timeout=2.5, transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(ClientError) as caught:
            await client.query("{ __typename }")
    assert str(caught.value) == f"no answer from {URL} within 2.5s"
