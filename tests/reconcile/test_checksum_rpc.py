"""The resolver's `Checksum` RPC (docs/reference.md §13) over real gRPC on a SQLite file: segments by
row count and at given boundaries agree, bounds are half-open, and every identifier and bound is
checked (INVALID_ARGUMENT naming it)."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import orjson
import pytest

from dbmesh.config import Connection, DatabaseConfig
from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.resolver.v1 import resolver_pb2_grpc as pb_grpc
from dbmesh.services.server import create_server


@pytest.fixture
async def stub(tmp_path: Path) -> AsyncIterator[pb_grpc.ResolverStub]:
    path = tmp_path / "c.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (id integer PRIMARY KEY, v text)")
    conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"v{i}") for i in range(1, 101)])
    conn.commit()
    conn.close()
    server = await create_server(DatabaseConfig(name="lite", engine="sqlite", settings=Connection(path=str(path))))
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
    yield pb_grpc.ResolverStub(channel)
    await channel.close()
    await server.stop(0)


def _request(**kwargs: object) -> pb.ChecksumRequest:
    return pb.ChecksumRequest(
        collection="t",
        key=[pb.ColumnRef(name="id")],
        columns=[pb.ColumnRef(name="v")],
        **kwargs,  # type: ignore[arg-type]
    )


async def test_segments_by_rows_and_by_boundaries_agree(stub: pb_grpc.ResolverStub) -> None:
    split = await stub.Checksum(_request(segment_rows=30, batch_rows=7))
    assert orjson.loads(split.boundaries_json) == [[31], [61], [91]]
    assert [s.rows for s in split.segments] == [30, 30, 30, 10]
    assert split.rows_read == 100 and max(s.rows for s in split.statements) == 7
    follow = await stub.Checksum(_request(boundaries_json=split.boundaries_json))
    assert [(s.rows, s.checksum) for s in follow.segments] == [(s.rows, s.checksum) for s in split.segments]
    # [lower, upper): 11..20; a boundary past the last row leaves an empty segment.
    ranged = await stub.Checksum(_request(lower_json=b"[11]", upper_json=b"[21]", boundaries_json=b"[[15], [500]]"))
    assert [s.rows for s in ranged.segments] == [4, 6, 0]
    assert ranged.segments[2].checksum == hashlib.md5(b"").hexdigest()  # the checksum of no rows


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (pb.ChecksumRequest(collection="nope", key=[pb.ColumnRef(name="id")]), "unknown collection 'nope'"),
        (
            pb.ChecksumRequest(collection="t", key=[pb.ColumnRef(name="id")], columns=[pb.ColumnRef(name="x")]),
            "unknown column 'x' in collection 't'",
        ),
        (pb.ChecksumRequest(collection="t"), "a checksum needs at least one key column"),
        (_request(batch_rows=100_001), "batch_rows must be between 1 and 100000 (got 100001)"),
        (_request(segment_rows=-1), "segment_rows must not be negative (got -1)"),
        (_request(lower_json=b"{"), "lower_json is not JSON"),
        (
            _request(upper_json=b"[1, 2]"),
            "upper_json must be a key, each an array of 1 values (one per key column)",
        ),
        (
            _request(boundaries_json=b"[1]"),
            "boundaries_json must be an array of keys, each an array of 1 values (one per key column)",
        ),
        (_request(lower_json=b'["abc"]'), "column 'id' (INTEGER): 'abc' is not a valid value"),
    ],
)
async def test_bad_requests_are_invalid_argument(
    stub: pb_grpc.ResolverStub, request_: pb.ChecksumRequest, message: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Checksum(request_)
    assert (caught.value.code(), caught.value.details()) == (grpc.StatusCode.INVALID_ARGUMENT, message)
