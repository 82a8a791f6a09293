"""A segment's checksum is the MD5 of its rows' texts concatenated in key order
(dbmesh/canonical.py `row_text`, `segment_hash`), whichever engine and whichever way it is computed:
PostgreSQL's `string_agg`, MariaDB's `GROUP_CONCAT` (through the PRIMARY index or ordered), the
resolver's own hashing on SQLite. Rows are inserted out of key order, so a database returning them
in its physical order would give another checksum; a MariaDB segment whose text is longer than
`group_concat_max_len` is never checksummed from the cut text."""

from __future__ import annotations

import hashlib
import random
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import grpc
import orjson
import pytest
from harness.servers import DatabaseInfo
from reconcile_world import Database

from dbmesh.canonical import comparable, row_text
from dbmesh.config import Connection, DatabaseConfig
from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.resolver.v1 import resolver_pb2_grpc as pb_grpc
from dbmesh.services.server import create_server

ROWS = 60
LABELS = ["plain", "bar | and \\ back", "", "é 漢字", "trailing ", "\\|"]
COLUMNS = ["amount", "label"]


def _rows() -> list[tuple[Any, ...]]:
    rows = [(i, Decimal(i) / 4 - 3, LABELS[i % len(LABELS)] if i % 7 else None) for i in range(1, ROWS + 1)]
    random.Random(5).shuffle(rows)  # inserted out of key order
    return rows


class Resolvers:
    """A resolver (in this process) per database, and its stub."""

    def __init__(self) -> None:
        self.stubs: dict[str, pb_grpc.ResolverStub] = {}
        self._stops: list[Any] = []

    async def start(self, db: Database) -> pb_grpc.ResolverStub:
        if db.engine == "sqlite":
            settings = Connection(path=db.settings["path"])
        else:
            info = db.info
            assert info is not None
            settings = Connection(host=info.host, port=info.port, database=info.database, username=info.user)
        server = await create_server(DatabaseConfig(name=db.name, engine=db.engine, settings=settings))
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
        self._stops += [channel.close, lambda: server.stop(0)]
        stub = self.stubs[db.engine] = pb_grpc.ResolverStub(channel)
        return stub

    async def stop(self) -> None:
        for stop in self._stops:
            await stop()


@pytest.fixture
async def resolvers() -> AsyncIterator[Resolvers]:
    started = Resolvers()
    yield started
    await started.stop()


async def _table(db: Database, key: str = "id integer PRIMARY KEY", rows: list[tuple[Any, ...]] | None = None) -> None:
    text = "varchar(50)" if db.engine == "mysql" else "text"
    decimal = "decimal(10,2)" if db.engine == "mysql" else "numeric(10,2)"
    rows = rows if rows is not None else _rows()
    if db.engine == "sqlite":  # no Decimal binding
        rows = [(k, str(amount), label) for k, amount, label in rows]
    await db.run(
        f"CREATE TABLE s ({key}, amount {decimal} NOT NULL, label {text})",
        rows=rows,
        insert="INSERT INTO s (id, amount, label) VALUES (?, ?, ?)",
    )


def _request(**kwargs: Any) -> pb.ChecksumRequest:
    return pb.ChecksumRequest(
        collection="s", key=[pb.ColumnRef(name="id")], columns=[pb.ColumnRef(name=c) for c in COLUMNS], **kwargs
    )


async def _expected(stub: pb_grpc.ResolverStub, boundaries: list[list[Any]]) -> list[tuple[int, str]]:
    """(rows, checksum) per segment, from the rows `Query` reads, hashed here in key order."""
    schema = await stub.GetSchema(pb.GetSchemaRequest())
    (table,) = [c for c in schema.collections if c.name == "s"]
    types = {c.name: c.type for c in table.columns}
    forms = [comparable(types[c]) for c in ["id", *COLUMNS]]
    refs = [pb.ColumnRef(name=c) for c in ["id", *COLUMNS]]
    query = await stub.Query(pb.QueryRequest(collection="s", columns=refs))
    rows = sorted(orjson.loads(query.row_sets[0].rows_json), key=lambda r: r[0])
    segments: list[list[str]] = [[] for _ in range(len(boundaries) + 1)]
    for row in rows:
        index = sum(1 for b in boundaries if row[0] >= b[0])
        segments[index].append(row_text([form(v) for form, v in zip(forms, row, strict=True)]))
    return [(len(texts), hashlib.md5("".join(texts).encode()).hexdigest()) for texts in segments]


def _pages(response: pb.ChecksumResponse) -> list[pb.Statement]:
    """The statements that read rows' texts page by page (not one GROUP_CONCAT per segment)."""
    return [s for s in response.statements if "CONCAT(" in s.sql and "GROUP_CONCAT" not in s.sql]


