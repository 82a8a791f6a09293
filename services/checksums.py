"""`Checksum`: per key-range segment, the row count and checksum of a table's canonical rows,
computed next to the database so that the rows never travel to the comparing process
(docs/reference.md §13).

The range is read in key order, `batch_rows` rows per statement (keyset paging: each statement
starts after the last key of the one before), so memory is bounded by the batch whatever the
table size. Every statement is a `QueryRequest` compiled like any read (services/compiler.py):
identifiers checked against the catalog, values bound, strings compared and sorted exactly.

A segment's checksum is the MD5 of its rows' texts (dbmesh/canonical.py `row_text`) concatenated
in key order (`segment_hash`): not a sum, so segments never combine; a row's digest (for the
row-by-row merge) the first 8 bytes of the MD5 of its text. PostgreSQL and MariaDB compute both
in SQL where they can write every compared column's comparison form exactly
(services/checksum_sql.py: one statement per segment, nothing but its count and checksum leaves
the database; a MariaDB segment whose text may not fit one GROUP_CONCAT is read page by page as
texts and hashed here instead). Otherwise, and on SQLite, each row's values go through the same
readers as `Query` (services/values.py: canonical form per engine), then the comparison form and
text of dbmesh/canonical.py, here in the resolver, read in key order (keyset pages); every way
gives the same checksums.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import orjson

from dbmesh.canonical import MASK, comparable, key_order, key_range, row_digest, row_text, segment_hash
from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.services.catalog import CollectionInfo, Logical
from dbmesh.services.checksum_sql import hash_sql, segment_sql, text_sql
from dbmesh.services.compiler import SqlStatement, compile_predicate, compile_query
from dbmesh.services.dialects.base import Params
from dbmesh.services.engines.base import Connection, Engine
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
        self.hashes = [segment_hash()]
        self.checksums: list[str | None] = [None]  # computed by the database; None: from `hashes`
        self.boundaries: list[list[Any]] = []

    def start(self, key: list[Any]) -> None:
        self.boundaries.append(key)
        self.rows.append(0)
        self.hashes.append(segment_hash())
        self.checksums.append(None)

    def add(self, text: str) -> None:
        self.rows[-1] += 1
        self.hashes[-1].update(text.encode())

    def response(self, rows_read: int, statements: list[pb.Statement]) -> pb.ChecksumResponse:
        checksums = [c or h.hexdigest() for c, h in zip(self.checksums, self.hashes, strict=True)]
        return pb.ChecksumResponse(
            segments=[pb.Segment(rows=n, checksum=c) for n, c in zip(self.rows, checksums, strict=True)],
            boundaries_json=orjson.dumps(self.boundaries),
            rows_read=rows_read,
            statements=statements,
        )


class _Scan:
    """The range's segments counted and checksummed by the database (services/checksum_sql.py)."""

    def __init__(
        self,
        collection: CollectionInfo,
        engine: Engine,
        key: list[str],
        key_types: list[int],
        key_readers: list[Any],
        where: pb.Expression | None,
        lower: list[Any] | None,
        upper: list[Any] | None,
        batch: int,
    ) -> None:
        self.collection = collection
        self.engine = engine
        self.key = key
        self.key_types = key_types
        self.key_readers = key_readers
        self.where = where
        self.lower = lower
        self.upper = upper
        self.batch = batch
        self.statements: list[pb.Statement] = []

    async def fetch(self, conn: Connection, sql: str, params: list[Any]) -> list[Sequence[Any]]:
        start = time.perf_counter()
        rows = await conn.fetch(sql, params)
        self.statements.append(pb.Statement(sql=sql, time_ms=(time.perf_counter() - start) * 1000, rows=len(rows)))
        return rows

    async def _boundaries(self, conn: Connection, segment_rows: int) -> list[list[Any]]:
        """The key `segment_rows` rows after each boundary: one index range read per segment."""
        found: list[list[Any]] = []
        start = self.lower
        while True:
            query = pb.QueryRequest(
                collection=self.collection.name,
                columns=[pb.ColumnRef(name=k, type=t) for k, t in zip(self.key, self.key_types, strict=True)],  # type: ignore[arg-type]
                predicate=key_range(self.key, self.key_types, where=self.where, lower=start, upper=self.upper),
                order_by=[pb.OrderBy(column=k) for k in self.key],
                limit=1,
                offset=segment_rows,
            )
            statement = compile_query(query, self.collection, self.engine.dialect).statements[0]
            rows = await self.fetch(conn, statement.sql, statement.params)
            if not rows:
                return found
            start = [read(v) for read, v in zip(self.key_readers, rows[0], strict=True)]
            found.append(start)

    def _page(
        self, expr: str, lower: list[Any] | None, upper: list[Any] | None, after: list[Any] | None
    ) -> tuple[str, list[Any]]:
        """The statement of the first `batch` rows of [lower, upper) after `after`, in key order,
        as their key columns and `expr`."""
        dialect = self.engine.dialect
        infos = [self.collection.column(k) for k in self.key]
        params = Params(dialect)
        range_ = key_range(self.key, self.key_types, where=self.where, lower=lower, upper=upper, after=after)
        where = compile_predicate(range_, dialect, self.collection, params) or "1 = 1"
        sql = (
            f"SELECT {', '.join(dialect.column(i) for i in infos)}, {expr} FROM {dialect.quote(self.collection.name)}"
            f" WHERE {where} ORDER BY {self.order()} {dialect.limit_offset(params.add(self.batch), None)}"
        )
        return sql, params.values

    def order(self) -> str:
        dialect = self.engine.dialect
        return ", ".join(dialect.order_term(i, dialect.column(i), False) for i in map(self.collection.column, self.key))

    async def digests_in_sql(self, text: str, after: list[Any] | None) -> pb.ChecksumResponse:
        """The first `batch` rows of the range after `after`, as [key..., digest], hashed by the database."""
        sql, params = self._page(hash_sql(self.engine.name, text), self.lower, self.upper, after)
        async with self.engine.connection() as conn:
            rows = await self.fetch(conn, sql, params)
        width = len(self.key)
        digests = [
            [
                *(read(v) for read, v in zip(self.key_readers, row[:width], strict=True)),
                f"{int(row[width]) & MASK:016x}",
            ]
            for row in rows
        ]
        return pb.ChecksumResponse(rows_json=orjson.dumps(digests), rows_read=0, statements=self.statements)

    def _clustered(self) -> bool:
        """MySQL/MariaDB: whether the range can be read in key order through the PRIMARY index
        without an ORDER BY (services/checksum_sql.py `segment_sql`): the key is the table's
        primary key, column for column, its rows stored in that order (InnoDB, from the catalog),
        and each key column sorts as the comparison does (no string column in a collation other
        than the exact, binary one). Only speed depends on it: rows read in another order only make
        the segment look different, and the row-by-row merge then decides."""
        exact = all(self.collection.column(k).exact_collation is None for k in self.key)
        return self.collection.clustered and list(self.collection.primary_key) == self.key and exact

    async def _segment_in_pages(
        self, conn: Connection, text: str, lower: list[Any] | None, upper: list[Any] | None
    ) -> tuple[int, str]:
        """A segment's row count and checksum from its rows' texts (computed by the database),
        read `batch` rows at a time in key order and hashed here: for a segment whose text is
        too long for one GROUP_CONCAT."""
        hashed = segment_hash()
        rows_seen = 0
        after: list[Any] | None = None
        width = len(self.key)
        while True:
            sql, params = self._page(text, lower, upper, after)
            rows = await self.fetch(conn, sql, params)
            for row in rows:
                hashed.update(str(row[width]).encode())
            rows_seen += len(rows)
            if len(rows) < self.batch:
                return rows_seen, hashed.hexdigest()
            after = [read(v) for read, v in zip(self.key_readers, rows[-1][:width], strict=True)]

    async def in_sql(self, text: str, given: list[list[Any]] | None, segment_rows: int) -> pb.ChecksumResponse:
        """One statement per segment over its key range (an index range read), on one connection:
        its row count and the MD5 of its rows' texts in key order (services/checksum_sql.py
        `segment_sql`)."""
        dialect = self.engine.dialect
        segments = _Segments()
        table = dialect.quote(self.collection.name)
        order = self.order()
        async with self.engine.connection() as conn:
            clustered = self.engine.name == "mysql" and self._clustered()
            boundaries = given if given is not None else []
            if given is None and segment_rows > 0:
                boundaries = await self._boundaries(conn, segment_rows)
            bounds = [self.lower, *boundaries, self.upper]
            for i, boundary in enumerate([None, *boundaries]):
                params = Params(dialect)
                range_ = key_range(self.key, self.key_types, where=self.where, lower=bounds[i], upper=bounds[i + 1])
                where = compile_predicate(range_, dialect, self.collection, params) or "1 = 1"
                sql = segment_sql(self.engine.name, text, table, where, order, clustered)
                ((n, digest, cut),) = await self.fetch(conn, sql, params.values)
                if boundary is not None:
                    segments.start(boundary)
                if cut:
                    n, digest = await self._segment_in_pages(conn, text, bounds[i], bounds[i + 1])
                segments.rows[-1] = int(n)
                segments.checksums[-1] = str(digest)
        return segments.response(0, self.statements)


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

    text = text_sql(
        engine.name, [(i, Logical(t), engine.dialect.column(i)) for i, t in zip(infos, logicals, strict=True)]
    )
    scan = _Scan(collection, engine, key_names, key_types, readers[:width], where, lower, upper, batch)

    def page(after: list[Any] | None) -> SqlStatement:
        """The next `batch` rows of the range after `after`, in key order (keyset paging)."""
        query = pb.QueryRequest(
            collection=collection.name,
            columns=columns,
            predicate=key_range(key_names, key_types, where=where, lower=lower, upper=upper, after=after),
            order_by=[pb.OrderBy(column=name) for name in key_names],
            limit=batch,
        )
        return compile_query(query, collection, engine.dialect).statements[0]

    if request.row_digests:
        start_after = _keys("after_json", request.after_json, width, many=False)
        if text is not None:
            return await scan.digests_in_sql(text, start_after)
        statement = page(start_after)
        async with engine.connection() as conn:
            rows = await scan.fetch(conn, statement.sql, statement.params)
        digests = []
        for row in rows:
            values = [read(v) for read, v in zip(readers, row, strict=True)]
            digests.append([*values[:width], f"{row_digest([f(v) for f, v in zip(forms, values, strict=True)]):016x}"])
        return pb.ChecksumResponse(rows_json=orjson.dumps(digests), rows_read=len(rows), statements=scan.statements)
    if text is not None:
        return await scan.in_sql(text, given, request.segment_rows)
    segments = _Segments()
    bounds = [order(b) for b in given] if given is not None else []
    limit = request.segment_rows
    after: list[Any] | None = None
    rows_read = 0
    async with engine.connection() as conn:
        while True:
            statement = page(after)
            rows = await scan.fetch(conn, statement.sql, statement.params)
            for row in rows:
                values = [read(v) for read, v in zip(readers, row, strict=True)]
                key = values[:width]
                if given is not None:
                    position = order(key)
                    while len(segments.boundaries) < len(given) and position >= bounds[len(segments.boundaries)]:
                        segments.start(given[len(segments.boundaries)])
                elif limit and segments.rows[-1] >= limit:
                    segments.start(key)
                segments.add(row_text([form(v) for form, v in zip(forms, values, strict=True)]))
            rows_read += len(rows)
            if len(rows) < batch:
                break
            after = values[:width]
    while given is not None and len(segments.boundaries) < len(given):  # segments past the last row are empty
        segments.start(given[len(segments.boundaries)])
    return segments.response(rows_read, scan.statements)
