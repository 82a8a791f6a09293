"""Limits on the document itself, on a real router over the demo's SQLite databases through real
resolvers and real HTTP (docs/reference.md §5, §14): query size and tokens, depth through
fragments, fragment nesting, aliases, root fields, and the document and plan caches' bytes. Each
limit is tried at its value (served) and one past it (refused, with the exact error)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from harness.demo import demo_databases, prepare_demo
from harness.mesh import InProcessMesh

from dbmesh.config import RouterConfig
from dbmesh.demo import customer_id
from dbmesh.router.limits import max_tokens
from dbmesh.router.preparation import TOKEN_BYTES

C1 = customer_id(1)
GRAPHQL_RESPONSE = "application/graphql-response+json"


async def _start(factory: pytest.TempPathFactory, settings: dict[str, Any]) -> InProcessMesh:
    data = factory.mktemp("demo")
    schema = prepare_demo(data)
    return await InProcessMesh(demo_databases(data), schema, router_settings=settings).start()


@pytest.fixture(scope="module")
async def small(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[InProcessMesh]:
    """Small limits, so that each is reached with a short query."""
    mesh = await _start(
        tmp_path_factory,
        {
            "max_depth": 4,
            "max_aliases": 3,
            "max_root_fields": 3,
            "max_query_bytes": 4096,
            "document_cache_bytes": 1024 * 1024,
        },
    )
    yield mesh
    await mesh.stop()


@pytest.fixture(scope="module")
async def wide(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[InProcessMesh]:
    """Room for long documents: fragment chains of 10,000 and 2,500 aliases."""
    mesh = await _start(tmp_path_factory, {"max_query_bytes": 1_000_000, "max_tokens": 500_000, "max_aliases": 2500})
    yield mesh
    await mesh.stop()


async def _post(mesh: InProcessMesh, query: str, accept: str = GRAPHQL_RESPONSE) -> tuple[int, dict[str, Any]]:
    async with httpx.AsyncClient(timeout=120) as client:
        response = await client.post(mesh.url, json={"query": query}, headers={"Accept": accept})
    body: dict[str, Any] = response.json()
    return response.status_code, body


def _refused(body: dict[str, Any], code: str, message: str) -> None:
    assert body == {"errors": [{"message": message, "extensions": {"code": code}}]}


# --- query text -----------------------------------------------------------------------------------


def _padded(size: int) -> str:
    """`{ __typename }` followed by a comment of two-byte characters, `size` UTF-8 bytes long."""
    head = "{ __typename } #"
    room = size - len(head)
    return head + "é" * (room // 2) + "x" * (room % 2)


async def test_query_at_max_query_bytes_is_served_one_byte_more_is_refused(small: InProcessMesh) -> None:
    at_limit = _padded(4096)
    assert len(at_limit.encode()) == 4096 and len(at_limit) < 4096  # bytes count, not characters
    assert await _post(small, at_limit) == (200, {"data": {"__typename": "Query"}})
    status, body = await _post(small, _padded(4097))
    assert status == 400
    _refused(body, "QUERY_TOO_COMPLEX", "Query is too large: 4097 bytes exceeds the maximum of 4096.")


async def test_token_bound_is_half_max_query_bytes(small: InProcessMesh) -> None:
    def fields(tokens: int) -> str:
        return "{" + " ".join("a" * (tokens - 2)) + "}"

    # 2048 tokens parse (the unknown field is then a validation error); 2049 are refused unparsed.
    status, body = await _post(small, fields(2048))
    assert status == 400 and body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    status, body = await _post(small, fields(2049))
    assert status == 400
    _refused(body, "QUERY_TOO_COMPLEX", "Query is too large: more than 2048 tokens.")


def test_token_bound_is_max_tokens_and_at_most_half_max_query_bytes() -> None:
    # With the default max_query_bytes (256 KiB) half would be 131,072 tokens: seconds of parsing.
    assert max_tokens(RouterConfig()) == 15_000
    assert max_tokens(RouterConfig(max_query_bytes=4096)) == 2048
    assert max_tokens(RouterConfig(max_tokens=40_000)) == 40_000


# --- depth and fragments --------------------------------------------------------------------------


def _depth_query(extra_level: bool) -> str:
    last = "details { phone }" if extra_level else "name"
    return (
        "{ customers(limit: 1) { ...A } }\n"
        "fragment A on Customer { allOrders(limit: 1) { ...B } }\n"
        "fragment B on Order { customer { ...C } }\n"
        f"fragment C on Customer {{ {last} }}"
    )


async def test_max_depth_counts_through_fragments(small: InProcessMesh) -> None:
    status, body = await _post(small, _depth_query(extra_level=False))
    assert status == 200 and "errors" not in body
    assert body["data"]["customers"][0]["allOrders"][0]["customer"]["name"]
    status, body = await _post(small, _depth_query(extra_level=True))
    assert status == 400
    _refused(body, "QUERY_TOO_DEEP", "Query is too deep: depth 5 exceeds the maximum of 4.")


async def test_fragments_spreading_each_other_twice_over_answer(small: InProcessMesh) -> None:
    # 2**22 paths through 23 fragments: measured and collected once per fragment, not per path.
    fragments = " ".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(22))
    query = "{ ...F0 } " + fragments + " fragment F22 on Query { databaseStatus { name } }"
    assert len(query.encode()) == 911
    status, body = await _post(small, query)
    assert status == 200 and "errors" not in body
    assert sorted(d["name"] for d in body["data"]["databaseStatus"]) == [
        "mysql_historical",
        "postgres_primary",
        "sqlite_cache",
    ]


def _chain(length: int) -> str:
    """`length` fragments, each spreading the next, with no field level between them."""
    links = "\n".join(f"fragment F{i} on Query {{ ...F{i + 1} }}" for i in range(length - 1))
    return f"{{ ...F0 }}\n{links}\nfragment F{length - 1} on Query {{ __typename }}"


async def test_fragment_chain_at_the_nesting_limit_is_served(wide: InProcessMesh) -> None:
    assert await _post(wide, _chain(100)) == (200, {"data": {"__typename": "Query"}})


@pytest.mark.parametrize("length", [101, 1000, 10_000])
async def test_longer_fragment_chains_are_refused_as_graphql_errors(wide: InProcessMesh, length: int) -> None:
    message = f"Query nests fragments too deeply: {length} levels exceed the maximum of 100."
    status, body = await _post(wide, _chain(length))
    assert status == 400
    _refused(body, "QUERY_TOO_COMPLEX", message)
    status, body = await _post(wide, _chain(length), accept="application/json")
    assert status == 200
    _refused(body, "QUERY_TOO_COMPLEX", message)


async def test_inline_fragments_count_as_nesting(wide: InProcessMesh) -> None:
    query = "{ " + "... on Query { " * 101 + "__typename" + " }" * 102
    status, body = await _post(wide, query)
    assert status == 400
    _refused(body, "QUERY_TOO_COMPLEX", "Query nests fragments too deeply: 101 levels exceed the maximum of 100.")


# --- aliases and root fields ----------------------------------------------------------------------


async def test_max_aliases(small: InProcessMesh) -> None:
    served = (
        '{ customer(id: "%s") { a: name b: email c: id name: name } }' % C1
    )  # an alias equal to its name is no alias
    status, body = await _post(small, served)
    assert status == 200 and set(body["data"]["customer"]) == {"a", "b", "c", "name"}
    status, body = await _post(small, '{ customer(id: "%s") { a: name b: email c: id d: name } }' % C1)
    assert status == 400
    _refused(body, "QUERY_TOO_COMPLEX", "Query has too many aliases: 4 exceeds the maximum of 3.")


async def test_aliases_count_once_per_fragment_spread(small: InProcessMesh) -> None:
    query = (
        "{ customers(limit: 1) { ...N allOrders(limit: 1) { customer { ...N } } } }\n"
        "fragment N on Customer { a: name b: email }"
    )
    status, body = await _post(small, query)
    assert status == 400
    _refused(body, "QUERY_TOO_COMPLEX", "Query has too many aliases: 4 exceeds the maximum of 3.")


async def test_max_root_fields_counts_merged_response_keys(small: InProcessMesh) -> None:
    merged = (
        "{ customers(limit: 1) { id } customers(limit: 1) { name } ...R }\n"
        "fragment R on Query { customers(limit: 1) { email } databaseStatus { name } __typename }"
    )
    status, body = await _post(small, merged)
    assert status == 200 and set(body["data"]) == {"customers", "databaseStatus", "__typename"}
    assert set(body["data"]["customers"][0]) == {"id", "name", "email"}
    status, body = await _post(small, merged.replace("__typename }", "__typename orders(limit: 1) { id } }"))
    assert status == 400
    _refused(body, "QUERY_TOO_COMPLEX", "Query has too many root fields: 4 exceeds the maximum of 3.")


async def test_thousands_of_aliases_plan_and_answer(wide: InProcessMesh) -> None:
    names = " ".join(f"a{i}: name" for i in range(2500))
    status, body = await _post(wide, '{ customer(id: "%s") { %s } }' % (C1, names))
    assert status == 200 and "errors" not in body
    customer = body["data"]["customer"]
    assert len(customer) == 2500 and set(customer.values()) == {"Grace Lovelace"}
    status, body = await _post(wide, '{ customer(id: "%s") { %s b: id } }' % (C1, names))
    assert status == 400
    _refused(body, "QUERY_TOO_COMPLEX", "Query has too many aliases: 2501 exceeds the maximum of 2500.")


# --- caches ---------------------------------------------------------------------------------------


async def test_caches_stay_within_document_cache_bytes(small: InProcessMesh) -> None:
    preparation = small.router.preparation
    bound = 1024 * 1024
    for i in range(20):
        # distinct texts of some 600 tokens each: every one weighs about 300 KiB (TOKEN_BYTES a token)
        query = "{ customers(limit: 1) { %s } } # %02d" % (" ".join(["id name email"] * 200), i)
        status, body = await _post(small, query)
        assert status == 200 and "errors" not in body
        usage = preparation.cache_usage()
        assert usage["documents"][1] <= bound and usage["plans"][1] <= bound
    weight = len(query.encode()) + TOKEN_BYTES * 613  # 610 tokens, the comment, start and end of file
    documents, plans = preparation.cache_usage()["documents"], preparation.cache_usage()["plans"]
    assert documents[0] == plans[0] == bound // weight  # as many as fit; the older ones were evicted
    assert documents[1] == plans[1] == documents[0] * weight
