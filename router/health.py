"""Background health probes of every database (docs/reference.md §6, §7), and the schema check
of each database against the schema module.

One task per database asks its resolver for `Status` (a round trip through the resolver to the
database) every `probe_interval_secs`, and faster while its circuit is open. Queries never wait
for a probe: `databaseStatus`, `/healthz` and `/readyz` read the last results. A successful probe
closes an open circuit; probes of each configured replica decide which replicas reads may use.

The schema is checked when the router starts (a mismatch then refuses to start) and, for a
database that could not be reached then, on its first successful probe later: a mismatch found
then keeps the database out of service (its fields fail as unavailable, so fallbacks apply) and is
logged, until the router restarts.

Clients see plain sentences (`error` below); the database's own error text, which may name hosts
or driver details, goes only to the log, once per change of state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from dbmesh.config import Config
from dbmesh.errors import SchemaError
from dbmesh.router.errors import CallError
from dbmesh.router.metrics import Metrics
from dbmesh.router.traffic import Traffic
from dbmesh.schema.check import schema_problems, served_types
from dbmesh.schema.model import SchemaModel

__all__ = ["DatabaseHealth", "HealthMonitor"]

log = logging.getLogger("dbmesh.router")

_PLAIN = {
    "DATABASE_UNAVAILABLE": "unavailable (its resolver or the database cannot be reached)",
    "DATABASE_TIMEOUT": "did not answer in time",
}


@dataclass
class DatabaseHealth:
    name: str
    engine: str
    connected: bool = False
    latency_ms: float | None = None
    last_check: datetime | None = None
    error: str | None = "not probed yet"  # a plain sentence, safe for any client


class HealthMonitor:
    def __init__(self, config: Config, model: SchemaModel, traffic: Traffic, metrics: Metrics) -> None:
        self.config = config
        self.model = model
        self.traffic = traffic
        self.metrics = metrics
        self.interval = config.router.probe_interval_secs
        self.health = {d.name: DatabaseHealth(d.name, d.engine) for d in config.databases}
        # Databases whose schema still has to be checked (they serve a type and were not reached).
        self.unchecked: set[str] = set(served_types(model))
        self.started = False
        self._tasks: list[asyncio.Task[None]] = []

    async def probe(self, name: str) -> DatabaseHealth:
        """Probe one database (and its replicas) now."""
        client = self.traffic.clients[name]
        health = self.health[name]
        was_connected = health.connected
        timeout = min(client.timeout, max(self.interval, 1.0))
        try:
            status = await client.status(timeout=timeout)
            connected, detail = status.connected, status.error or "not connected"
            health.latency_ms = status.latency_ms if connected else None
            health.error = None if connected else "the database cannot be reached"
            self.metrics.probe(name, connected, status.pool_in_use, status.pool_size)
        except CallError as exc:
            connected, detail = False, exc.detail
            health.latency_ms, health.error = None, _PLAIN.get(exc.code, "failed")
            self.metrics.probe(name, False, 0, 0)
        health.connected = connected
        health.last_check = datetime.now(UTC)
        if connected != was_connected or (not connected and health.error == "not probed yet"):
            if connected:
                log.info("database %s is reachable", name)
            else:
                log.warning("database %s is down: %s", name, detail)
        if connected and name in self.unchecked and self.started:
            await self.check_schema(name)
        if name in self.traffic.refused:
            health.error = self.traffic.refused[name]
        breaker = self.traffic.breakers[name]
        if connected and breaker.state != "closed":
            breaker.success()
            log.info("database %s is back: circuit closed", name)
        self.metrics.circuit(name, breaker.state)
        for replica in self.config.database(name).replicas:
            try:
                replica_status = await client.status(replica, timeout=timeout)
                self.traffic.replica_health[name][replica] = replica_status.connected
            except CallError:
                self.traffic.replica_health[name][replica] = False
        return health

    async def check_schema(self, name: str, *, at_start: bool = False) -> None:
        """Check that `name` has every table and column the types it serves need. At start a
        mismatch raises `SchemaError`; later it takes the database out of service. A database
        that cannot be reached stays unchecked (checked on its first successful probe)."""
        try:
            schema = await self.traffic.clients[name].schema()
        except CallError:
            log.warning("cannot check the schema of database %s now (unreachable); checked when it is back", name)
            return
        self.unchecked.discard(name)
        tables = {c.name: {col.name for col in c.columns} for c in schema.collections}
        problems = schema_problems(self.model, name, tables)
        if not problems:
            return
        if at_start:
            raise SchemaError(problems[0])
        log.error("database %s does not match the schema, its fields are not served: %s", name, problems[0])
        self.traffic.refused[name] = f"does not match the schema: {problems[0]}"

    async def start(self, *, check_schema: bool = True) -> None:
        """Probe every database, check the schema of those reached, then probe in the background."""
        await self.probe_all()
        if check_schema:
            for name in sorted(self.unchecked):
                await self.check_schema(name, at_start=True)
        else:
            self.unchecked.clear()
        self.started = True
        self._tasks = [asyncio.get_running_loop().create_task(self._loop(name)) for name in self.health]

    async def probe_all(self) -> None:
        await asyncio.gather(*(self.probe(name) for name in self.health))

    async def _loop(self, name: str) -> None:
        while True:
            breaker = self.traffic.breakers[name]
            delay = self.interval if breaker.state == "closed" else min(self.interval, breaker.reset_secs, 1.0)
            await asyncio.sleep(delay)
            try:
                await self.probe(name)
            except Exception:  # a probe must never stop probing
                log.exception("probe of %s failed", name)

    async def stop(self) -> None:
        self.started = False
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def snapshot(self) -> list[dict[str, object]]:
        """`databaseStatus` (docs/reference.md §6): one entry per configured database, in config order."""
        out = []
        for h in self.health.values():
            out.append(
                {
                    "name": h.name,
                    "engine": h.engine,
                    "connected": h.connected,
                    "latency_ms": h.latency_ms,
                    "last_check": h.last_check.isoformat().replace("+00:00", "Z") if h.last_check else None,
                    "circuit": self.traffic.breakers[h.name].state,
                    "error": h.error,
                }
            )
        return out

    def databases(self) -> dict[str, dict[str, object]]:
        """Per-database state for `/healthz` and `/readyz` (plain, no database error text)."""
        return {
            h.name: {"connected": h.connected, "circuit": self.traffic.breakers[h.name].state, "error": h.error}
            for h in self.health.values()
        }

    def _serving(self, name: str) -> bool:
        """Reachable and in service (not kept out for a schema mismatch)."""
        return self.health[name].connected and name not in self.traffic.refused

    def not_ready(self) -> list[str]:
        """Databases that are down with a field they serve and no live fallback (`/readyz`)."""
        sources = [f.source for f in self.model.query if f.source]
        sources += [r.source for t in self.model.types.values() for r in t.relations]
        problems = []
        for name, h in self.health.items():
            if self._serving(name):
                continue
            uncovered = [s for s in sources if s.database == name and not any(map(self._serving, s.fallbacks))]
            if uncovered:
                problems.append(f"{name}: {h.error or 'unreachable'}")
        return problems
