"""`dbmesh sync serve` (docs/reference.md §12): runs each job with a `schedule` when it is due, until
stopped; with several serving processes each due run happens once.

A job's due run is the latest time its cron schedule (UTC; five fields, or six with seconds last)
names at or before now. The processes agree through the job's lease row in its target's
`dbmesh_sync_leases` (job, owner, lease_until, scheduled_for):

- the run for time S is due when the row's `scheduled_for` is before S, or is S with a lease that
  lapsed before the run finished (its process died: the run is taken over and, as every run,
  resumes from the job's state);
- a process takes it by a compare-and-set: an insert of the row when there is none (a second
  insert fails on the key), else an update whose predicate is the row as it read it (job,
  scheduled_for, lease_until), which only one process's update matches;
- the holder renews `lease_until` every third of `[transactions] lease_secs` while it runs and
  sets it to 0 (done) when the run ends, failed or not; a failed run is retried at the next time
  the schedule names.

Only the latest due time is run: times missed while no process served are not caught up one by
one (a job scheduled for 02:00 whose serving processes were all down then runs once when one comes
up, and that run copies everything past the job's mark anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from dbmesh.coordinator._requests import all_of, eq, query, row, rows, value
from dbmesh.coordinator.ids import new_owner
from dbmesh.resolver.client import CallError, ResolverClient
from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.sync.config import SyncJob
from dbmesh.sync.job import RunResult
from dbmesh.sync.runner import Jobs
from dbmesh.sync.state import LEASES, ensure_tables, now_ms

__all__ = ["Scheduler", "due_time"]

log = logging.getLogger("dbmesh.sync")

_COLUMNS = ("job", "owner", "lease_until", "scheduled_for")
POLL_SECS = 1.0
# Tests only: a pause between reading the lease row and claiming it, so that two processes that
# read the same row both try to claim it (the compare-and-set lets one through).
_CLAIM_PAUSE = float(os.environ.get("DBMESH_TEST_SYNC_CLAIM_PAUSE", "0") or 0)


def due_time(schedule: str, now: datetime) -> datetime:
    """The latest time `schedule` names at or before `now` (UTC)."""
    from croniter import croniter

    at: datetime = croniter(schedule, now).get_prev(datetime)
    return at.astimezone(UTC)


@dataclass(frozen=True)
class _Lease:
    owner: str
    lease_until: int
    scheduled_for: int


class Scheduler:
    """Runs `jobs`' due runs over `runner` until `stop` is set; `report` gets each run's result."""

    def __init__(self, runner: Jobs, jobs: list[SyncJob], report: Callable[[RunResult, datetime], None]) -> None:
        self.runner = runner
        self.jobs = [job for job in jobs if job.schedule]
        self.report = report
        self.owner = new_owner()
        self.lease_ms = int(runner.config.transactions.lease_secs * 1000)
        self._ready: set[str] = set()

    async def serve(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            for job in self.jobs:
                if stop.is_set():
                    break
                try:
                    await self._tick(job)
                except CallError as exc:
                    log.warning("sync %s: schedule not checked now: %s", job.name, exc.detail)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), POLL_SECS)

    async def _tick(self, job: SyncJob) -> None:
        assert job.schedule is not None
        client = self.runner.clients[job.target]
        if job.target not in self._ready:
            await ensure_tables(client)
            self._ready.add(job.target)
        due = due_time(job.schedule, datetime.now(UTC))
        due_ms = int(due.timestamp() * 1000)
        if not await self._claim(client, job, due_ms):
            return
        renewing = asyncio.get_running_loop().create_task(self._renew(client, job))
        try:
            result = await self.runner.run(job)
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
            await self._release(client, job)
        self.report(result, due)

    async def _lease(self, client: ResolverClient, job: SyncJob) -> _Lease | None:
        found = rows(await client.query(query(LEASES, _COLUMNS, eq("job", job.name))), _COLUMNS)
        if not found:
            return None
        r = found[0]
        return _Lease(str(r["owner"]), int(r["lease_until"]), int(r["scheduled_for"]))

    async def _claim(self, client: ResolverClient, job: SyncJob, due_ms: int) -> bool:
        """Take the run for `due_ms` when it is due and no other process took it first."""
        lease = await self._lease(client, job)
        if _CLAIM_PAUSE:
            await asyncio.sleep(_CLAIM_PAUSE)
        now = now_ms()
        values: dict[str, str | int | None] = {
            "job": job.name,
            "owner": self.owner,
            "lease_until": now + self.lease_ms,
            "scheduled_for": due_ms,
        }
        if lease is None:
            request = pb.MutateRequest(collection=LEASES, insert=pb.Insert(rows=[row(values)]), replication=True)
            return await client.insert_new(request)
        lapsed = lease.scheduled_for == due_ms and lease.lease_until != 0 and lease.lease_until < now
        if not (lease.scheduled_for < due_ms or lapsed):
            return False
        as_read = all_of(
            eq("job", job.name), eq("scheduled_for", lease.scheduled_for), eq("lease_until", lease.lease_until)
        )
        update = pb.Update(predicate=as_read, set={k: value(v) for k, v in values.items() if k != "job"})
        response = await client.mutate(pb.MutateRequest(collection=LEASES, update=update), replication=True)
        return response.affected_rows == 1

    async def _renew(self, client: ResolverClient, job: SyncJob) -> None:
        while True:
            await asyncio.sleep(self.lease_ms / 3000)
            mine = all_of(eq("job", job.name), eq("owner", self.owner))
            update = pb.Update(predicate=mine, set={"lease_until": value(now_ms() + self.lease_ms)})
            try:
                await client.mutate(pb.MutateRequest(collection=LEASES, update=update), replication=True)
            except CallError as exc:
                log.warning("sync %s: lease not renewed: %s", job.name, exc.detail)

    async def _release(self, client: ResolverClient, job: SyncJob) -> None:
        mine = all_of(eq("job", job.name), eq("owner", self.owner))
        update = pb.Update(predicate=mine, set={"lease_until": value(0)})
        try:
            await client.mutate(pb.MutateRequest(collection=LEASES, update=update), replication=True)
        except CallError as exc:  # the lease lapses: another process may take the run over
            log.warning("sync %s: lease not released: %s", job.name, exc.detail)
