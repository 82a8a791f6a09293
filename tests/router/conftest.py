"""A mesh over the demo's three SQLite databases, for router tests through real HTTP and gRPC."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from harness.demo import demo_databases, prepare_demo
from harness.mesh import InProcessMesh


@pytest.fixture(scope="module")
async def demo_mesh(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[InProcessMesh]:
    data = tmp_path_factory.mktemp("demo")
    schema = prepare_demo(data)
    mesh = await InProcessMesh(demo_databases(data), schema).start()
    yield mesh
    await mesh.stop()
