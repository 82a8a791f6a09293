"""`dbmesh sync serve` (docs/reference.md §12): runs each job with a `schedule` when it is due, until
stopped; with several serving processes each due run happens once.

A job's due run is the latest time its cron schedule (UTC; five fields, or six with seconds last)
names at or before now. Each process checks every job once a second and takes the due run through
the job's lease (dbmesh.sync.lease), so with several processes each due run happens once; a failed
run is retried at the next time the schedule names.

Only the latest due time is run: times missed while no process served are not caught up one by
one (a job scheduled for 02:00 whose serving processes were all down then runs once when one comes
up, and that run copies everything past the job's mark anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from dbmesh.resolver.client import CallError
from dbmesh.sync.config import SyncJob
from dbmesh.sync.job import RunResult
from dbmesh.sync.runner import Jobs

__all__ = ["Scheduler", "due_time"]

log = logging.getLogger("dbmesh.sync")

POLL_SECS = 1.0


def due_time(schedule: str, now: datetime) -> datetime:
    """The latest time `schedule` names at or before `now` (UTC)."""
    from croniter import croniter

    at: datetime = croniter(schedule, now).get_prev(datetime)
    return at.astimezone(UTC)


class Scheduler:
    """Runs `jobs`' due runs over `runner` until `stop` is set; `report` gets each run's result."""

    def __init__(self, runner: Jobs, jobs: list[SyncJob], report: Callable[[RunResult, datetime], None]) -> None:
        self.runner = runner
        self.jobs = [job for job in jobs if job.schedule]
        self.report = report

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
        due = due_time(job.schedule, datetime.now(UTC))
        result = await self.runner.run(job, scheduled_for=int(due.timestamp() * 1000))
        if result is not None:
            self.report(result, due)
