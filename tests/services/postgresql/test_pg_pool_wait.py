"""The PostgreSQL read pool (services/engines/postgresql.py): an idle connection is handed out
at once, and with none idle the wait for one is bounded by the database's timeout, answered as
UNAVAILABLE naming the database (the acquire without a timeout is only taken while one is idle)."""

from __future__ import annotations

import asyncio
import time

import pytest
from harness.servers import DatabaseInfo
from pg_support import pg_config

from dbmesh.services.engines.postgresql import PostgresEngine
from dbmesh.services.errors import Unavailable


async def test_the_wait_for_a_busy_pool_is_bounded(pg_database: DatabaseInfo) -> None:
    engine = PostgresEngine(pg_config(pg_database, pool_size=1, timeout_secs=1))
    try:
        held = await engine.acquire()
        start = time.perf_counter()
        with pytest.raises(Unavailable, match="'pg': no connection within 1s"):
            async with asyncio.timeout(5):  # an unbounded wait fails here instead of hanging
                await engine.acquire()
        assert time.perf_counter() - start < 3
        await engine.release(held)

        again = await engine.acquire()  # the one connection, idle again, comes at once
        assert await again.fetch("SELECT 1", []) == [(1,)]
        assert engine.pool_usage() == (1, 1)
        await engine.release(again)
        assert engine.pool_usage() == (0, 1)
    finally:
        await engine.close()
