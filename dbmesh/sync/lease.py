"""One run of a job at a time (docs/reference.md §12): the job's lease row in its target's
`dbmesh_sync_leases` (job, owner, lease_until, scheduled_for), taken by every run, from `dbmesh
sync run` or `dbmesh sync serve`.

- The lease is free when `lease_until` is 0 (the last run ended) or in the past (its process died).
- It is taken by a compare-and-set: an insert of the row when there is none (a second insert fails
  on the key), else an update whose predicate is the row as it was read (job, scheduled_for,
  lease_until), which only one process's update matches.
- A scheduled run also needs to be due: `scheduled_for` before the time it runs for, or equal with
  a lease that lapsed before that run ended (it is taken over; every run resumes from the job's
  state). It moves `scheduled_for` to that time; a run by hand leaves it as it is.
- The holder renews `lease_until` every third of `[transactions] lease_secs` while it runs and sets
  it to 0 when the run ends, failed or not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

from dbmesh.coordinator._requests import all_of, eq, query, row, rows, value
from dbmesh.resolver.client import CallError, ResolverClient
from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.sync.state import LEASES, now_ms

__all__ = ["JobLease", "Lease"]

log = logging.getLogger("dbmesh.sync")

_COLUMNS = ("job", "owner", "lease_until", "scheduled_for")
# Tests only: a pause between reading the lease row and taking it, so that two processes that
# read the same row both try to take it (the compare-and-set lets one through).
_CLAIM_PAUSE = float(os.environ.get("DBMESH_TEST_SYNC_CLAIM_PAUSE", "0") or 0)


@dataclass(frozen=True)
class Lease:
    owner: str
    lease_until: int
    scheduled_for: int

    def free(self, now: int) -> bool:
        return self.lease_until == 0 or self.lease_until < now


class JobLease:
    """`job`'s lease in its target, for `owner` (a process's id)."""

    def __init__(self, client: ResolverClient, job: str, owner: str, lease_ms: int) -> None:
        self.client = client
        self.job = job
        self.owner = owner
        self.lease_ms = lease_ms

    async def read(self) -> Lease | None:
        found = rows(await self.client.query(query(LEASES, _COLUMNS, eq("job", self.job))), _COLUMNS)
        if not found:
            return None
        r = found[0]
        return Lease(str(r["owner"]), int(r["lease_until"]), int(r["scheduled_for"]))

    async def take(self, scheduled_for: int | None = None) -> Lease | None:
        """Take the lease for a run by hand (`scheduled_for` None) or the run scheduled for
        `scheduled_for` (ms) when it is due: None when taken, else the lease as read (held by
        another run, or the scheduled run is not due)."""
        lease = await self.read()
        if _CLAIM_PAUSE:
            await asyncio.sleep(_CLAIM_PAUSE)
        now = now_ms()
        values: dict[str, str | int | None] = {
            "job": self.job,
            "owner": self.owner,
            "lease_until": now + self.lease_ms,
            "scheduled_for": scheduled_for if scheduled_for is not None else lease.scheduled_for if lease else 0,
        }
        if lease is None:
            insert = pb.MutateRequest(collection=LEASES, insert=pb.Insert(rows=[row(values)]), replication=True)
            return None if await self.client.insert_new(insert) else Lease("", now + self.lease_ms, 0)
        if not lease.free(now):
            return lease
        if scheduled_for is not None:
            lapsed = lease.scheduled_for == scheduled_for and lease.lease_until != 0
            if not (lease.scheduled_for < scheduled_for or lapsed):
                return lease
        as_read = all_of(
            eq("job", self.job), eq("scheduled_for", lease.scheduled_for), eq("lease_until", lease.lease_until)
        )
        update = pb.Update(predicate=as_read, set={k: value(v) for k, v in values.items() if k != "job"})
        response = await self.client.mutate(pb.MutateRequest(collection=LEASES, update=update), replication=True)
        return None if response.affected_rows == 1 else lease

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        """While the run (which took the lease) runs: renew it; then release it."""
        renewing = asyncio.get_running_loop().create_task(self._renew())
        try:
            yield
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
            await self._set_mine(0, "released")

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.lease_ms / 3000)
            await self._set_mine(now_ms() + self.lease_ms, "renewed")

    async def _set_mine(self, lease_until: int, what: str) -> None:
        mine = all_of(eq("job", self.job), eq("owner", self.owner))
        update = pb.Update(predicate=mine, set={"lease_until": value(lease_until)})
        try:
            await self.client.mutate(pb.MutateRequest(collection=LEASES, update=update), replication=True)
        except CallError as exc:  # not released: it lapses, and another run may take it over then
            log.warning("sync %s: lease not %s: %s", self.job, what, exc.detail)
