"""What `dbmesh outbox` shows (docs/reference.md §11): pending write-through changes per written
database and target, with how long the oldest has waited. A database whose resolver reports no
`dbmesh_outbox` table has never written through, and is left out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dbmesh.coordinator._requests import query, rows
from dbmesh.outbox.store import OUTBOX, is_pending, now_ms
from dbmesh.resolver.client import CallError, ResolverClient

__all__ = ["TargetBacklog", "pending_changes"]


@dataclass(frozen=True)
class TargetBacklog:
    database: str  # the written database, holding the outbox
    target: str
    count: int
    oldest_age_secs: float

    def line(self) -> str:
        return f"{self.database} -> {self.target}: {self.count} pending, oldest {self.oldest_age_secs:.1f}s old"


async def pending_changes(clients: Mapping[str, ResolverClient]) -> tuple[list[TargetBacklog], list[CallError]]:
    """Every target with pending changes, per written database, in config order; and the error of
    each database that could not be read (its outbox, if it has one, is not in the list)."""
    found: list[TargetBacklog] = []
    failed: list[CallError] = []
    for client in clients.values():
        if client.config.read_only:
            continue
        try:
            found += await _backlog(client)
        except CallError as exc:
            failed.append(exc)
    return found, failed


async def _backlog(client: ResolverClient) -> list[TargetBacklog]:
    schema = await client.schema()
    if not any(c.name == OUTBOX for c in schema.collections):
        return []
    columns = ("target", "created_at")
    pending = rows(await client.query(query(OUTBOX, columns, is_pending())), columns)
    now = now_ms()
    oldest: dict[str, int] = {}
    counts: dict[str, int] = {}
    for entry in pending:
        target, created = str(entry["target"]), int(str(entry["created_at"]))
        counts[target] = counts.get(target, 0) + 1
        oldest[target] = min(oldest.get(target, created), created)
    return [TargetBacklog(client.name, t, counts[t], max(0, now - oldest[t]) / 1000) for t in sorted(counts)]
