"""`dbmesh reconcile`: compare one table in two databases through their resolvers (docs/reference.md §13).

1. Both resolvers checksum the whole range at once (`Checksum`, computed next to each database),
   each in segments of `SEGMENT_ROWS` rows; the same boundaries and equal counts and checksums
   end it with no row moved. An integer key's range (from its smallest and
   largest values) is split by value into `FANOUT` segments at once instead (more for a range
   wider than `FANOUT * SEGMENT_ROWS`, at most `MAX_FANOUT`), asked for in `PARALLEL` requests per
   side when it is large. A segment's checksum is the MD5 of its rows' texts in key order
   (dbmesh/canonical.py `segment_hash`): segments are compared, never added up.
2. Otherwise the side with more rows splits the range into `FANOUT` segments of equal row count
   (at most `SEGMENT_ROWS` rows each),
   the other side checksums the same key ranges, and the segments that differ are looked at
   again, recursively (bisection).
3. A segment of at most `merge_rows` rows, or every differing segment of a level where more than
   `DENSE` of the segments differ, is compared row by row: both sides stream its canonical rows in
   key order (`Query`, keyset pages of `batch_rows`) and an ordered merge finds the rows only in
   one side and the rows whose values differ. Memory is bounded by the batch, whatever the table.

Values compare in their comparison form (dbmesh/canonical.py), so the same data on different
engines is equal. `Result.rows_moved` counts the rows the merge brought to this process.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc
import orjson

from dbmesh.canonical import comparable, group, key_in, key_order, to_value
from dbmesh.errors import DbmeshError
from dbmesh.resolver.client import CallError, ResolverClient, call_error
from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.where_operators import OPERATORS

__all__ = ["DENSE", "FANOUT", "PARALLEL", "Options", "Result", "Side", "plan", "reconcile"]

log = logging.getLogger("dbmesh.reconcile")

T = TypeVar("T")

FANOUT = 32
# A segment's checksum is one MD5 of its rows' texts, which the database builds in memory (and
# MariaDB's GROUP_CONCAT only up to max_allowed_packet, 16 MiB by default, past which the resolver
# reads the segment's texts page by page instead): a range is split into segments of at most
# SEGMENT_ROWS rows (an integer key's range into at most MAX_FANOUT, by value).
SEGMENT_ROWS = 50_000
MAX_FANOUT = 1024
# An integer key's range of at least PARALLEL_ROWS rows is checksummed in PARALLEL requests per
# side at once (consecutive runs of its segments), so that the database that would finish last
# does not leave a core idle while the other is still busy (bench/results/reconcile-latest.md).
PARALLEL = 2
PARALLEL_ROWS = 100_000
RESOLVE = 1_000  # rows in both with different digests, read in full at once
DENSE = 0.5
_MAX_DEPTH = 16
_KEY_TYPES = {
    pb.LOGICAL_TYPE_INT,
    pb.LOGICAL_TYPE_STRING,
    pb.LOGICAL_TYPE_UUID,
    pb.LOGICAL_TYPE_DECIMAL,
    pb.LOGICAL_TYPE_DATE,
    pb.LOGICAL_TYPE_DATETIME,
}
_NUMERIC = {pb.LOGICAL_TYPE_INT, pb.LOGICAL_TYPE_FLOAT, pb.LOGICAL_TYPE_DECIMAL}
_TYPE_NAMES = {v: k.removeprefix("LOGICAL_TYPE_").lower() for k, v in pb.LogicalType.items()}


@dataclass
class Side:
    """One database's table, reached through its resolver."""

    database: str
    table: str
    client: ResolverClient

    async def checksum(self, request: pb.ChecksumRequest) -> pb.ChecksumResponse:
        request.collection = self.table
        try:
            response: pb.ChecksumResponse = await self.client.stub.Checksum(request, timeout=self.client.timeout)
        except grpc.aio.AioRpcError as exc:
            raise call_error(exc, self.database) from None
        return response

    async def query(self, request: pb.QueryRequest) -> list[list[Any]]:
        request.collection = self.table
        response = await self.client.query(request)
        rows: list[list[Any]] = orjson.loads(response.row_sets[0].rows_json)
        return rows


