"""One run of one sync job (docs/reference.md §12), through the resolvers only.

Rows are read from the source in keyset batches ordered by the tuple cursor `(cursor, key...)`
(the key alone when the job has no cursor): each batch is the next `batch_size` rows matching
`where` whose tuple is past the last one read, `(c > x) or (c = x and k > y)`, so rows sharing a
cursor value are never split or skipped at a batch boundary.

copy: each batch's rows are compared with the target's rows of the same keys and only those
  missing or different are upserted (by the key), in one transaction on the target with the job's
  new state (high-water mark = the batch's last tuple, counts). So a batch is applied wholly or
  not at all, a run killed anywhere resumes after the last committed batch, applying a batch twice
  changes nothing and the counts are the rows that really changed.
  Late commits: before reading past the mark, a run re-reads the window of rows behind it whose
  cursor is within `safety_margin` of the mark (seconds for a date/datetime cursor, cursor units
  for a number; rows with the mark's own cursor value for a string cursor) and upserts those that
  differ: a row committed by a transaction that was open while an earlier run passed its cursor
  value is copied by the next run, as long as its cursor is within the margin of the mark by then.
  A job without a cursor reads the whole table every run (keyset by key, the mark only keeps the
  place for a run that is killed) and copies what differs.

move: each batch is deleted from the source (DELETE ... RETURNING, restricted to `where` and the
  batch's keys), the rows deleted are upserted into the target and the state is written, all in
  one transaction across both databases, committed by the coordinator's two-phase commit
  (dbmesh.coordinator): a row leaves the source only in the atomic step that makes it durable in
  the target. Every run reads from the start of the table: whatever still matches `where` in the
  source has not been moved, whenever it was committed, so late commits need no margin.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson

from dbmesh.canonical import to_value, value_field
from dbmesh.coordinator import Coordinator
from dbmesh.coordinator._faults import crash_point
from dbmesh.coordinator._requests import any_of
from dbmesh.errors import ConfigError
from dbmesh.resolver.client import CallError, ResolverClient
from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.sync.config import SyncJob
from dbmesh.sync.state import JobState, ensure_tables, now_ms, read_state, state_write
from dbmesh.sync.where import compile_where

__all__ = ["JobRun", "RunResult"]

log = logging.getLogger("dbmesh.sync")

_CURSOR_TYPES = (
    pb.LOGICAL_TYPE_INT,
    pb.LOGICAL_TYPE_FLOAT,
    pb.LOGICAL_TYPE_DECIMAL,
    pb.LOGICAL_TYPE_DATE,
    pb.LOGICAL_TYPE_DATETIME,
    pb.LOGICAL_TYPE_STRING,
)


@dataclass(frozen=True)
class RunResult:
    job: str
    copied: int
    deleted: int
    seconds: float
    high_water: list[Any] | None
    error: str | None = None

    def line(self) -> str:
        """The summary line `dbmesh sync run` prints for the job."""
        if self.error is not None:
            return (
                f"sync {self.job}: FAILED after {self.seconds:.2f} s ({self.copied} rows copied, {self.deleted} rows"
                f" deleted): {self.error}"
            )
        mark = "none" if self.high_water is None else orjson.dumps(self.high_water).decode()
        return (
            f"sync {self.job}: {self.copied} rows copied, {self.deleted} rows deleted in {self.seconds:.2f} s,"
            f" high-water mark {mark}"
        )


@dataclass(frozen=True)
class _Table:
    columns: tuple[str, ...]  # copied: the source's columns the target has too
    types: Mapping[str, int]  # logical type of each (the source's)
    key: tuple[str, ...]
    order: tuple[str, ...]  # the tuple cursor: (cursor, key...) or key


def _compare(column: str, operator: int, v: pb.Value) -> pb.Expression:
    return pb.Expression(comparison=pb.Comparison(column=column, operator=operator, operand=pb.Operand(value=v)))  # type: ignore[arg-type]


def _all(*expressions: pb.Expression | None) -> pb.Expression | None:
    """The conjunction of those given (None: true)."""
    present = [e for e in expressions if e is not None]
    return _and(*present) if present else None


def _and(first: pb.Expression, *more: pb.Expression) -> pb.Expression:
    if not more:
        return first
    combined = pb.Expression()
    getattr(combined, "and").expressions.extend([first, *more])  # `and` is a Python keyword
    return combined


def _not(expression: pb.Expression) -> pb.Expression:
    negated = pb.Expression()
    getattr(negated, "not").expression.CopyFrom(expression)
    return negated


class JobRun:
    """One run of `job`: `clients` by database name (source, target), `coordinator` for the
    batches' transactions; `started` is the run's start (relative times in `where`), `progress`
    is told the rows of each batch as it commits."""

    def __init__(
        self,
        job: SyncJob,
        clients: Mapping[str, ResolverClient],
        coordinator: Coordinator,
        started: datetime,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.job = job
        self.source = clients[job.source]
        self.target = clients[job.target]
        self.coordinator = coordinator
        self.started = started
        self.started_ms = int(started.timestamp() * 1000)
        self.progress = progress
        self.copied = 0
        self.deleted = 0
        self.state = JobState(job.name)
        self.statements = 0  # Mutate and Query calls made (bench/ reports them)
        self.where: pb.Expression | None = None

    async def run(self) -> RunResult:
        clock = time.monotonic()
        try:
            await self._run()
        except (CallError, ConfigError) as exc:
            message = exc.message if isinstance(exc, CallError) else str(exc)
            await self._finish(message)
            return RunResult(
                self.job.name, self.copied, self.deleted, time.monotonic() - clock, self.state.high_water, message
            )
        await self._finish(None)
        return RunResult(self.job.name, self.copied, self.deleted, time.monotonic() - clock, self.state.high_water)

    async def _finish(self, error: str | None) -> None:
        """Record the run's end in the job's state (a failure to, is logged: the batches' state is
        already there)."""
        state = JobState(
            job=self.job.name,
            high_water=self.state.high_water,
            rows_copied=self.state.rows_copied,
            rows_deleted=self.state.rows_deleted,
            run_started_at=self.started_ms,
            last_run_at=now_ms(),
            last_rows=self.copied,
            last_error=error,
        )
        try:
            await self.target.mutate(state_write(state), replication=True)
            self.state = state
        except CallError as exc:
            log.warning("sync %s: could not record the end of the run: %s", self.job.name, exc.detail)

    async def _run(self) -> None:
        job = self.job
        table, where = await self._describe()
        self.where = where
        await ensure_tables(self.target)
        self.state = await read_state(self.target, job.name)
        if job.mode == "move":
            await self._scan(table, where, None, self._move)
            return
        mark = self.state.high_water
        if job.cursor is None:
            # The whole table every run; the mark keeps the place of a run that was killed.
            await self._scan(table, where, mark, self._copy)
            if mark is not None or self.state.high_water is not None:
                await self._commit(table, [], None, clear_mark=True)
            return
        if mark is not None:
            lower = self._window_start(table, mark[0])
            window = _all(where, _compare(job.cursor, pb.OPERATOR_GTE, lower), _not(self._after(table, mark)))
            await self._scan(table, window, None, self._copy_behind)
        await self._scan(table, where, mark, self._copy)

    # --- the tables -------------------------------------------------------------------------------

    async def _describe(self) -> tuple[_Table, pb.Expression | None]:
        job = self.job
        source = await self._collection(self.source, job.table, "table")
        target = await self._collection(
            self.target, job.target_table, "target_table" if job.target_table != job.table else "table", job.target
        )
        target_columns = {c.name for c in target.columns}
        types = {c.name: int(c.type) for c in source.columns}
        key = job.key or tuple(source.primary_key)
        if not key:
            raise job.error(f"table {job.table!r} of database {job.source!r} has no primary key; set 'key'")
        for column in key:
            if column not in types:
                raise job.error(f"table {job.table!r} of database {job.source!r} has no column {column!r}", "key")
            if column not in target_columns:
                raise job.error(f"table {target.name!r} of database {job.target!r} has no column {column!r}", "key")
        order = key
        if job.cursor is not None:
            cursor = next((c for c in source.columns if c.name == job.cursor), None)
            if cursor is None:
                raise job.error(
                    f"table {job.table!r} of database {job.source!r} has no column {job.cursor!r}", "cursor"
                )
            if cursor.type not in _CURSOR_TYPES:
                raise job.error(
                    f"column {job.cursor!r} cannot be a cursor (not a number, string, date or datetime)", "cursor"
                )
            if cursor.nullable:
                raise job.error(
                    f"column {job.cursor!r} of table {job.table!r} accepts NULL; a cursor column must be NOT NULL",
                    "cursor",
                )
            order = (job.cursor, *(c for c in key if c != job.cursor))
        columns = tuple(c.name for c in source.columns if c.name in target_columns)
        where = compile_where(job, {c.name: c for c in source.columns}, self.started)
        return _Table(columns, types, key, order), where

    async def _collection(self, client: ResolverClient, name: str, key: str, database: str = "") -> pb.Collection:
        schema = await client.schema()
        found = next((c for c in schema.collections if c.name == name), None)
        if found is None or found.is_view:
            what = "no table" if found is None else "a view, not a table,"
            raise self.job.error(f"database {database or self.job.source!r} has {what} {name!r}", key)
        return found

    # --- reading ------------------------------------------------------------------------------------

    def _value(self, table: _Table, column: str, v: Any) -> pb.Value:
        return to_value(table.types[column], v)

    def _after(self, table: _Table, mark: Sequence[Any]) -> pb.Expression:
        """Rows whose tuple `order` is past `mark`: (c > x) or (c = x and k > y) or ..., with
        `c >= x` in front, which is the same rows but lets an index on (c, k) start at the mark
        instead of at the start of the table (the contract has no row-value comparison)."""
        branches = []
        for i, column in enumerate(table.order):
            equal = [_compare(c, pb.OPERATOR_EQ, self._value(table, c, mark[j])) for j, c in enumerate(table.order[:i])]
            branches.append(_and(*equal, _compare(column, pb.OPERATOR_GT, self._value(table, column, mark[i]))))
        if len(branches) == 1:
            return branches[0]
        first = table.order[0]
        return _and(_compare(first, pb.OPERATOR_GTE, self._value(table, first, mark[0])), any_of(branches))

    def _window_start(self, table: _Table, mark: Any) -> pb.Value:
        """The cursor value `safety_margin` behind `mark`."""
        logical = table.types[table.order[0]]
        margin = self.job.safety_margin
        if logical == pb.LOGICAL_TYPE_DATETIME:
            moment = datetime.fromisoformat(str(mark).replace("Z", "+00:00"))
            return pb.Value(
                datetime=(moment - timedelta(seconds=margin)).astimezone(UTC).isoformat().replace("+00:00", "Z")
            )
        if logical == pb.LOGICAL_TYPE_DATE:
            return pb.Value(
                date=(date.fromisoformat(str(mark)) - timedelta(days=math.ceil(margin / 86400))).isoformat()
            )
        if logical == pb.LOGICAL_TYPE_INT:
            return pb.Value(int=int(mark) - math.ceil(margin))
        if logical == pb.LOGICAL_TYPE_FLOAT:
            return pb.Value(float=float(mark) - margin)
        if logical == pb.LOGICAL_TYPE_DECIMAL:
            return pb.Value(decimal=str(Decimal(str(mark)) - Decimal(str(margin))))
        return self._value(table, table.order[0], mark)  # a string: the mark's own value only

    def _query(self, table: _Table, predicate: pb.Expression | None, limit: int) -> pb.QueryRequest:
        return pb.QueryRequest(
            collection=self.job.table,
            columns=[pb.ColumnRef(name=c, type=table.types[c]) for c in table.columns],  # type: ignore[arg-type]
            predicate=predicate,
            order_by=[pb.OrderBy(column=c) for c in table.order],
            limit=limit,
        )

    async def _scan(
        self,
        table: _Table,
        predicate: pb.Expression | None,
        mark: Sequence[Any] | None,
        apply: Callable[[_Table, list[list[Any]], list[Any]], Any],
    ) -> None:
        """Every row matching `predicate` past `mark` (None: from the start), batch by batch in
        tuple order; `apply(table, rows, last tuple)` each batch. The next batch is read while
        one is applied (its rows are past the one applied, so the two never overlap)."""
        positions = [table.columns.index(c) for c in table.order]

        async def read(after: Sequence[Any] | None) -> list[list[Any]]:
            bounded = _all(predicate, None if after is None else self._after(table, after))
            response = await self.source.query(self._query(table, bounded, self.job.batch_size))
            self.statements += 1
            rows: list[list[Any]] = orjson.loads(response.row_sets[0].rows_json or b"[]")
            return rows

        loop = asyncio.get_running_loop()
        pending: asyncio.Task[list[list[Any]]] | None = loop.create_task(read(mark))
        try:
            while pending is not None:
                batch = await pending
                pending = None
                if not batch:
                    return
                after = [batch[-1][p] for p in positions]
                if len(batch) == self.job.batch_size:
                    pending = loop.create_task(read(after))
                await apply(table, batch, after)
        finally:
            if pending is not None:
                pending.cancel()
                with contextlib.suppress(asyncio.CancelledError, CallError):
                    await pending

    # --- writing ------------------------------------------------------------------------------------

    def _keys(self, table: _Table, batch: Sequence[Sequence[Any]]) -> pb.Expression:
        positions = [table.columns.index(c) for c in table.key]
        if len(table.key) == 1:
            column = table.key[0]
            values = [self._value(table, column, r[positions[0]]) for r in batch]
            operand = pb.Operand(list=pb.ValueList(values=values))
            return pb.Expression(comparison=pb.Comparison(column=column, operator=pb.OPERATOR_IN, operand=operand))
        return any_of(
            [
                _and(
                    *(
                        _compare(c, pb.OPERATOR_EQ, self._value(table, c, r[p]))
                        for c, p in zip(table.key, positions, strict=True)
                    )
                )
                for r in batch
            ]
        )

    async def _changed(self, table: _Table, batch: list[list[Any]]) -> list[list[Any]]:
        """The rows of `batch` the target does not hold as they are."""
        request = self._query(table, self._keys(table, batch), len(batch))
        request.collection = self.job.target_table
        request.ClearField("order_by")
        response = await self.target.query(request)
        self.statements += 1
        positions = [table.columns.index(c) for c in table.key]
        held = {
            orjson.dumps([r[p] for p in positions]): r for r in orjson.loads(response.row_sets[0].rows_json or b"[]")
        }
        return [r for r in batch if held.get(orjson.dumps([r[p] for p in positions])) != r]

    def _upsert(self, table: _Table, batch: Sequence[Sequence[Any]]) -> pb.MutateRequest:
        """The upsert of `batch` by the key, its values filled in place (see value_field)."""
        request = pb.MutateRequest(
            collection=self.job.target_table,
            upsert=pb.Upsert(conflict_columns=list(table.key)),
            replication=True,
        )
        rows = request.upsert.rows
        typed = [(c, table.types[c]) for c in table.columns]
        for r in batch:
            values = rows.add().values
            for (column, logical), v in zip(typed, r, strict=True):
                kind, field = value_field(logical, v)
                setattr(values[column], kind, field)
        return request

    async def _copy(self, table: _Table, batch: list[list[Any]], last: list[Any]) -> None:
        changed = await self._changed(table, batch)
        await self._commit(table, changed, last)

    async def _copy_behind(self, table: _Table, batch: list[list[Any]], last: list[Any]) -> None:
        """A batch of the window behind the mark: the mark stays where it is."""
        changed = await self._changed(table, batch)
        if changed:
            await self._commit(table, changed, self.state.high_water)

    async def _commit(
        self, table: _Table, changed: list[list[Any]], mark: list[Any] | None, *, clear_mark: bool = False
    ) -> None:
        state = self.state.advanced(None if clear_mark else mark, len(changed), 0)
        state = replace(state, run_started_at=self.started_ms)
        transaction = self.coordinator.begin([self.job.target], replication=[self.job.target])
        try:
            if changed:
                await transaction.mutate(self.job.target, self._upsert(table, changed))
                crash_point("sync:upserted")
            await transaction.mutate(self.job.target, state_write(state))
            self.statements += 2 if changed else 1
            crash_point("sync:state-written")
            await transaction.commit()
        except BaseException:
            await transaction.rollback()
            raise
        crash_point("sync:committed")
        self.state = state
        self.copied += len(changed)
        if self.progress is not None:
            self.progress(len(changed))

    async def _move(self, table: _Table, batch: list[list[Any]], last: list[Any]) -> None:
        job = self.job
        transaction = self.coordinator.begin([job.source, job.target], replication=[job.target])
        try:
            delete = pb.MutateRequest(
                collection=job.table,
                delete=pb.Delete(predicate=_all(self._keys(table, batch), self.where)),
                returning=[pb.ColumnRef(name=c, type=table.types[c]) for c in table.columns],  # type: ignore[arg-type]
            )
            deleted = await transaction.mutate(job.source, delete)
            crash_point("sync:deleted")
            moved: list[list[Any]] = orjson.loads(deleted.returning.rows_json or b"[]")
            state = self.state.advanced(last, len(moved), len(moved))
            state = replace(state, run_started_at=self.started_ms)
            if moved:
                await transaction.mutate(job.target, self._upsert(table, moved))
            await transaction.mutate(job.target, state_write(state))
            self.statements += 3 if moved else 2
            crash_point("sync:state-written")
            await transaction.commit()
        except BaseException:
            await transaction.rollback()
            raise
        crash_point("sync:committed")
        self.state = state
        self.copied += len(moved)
        self.deleted += len(moved)
        if self.progress is not None:
            self.progress(len(moved))
