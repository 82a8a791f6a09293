"""Fixtures for the PostgreSQL engine's tests: a resolver started in-process over a throwaway
server's database (tests/conftest.py), talked to through the real gRPC stub."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from harness.servers import DatabaseInfo
from pg_support import StartResolver, pg_config

from dbmesh.resolver.v1 import resolver_pb2_grpc as pb_grpc
from dbmesh.services import create_server


@pytest.fixture
async def start_resolver() -> AsyncIterator[StartResolver]:
    """`await start_resolver(info, **settings)`: a running resolver's stub; stopped after the test."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(info: DatabaseInfo, **settings: Any) -> pb_grpc.ResolverStub:
            running = await create_server(pg_config(info, **settings), "127.0.0.1:0")
            stack.push_async_callback(running.stop, None)
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
            stack.push_async_callback(channel.close)
            return pb_grpc.ResolverStub(channel)

        yield start
