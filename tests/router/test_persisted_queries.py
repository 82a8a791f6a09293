"""Automatic persisted queries (docs/reference.md §15), Apollo's protocol, on a real router over a
real SQLite resolver: Apollo Client's persisted-query link (tests/apollo/js/apq.mjs) misses,
retries with the query, then is served by hash alone, over POST and GET; and each refusal's
exact error, batches and the cache's bound, over plain HTTP."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from apollo.node import npm_ci, run_json
from harness.mesh import InProcessMesh

SCHEMA = Path(__file__).with_name("persisted_schema.py")
QUERY = "{ notes(orderBy: [{id: ASC}]) { id text } }"
NOTES = [{"id": 1, "text": "first"}, {"id": 2, "text": "second"}]
NOT_FOUND = {"errors": [{"message": "PersistedQueryNotFound", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}]}


def sha(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


def persisted(query: str | None, digest: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}, **extra}
    if query is not None:
        body["query"] = query
    return body


async def _mesh(path: Path, **router: Any) -> InProcessMesh:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)")
        db.executemany("INSERT INTO notes VALUES (?, ?)", [(n["id"], n["text"]) for n in NOTES])
    db.close()
    return await InProcessMesh({"main": {"engine": "sqlite", "path": str(path)}}, SCHEMA, router).start()


@pytest.fixture(scope="module")
async def mesh(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[InProcessMesh]:
    mesh = await _mesh(tmp_path_factory.mktemp("persisted") / "main.db")
    yield mesh
    await mesh.stop()


async def _post(mesh: InProcessMesh, body: Any, accept: str = "application/json") -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(mesh.url, json=body, headers={"accept": accept})


async def _get(mesh: InProcessMesh, **params: Any) -> httpx.Response:
    query = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in params.items()}
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.get(mesh.url, params=query, headers={"accept": "application/json"})


@pytest.mark.parametrize("mode", ["post", "get"])
async def test_apollo_client_misses_then_retries_with_the_query_then_is_served_by_hash(
    mesh: InProcessMesh, mode: str
) -> None:
    npm_ci()
    text = f"query Notes{mode.title()} {{ notes(orderBy: [{{id: ASC}}]) {{ id text }} }}"  # new to the cache
    out = await run_json("apq.mjs", mesh.url, text, mode)
    notes = [{"__typename": "Note", **note} for note in NOTES]
    assert out["results"] == [{"notes": notes}, {"notes": notes}]
    hashed = "GET" if mode == "get" else "POST"
    sent = out["requests"][1]["query"]  # the client's own printing of the query (with __typename)
    assert "notes(orderBy:" in sent
    digest = sha(sent)
    assert out["requests"] == [
        {"method": hashed, "query": None, "hash": digest},  # missed: PersistedQueryNotFound
        {"method": "POST", "query": sent, "hash": digest},  # the retry, with the query
        {"method": hashed, "query": None, "hash": digest},  # served from the cache
    ]


async def test_an_unknown_hash_is_persisted_query_not_found_with_status_200(mesh: InProcessMesh) -> None:
    for accept in ("application/json", "application/graphql-response+json"):
        response = await _post(mesh, persisted(None, sha("{ notes { id } } # never sent")), accept)
        assert (response.status_code, response.json()) == (200, NOT_FOUND)
    response = await _get(mesh, extensions={"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}})
    assert (response.status_code, response.json()) == (200, NOT_FOUND)


async def test_a_query_with_its_hash_is_cached_and_served_by_hash_alone(mesh: InProcessMesh) -> None:
    text = "{ notes(limit: 1) { text } }"
    first = await _post(mesh, persisted(text, sha(text).upper()))  # hex in either case
    assert first.json() == {"data": {"notes": [{"text": "first"}]}}
    by_hash = await _post(mesh, persisted(None, sha(text)))
    assert by_hash.json() == {"data": {"notes": [{"text": "first"}]}}
    by_get = await _get(mesh, extensions={"persistedQuery": {"version": 1, "sha256Hash": sha(text)}})
    assert (by_get.status_code, by_get.json()) == (200, {"data": {"notes": [{"text": "first"}]}})


async def test_variables_and_operation_name_travel_with_the_hash(mesh: InProcessMesh) -> None:
    text = "query A($n: Int) { notes(limit: $n) { id } } query B { notes { text } }"
    await _post(mesh, persisted(text, sha(text), operationName="B"))
    response = await _post(mesh, persisted(None, sha(text), operationName="A", variables={"n": 1}))
    assert response.json() == {"data": {"notes": [{"id": 1}]}}


async def test_a_hash_that_does_not_match_its_query_is_refused(mesh: InProcessMesh) -> None:
    error = {"message": "provided sha does not match query", "extensions": {"code": "BAD_USER_INPUT"}}
    response = await _post(mesh, persisted(QUERY, sha(QUERY + " ")))
    assert (response.status_code, response.json()) == (200, {"errors": [error]})
    response = await _post(mesh, persisted(QUERY, sha(QUERY + " ")), "application/graphql-response+json")
    assert (response.status_code, response.json()) == (400, {"errors": [error]})
    # Nothing was cached under the wrong hash.
    assert (await _post(mesh, persisted(None, sha(QUERY + " ")))).json() == NOT_FOUND


@pytest.mark.parametrize(
    ("persisted_query", "message"),
    [
        ({"version": 2, "sha256Hash": "ab"}, "Unsupported persisted query version"),
        ({"sha256Hash": "ab"}, "Unsupported persisted query version"),
        ("v1", "Unsupported persisted query version"),
        ({"version": 1}, "'extensions.persistedQuery.sha256Hash' must be a string"),
        ({"version": 1, "sha256Hash": 12}, "'extensions.persistedQuery.sha256Hash' must be a string"),
    ],
)
async def test_a_malformed_persisted_query_extension_is_refused(
    mesh: InProcessMesh, persisted_query: Any, message: str
) -> None:
    response = await _post(mesh, {"extensions": {"persistedQuery": persisted_query}})
    assert response.json() == {"errors": [{"message": message, "extensions": {"code": "BAD_USER_INPUT"}}]}


async def test_a_query_that_does_not_validate_is_not_cached(mesh: InProcessMesh) -> None:
    text = "{ notes { colour } }"
    response = await _post(mesh, persisted(text, sha(text)))
    assert response.json()["errors"][0]["message"] == "Cannot query field 'colour' on type 'Note'."
    assert (await _post(mesh, persisted(None, sha(text)))).json() == NOT_FOUND


async def test_a_persisted_mutation_is_refused_over_get(mesh: InProcessMesh) -> None:
    text = 'query Q { notes { id } } mutation M { insertNotes(objects: [{id: 99, text: "x"}]) { affectedRows } }'
    cached = await _post(mesh, persisted(text, sha(text), operationName="Q"))
    assert cached.json() == {"data": {"notes": [{"id": 1}, {"id": 2}]}}
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": sha(text)}}
    response = await _get(mesh, operationName="M", extensions=extensions)
    error = {"message": "mutations are not allowed over GET", "extensions": {"code": "BAD_USER_INPUT"}}
    assert (response.status_code, response.json()) == (405, {"errors": [error]})
    assert (await _get(mesh, operationName="Q", extensions=extensions)).json() == cached.json()


async def test_batch_items_are_resolved_one_by_one(mesh: InProcessMesh) -> None:
    text = "{ notes(limit: 2) { id } }"
    await _post(mesh, persisted(text, sha(text)))
    response = await _post(
        mesh, [persisted(None, sha(text)), persisted(None, sha("unknown")), {"query": "{ __typename }"}]
    )
    assert (response.status_code, response.json()) == (
        200,
        [{"data": {"notes": [{"id": 1}, {"id": 2}]}}, NOT_FOUND, {"data": {"__typename": "Query"}}],
    )


async def test_the_cache_keeps_the_most_recently_used_document_cache_size_queries(tmp_path: Path) -> None:
    small = await _mesh(tmp_path / "main.db", document_cache_size=2)
    try:
        texts = [f"{{ notes(limit: {n}) {{ id }} }}" for n in (1, 2, 3)]
        for text in texts[:2]:
            await _post(small, persisted(text, sha(text)))
        await _post(small, persisted(None, sha(texts[0])))  # the first is now the most recently used
        await _post(small, persisted(texts[2], sha(texts[2])))  # the second is dropped
        assert (await _post(small, persisted(None, sha(texts[1])))).json() == NOT_FOUND
        assert (await _post(small, persisted(None, sha(texts[0])))).json() == {"data": {"notes": [{"id": 1}]}}
        expected = {"data": {"notes": [{"id": 1}, {"id": 2}]}}
        assert (await _post(small, persisted(None, sha(texts[2])))).json() == expected
    finally:
        await small.stop()
