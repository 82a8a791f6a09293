"""Fixtures of the conformance suite: one resolver per engine over the same dataset.

`resolver` is parametrized over `ENGINES`; adding an engine means adding it there (and its column
types in `dataset.DDL_TYPES`), never copying tests. Each test module gets, per engine, a fresh
database loaded with the dataset and an in-process resolver service on a free port, reached over
real gRPC by a `Conformance` client.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from conformance.backends import Backend, backend_for
from conformance.client import ResolverClient
from conformance.dataset import load_dataset
from dbmesh.services import create_server

ENGINES = ["postgresql", "mysql", "sqlite"]
_MODULE_DATABASES = {"postgresql": "pg_module_database", "mysql": "mysql_module_database"}


class Conformance(ResolverClient):
    """A client of the engine's resolver, plus plain-driver access to its database (`backend`)."""

    def __init__(self, address: str, engine: str, backend: Backend) -> None:
        super().__init__(address, engine)
        self.backend = backend


@contextlib.asynccontextmanager
async def running_resolver(backend: Backend, **settings: Any) -> AsyncIterator[Conformance]:
    """An in-process resolver service for `backend`'s database (configured with `settings`)."""
    settings.setdefault("timeout_secs", 20)
    settings.setdefault("pool_size", 4)
    running = await create_server(backend.config(**settings), "127.0.0.1:0")
    client = Conformance(f"127.0.0.1:{running.port}", backend.engine, backend)
    try:
        yield client
    finally:
        await client.close()
        await running.stop(0.5)


async def module_backend(
    engine: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Backend:
    """A fresh, empty database of `engine` for the requesting module."""
    if engine == "sqlite":
        return backend_for(engine, Path(tmp_path_factory.mktemp("sqlite")) / "conformance.db")
    return backend_for(engine, request.getfixturevalue(_MODULE_DATABASES[engine]))


@pytest_asyncio.fixture(scope="module", params=ENGINES, loop_scope="session")
async def resolver(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Conformance]:
    """A resolver over the conformance dataset, one per engine and test module."""
    backend = await module_backend(request.param, request, tmp_path_factory)
    try:
        await load_dataset(backend)
        async with running_resolver(backend) as client:
            yield client
    finally:
        await backend.close()
