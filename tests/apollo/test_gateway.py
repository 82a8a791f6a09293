"""dbmesh under a real Apollo Gateway (docs/reference.md §15): IntrospectAndCompose over the
router (a real router over real resolvers, federation on) and a second subgraph, reviews
(js/reviews.mjs), whose reviews reference dbmesh's Customer by id. A query through the gateway
that needs those references is answered from PostgreSQL and SQLite, and the router served every
reference in ONE Query call per type, nested relations in one more."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from apollo.conftest import customer_id
from apollo.node import NodeServer
from harness.mesh import InProcessMesh

REVIEWS = [
    {"id": "r1", "body": "Fast delivery", "customerId": customer_id(1)},
    {"id": "r2", "body": "Broken lid", "customerId": customer_id(2)},
    {"id": "r3", "body": "Would buy again", "customerId": customer_id(1)},
    {"id": "r4", "body": "Fine", "customerId": customer_id(3)},
]


@pytest.fixture(scope="module")
async def gateway(subgraph: InProcessMesh, node_packages: None) -> AsyncIterator[str]:
    reviews = await NodeServer("reviews.mjs", json.dumps(REVIEWS)).start()
    gateway = await NodeServer("gateway.mjs", subgraph.url, reviews.url).start()
    yield gateway.url
    await gateway.stop()
    await reviews.stop()


async def _fetches(mesh: InProcessMesh) -> dict[str, float]:
    """How many Query calls the router has made to each database (its /metrics)."""
    async with httpx.AsyncClient() as client:
        text = (await client.get(mesh.url.replace("/graphql", "/metrics"))).text
    found = re.findall(r'^dbmesh_fetch_seconds_count\{database="(\w+)"\} (\S+)$', text, re.MULTILINE)
    return {database: float(count) for database, count in found}


async def test_a_gateway_query_resolves_customer_references_in_one_batched_fetch(
    gateway: str, subgraph: InProcessMesh
) -> None:
    before = await _fetches(subgraph)
    query = "{ reviews { id body author { id name orders(orderBy: [{total: ASC}]) { total } } } }"
    async with httpx.AsyncClient(timeout=60) as client:
        response = await client.post(gateway, json={"query": query})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "data": {
            "reviews": [
                {
                    "id": "r1",
                    "body": "Fast delivery",
                    "author": {
                        "id": customer_id(1),
                        "name": "Customer 1",
                        "orders": [{"total": 10}, {"total": 20}],
                    },
                },
                {
                    "id": "r2",
                    "body": "Broken lid",
                    "author": {"id": customer_id(2), "name": "Customer 2", "orders": [{"total": 30}]},
                },
                {
                    "id": "r3",
                    "body": "Would buy again",
                    "author": {
                        "id": customer_id(1),
                        "name": "Customer 1",
                        "orders": [{"total": 10}, {"total": 20}],
                    },
                },
                {"id": "r4", "body": "Fine", "author": {"id": customer_id(3), "name": "Customer 3", "orders": []}},
            ]
        }
    }
    after = await _fetches(subgraph)
    # Four references (three customers): one Query call to PostgreSQL, one to SQLite for their orders.
    assert after.get("pg", 0) - before.get("pg", 0) == 1
    assert after.get("shop", 0) - before.get("shop", 0) == 1


async def test_the_gateway_composes_dbmesh_types_with_the_other_subgraphs(gateway: str) -> None:
    """dbmesh's own root fields are served through the gateway too, next to the reviews'."""
    query = '{ customer(id: "%s") { name } reviews { id } }' % customer_id(2)
    async with httpx.AsyncClient(timeout=60) as client:
        response = await client.post(gateway, json={"query": query})
    assert response.json() == {
        "data": {
            "customer": {"name": "Customer 2"},
            "reviews": [{"id": "r1"}, {"id": "r2"}, {"id": "r3"}, {"id": "r4"}],
        }
    }
