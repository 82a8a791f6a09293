"""A mesh over PostgreSQL (`shop`), MariaDB (`history`) and SQLite (`cache`) with [auth] and
[[permissions]] (tests/access/access_data.py), shared by the tests of one module."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from access_data import AUTH, databases
from harness.mesh import InProcessMesh
from harness.servers import DatabaseInfo

SCHEMA = Path(__file__).with_name("access_schema.py")


@pytest.fixture(scope="module")
async def secured(
    pg_module_database: DatabaseInfo, mysql_module_database: DatabaseInfo, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[InProcessMesh]:
    folder = tmp_path_factory.mktemp("access")
    settings = await databases(pg_module_database, mysql_module_database, folder)
    mesh = await InProcessMesh(settings, SCHEMA, {"tracing": "request"}, extra_toml=AUTH).start()
    yield mesh
    await mesh.stop()
