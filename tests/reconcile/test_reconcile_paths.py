"""How `reconcile` compares (docs/reference.md §13), counted exactly through real resolvers on
PostgreSQL and MariaDB: equal tables move no row to the comparing process, a few differences in a
large table move only the rows of the segments that hold them, dense differences switch to the
row-by-row merge and are all found, and no statement or page carries more than the batch."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Container
from pathlib import Path
from typing import Any

import orjson
import pytest
from harness.servers import DatabaseInfo
from reconcile_world import Database, write_config

from dbmesh.config import load_config
from dbmesh.reconcile import FANOUT, Options, Result, Side, reconcile
from dbmesh.resolver.client import ResolverClient
from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.services.server import RunningServer, create_server

LARGE = 20_000
ENDS = 4  # the smallest and largest key of each side


class CountingSide(Side):
    """A side that records the largest page and checksum statement it was sent (instrumentation
    of the real calls, not a stand-in for them)."""

    largest_page = 0
    largest_statement = 0
    largest_segment = 0

    async def query(self, request: pb.QueryRequest) -> list[list[Any]]:
        rows = await super().query(request)
        self.largest_page = max(self.largest_page, len(rows))
        return rows

    async def checksum(self, request: pb.ChecksumRequest) -> pb.ChecksumResponse:
        response = await super().checksum(request)
        if request.row_digests:
            self.largest_page = max(self.largest_page, len(orjson.loads(response.rows_json)))
        self.largest_statement = max([self.largest_statement, *(s.rows for s in response.statements)])
        self.largest_segment = max([self.largest_segment, *(s.rows for s in response.segments)])
        return response


async def _fill(db: Database, rows: int, changed: Container[int] = ()) -> None:
    await db.run(
        "CREATE TABLE big (id integer PRIMARY KEY, amount decimal(12,2), label varchar(40))",
        rows=[(i, f"{i}.25" if i not in changed else f"{i}.26", f"row {i}") for i in range(1, rows + 1)],
        insert="INSERT INTO big (id, amount, label) VALUES (?, ?, ?)",
    )


@pytest.fixture
async def sides(
    pg_database: DatabaseInfo, mysql_database: DatabaseInfo, tmp_path: Path
) -> AsyncIterator[tuple[Database, Database, Path]]:
    yield Database.server("pg", pg_database), Database.server("maria", mysql_database), tmp_path


async def _run(config: Path, options: Options) -> tuple[Result, CountingSide, CountingSide]:
    loaded = load_config(config)
    servers: list[RunningServer] = []
    clients = []
    try:
        for name in ("pg", "maria"):
            servers.append(await create_server(loaded.database(name)))
            clients.append(ResolverClient(loaded.database(name).with_resolver(f"127.0.0.1:{servers[-1].port}")))
        source, target = CountingSide("pg", "big", clients[0]), CountingSide("maria", "big", clients[1])
        return await reconcile(source, target, options), source, target
    finally:
        for client in clients:
            await client.close()
        for server in servers:
            await server.stop(0)


async def test_equal_tables_move_no_rows_but_their_ends(sides: tuple[Database, Database, Path]) -> None:
    pg, maria, tmp = sides
    await _fill(pg, LARGE)
    await _fill(maria, LARGE)
    result, _, _ = await _run(write_config(tmp / "dbmesh.toml", pg, maria), Options())
    # An integer key: the smallest and largest key of each side (4 one-column rows), then one
    # Checksum per side of FANOUT segments by value, all equal.
    assert (result.equal, result.same, result.rows_moved, result.checksum_calls) == (True, LARGE, ENDS, 2)


async def test_few_differences_in_a_large_table_move_few_rows(sides: tuple[Database, Database, Path]) -> None:
    pg, maria, tmp = sides
    changed = {17, 9_001, 19_999}
    await _fill(pg, LARGE)
    await _fill(maria, LARGE, changed)
    result, _, _ = await _run(write_config(tmp / "dbmesh.toml", pg, maria), Options())
    assert (result.different, result.same, result.only_in_source, result.only_in_target) == (3, LARGE - 3, 0, 0)
    assert [d["key"]["id"] for d in result.examples["different"]] == sorted(changed)
    # One level of FANOUT segments of LARGE / FANOUT rows; only the three that differ are merged,
    # both sides' rows of each: 3 * 2 * 625 = 3,750 of the 40,000 rows.
    # The merge brings both sides' row digests, then the three rows whose digests differ in full.
    assert result.rows_moved == ENDS + 3 * 2 * (LARGE // FANOUT) + 3 * 2
    assert result.checksum_calls == 2


async def test_dense_differences_are_merged_within_the_batch(sides: tuple[Database, Database, Path]) -> None:
    pg, maria, tmp = sides
    rows = 3_000
    changed = set(range(1, rows + 1, 2))
    await _fill(pg, rows)
    await _fill(maria, rows, changed)
    options = Options(batch_rows=100, merge_rows=200)
    result, source, target = await _run(write_config(tmp / "dbmesh.toml", pg, maria), options)
    assert (result.different, result.same) == (len(changed), rows - len(changed))
    # Every segment differs: a dense level goes straight to the merge (no deeper bisection).
    assert result.checksum_calls == 2
    assert result.rows_moved == ENDS + 2 * rows + 2 * len(changed)
    assert max(source.largest_page, target.largest_page) == 100
    # Row digests a batch at a time; the rows that differ read in full, a batch of keys at a time.
    assert max(source.largest_statement, target.largest_statement) == 100


async def test_a_uuid_key_is_bisected_by_row_count(sides: tuple[Database, Database, Path]) -> None:
    """No integer key: the side with more rows splits by row count, the other follows its
    boundaries (PostgreSQL uuid, MariaDB char(36))."""
    pg, maria, tmp = sides
    keys = sorted(str(uuid.uuid5(uuid.NAMESPACE_URL, f"k{i}")) for i in range(5_000))
    rows = [(k, f"{i}.10", f"row {i}") for i, k in enumerate(keys)]
    changed = [(k, "9.99", label) if i == 1234 else (k, a, label) for i, (k, a, label) in enumerate(rows)]
    changed = [r for i, r in enumerate(changed) if i != 4321] + [(str(uuid.UUID(int=1)), "1.00", "extra")]
    for db, data, kind in ((pg, rows, "uuid"), (maria, changed, "char(36)")):
        await db.run(
            f"CREATE TABLE big (id {kind} PRIMARY KEY, amount decimal(12,2), label varchar(40))",
            rows=[(uuid.UUID(k) if kind == "uuid" else k, a, label) for k, a, label in data],
            insert="INSERT INTO big (id, amount, label) VALUES (?, ?, ?)",
        )
    result, _, _ = await _run(write_config(tmp / "dbmesh.toml", pg, maria), Options(merge_rows=200))
    assert result.examples == {
        "only_in_source": [{"id": keys[4321]}],
        "only_in_target": [{"id": str(uuid.UUID(int=1))}],
        "different": [{"key": {"id": keys[1234]}, "columns": ["amount"]}],
    }
    assert result.same == 5_000 - 2
    # Whole range (2), then one level: the leader's split and the follower (2); three segments of
    # about 157 rows differ and are merged.
    assert result.checksum_calls == 4
    assert result.rows_moved <= 3 * 2 * 160


@pytest.mark.parametrize("key", ["integer", "varchar(20)"])
async def test_segments_hold_at_most_segment_rows(
    sides: tuple[Database, Database, Path], monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    """A segment's checksum is one MD5 of its rows' texts, built in the database's memory: no
    segment is larger than SEGMENT_ROWS, also in an integer key's split by value and in the first,
    whole-range pass of another key."""
    monkeypatch.setattr("dbmesh.reconcile.SEGMENT_ROWS", 30)  # fewer than rows / FANOUT
    pg, maria, tmp = sides
    rows = 2_000
    for db in (pg, maria):
        collation = " COLLATE utf8mb4_nopad_bin" if db.engine == "mysql" and key != "integer" else ""
        await db.run(
            f"CREATE TABLE big (id {key}{collation} PRIMARY KEY, amount decimal(12,2), label varchar(40))",
            rows=[(i if key == "integer" else f"k{i:05}", f"{i}.25", f"row {i}") for i in range(1, rows + 1)],
            insert="INSERT INTO big (id, amount, label) VALUES (?, ?, ?)",
        )
    options = Options(merge_rows=100)
    result, source, target = await _run(write_config(tmp / "dbmesh.toml", pg, maria), options)
    assert (result.equal, result.same, result.checksum_calls) == (True, rows, 2)
    assert result.rows_moved == (ENDS if key == "integer" else 0)
    assert 0 < max(source.largest_segment, target.largest_segment) <= 30
