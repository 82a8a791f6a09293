"""GetSchema reports foreign keys (docs/reference.md §8, for `dbmesh init` §15) on every engine,
from real databases through a real resolver: single and composite keys, self-references, keys
onto a unique key, and (SQLite) a key onto the implied primary key or onto a missing table."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import aiomysql
import asyncpg
import pytest
from harness.config import database_toml, server_settings
from harness.servers import DatabaseInfo

from dbmesh.config import parse_config
from dbmesh.resolver.client import ResolverClient
from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.services import create_server

DDL = [
    "CREATE TABLE parents (id INT PRIMARY KEY, code VARCHAR(10) NOT NULL, region INT NOT NULL,"
    " CONSTRAINT parents_code UNIQUE (code, region))",
    "CREATE TABLE children (id INT PRIMARY KEY, parent_id INT, code VARCHAR(10), region INT, boss_id INT,"
    " CONSTRAINT child_parent FOREIGN KEY (parent_id) REFERENCES parents (id),"
    " CONSTRAINT child_code FOREIGN KEY (code, region) REFERENCES parents (code, region),"
    " CONSTRAINT child_boss FOREIGN KEY (boss_id) REFERENCES children (id))",
    "CREATE TABLE loose (id INT PRIMARY KEY, parent_id INT)",
]
SQLITE_ONLY = [
    "CREATE TABLE notes (id INT PRIMARY KEY, parent_id INT REFERENCES parents, ghost_id INT REFERENCES ghosts (id))"
]

NAMED: set[Key] = {
    ("child_boss", ("boss_id",), "children", ("id",)),
    ("child_code", ("code", "region"), "parents", ("code", "region")),
    ("child_parent", ("parent_id",), "parents", ("id",)),
}


async def _create(engine: str, request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    if engine == "sqlite":
        path = tmp_path / "keys.db"
        with sqlite3.connect(path) as conn:
            for statement in DDL + SQLITE_ONLY:
                conn.execute(statement)
        return {"engine": "sqlite", "path": str(path)}
    db: DatabaseInfo = request.getfixturevalue("pg_database" if engine == "postgresql" else "mysql_database")
    if engine == "postgresql":
        pg = await asyncpg.connect(host=db.host, port=db.port, user=db.user, database=db.database)
        try:
            for statement in DDL:
                await pg.execute(statement)
        finally:
            await pg.close()
    else:
        my = await aiomysql.connect(host=db.host, port=db.port, user=db.user, password=db.password, db=db.database)
        try:
            async with my.cursor() as cur:
                for statement in DDL:
                    await cur.execute(statement)
        finally:
            my.close()
    return server_settings(db)


async def _reported(settings: dict[str, Any]) -> dict[str, pb.Collection]:
    """GetSchema's collections, from a resolver serving the database of `settings`."""
    config = parse_config(database_toml("keys", settings)).databases[0]
    running = await create_server(config, "127.0.0.1:0")
    client = ResolverClient(config.with_resolver(f"127.0.0.1:{running.port}"))
    try:
        return {c.name: c for c in (await client.schema()).collections}
    finally:
        await client.close()
        await running.stop(0.5)


Key = tuple[str, tuple[str, ...], str, tuple[str, ...]]


def _keys(collection: pb.Collection) -> set[Key]:
    return {
        (k.name, tuple(k.columns), k.referenced_collection, tuple(k.referenced_columns))
        for k in collection.foreign_keys
    }


@pytest.mark.parametrize("engine", ["postgresql", "mysql", "sqlite"])
async def test_foreign_keys_are_reported_pairwise_in_key_order(
    engine: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    collections = await _reported(await _create(engine, request, tmp_path))
    expected = NAMED if engine != "sqlite" else {("", cols, ref, ref_cols) for _, cols, ref, ref_cols in NAMED}
    assert _keys(collections["children"]) == expected
    assert _keys(collections["parents"]) == set()
    assert _keys(collections["loose"]) == set()  # a `parent_id` column alone is no key


async def test_sqlite_key_onto_the_implied_primary_key_and_onto_a_missing_table(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    collections = await _reported(await _create("sqlite", request, tmp_path))
    assert _keys(collections["notes"]) == {("", ("parent_id",), "parents", ("id",))}  # ghosts does not exist