@dataclass(frozen=True)
class Options:
    key: Sequence[str] = ()
    columns: Sequence[str] = ()
    where: str | None = None
    show: int = 20
    batch_rows: int = 10_000
    merge_rows: int = 2_000


@dataclass(frozen=True)
class Plan:
    """What is compared: key and value columns with the logical type both sides read them as."""

    key: list[str]
    key_types: list[int]
    columns: list[str]
    column_types: list[int]
    where: pb.Expression | None

    def refs(self) -> list[pb.ColumnRef]:
        names = [*self.key, *self.columns]
        types = [*self.key_types, *self.column_types]
        return [pb.ColumnRef(name=n, type=t) for n, t in zip(names, types, strict=True)]  # type: ignore[arg-type]


@dataclass
class Result:
    table: str
    source: str
    target: str
    show: int
    only_in_source: int = 0
    only_in_target: int = 0
    different: int = 0
    same: int = 0
    examples: dict[str, list[Any]] = field(
        default_factory=lambda: {"only_in_source": [], "only_in_target": [], "different": []}
    )
    seconds: float = 0.0
    rows_moved: int = 0
    checksum_calls: int = 0
    key: list[str] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return not (self.only_in_source or self.only_in_target or self.different)

    def _key(self, key: Sequence[Any]) -> dict[str, Any]:
        return dict(zip(self.key, key, strict=True))

    def missing(self, where: str, key: Sequence[Any]) -> None:
        setattr(self, where, getattr(self, where) + 1)
        if len(self.examples[where]) < self.show:
            self.examples[where].append(self._key(key))

    def changed(self, key: Sequence[Any], columns: list[str]) -> None:
        self.different += 1
        if len(self.examples["different"]) < self.show:
            self.examples["different"].append({"key": self._key(key), "columns": columns})

    def document(self) -> dict[str, Any]:
        """The `--json` document (docs/reference.md §13)."""
        return {
            "table": self.table,
            "source": self.source,
            "target": self.target,
            "only_in_source": self.only_in_source,
            "only_in_target": self.only_in_target,
            "different": self.different,
            "same": self.same,
            "examples": self.examples,
            "seconds": round(self.seconds, 3),
        }

    def lines(self) -> list[str]:
        def shown(key: Mapping[str, Any]) -> str:
            return ", ".join(f"{k}={orjson.dumps(v).decode()}" for k, v in key.items())

        lines = [
            f"{self.table}: {self.source} (source) vs {self.target} (target)",
            f"  same            {self.same}",
            f"  only in source  {self.only_in_source}",
            f"  only in target  {self.only_in_target}",
            f"  different       {self.different}",
        ]
        lines += [f"only in source: {shown(k)}" for k in self.examples["only_in_source"]]
        lines += [f"only in target: {shown(k)}" for k in self.examples["only_in_target"]]
        lines += [f"different: {shown(d['key'])} ({', '.join(d['columns'])})" for d in self.examples["different"]]
        verdict = "equal" if self.equal else "differ"
        lines.append(f"{verdict} in {self.seconds:.2f}s")
        return lines


# --- planning ----------------------------------------------------------------------------------


def _collection(schema: pb.Schema, database: str, table: str) -> pb.Collection:
    for collection in schema.collections:
        if collection.name == table:
            return collection
    raise DbmeshError(f"database {database!r} has no table {table!r}")


def _read_type(a: int, b: int) -> int | None:
    """The logical type both sides read a column as, or None when none makes them comparable."""
    if a == b:
        return a
    pair = {a, b}
    if pair <= _NUMERIC:
        return pb.LOGICAL_TYPE_DECIMAL
    if pair == {pb.LOGICAL_TYPE_BOOLEAN, pb.LOGICAL_TYPE_INT}:
        return pb.LOGICAL_TYPE_BOOLEAN
    if pb.LOGICAL_TYPE_STRING in pair:
        (other,) = pair - {pb.LOGICAL_TYPE_STRING}
        if other in (pb.LOGICAL_TYPE_UUID, pb.LOGICAL_TYPE_DATETIME, pb.LOGICAL_TYPE_DATE, pb.LOGICAL_TYPE_JSON):
            return other
    return None


