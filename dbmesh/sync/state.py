"""A sync job's state (docs/reference.md §12): its row in `dbmesh_sync_state` in the job's target,
created when first needed (EnsureSystemTables, as dbmesh's own replication, so a read_only target
takes it). Each batch writes it in the batch's own transaction, so the high-water mark and the
counts never disagree with the rows the target holds.

    job             the job's name
    high_water      JSON: the tuple cursor of the last row copied, [cursor value, key values...]
                    in canonical form (§8); null before the first batch
    rows_copied     totals over every run
    rows_deleted
    run_started_at  ms since the epoch: the run that wrote the row last
    last_run_at     when the last run finished (ok or failed)
    last_rows       rows that run copied
    last_error      its error, or null
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import orjson

from dbmesh.coordinator._requests import eq, query, row, rows
from dbmesh.resolver.client import ResolverClient
from dbmesh.resolver.v1 import resolver_pb2 as pb

__all__ = ["LEASES", "STATE", "JobState", "ensure_tables", "now_ms", "read_state", "state_write"]

STATE = "dbmesh_sync_state"
LEASES = "dbmesh_sync_leases"
_COLUMNS = (
    "job",
    "high_water",
    "rows_copied",
    "rows_deleted",
    "run_started_at",
    "last_run_at",
    "last_rows",
    "last_error",
    "updated_at",
)


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class JobState:
    job: str
    high_water: list[Any] | None = None
    rows_copied: int = 0
    rows_deleted: int = 0
    run_started_at: int | None = None
    last_run_at: int | None = None
    last_rows: int | None = None
    last_error: str | None = None

    def advanced(self, high_water: list[Any] | None, copied: int, deleted: int) -> JobState:
        return replace(
            self, high_water=high_water, rows_copied=self.rows_copied + copied, rows_deleted=self.rows_deleted + deleted
        )


async def ensure_tables(client: ResolverClient) -> None:
    await client.ensure_system_tables([STATE, LEASES], replication=True)


async def read_state(client: ResolverClient, job: str) -> JobState:
    """The job's state in its target (a fresh one when it has never run)."""
    found = rows(await client.query(query(STATE, _COLUMNS, eq("job", job))), _COLUMNS)
    if not found:
        return JobState(job)
    r = found[0]
    mark = r["high_water"]
    return JobState(
        job=job,
        high_water=orjson.loads(mark) if mark else None,
        rows_copied=int(r["rows_copied"]),
        rows_deleted=int(r["rows_deleted"]),
        run_started_at=r["run_started_at"],
        last_run_at=r["last_run_at"],
        last_rows=r["last_rows"],
        last_error=r["last_error"],
    )


def state_write(state: JobState) -> pb.MutateRequest:
    """The upsert of the job's row (dbmesh's own replication: a read_only target accepts it)."""
    values = {
        "job": state.job,
        "high_water": None if state.high_water is None else orjson.dumps(state.high_water).decode(),
        "rows_copied": state.rows_copied,
        "rows_deleted": state.rows_deleted,
        "run_started_at": state.run_started_at,
        "last_run_at": state.last_run_at,
        "last_rows": state.last_rows,
        "last_error": state.last_error,
        "updated_at": now_ms(),
    }
    return pb.MutateRequest(
        collection=STATE, upsert=pb.Upsert(rows=[row(values)], conflict_columns=["job"]), replication=True
    )
