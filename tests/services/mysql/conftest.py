"""Fixtures for the MySQL resolver tests: a resolver service started in-process on a throwaway
MariaDB database, driven through the real gRPC stub (docs/reference.md §8)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest
from harness.servers import DatabaseInfo, MariaDBServer
from mysql_resolver import Resolver, StartResolver, mysql_config

from dbmesh.resolver.v1 import resolver_pb2_grpc as pb_grpc
from dbmesh.services import create_server


@pytest.fixture
async def start_resolver() -> AsyncIterator[StartResolver]:
    """Start resolvers for databases; every one is stopped when the test ends."""
    started: list[Resolver] = []

    async def start(info: DatabaseInfo, **settings: Any) -> Resolver:
        config = mysql_config(info, **settings)
        running = await create_server(config, "127.0.0.1:0")
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
        resolver = Resolver(config, running, channel, pb_grpc.ResolverStub(channel))
        started.append(resolver)
        return resolver

    yield start
    for resolver in started:
        await resolver.channel.close()
        await resolver.running.stop(grace=None)


@pytest.fixture
async def resolver(mysql_database: DatabaseInfo, start_resolver: StartResolver) -> Resolver:
    """A resolver (pool of 4, 10 s timeout) on the test's fresh, empty database."""
    return await start_resolver(mysql_database, pool_size=4, timeout_secs=10)


@pytest.fixture
def sql(mysql_server: MariaDBServer, mysql_database: DatabaseInfo) -> Callable[[str], list[tuple[Any, ...]]]:
    """Run setup or checking SQL directly on the test's database (not through the resolver)."""

    def run(statements: str) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = []
        for statement in filter(None, (s.strip() for s in statements.split(";\n"))):
            rows = mysql_server.execute(statement, mysql_database.database)
        return rows

    return run