def _names(option: str, given: Sequence[str], columns: Mapping[str, pb.Column], side: Side) -> None:
    for name in given:
        if name not in columns:
            raise DbmeshError(f"{option}: table {side.table!r} in database {side.database!r} has no column {name!r}")


def _where(text: str, columns: Mapping[str, int]) -> pb.Expression:
    """`--where` (a JSON object of §4 operators over column names) as a predicate tree."""
    try:
        where = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise DbmeshError(f"--where is not JSON: {exc}") from None
    if not isinstance(where, dict):
        raise DbmeshError('--where must be a JSON object, e.g. {"status": {"_eq": "paid"}}')

    def expression(node: Any, path: str) -> pb.Expression:
        if not isinstance(node, dict):
            raise DbmeshError(f"--where: {path} must be an object")
        parts = []
        for key, value in node.items():
            if key in ("_and", "_or"):
                if not isinstance(value, list):
                    raise DbmeshError(f"--where: {path}.{key} must be a list")
                branches = [expression(v, f"{path}.{key}[{i}]") for i, v in enumerate(value)]
                parts.append(group(key[1:], branches))
            elif key == "_not":
                negation = pb.Expression()
                getattr(negation, "not").expression.CopyFrom(expression(value, f"{path}._not"))
                parts.append(negation)
            elif key not in columns:
                raise DbmeshError(f"--where: unknown column {key!r} (compared tables have: {', '.join(columns)})")
            else:
                parts += comparisons(key, value, f"{path}.{key}")
        return group("and", parts)

    def comparisons(column: str, ops: Any, path: str) -> list[pb.Expression]:
        if not isinstance(ops, dict):
            raise DbmeshError(f'--where: {path} must be an object of operators, e.g. {{"_eq": 1}}')
        out = []
        for op, value in ops.items():
            if op not in OPERATORS:
                raise DbmeshError(f"--where: {path}: unknown operator {op!r} (known: {', '.join(OPERATORS)})")
            logical = columns[column]

            if op in ("_in", "_nin"):
                values = value if isinstance(value, list) else [value]
                operand = pb.Operand(list=pb.ValueList(values=[to_value(logical, v) for v in values]))
            elif op == "_is_null":
                operand = pb.Operand(value=pb.Value(boolean=bool(value)))
            elif op in ("_like", "_ilike"):
                operand = pb.Operand(value=pb.Value(string=str(value)))
            else:
                operand = pb.Operand(value=to_value(logical, value))
            comparison = pb.Comparison(column=column, operator=OPERATORS[op], operand=operand)
            out.append(pb.Expression(comparison=comparison))
        return out

    return expression(where, "where")


async def plan(source: Side, target: Side, options: Options) -> Plan:
    """Check the tables, key and columns against both schemas and choose how to read them."""
    schemas = await asyncio.gather(source.client.schema(), target.client.schema(), return_exceptions=True)
    for schema in schemas:
        if isinstance(schema, CallError):
            raise DbmeshError(schema.message)
        if isinstance(schema, BaseException):
            raise schema
    a = _collection(schemas[0], source.database, source.table)  # type: ignore[arg-type]
    b = _collection(schemas[1], target.database, target.table)  # type: ignore[arg-type]
    cols_a = {c.name: c for c in a.columns}
    cols_b = {c.name: c for c in b.columns}
    key = list(options.key) or list(a.primary_key)
    if not key:
        raise DbmeshError(f"table {source.table!r} in database {source.database!r} has no primary key; pass --key")
    for side, cols in ((source, cols_a), (target, cols_b)):
        _names("--key", key, cols, side)
        _names("--columns", options.columns, cols, side)
    key_types = []
    for name in key:
        logical = _read_type(cols_a[name].type, cols_b[name].type)
        if logical is None or logical not in _KEY_TYPES:
            raise DbmeshError(
                f"key column {name!r} differs in type: {_TYPE_NAMES[cols_a[name].type]} in {source.database!r}"
                f" ({cols_a[name].db_type}), {_TYPE_NAMES[cols_b[name].type]} in {target.database!r}"
                f" ({cols_b[name].db_type})"
            )
        key_types.append(logical)
    columns = list(options.columns) or [c for c in cols_a if c in cols_b and c not in key]
    column_types = [_read_type(cols_a[c].type, cols_b[c].type) or pb.LOGICAL_TYPE_STRING for c in columns]
    where = None
    if options.where is not None:
        common = {c: _read_type(cols_a[c].type, cols_b[c].type) or cols_a[c].type for c in cols_a if c in cols_b}
        where = _where(options.where, common)
    return Plan(key, key_types, columns, column_types, where)


