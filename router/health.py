"""Background health probes of every database (SPEC §6, §7).

One task per database asks its resolver for `Status` (a round trip through the resolver to the
database) every `probe_interval_secs`, and faster while its circuit is open. Queries never wait
for a probe: `databaseStatus` and `/readyz` read the last results. A successful probe closes an
open circuit; probes of each configured replica decide which replicas reads may use.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from dbmesh.config import Config
from dbmesh.router.errors import CallError
from dbmesh.router.metrics import Metrics
from dbmesh.router.traffic import Traffic
from dbmesh.schema.model import SchemaModel

__all__ = ["DatabaseHealth", "HealthMonitor"]

log = logging.getLogger("dbmesh.router")


@dataclass
class DatabaseHealth:
    name: str
    engine: str
    connected: bool = False
    latency_ms: float | None = None
    last_check: datetime | None = None
    error: str | None = "not probed yet"


class HealthMonitor:
    def __init__(self, config: Config, model: SchemaModel, traffic: Traffic, metrics: Metrics) -> None:
        self.config = config
        self.model = model
        self.traffic = traffic
        self.metrics = metrics
        self.interval = config.router.probe_interval_secs
        self.health = {d.name: DatabaseHealth(d.name, d.engine) for d in config.databases}
        self._tasks: list[asyncio.Task[None]] = []

    async def probe(self, name: str) -> DatabaseHealth:
        """Probe one database (and its replicas) now."""
        client = self.traffic.clients[name]
        health = self.health[name]
        timeout = min(client.timeout, max(self.interval, 1.0))
        try:
            status = await client.status(timeout=timeout)
            health.connected = status.connected
            health.latency_ms = status.latency_ms if status.connected else None
            health.error = None if status.connected else status.error or "not connected"
            self.metrics.probe(name, status.connected, status.pool_in_use, status.pool_size)
        except CallError as exc:
            health.connected, health.latency_ms, health.error = False, None, exc.message
            self.metrics.probe(name, False, 0, 0)
        health.last_check = datetime.now(UTC)
        breaker = self.traffic.breakers[name]
        if health.connected and breaker.state != "closed":
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

    def start(self) -> None:
        self._tasks = [asyncio.get_running_loop().create_task(self._loop(name)) for name in self.health]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def snapshot(self) -> list[dict[str, object]]:
        """`databaseStatus` (SPEC §6): one entry per configured database, in config order."""
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

    def not_ready(self) -> list[str]:
        """Databases that are down with a field they serve and no live fallback (`/readyz`)."""
        sources = [f.source for f in self.model.query if f.source]
        sources += [r.source for t in self.model.types.values() for r in t.relations]
        problems = []
        for name, h in self.health.items():
            if h.connected:
                continue
            uncovered = [
                s for s in sources if s.database == name and not any(self.health[f].connected for f in s.fallbacks)
            ]
            if uncovered:
                problems.append(f"{name}: {h.error or 'unreachable'}")
        return problems
