"""The benchmark's baseline stays honest: at a tiny scale, without load, the mesh (`dbmesh up`, real
processes) and the hand-written baseline return equal data for every scenario, and the mesh runs
exactly its plan's fetch count of statements. The check itself must catch a difference."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from harness.servers import DatabaseInfo

import bench.check
from bench.check import Mismatch, check, first_difference
from bench.data import Dataset
from bench.load import Run, summarize
from bench.scenarios import SCENARIOS
from bench.stack import Databases, load, targets


async def test_mesh_and_baseline_return_equal_data(
    pg_database: DatabaseInfo, mysql_database: DatabaseInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = Dataset(scale=0.01)  # 100 customers, 1,000 orders, 3,000 items
    dbs = Databases(pg_database, mysql_database, tmp_path / "cache.db", {})
    await load(data, dbs, tmp_path)
    processes = contextlib.ExitStack()  # starting and stopping them blocks: not on the event loop
    try:
        running = await asyncio.to_thread(processes.enter_context, targets(dbs, tmp_path))
        checks = await check(running.mesh.url, running.baseline_url, data.customer_ids, samples=20)

        real_post = bench.check._post

        async def post_one_cent_more(client: Any, url: str, target: str, payload: dict[str, Any]) -> dict[str, Any]:
            body = await real_post(client, url, target, payload)
            if target != "the baseline":
                return body
            for order in (body["data"].get("customer") or {}).get("allOrders") or []:
                order["totalAmount"] = str(Decimal(order["totalAmount"]) + Decimal("0.01"))
            return body

        monkeypatch.setattr(bench.check, "_post", post_one_cent_more)
        with pytest.raises(Mismatch, match=r"'nested', sample 0: .* disagree at data.customer.allOrders\[0\]"):
            await check(running.mesh.url, running.baseline_url, data.customer_ids, samples=1)
    finally:
        await asyncio.to_thread(processes.close)
    assert set(checks) == {s.name for s in SCENARIOS}
    for name, result in checks.items():
        assert result.samples == 20, name
        assert result.statements_match_plan, (name, result.mesh_statements, result.plan_fetches)
    assert checks["nested"].plan_fetches == 3
    assert checks["batch"].plan_fetches == 2


def test_first_difference_names_the_path() -> None:
    mesh = {"customer": {"allOrders": [{"id": "a", "totalAmount": "1.50"}]}}
    baseline = {"customer": {"allOrders": [{"id": "a", "totalAmount": "1.5"}]}}
    assert first_difference(mesh, baseline) == "data.customer.allOrders[0].totalAmount: mesh '1.50' != baseline '1.5'"
    assert first_difference(mesh, mesh) is None
    assert "1 items in the mesh, 0 in the baseline" in str(first_difference([1], []))
    assert first_difference({"n": 1}, {"n": 1.0}) is not None


def test_bodies_are_valid_json_with_the_ids() -> None:
    for scenario in SCENARIOS:
        ids = [f"id-{i}" for i in range(scenario.ids_per_request)]
        payload = orjson.loads(scenario.body(ids))
        assert payload["query"] == scenario.query
        value = payload["variables"][scenario.variable]
        assert value == (ids if scenario.ids_per_request > 1 else ids[0])


def test_rounds_merge_into_one_distribution() -> None:
    def run(requests: int, latency_us: int) -> Run:
        points = [(i / 10, latency_us) for i in range(1, 1000)]
        return Run("t", "s", 0, 0, 1.0, requests, 0, 0, 0, requests, {"max": latency_us}, points)

    merged = summarize([run(900, 1000), run(100, 50_000)])
    assert merged.rps == 500.0
    assert merged.p50_ms == 1.0  # 90 % of the requests took 1 ms
    assert merged.p99_ms == 50.0  # the slow round's 10 % decide p99
