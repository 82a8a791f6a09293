"""`Checksum`: per key-range segment, the row count and checksum of a table's canonical rows,
computed next to the database so that the rows never travel to the comparing process
(docs/reference.md §13).

The range is read in key order, `batch_rows` rows per statement (keyset paging: each statement
starts after the last key of the one before), so memory is bounded by the batch whatever the
table size. Every statement is a `QueryRequest` compiled like any read (services/compiler.py):
identifiers checked against the catalog, values bound, strings compared and sorted exactly.

Each row's values go through the same readers as `Query` (services/values.py: canonical form per
engine), then the comparison form and digest of dbmesh/canonical.py. Hashing happens here, in the
resolver, on every engine: the canonical form of decimals, timestamps (zones, fractions), UUIDs
and booleans is Python's, so a checksum computed in SQL would have to reproduce it exactly in
three dialects; see docs/reference.md §13 for what that costs.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from dbmesh.canonical import MASK, comparable, key_order, key_range, row_digest
from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.services.catalog import CollectionInfo, Logical
from dbmesh.services.compiler import compile_query
from dbmesh.services.engines.base import Engine
from dbmesh.services.errors import InvalidArgument
from dbmesh.services.values import reader

__all__ = ["DEFAULT_BATCH_ROWS", "MAX_BATCH_ROWS", "checksum"]

DEFAULT_BATCH_ROWS = 10_000
MAX_BATCH_ROWS = 100_000


def _keys(field: str, raw: bytes, width: int, many: bool) -> Any:
    """A key (or, `many`, a list of keys) from its JSON text; empty text is None."""
    if not raw:
        return None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidArgument(f"{field} is not JSON") from None
    keys = value if many else [value]
    if not isinstance(keys, list) or not all(isinstance(k, list) and len(k) == width for k in keys):
        shape = "an array of keys" if many else "a key"
        raise InvalidArgument(f"{field} must be {shape}, each an array of {width} values (one per key column)")
    return value


class _Segments:
    """Counts and checksums of consecutive segments, with the boundary keys between them."""

    def __init__(self) -> None:
        self.rows = [0]
        self.sums = [0]
        self.boundaries: list[list[Any]] = []

    def start(self, key: list[Any]) -> None:
        self.boundaries.append(key)
        self.rows.append(0)
        self.sums.append(0)

    def add(self, digest: int) -> None:
        self.rows[-1] += 1
        self.sums[-1] = (self.sums[-1] + digest) & MASK

    def response(self, rows_read: int, statements: list[pb.Statement]) -> pb.ChecksumResponse:
        return pb.ChecksumResponse(
            segments=[pb.Segment(rows=n, checksum=f"{s:016x}") for n, s in zip(self.rows, self.sums, strict=True)],
            boundaries_json=orjson.dumps(self.boundaries),
            rows_read=rows_read,
            statements=statements,
        )


async def checksum(request: pb.ChecksumRequest, collection: CollectionInfo, engine: Engine) -> pb.ChecksumResponse:
    if not request.key:
        raise InvalidArgument("a checksum needs at least one key column")
    batch = request.batch_rows or DEFAULT_BATCH_ROWS
    if not 0 < batch <= MAX_BATCH_ROWS:
        raise InvalidArgument(f"batch_rows must be between 1 and {MAX_BATCH_ROWS} (got {batch})")
    if request.segment_rows < 0:
        raise InvalidArgument(f"segment_rows must not be negative (got {request.segment_rows})")
    refs = [*request.key, *request.columns]
    infos = [collection.column(ref.name) for ref in refs]
    logicals = [int(ref.type) or int(info.logical) for ref, info in zip(refs, infos, strict=True)]
    readers = [reader(Logical(t), info) for t, info in zip(logicals, infos, strict=True)]
    forms = [comparable(t) for t in logicals]
    width = len(request.key)
    key_names = [ref.name for ref in request.key]
    key_types = logicals[:width]
    lower = _keys("lower_json", request.lower_json, width, many=False)
    upper = _keys("upper_json", request.upper_json, width, many=False)
    given = _keys("boundaries_json", request.boundaries_json, width, many=True)
    order = key_order(key_types)
    columns = [pb.ColumnRef(name=ref.name, type=t) for ref, t in zip(refs, logicals, strict=True)]  # type: ignore[arg-type]
    where = request.predicate if request.HasField("predicate") else None

    segments = _Segments()
    bounds = [order(b) for b in given] if given is not None else []
    limit = request.segment_rows
    after: list[Any] | None = None
    rows_read = 0
    statements: list[pb.Statement] = []
    async with engine.connection() as conn:
        while True:
            query = pb.QueryRequest(
                collection=collection.name,
                columns=columns,
                predicate=key_range(key_names, key_types, where=where, lower=lower, upper=upper, after=after),
                order_by=[pb.OrderBy(column=name) for name in key_names],
                limit=batch,
            )
            statement = compile_query(query, collection, engine.dialect).statements[0]
            start = time.perf_counter()
            rows = await conn.fetch(statement.sql, statement.params)
            statements.append(
                pb.Statement(sql=statement.sql, time_ms=(time.perf_counter() - start) * 1000, rows=len(rows))
            )
            for row in rows:
                values = [read(v) for read, v in zip(readers, row, strict=True)]
                key = values[:width]
                if given is not None:
                    position = order(key)
                    while len(segments.boundaries) < len(given) and position >= bounds[len(segments.boundaries)]:
                        segments.start(given[len(segments.boundaries)])
                elif limit and segments.rows[-1] >= limit:
                    segments.start(key)
                segments.add(row_digest([form(v) for form, v in zip(forms, values, strict=True)]))
            rows_read += len(rows)
            if len(rows) < batch:
                break
            after = values[:width]
    while given is not None and len(segments.boundaries) < len(given):  # segments past the last row are empty
        segments.start(given[len(segments.boundaries)])
    return segments.response(rows_read, statements)
