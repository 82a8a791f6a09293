"""Spans of fetches that fell back or failed, through `dbmesh up` with PostgreSQL and MariaDB
unreachable (nothing listens on their ports) and the SQLite cache up (docs/reference.md §15); and a
process without `[telemetry]` never loads the SDK."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator

import httpx
import pytest
from e2e.federation import SCHEMA, Dataset, load_sqlite
from harness.config import config_toml
from harness.mesh import REPO, UpProcess
from telemetry.collector import FAST_EXPORT, Collector, Received

from dbmesh.supervisor import free_port

DOWN = "query Down { customers(limit: 2) { email } orders { id } }"


@pytest.fixture
async def collector() -> AsyncIterator[Collector]:
    receiver = await Collector().start()
    yield receiver
    await receiver.stop()


@pytest.fixture
async def mesh(tmp_path_factory: pytest.TempPathFactory, collector: Collector) -> AsyncIterator[UpProcess]:
    folder = tmp_path_factory.mktemp("telemetry-down")
    load_sqlite(folder / "cache.db", Dataset(customers=5), cached=5)
    unreachable = {"host": "127.0.0.1", "port": free_port(), "database": "gone", "timeout_secs": 2}
    toml = config_toml(
        {
            "postgres_primary": {"engine": "postgresql", **unreachable},
            "mysql_historical": {"engine": "mysql", **unreachable, "read_only": True},
            "sqlite_cache": {"engine": "sqlite", "path": str(folder / "cache.db"), "read_only": True},
        }
    )
    config = folder / "dbmesh.toml"
    config.write_text(f'{toml}\n[telemetry]\notlp_endpoint = "{collector.endpoint}"\n')
    up = await UpProcess(config, SCHEMA, env=FAST_EXPORT).start()
    yield up
    assert await up.stop() == 0


async def test_a_fallback_and_a_failure_in_the_fetch_spans(mesh: UpProcess, collector: Collector) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(mesh.url, json={"query": DOWN, "extensions": {"trace": True}})
    body = response.json()
    assert [e["extensions"]["code"] for e in body["errors"]] == ["DATABASE_UNAVAILABLE"]
    assert len(body["data"]["customers"]) == 2
    trace_id = body["extensions"]["trace"]["traceparent"].split("-")[1]

    def done(spans: list[Received]) -> bool:
        names = [s.name for s in spans if s.trace_id == trace_id]
        return names.count("graphql.request") == 1 and names.count("dbmesh.fetch") == 2 and "dbmesh.statement" in names

    await collector.wait_for(done)
    spans = collector.trace(trace_id)
    (request,) = [s for s in spans if s.name == "graphql.request"]
    assert request.attributes["dbmesh.outcome"] == "partial"
    fetches = {s.attributes["dbmesh.path"]: s for s in spans if s.name == "dbmesh.fetch"}
    assert all(f.parent_span_id == request.span_id for f in fetches.values())

    served = fetches["customers"]
    assert not served.failed
    assert served.attributes["dbmesh.database"] == "sqlite_cache"
    assert served.attributes["dbmesh.fallback_from"] == "postgres_primary"
    assert served.attributes["dbmesh.rows"] == 2
    (statement,) = [s for s in spans if s.name == "dbmesh.statement"]
    assert statement.parent_span_id == served.span_id
    assert (statement.attributes["dbmesh.database"], statement.attributes["db.system.name"]) == (
        "sqlite_cache",
        "sqlite",
    )

    failed = fetches["orders"]
    assert failed.failed and failed.status_message == "DATABASE_UNAVAILABLE"
    assert failed.attributes["dbmesh.error_code"] == "DATABASE_UNAVAILABLE"
    assert failed.attributes["dbmesh.database"] == "mysql_historical"
    assert "dbmesh.rows" not in failed.attributes
    assert not [s for s in spans if s.parent_span_id == failed.span_id]  # no statement ran


def test_without_telemetry_the_sdk_is_not_loaded() -> None:
    script = (
        "import sys, dbmesh.commands, dbmesh.router.service, dbmesh.router.executor, dbmesh.services.servicer\n"
        "from dbmesh import telemetry\n"
        "sdk = sorted(m for m in sys.modules if m.startswith('opentelemetry.sdk'))\n"
        "print(telemetry.current() is telemetry.OFF, sdk)"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True []"
