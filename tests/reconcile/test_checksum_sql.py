"""The checksums PostgreSQL and MariaDB compute in SQL (services/checksum_sql.py) are, value by
value, the digests the resolver computes from the canonical rows it reads (dbmesh/canonical.py):
decimals (zero, negative, trailing zeros), timestamps with and without a fraction and a zone,
text with trailing spaces, case, quotes and non-ASCII, empty versus NULL, booleans, dates, UUIDs;
NOT NULL columns next to nullable ones, and MariaDB's `datetime` without fractional seconds."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import grpc
import orjson
import pytest
from harness.servers import DatabaseInfo
from reconcile_world import Database

from dbmesh.canonical import comparable, row_digest, row_text
from dbmesh.config import Connection, DatabaseConfig
from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.resolver.v1 import resolver_pb2_grpc as pb_grpc
from dbmesh.services.server import create_server

TEXTS = ["plain", "trailing  ", "Case", "", None, 'quote " and \\ back | bar \\|', "é ü 漢字 🙂", "line\nbreak"]
DECIMALS = [Decimal("0.00"), Decimal("-1.50"), Decimal("100.00"), Decimal("12.34"), None, Decimal("-0.05")]
MOMENTS = [
    datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC),
    datetime(2024, 1, 1, 0, 0, 0, 500000, tzinfo=UTC),
    datetime(1999, 12, 31, 22, 0, 0, 123456, tzinfo=timezone(timedelta(hours=-3))),
    None,
]


def _rows(engine: str) -> list[tuple[Any, ...]]:
    rows = []
    for i in range(24):
        moment = MOMENTS[i % len(MOMENTS)]
        native = moment.astimezone(UTC).replace(tzinfo=None) if moment and engine == "mysql" else moment
        flag: Any = None if i % 5 == 4 else i % 2 == 0
        uid: Any = uuid.uuid5(uuid.NAMESPACE_OID, str(i)) if i % 7 else None
        rows.append(
            (
                i,
                DECIMALS[i % len(DECIMALS)],
                TEXTS[i % len(TEXTS)],
                native,
                date(2020, 1, 1) + timedelta(days=i * 40),
                int(flag) if engine == "mysql" and flag is not None else flag,
                uid if engine == "postgresql" or uid is None else str(uid),
                datetime(2001, 2, 3, 4, 5, 6) + timedelta(days=i, seconds=i),
                TEXTS[(i + 3) % len(TEXTS)] or "",
            )
        )
    return rows


@pytest.fixture(params=["postgresql", "mysql"])
async def stub(
    request: pytest.FixtureRequest, pg_database: DatabaseInfo, mysql_database: DatabaseInfo
) -> AsyncIterator[pb_grpc.ResolverStub]:
    info = pg_database if request.param == "postgresql" else mysql_database
    db = Database.server("db", info)
    types = (
        "id integer PRIMARY KEY, amount numeric(10,2), label text, at timestamptz, day date, flag boolean, uid uuid,"
        " seen timestamp NOT NULL, code text NOT NULL"
        if db.engine == "postgresql"
        else "id integer PRIMARY KEY, amount decimal(10,2), label varchar(50), at datetime(6), day date,"
        " flag boolean, uid varchar(36), seen datetime NOT NULL, code varchar(50) NOT NULL"
    )
    await db.run(
        f"CREATE TABLE v ({types})",
        rows=_rows(db.engine),
        insert="INSERT INTO v (id, amount, label, at, day, flag, uid, seen, code) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    settings = Connection(host=info.host, port=info.port, database=info.database, username=info.user)
    server = await create_server(DatabaseConfig(name="db", engine=info.engine, settings=settings))
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
    yield pb_grpc.ResolverStub(channel)
    await channel.close()
    await server.stop(0)


COLUMNS = ["amount", "label", "at", "day", "flag", "uid", "seen", "code"]


async def test_sql_checksums_equal_the_resolvers_digests_value_by_value(stub: pb_grpc.ResolverStub) -> None:
    refs = [pb.ColumnRef(name=c) for c in COLUMNS]
    response = await stub.Checksum(
        pb.ChecksumRequest(collection="v", key=[pb.ColumnRef(name="id")], columns=refs, segment_rows=1)
    )
    assert "md5" in response.statements[-1].sql.lower()  # computed by the database
    assert response.rows_read == 0
    schema = await stub.GetSchema(pb.GetSchemaRequest())
    (table,) = [c for c in schema.collections if c.name == "v"]
    types = {c.name: c.type for c in table.columns}
    forms = [comparable(types["id"]), *(comparable(types[c]) for c in COLUMNS)]
    query = await stub.Query(
        pb.QueryRequest(collection="v", columns=[pb.ColumnRef(name="id"), *refs], order_by=[pb.OrderBy(column="id")])
    )
    rows = orjson.loads(query.row_sets[0].rows_json)
    assert len(rows) == len(response.segments) == 24
    digests = await stub.Checksum(
        pb.ChecksumRequest(collection="v", key=[pb.ColumnRef(name="id")], columns=refs, row_digests=True)
    )
    assert "md5" in digests.statements[-1].sql.lower()
    by_key = {d[0]: d[1] for d in orjson.loads(digests.rows_json)}
    for row, segment in zip(rows, response.segments, strict=True):
        text = row_text([form(v) for form, v in zip(forms, row, strict=True)])
        checksum = hashlib.md5(text.encode()).hexdigest()
        assert (row, segment.rows, segment.checksum) == (row, 1, checksum)
        assert (row, by_key[row[0]]) == (
            row,
            f"{row_digest([form(v) for form, v in zip(forms, row, strict=True)]):016x}",
        )
