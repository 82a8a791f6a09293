"""Running sync jobs (docs/reference.md §12) for `dbmesh sync run` and `dbmesh sync serve`: the
resolver clients and the coordinator they share, recovery of a killed `move` run's in-doubt
transactions before a job starts, and `dbmesh sync status`.

The config given has a resolver address for every database the jobs use (`dbmesh.commands`
starts resolvers in the process for those that have none).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import overload

import orjson

from dbmesh.config import Config
from dbmesh.coordinator import Coordinator
from dbmesh.coordinator.ids import new_owner
from dbmesh.errors import ConfigError
from dbmesh.resolver.client import CallError, ResolverClient
from dbmesh.sync.config import SyncJob
from dbmesh.sync.job import JobRun, RunResult
from dbmesh.sync.lease import JobLease
from dbmesh.sync.state import JobState, ensure_tables, read_state

__all__ = ["Jobs", "databases_used", "select_jobs", "status_lines"]

log = logging.getLogger("dbmesh.sync")


def select_jobs(config: Config, names: Sequence[str]) -> list[SyncJob]:
    """The jobs named (all of them when none is); an unknown name is a ConfigError."""
    if not config.sync:
        raise ConfigError(f"{config.source}: no sync jobs configured (add a [[sync]] table)")
    known = {job.name: job for job in config.sync}
    for name in names:
        if name not in known:
            raise ConfigError(f"{config.source}: unknown sync job {name!r} (known: {', '.join(known)})")
    return [known[n] for n in dict.fromkeys(names)] if names else list(config.sync)


def databases_used(config: Config, jobs: Sequence[SyncJob]) -> list[str]:
    """The databases `jobs` read and write, and the coordinator log's when a job moves rows."""
    names = [n for job in jobs for n in (job.source, job.target)]
    if any(job.mode == "move" for job in jobs) and config.transactions.log_database:
        names.append(config.transactions.log_database)
    return list(dict.fromkeys(names))


class Jobs:
    """Resolver clients and a coordinator for running jobs; `async with` closes them."""

    def __init__(self, config: Config, jobs: Sequence[SyncJob]) -> None:
        self.config = config
        self.clients = {
            name: ResolverClient(config.database(name), config.mesh) for name in databases_used(config, jobs)
        }
        self.coordinator = Coordinator(config, self.clients)
        self.owner = new_owner()
        self._recovered = False
        self._ready: set[str] = set()

    async def __aenter__(self) -> Jobs:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.coordinator.stop()
        for client in self.clients.values():
            await client.close()

    @overload
    async def run(self, job: SyncJob, progress: Callable[[int], None] | None = None) -> RunResult: ...

    @overload
    async def run(
        self, job: SyncJob, progress: Callable[[int], None] | None = None, *, scheduled_for: int
    ) -> RunResult | None: ...

    async def run(
        self, job: SyncJob, progress: Callable[[int], None] | None = None, *, scheduled_for: int | None = None
    ) -> RunResult | None:
        """Run `job` once, holding its lease (dbmesh.sync.lease): a run by hand, or (`scheduled_for`)
        the scheduled run for that time, None when it is not due or another process took it. A
        run by hand waits at most `[transactions] lease_secs` for the lease (a killed run's
        lapses in that time), then fails naming the run that holds it."""
        started = datetime.now(UTC)
        target = self.clients[job.target]
        lease = JobLease(target, job.name, self.owner, int(self.config.transactions.lease_secs * 1000))
        try:
            if job.target not in self._ready:
                await ensure_tables(target)
                self._ready.add(job.target)
            held = await lease.take(scheduled_for)
            # By hand: a killed run's lease lapses within lease_secs; a live run's is renewed.
            deadline = time.monotonic() + self.config.transactions.lease_secs + 1
            while held is not None and scheduled_for is None and time.monotonic() < deadline:
                await asyncio.sleep(min(0.5, self.config.transactions.lease_secs / 3))
                held = await lease.take()
        except CallError as exc:
            if scheduled_for is not None:
                raise  # the scheduler logs it and tries again
            return RunResult(job.name, 0, 0, 0.0, None, exc.message)
        if held is not None:
            if scheduled_for is not None:
                return None
            until = datetime.fromtimestamp(held.lease_until / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            busy = f"job {job.name!r} is running in another process (its lease lasts until {until})"
            return RunResult(job.name, 0, 0, 0.0, None, busy)
        try:
            async with lease.held():
                if job.mode == "move":
                    await self.recover()
                return await JobRun(job, self.clients, self.coordinator, started, progress).run()
        except CallError as exc:
            return RunResult(job.name, 0, 0, 0.0, None, exc.message)

    async def recover(self) -> None:
        """Settle in-doubt transactions of dbmesh's (a `move` run killed mid-commit) before moving
        more rows: each is wholly applied or wholly rolled back (docs/reference.md §10). One whose
        coordinator's lease is still live is waited for, at most `[transactions] lease_secs`."""
        if self._recovered:
            return
        deadline = time.monotonic() + self.config.transactions.lease_secs + 1
        while True:
            resolutions = await self.coordinator.recover(strict=True)
            for resolution in resolutions:
                log.info("recovery: %s", resolution.line())
            waiting = [r for r in resolutions if r.action.startswith("left: its coordinator")]
            if not waiting or time.monotonic() > deadline:
                break
            await asyncio.sleep(min(1.0, self.config.transactions.recovery_interval_secs))
        self._recovered = True


@contextmanager
def progress_bar(job: SyncJob) -> Iterator[Callable[[int], None]]:
    """A tqdm bar on the terminal (stderr) counting the job's rows."""
    from tqdm import tqdm

    with tqdm(desc=f"sync {job.name}", unit=" rows", dynamic_ncols=True) as bar:

        def advance(rows: int) -> None:
            bar.update(rows)

        yield advance


async def status_lines(config: Config, jobs: Sequence[SyncJob]) -> tuple[list[str], bool]:
    """`dbmesh sync status`: one line per job; whether every job's state could be read."""
    lines = []
    ok = True
    now = time.time()
    for job in jobs:
        client = ResolverClient(config.database(job.target), config.mesh)
        try:
            await ensure_tables(client)
            state = await read_state(client, job.name)
        except CallError as exc:
            lines.append(f"{job.name}: state not read: {exc.message}")
            ok = False
            continue
        finally:
            await client.close()
        lines.append(status_line(job, state, now))
    return lines, ok


def status_line(job: SyncJob, state: JobState, now: float) -> str:
    if state.last_run_at is None:
        return f"{job.name}: never run ({job.source}.{job.table} -> {job.target}.{job.target_table}, {job.mode})"
    last = datetime.fromtimestamp(state.last_run_at / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    mark = "none" if state.high_water is None else orjson.dumps(state.high_water).decode()
    lag = lag_seconds(state, now)
    error = state.last_error or "none"
    return (
        f"{job.name}: last run {last}, {state.last_rows} rows (total {state.rows_copied} copied,"
        f" {state.rows_deleted} deleted), high-water mark {mark}, lag {lag:.0f} s, last error: {error}"
    )


def lag_seconds(state: JobState, now: float) -> float | None:
    """Seconds since the last run started: the target holds what matched then (None: never run)."""
    if state.run_started_at is None:
        return None
    return max(0.0, now - state.run_started_at / 1000)
