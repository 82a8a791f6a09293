"""`dbmesh init` on the design document's three databases (docs/reference.md §15): the deployed
tables (deploy/compose/initdb, deploy/k8s/base/config) on real throwaway PostgreSQL and MariaDB
servers and a SQLite file. The command runs as a user runs it (a child process starting its own
resolvers, or asking running ones); what it writes is the committed sample, passes `dbmesh check`
offline and online, and answers the guide's queries, adapted to the generated names, through a
real router."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from e2e.federation import Dataset, cid, load_mariadb, load_postgres, load_sqlite, oid
from harness.config import config_toml, server_settings
from harness.mesh import REPO, InProcessMesh
from harness.servers import DatabaseInfo

SAMPLE = Path(__file__).parent / "samples" / "federation_schema.py"
DATA = Dataset(customers=12)


async def dbmesh(*args: str, cwd: Path) -> tuple[int, str, str]:
    """Run `python -m dbmesh ARGS` in `cwd` without blocking the event loop (the test's own
    resolvers may be serving in it); exit code, stdout, stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dbmesh",
        *args,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    return int(process.returncode or 0), out.decode(), err.decode()


@dataclass
class Federation:
    folder: Path
    databases: dict[str, dict[str, Any]]
    init: tuple[int, str, str]  # `dbmesh init`'s exit code, stdout and stderr
    mesh: InProcessMesh

    @property
    def schema(self) -> Path:
        return self.folder / "schema.py"

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        body = await self.mesh.post(query, variables)
        assert "errors" not in body, body
        return body["data"]


@pytest.fixture(scope="module")
async def federation(
    pg_module_database: DatabaseInfo, mysql_module_database: DatabaseInfo, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Federation]:
    folder = tmp_path_factory.mktemp("init")
    await load_postgres(pg_module_database, DATA)
    await load_mariadb(mysql_module_database, DATA)
    load_sqlite(folder / "cache.db", DATA, cached=5)
    databases = {
        "postgres_primary": {**server_settings(pg_module_database), "timeout_secs": 5},
        "mysql_historical": {**server_settings(mysql_module_database), "read_only": True, "timeout_secs": 5},
        "sqlite_cache": {"engine": "sqlite", "path": str(folder / "cache.db"), "read_only": True},
    }
    (folder / "dbmesh.toml").write_text(config_toml(databases))
    init = await dbmesh("init", "-c", "dbmesh.toml", cwd=folder)
    assert init[0] == 0, init
    mesh = await InProcessMesh(databases, folder / "schema.py").start()
    try:
        yield Federation(folder, databases, init, mesh)
    finally:
        await mesh.stop()


async def test_init_writes_the_sample_module_and_says_where(federation: Federation) -> None:
    code, out, _ = federation.init
    assert code == 0
    assert out == "wrote schema.py: 4 types, 6 relations, 8 root fields from 3 databases\n"
    assert federation.schema.read_text() == SAMPLE.read_text()


async def test_check_passes_on_what_init_wrote_offline_and_online(federation: Federation) -> None:
    offline = await dbmesh("check", "-c", "dbmesh.toml", "-s", "schema.py", "--offline", cwd=federation.folder)
    assert offline[0] == 0, offline
    assert offline[1].splitlines()[-1] == "ok    schema schema.py: 4 types, 8 root fields"
    online = await dbmesh("check", "-c", "dbmesh.toml", "-s", "schema.py", cwd=federation.folder)
    assert online[0] == 0, online
    assert [line.split(":")[-1] for line in online[1].splitlines()] == [
        " connected, 2 tables and views",
        " connected, 2 tables and views",
        " connected, 4 tables and views",
    ]


async def test_running_resolvers_give_the_same_module(federation: Federation, tmp_path: Path) -> None:
    (tmp_path / "dbmesh.toml").write_text(federation.mesh.toml())  # every `resolver` key: the mesh's
    code, out, err = await dbmesh("init", "-c", "dbmesh.toml", "--running", "-o", "again.py", cwd=tmp_path)
    assert (code, err) == (0, "")
    assert out == "wrote again.py: 4 types, 6 relations, 8 root fields from 3 databases\n"
    assert (tmp_path / "again.py").read_text() == federation.schema.read_text()


GET_CUSTOMER_WITH_HISTORY = """
query GetCustomerWithHistory($customerId: ID!, $orderCustomer: String!) {
  customer(id: $customerId) { id email name }
  orders(where: {customerId: {_eq: $orderCustomer}, orderDate: {_gte: "2024-01-01", _lt: "2025-01-01"}}) {
    id orderDate totalAmount
  }
}
"""


async def test_guide_customer_with_history(federation: Federation) -> None:
    data = await federation.data(GET_CUSTOMER_WITH_HISTORY, {"customerId": cid(7), "orderCustomer": cid(7)})
    assert data == {
        "customer": {"id": cid(7), "email": "c7@example.com", "name": "Customer 0007"},
        "orders": [{"id": oid(7, 2), "orderDate": "2024-08-03", "totalAmount": "9.25"}],
    }


async def test_guide_virtual_foreign_key_across_databases(federation: Federation) -> None:
    query = """query($id: ID!) {
                 customer(id: $id) { id email orders(orderBy: [{orderDate: ASC}]) { id totalAmount } } }"""
    data = await federation.data(query, {"id": cid(3)})
    assert data["customer"]["email"] == "c3@example.com"
    assert data["customer"]["orders"] == [
        {"id": oid(3, 0), "totalAmount": "3.05"},
        {"id": oid(3, 1), "totalAmount": "4.15"},
        {"id": oid(3, 2), "totalAmount": "5.25"},
    ]


async def test_relations_from_foreign_keys_and_names_both_ways(federation: Federation) -> None:
    query = """query($id: String!) { order(id: $id) {
                 customer { name customerDetail { phone } }
                 orderItems(orderBy: [{quantity: ASC}]) { quantity order { id } } } }"""
    data = await federation.data(query, {"id": oid(1, 0)})
    assert data["order"] == {
        "customer": {"name": "Customer 0001", "customerDetail": {"phone": "+1-555-0000"}},
        "orderItems": [{"quantity": 1, "order": {"id": oid(1, 0)}}, {"quantity": 2, "order": {"id": oid(1, 0)}}],
    }
    details = await federation.data(
        "{ customerDetails(orderBy: [{phone: ASC}], limit: 2) { phone customer { email } } }"
    )
    assert details["customerDetails"] == [
        {"phone": "+1-555-0000", "customer": {"email": "c1@example.com"}},
        {"phone": "+1-555-0002", "customer": {"email": "c3@example.com"}},
    ]


async def test_by_key_fields_take_the_primary_key(federation: Federation) -> None:
    query = """query($order: String!, $product: String!) {
                 orderItem(orderId: $order, productId: $product) { quantity price }
                 missing: customer(id: "00000000-0000-4000-8000-0000000000ff") { id } }"""
    data = await federation.data(query, {"order": oid(2, 1), "product": "00000000-0000-0000-0000-000000000002"})
    assert data == {"orderItem": {"quantity": 2, "price": "10.99"}, "missing": None}


async def test_guide_federation_health(federation: Federation) -> None:
    await federation.mesh.router_probe()
    data = await federation.data("query FederationHealth { databaseStatus { name connected } }")
    assert data["databaseStatus"] == [
        {"name": "postgres_primary", "connected": True},
        {"name": "mysql_historical", "connected": True},
        {"name": "sqlite_cache", "connected": True},
    ]
