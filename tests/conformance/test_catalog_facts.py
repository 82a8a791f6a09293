"""Facts about a database live in the catalog, not in the dialect (docs/reference.md §8): what an
engine's introspection learns (decimal precision and scale, PostgreSQL's base types for array
casts, which timestamps keep their zone, the collation `_ilike` folds under) is recorded on the
columns it returns, and the dialect object carries no state written by the engine."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from conformance.conftest import ENGINES, module_backend
from conformance.dataset import load_dataset
from dbmesh.services.catalog import Catalog
from dbmesh.services.dialects.postgresql import ICU_ROOT
from dbmesh.services.engines import Engine, create_engine


@pytest_asyncio.fixture(scope="module", params=ENGINES, loop_scope="session")
async def introspected(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Engine, Catalog]]:
    backend = await module_backend(request.param, request, tmp_path_factory)
    try:
        await load_dataset(backend)
        engine = create_engine(backend.config())
        try:
            yield engine, await engine.introspect()
        finally:
            await engine.close()
    finally:
        await backend.close()


async def test_the_dialect_holds_no_state(introspected: tuple[Engine, Catalog]) -> None:
    engine, _catalog = introspected
    assert vars(engine.dialect) == {}


async def test_decimal_precision_and_scale(introspected: tuple[Engine, Catalog]) -> None:
    _engine, catalog = introspected
    balance = catalog.collection("people").column("balance")
    assert (balance.precision, balance.scale) == (10, 2)


async def test_postgresql_facts_are_on_the_columns(introspected: tuple[Engine, Catalog]) -> None:
    engine, catalog = introspected
    people = catalog.collection("people")
    if engine.name != "postgresql":
        assert {(c.base_type, c.zoned, c.fold_collation) for c in people.columns.values()} == {("", False, None)}
        return
    facts = {name: (c.base_type, c.zoned) for name, c in people.columns.items()}
    assert facts["balance"] == ("numeric", False)
    assert facts["joined_at"] == ("timestamp with time zone", True)
    assert facts["id"] == ("uuid", False)
    assert {c.fold_collation for c in people.columns.values()} == {ICU_ROOT}