def _segments(response: pb.ChecksumResponse) -> list[tuple[int, str]]:
    return [(s.rows, s.checksum) for s in response.segments]


async def test_segment_checksums_agree_across_engines_and_with_the_python_form(
    engines: dict[str, Database], resolvers: Resolvers
) -> None:
    for db in engines.values():
        await _table(db)
        await resolvers.start(db)
    pg, maria, lite = (resolvers.stubs[e] for e in ("postgresql", "mysql", "sqlite"))
    split = await pg.Checksum(_request(segment_rows=7))
    boundaries = orjson.loads(split.boundaries_json)
    assert len(boundaries) == 8
    expected = await _expected(pg, boundaries)
    assert sum(n for n, _ in expected) == ROWS
    assert _segments(split) == expected
    for stub in (maria, lite):
        follow = await stub.Checksum(_request(boundaries_json=split.boundaries_json))
        assert _segments(follow) == expected
    # The whole range: PostgreSQL and MariaDB compute it in SQL, SQLite in the resolver.
    whole = await _expected(pg, [])
    for stub, read in ((pg, 0), (maria, 0), (lite, ROWS)):
        response = await stub.Checksum(_request())
        assert (_segments(response), response.rows_read) == (whole, read)


def _text_keys() -> list[tuple[Any, ...]]:
    """Keys whose case-insensitive order (a0, B1, c2, ...) is not their code-point order (B1, D3,
    ..., a0, c2, ...), inserted shuffled."""
    rows = [(f"{chr(65 + i % 26) if i % 2 else chr(97 + i % 26)}{i}", Decimal(i), f"l{i}") for i in range(30)]
    random.Random(7).shuffle(rows)
    return rows


@pytest.mark.parametrize(
    ("key", "rows", "through_primary"),
    [
        ("id integer PRIMARY KEY", None, True),
        ("id varchar(20) COLLATE utf8mb4_nopad_bin PRIMARY KEY", _text_keys(), True),
        ("id varchar(20) COLLATE utf8mb4_general_ci PRIMARY KEY", _text_keys(), False),
        ("id integer NOT NULL UNIQUE, n integer AUTO_INCREMENT PRIMARY KEY", None, False),
    ],
    ids=["int-key", "binary-text-key", "case-insensitive-text-key", "key-not-the-primary-key"],
)
async def test_mariadb_reads_through_the_primary_index_only_in_the_comparisons_order(
    mysql_database: DatabaseInfo,
    resolvers: Resolvers,
    key: str,
    rows: list[tuple[Any, ...]] | None,
    through_primary: bool,
) -> None:
    db = Database.server("maria", mysql_database)
    await _table(db, key, rows)
    stub = await resolvers.start(db)
    response = await stub.Checksum(_request(segment_rows=4))
    boundaries = orjson.loads(response.boundaries_json)
    assert len(boundaries) >= 7
    assert _segments(response) == await _expected(stub, boundaries)
    segment_statements = [s.sql for s in response.statements if "GROUP_CONCAT" in s.sql]
    assert len(segment_statements) == len(boundaries) + 1
    assert all(("FORCE INDEX (PRIMARY)" in sql) == through_primary for sql in segment_statements)
    assert all(("ORDER BY" in sql) != through_primary for sql in segment_statements)


async def test_a_myisam_table_is_read_in_order(mysql_database: DatabaseInfo, resolvers: Resolvers) -> None:
    db = Database.server("maria", mysql_database)
    await db.run(
        "CREATE TABLE s (id integer PRIMARY KEY, amount decimal(10,2) NOT NULL, label varchar(50)) ENGINE = MyISAM",
        rows=_rows(),
        insert="INSERT INTO s (id, amount, label) VALUES (?, ?, ?)",
    )
    stub = await resolvers.start(db)
    response = await stub.Checksum(_request(segment_rows=10))
    assert _segments(response) == await _expected(stub, orjson.loads(response.boundaries_json))
    assert not any("FORCE INDEX" in s.sql for s in response.statements)


async def test_a_segment_longer_than_group_concat_max_len_is_never_cut(
    mysql_database: DatabaseInfo, resolvers: Resolvers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("dbmesh.services.engines.mysql.GROUP_CONCAT_MAX_LEN", 300)
    db = Database.server("maria", mysql_database)
    await _table(db)
    stub = await resolvers.start(db)
    whole = await stub.Checksum(_request(batch_rows=25))  # ~1,200 bytes of text: cut at 300
    assert _segments(whole) == await _expected(stub, [])
    assert [s.rows for s in _pages(whole)] == [25, 25, 10]  # re-read as row texts, 25 at a time
    short = await stub.Checksum(_request(segment_rows=5))  # ~100 bytes each: one GROUP_CONCAT
    assert _segments(short) == await _expected(stub, orjson.loads(short.boundaries_json))
    assert _pages(short) == []