# --- comparing ---------------------------------------------------------------------------------


Key = list[Any]


class _Comparison:
    def __init__(self, source: Side, target: Side, plan: Plan, options: Options, result: Result) -> None:
        self.source = source
        self.target = target
        self.plan = plan
        self.options = options
        self.result = result
        self.order = key_order(plan.key_types)
        self.forms = [comparable(t) for t in plan.column_types]

    def request(self, lower: Key | None, upper: Key | None, **kwargs: Any) -> pb.ChecksumRequest:
        request = pb.ChecksumRequest(
            key=self.plan.refs()[: len(self.plan.key)],
            columns=self.plan.refs()[len(self.plan.key) :],
            lower_json=orjson.dumps(lower) if lower else b"",
            upper_json=orjson.dumps(upper) if upper else b"",
            batch_rows=self.options.batch_rows,
            **kwargs,
        )
        if self.plan.where is not None:
            request.predicate.CopyFrom(self.plan.where)
        return request

    async def checksum(self, side: Side, request: pb.ChecksumRequest) -> pb.ChecksumResponse:
        self.result.checksum_calls += 1
        return await side.checksum(request)

    @property
    def numeric(self) -> bool:
        """An integer key: ranges split by value, both sides at once (no leader pass)."""
        return len(self.plan.key) == 1 and self.plan.key_types[0] == pb.LOGICAL_TYPE_INT

    async def _end(self, side: Side, direction: int) -> int | None:
        """The smallest (ASC) or largest (DESC) key of `side`'s rows, None when it has none."""
        request = pb.QueryRequest(
            columns=self.plan.refs()[:1],
            order_by=[pb.OrderBy(column=self.plan.key[0], direction=direction)],  # type: ignore[arg-type]
            limit=1,
        )
        if self.plan.where is not None:
            request.predicate.CopyFrom(self.plan.where)
        rows = await side.query(request)
        self.result.rows_moved += len(rows)
        return int(rows[0][0]) if rows else None

    async def run(self) -> None:
        if self.numeric:
            ends = await _gathered(
                *(
                    self._end(side, d)
                    for side in (self.source, self.target)
                    for d in (pb.DIRECTION_ASC, pb.DIRECTION_DESC)
                )
            )
            found = [e for e in ends if e is not None]
            if not found:
                return
            low, high = min(found), max(found) + 1
            await self.range([low], [high], high - low, high - low, 0)
            return
        # Each side splits the whole range into segments of SEGMENT_ROWS rows itself, both at once:
        # equal tables have the same boundaries (and one segment when small).
        whole = self.request(None, None, segment_rows=SEGMENT_ROWS)
        a, b = await _gathered(self.checksum(self.source, whole), self.checksum(self.target, whole))
        rows_a, rows_b = (sum(s.rows for s in w.segments) for w in (a, b))
        segments_a, segments_b = ([(s.rows, s.checksum) for s in w.segments] for w in (a, b))
        if segments_a == segments_b and orjson.loads(a.boundaries_json) == orjson.loads(b.boundaries_json):
            self.result.same += rows_a
            return
        await self.range(None, None, rows_a, rows_b, 0)

    async def _segments(
        self, lower: Key | None, upper: Key | None, rows_a: int, rows_b: int
    ) -> tuple[list[Key], pb.ChecksumResponse, pb.ChecksumResponse]:
        """[lower, upper) in segments, checksummed on both sides: by value for an integer key,
        else by row count of the side with more rows, which the other side then follows."""
        if self.numeric and lower and upper:
            span = upper[0] - lower[0]
            step = math.ceil(span / min(max(FANOUT, math.ceil(span / SEGMENT_ROWS)), MAX_FANOUT))
            boundaries = [[v] for v in range(lower[0] + step, upper[0], step)]
            parts = PARALLEL if max(rows_a, rows_b) >= PARALLEL_ROWS else 1
            a, b = await _gathered(
                self._checksums(self.source, [lower, *boundaries, upper], parts),
                self._checksums(self.target, [lower, *boundaries, upper], parts),
            )
            return boundaries, a, b
        most = max(rows_a, rows_b)
        leader, other = (self.source, self.target) if rows_a >= rows_b else (self.target, self.source)
        rows = min(math.ceil(most / FANOUT), SEGMENT_ROWS)
        split = await self.checksum(leader, self.request(lower, upper, segment_rows=rows))
        follow = await self.checksum(other, self.request(lower, upper, boundaries_json=split.boundaries_json))
        a, b = (split, follow) if leader is self.source else (follow, split)
        return orjson.loads(split.boundaries_json), a, b

    async def _checksums(self, side: Side, bounds: list[Key], parts: int) -> pb.ChecksumResponse:
        """The segments between consecutive `bounds` on `side`, asked for in `parts` requests at once
        (consecutive runs of segments, each on its own connection of the resolver's pool)."""
        count = len(bounds) - 1
        cuts = [round(i * count / parts) for i in range(parts + 1)]
        responses = await _gathered(
            *(
                self.checksum(
                    side,
                    self.request(bounds[first], bounds[last], boundaries_json=orjson.dumps(bounds[first + 1 : last])),
                )
                for first, last in itertools.pairwise(cuts)
                if last > first
            )
        )
        return pb.ChecksumResponse(segments=[segment for r in responses for segment in r.segments])

    async def range(self, lower: Key | None, upper: Key | None, rows_a: int, rows_b: int, depth: int) -> None:
        """Compare [lower, upper), which holds `rows_a` source and `rows_b` target rows (for an
        integer key, at most that many)."""
        if max(rows_a, rows_b) <= self.options.merge_rows or depth >= _MAX_DEPTH:
            await self.merge(lower, upper)
            return
        boundaries, a, b = await self._segments(lower, upper, rows_a, rows_b)
        bounds = [lower, *boundaries, upper]
        differing = []
        for i, (x, y) in enumerate(zip(a.segments, b.segments, strict=True)):
            if x.rows == y.rows and x.checksum == y.checksum:
                self.result.same += x.rows
            else:
                differing.append((bounds[i], bounds[i + 1], x.rows, y.rows))
        if len(differing) > DENSE * len(a.segments):
            for low, high in _coalesced(differing):
                await self.merge(low, high)
            return
        for low, high, x_rows, y_rows in differing:
            await self.range(low, high, x_rows, y_rows, depth + 1)

    async def digests(self, side: Side, lower: Key | None, upper: Key | None) -> AsyncIterator[list[Any]]:
        """The range's rows in key order as [key..., digest] (`Checksum` with `row_digests`),
        `batch_rows` at a time; the next page is asked for while this one is compared (at most
        two pages per side in memory)."""
        width = len(self.plan.key)

        def page(after: Key | None) -> asyncio.Task[pb.ChecksumResponse]:
            request = self.request(lower, upper, row_digests=True, after_json=orjson.dumps(after) if after else b"")
            return asyncio.ensure_future(side.checksum(request))

        pending: asyncio.Task[pb.ChecksumResponse] | None = page(None)
        try:
            while pending is not None:
                rows: list[list[Any]] = orjson.loads((await pending).rows_json)
                self.result.rows_moved += len(rows)
                pending = page(rows[-1][:width]) if len(rows) == self.options.batch_rows else None
                for row in rows:
                    yield row
        finally:
            if pending is not None:
                pending.cancel()

    async def merge(self, lower: Key | None, upper: Key | None) -> None:
        """An ordered merge of both sides' row digests; rows in both whose digests differ are
        read in full (`RESOLVE` keys at a time) to name the columns that differ."""
        width = len(self.plan.key)
        source = self.digests(self.source, lower, upper)
        target = self.digests(self.target, lower, upper)
        changed: list[Key] = []
        a = await anext(source, None)
        b = await anext(target, None)
        while a is not None or b is not None:
            ka = self.order(a[:width]) if a is not None else None
            kb = self.order(b[:width]) if b is not None else None
            if b is None or (a is not None and ka is not None and kb is not None and ka < kb):
                assert a is not None
                self.result.missing("only_in_source", a[:width])
                a = await anext(source, None)
            elif a is None or (ka is not None and kb is not None and kb < ka):
                self.result.missing("only_in_target", b[:width])
                b = await anext(target, None)
            else:
                if a[width] == b[width]:
                    self.result.same += 1
                else:
                    changed.append(a[:width])
                    if len(changed) >= min(RESOLVE, self.options.batch_rows):
                        await self.resolve(changed)
                        changed = []
                a = await anext(source, None)
                b = await anext(target, None)
        if changed:
            await self.resolve(changed)

    async def resolve(self, keys: list[Key]) -> None:
        """Read the rows of `keys` in full from both sides and name the columns that differ."""
        plan = self.plan
        width = len(plan.key)
        request = pb.QueryRequest(columns=plan.refs(), predicate=key_in(plan.key, plan.key_types, keys, plan.where))
        rows_a, rows_b = await _gathered(
            self.source.query(request),
            self.target.query(pb.QueryRequest(columns=plan.refs(), predicate=request.predicate)),
        )
        self.result.rows_moved += len(rows_a) + len(rows_b)
        by_key_a = {tuple(self.order(r[:width])): r for r in rows_a}
        by_key_b = {tuple(self.order(r[:width])): r for r in rows_b}
        for key in keys:
            a, b = by_key_a.get(self.order(key)), by_key_b.get(self.order(key))
            if a is None or b is None:  # deleted since its digest was read
                self.result.changed(key, [])
            else:
                self.compare(a, b)

    def compare(self, a: list[Any], b: list[Any]) -> None:
        width = len(self.plan.key)
        changed = [
            name
            for name, form, x, y in zip(self.plan.columns, self.forms, a[width:], b[width:], strict=True)
            if form(x) != form(y)
        ]
        if changed:
            self.result.changed(a[:width], changed)
        else:
            self.result.same += 1


async def _gathered(*calls: Awaitable[T]) -> list[T]:
    """The calls' results, run at once; a failure is raised in the order of `calls` (the
    source's first), whichever failed first."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results  # type: ignore[return-value]


def _coalesced(segments: list[tuple[Key | None, Key | None, int, int]]) -> list[tuple[Key | None, Key | None]]:
    """Adjacent ranges joined into one (fewer, longer merges)."""
    out: list[tuple[Key | None, Key | None]] = []
    for low, high, _a, _b in segments:
        if out and out[-1][1] == low:
            out[-1] = (out[-1][0], high)
        else:
            out.append((low, high))
    return out


async def reconcile(source: Side, target: Side, options: Options) -> Result:
    """Compare `source`'s table with `target`'s (docs/reference.md §13)."""
    start = time.perf_counter()
    chosen = await plan(source, target, options)
    result = Result(source.table, source.database, target.database, options.show, key=chosen.key)
    try:
        await _Comparison(source, target, chosen, options, result).run()
    except CallError as exc:
        raise DbmeshError(exc.message) from None
    result.seconds = time.perf_counter() - start
    log.debug(
        "reconcile %s: %d rows moved to this process, %d checksum calls",
        source.table,
        result.rows_moved,
        result.checksum_calls,
    )
    return result
