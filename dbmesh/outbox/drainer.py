"""The router's outbox drainers (docs/reference.md §11): one lane per (written database, target)
pair that a mutation field writes through, started with the router.

Each round of a lane:
1. takes or renews the lane's lease in the written database's `dbmesh_outbox_drainers` (a
   compare-and-set on the target's row: free, expired, or already ours), so one router at a time
   drains one target and applies its changes in version order;
2. reads the oldest pending changes for the target (`store.pending_query`), which also tells every
   router which rows have a pending change (for `isStale`);
3. as the lease holder, applies them to the target in one transaction (`apply.apply_changes`) and
   marks them applied in the outbox: in the background, while the next round runs, which leaves
   out the changes being marked (they are applied already). One marking at a time: a round waits
   for the previous round's before it starts its own, and a failed marking fails that round.
The router that commits a write-through write applies its changes itself before answering
(`Outbox.committed`, `inline.apply_committed`: at most INLINE_SECS of waiting; one batch at a time
per lane, holding every change committed meanwhile; a round leaves those alone), so the drainer is
the backstop: for a target down or slow, and for a router killed between commit and apply. A round
runs every `POLL_SECS` while this router holds the lease, every `FOLLOW_SECS` otherwise, and at
once when applying inline failed. A failed round (a database down) is retried at the next one:
a change stays pending until applied. A router killed between applying and marking leaves the
change pending; whoever drains next applies it again, which changes nothing (`dbmesh_applied`).

Pending rows (`Outbox.pending`): the changes the last round saw pending, plus the changes this
router committed since that round began, less those this router applied inline. So this router
knows its own writes are pending the moment they commit; another router's, from its next round (at
most FOLLOW_SECS later). When more changes are pending than one round reads, every row of the
target's tables counts as pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field

from dbmesh.coordinator._faults import crash_point
from dbmesh.coordinator._requests import all_of, any_of, eq, lt, row, rows, value
from dbmesh.coordinator.ids import new_owner
from dbmesh.outbox.apply import apply_changes, ensure_applied_table
from dbmesh.outbox.inline import apply_committed
from dbmesh.outbox.keys import KeyCache
from dbmesh.outbox.record import TransactionLike, Written, record
from dbmesh.outbox.store import (
    DRAINERS,
    OUTBOX,
    Change,
    change_columns,
    decode_change,
    is_pending,
    now_ms,
    pending_query,
)
from dbmesh.resolver.client import CallError, ResolverClient
from dbmesh.resolver.v1 import resolver_pb2 as pb

__all__ = ["BATCH", "FOLLOW_SECS", "INLINE_SECS", "POLL_SECS", "Outbox", "PendingRows"]

log = logging.getLogger("dbmesh.outbox")

POLL_SECS = 0.05
INLINE_SECS = 0.05
FOLLOW_SECS = 0.25
BATCH = 500
_MARK_CHUNK = 100
_PRUNE_EVERY_SECS = 60.0
KEEP_APPLIED_MS = 3_600_000


@dataclass(frozen=True)
class PendingRows:
    """The rows of one table with a change not yet applied in one target. `key_columns` None or
    `everything` True: treat every row of the table as pending."""

    key_columns: tuple[str, ...] | None
    keys: frozenset[str]
    everything: bool

    def holds(self, key: str | None) -> bool:
        if self.everything or self.key_columns is None or key is None:
            return bool(self.keys) or self.everything
        return key in self.keys


_Row = tuple[str, str]  # (collection, row key)


@dataclass(eq=False)
class _Lane:
    source: str
    target: str
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    keys: dict[str, dict[str, int]] = field(default_factory=dict)  # collection -> row key -> newest version
    everything: bool = False
    local: list[tuple[float, Change]] = field(default_factory=list)
    queued: list[Change] = field(default_factory=list)  # waiting for the next inline batch
    inflight: set[Change] = field(default_factory=set)  # queued or being applied inline
    inline_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    inline: dict[_Row, tuple[float, int]] = field(default_factory=dict)  # row -> (marked at, version)
    lease_until: int = 0
    failing: str = ""
    pruned_at: float = 0.0
    marking: asyncio.Task[None] | None = None
    being_marked: frozenset[Change] = frozenset()

    async def settle(self) -> None:
        """Wait for the marking in flight, if any; raises its CallError (its changes stay pending
        and are read, and applied again harmlessly, by the next round)."""
        task, self.marking, self.being_marked = self.marking, None, frozenset()
        if task is not None:
            await task

    def saw(self, pending: Sequence[Change], since: float, complete: bool) -> None:
        """Replace the pending rows with what a round that began at `since` read, less the changes
        applied inline meanwhile (read pending before they were marked applied)."""
        self.local = [(t, c) for t, c in self.local if t >= since]
        self.inline = {r: (t, v) for r, (t, v) in self.inline.items() if t >= since}
        self.keys = {}
        for change in [*pending, *(c for _, c in self.local)]:
            if not self._applied_inline(change):
                self._add(change)
        self.everything = not complete

    def committed(self, change: Change) -> None:
        self.local.append((time.monotonic(), change))
        self._add(change)

    def applied(self, changes: Sequence[Change], marked_at: float = float("inf")) -> None:
        """`changes` are applied to the target (inline, before their write was answered): no longer
        pending; `marked_at`: when they were marked applied in the outbox (not yet: never)."""
        for change in changes:
            r = (change.collection, change.row_key)
            self.inline[r] = (marked_at, max(change.version, self.inline.get(r, (0.0, -1))[1]))
        self.local = [(t, c) for t, c in self.local if not self._applied_inline(c)]
        for (collection, key), (_, version) in self.inline.items():
            keys = self.keys.get(collection, {})
            if keys.get(key, version + 1) <= version:
                del keys[key]

    def _applied_inline(self, change: Change) -> bool:
        return change.version <= self.inline.get((change.collection, change.row_key), (0.0, -1))[1]

    def _add(self, change: Change) -> None:
        keys = self.keys.setdefault(change.collection, {})
        keys[change.row_key] = max(change.version, keys.get(change.row_key, -1))


class Outbox:
    def __init__(
        self, clients: Mapping[str, ResolverClient], routes: Mapping[str, Sequence[str]], lease_secs: float
    ) -> None:
        """`routes`: written database -> its write-through targets."""
        self.clients = clients
        self.owner = new_owner()
        self.lease_ms = int(lease_secs * 1000)
        self.keys = KeyCache()
        self.lanes = {(s, t): _Lane(s, t) for s, targets in routes.items() for t in targets}
        self._sources_ready: set[str] = set()
        self._ensure_lock = asyncio.Lock()  # concurrent CREATE TABLE IF NOT EXISTS can collide
        self._targets_ready: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._inline: set[asyncio.Task[None]] = set()
        self.inline_secs = INLINE_SECS

    # --- the write path (router.mutations) -------------------------------------------------------

    async def prepare(self, database: str, collection: str) -> tuple[str, ...]:
        """Before the transaction that writes through from `database`: its outbox tables exist
        and `collection`'s primary key is known (both outside the transaction, so that a SQLite
        database's open write never waits on them). Raises CallError or NoPrimaryKey."""
        await self._ensure_source(database)
        return await self.keys.primary_key(self.clients[database], collection)

    async def record(self, transaction: TransactionLike, written: Written) -> list[Change]:
        """Record `written` in the outbox inside `transaction` (the operation's coordinator
        Transaction)."""
        key_columns = await self.prepare(written.database, written.collection)
        return await record(transaction, written, key_columns)

    async def committed(self, database: str, changes: Sequence[Change]) -> None:
        """`changes`, recorded by this router, are committed: pending now. Apply them to their
        targets (`inline.apply_committed`) and return once they are applied, or after
        `inline_secs` at most: a target down or slow is left to its drainer (woken when applying
        failed), and an apply still running goes on after this returns. `inline_secs` 0: only
        wake the drainers."""
        mine: dict[tuple[str, str], list[Change]] = defaultdict(list)
        for change in changes:
            lane = self.lanes.get((database, change.target))
            if lane is not None:
                lane.committed(change)
                mine[(database, change.target)].append(change)
        if self.inline_secs <= 0:
            for pair in mine:
                self.lanes[pair].wake.set()
            return
        applying = [self._spawn(self._apply_inline(self.lanes[pair], mine[pair])) for pair in mine]
        if applying:
            await asyncio.wait(applying, timeout=self.inline_secs)

    def pending(self, database: str, collection: str) -> PendingRows | None:
        """The rows of `collection` with a change not yet applied in write-through target
        `database` (None: it has none, as far as this router knows)."""
        keys: set[str] = set()
        everything = False
        key_columns: tuple[str, ...] | None = None
        for lane in self.lanes.values():
            if lane.target != database:
                continue
            keys |= lane.keys.get(collection, {}).keys()
            everything = everything or lane.everything
            key_columns = key_columns or self.keys.known(lane.source, collection)
        if not keys and not everything:
            return None
        return PendingRows(key_columns, frozenset(keys), everything)

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._run(lane)) for lane in self.lanes.values()]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        for inline in list(self._inline):
            inline.cancel()
            with contextlib.suppress(asyncio.CancelledError, CallError):
                await inline
        for lane in self.lanes.values():
            with contextlib.suppress(CallError):
                await lane.settle()
            if lane.lease_until > now_ms():
                with contextlib.suppress(CallError):
                    await self._release(lane)

    async def drain(self) -> None:
        """One round of every lane now, its marking included (for `dbmesh outbox` tests and
        benchmarks)."""
        for lane in self.lanes.values():
            await self._round(lane)
            await lane.settle()

    # --- applying inline (docs/reference.md §11) ---------------------------------------------------

    def _spawn(self, work: Coroutine[None, None, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(work)
        self._inline.add(task)
        task.add_done_callback(self._inline.discard)
        return task

    async def _apply_inline(self, lane: _Lane, changes: Sequence[Change]) -> None:
        """Apply `changes` and whatever else is queued for `lane` meanwhile, one batch at a time
        per lane (group commit: writes committed together share one target transaction, and a
        busy router keeps one of its own open per target, not one per write). Returns once a
        batch holding `changes` ended, applied or failed (then left to the drainer, woken)."""
        lane.queued += changes
        lane.inflight |= set(changes)
        async with lane.inline_lock:
            if not lane.queued:  # a batch that held `changes` ended while this one waited
                return
            batch, lane.queued = lane.queued, []
            source = self.clients[lane.source]
            try:
                await self._ensure_target(lane.target)
                applied = await apply_committed(source, self.clients[lane.target], batch, self.keys)
            except CallError as exc:
                log.debug("write-through %s -> %s: left to the drainer: %s", lane.source, lane.target, exc.message)
                lane.wake.set()
                return
            finally:
                lane.inflight -= set(batch)
            crash_point("outbox-applied")
            lane.applied(applied)
            self._spawn(self._mark_inline(lane, source, applied))

    async def _mark_inline(self, lane: _Lane, source: ResolverClient, applied: Sequence[Change]) -> None:
        """Mark changes applied inline as applied; when that fails they stay pending, and the
        drainer applies them again (which changes nothing) and marks them."""
        with contextlib.suppress(CallError):
            await self._mark_applied(source, applied)
        lane.applied(applied, marked_at=time.monotonic())

    # --- rounds ------------------------------------------------------------------------------------

    async def _run(self, lane: _Lane) -> None:
        while True:
            holder = False
            try:
                holder = await self._round(lane)
                if lane.failing:
                    log.info("write-through %s -> %s: draining again", lane.source, lane.target)
                lane.failing = ""
            except CallError as exc:
                if exc.message != lane.failing:
                    log.warning(
                        "write-through %s -> %s: changes stay pending: %s",
                        lane.source,
                        lane.target,
                        exc.detail or exc.message,
                    )
                lane.failing = exc.message
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_SECS if holder and not lane.failing else FOLLOW_SECS):
                    await lane.wake.wait()
            lane.wake.clear()

    async def _round(self, lane: _Lane) -> bool:
        """One round of `lane`; True when this router holds its lease."""
        source = self.clients[lane.source]
        await self._ensure_source(lane.source)
        began = time.monotonic()
        holder = await self._lease(lane)
        found = rows(await source.query(pending_query(lane.target, BATCH)), change_columns)
        marked = lane.being_marked
        pending = [c for c in map(decode_change, found) if c not in marked]
        mine = [c for c in pending if c not in lane.inflight]  # not those this router applies inline now
        key_columns = {c.collection: await self.keys.primary_key(source, c.collection) for c in mine}
        if not holder or not mine:
            lane.saw(pending, began, complete=len(found) < BATCH)
            return holder
        await self._ensure_target(lane.target)
        await apply_changes(self.clients[lane.target], mine, key_columns)
        crash_point("outbox-applied")
        await lane.settle()
        lane.being_marked = frozenset(mine)
        lane.marking = asyncio.get_running_loop().create_task(self._mark_applied(source, mine))
        lane.saw([c for c in pending if c in lane.inflight], began, complete=True)
        if len(found) == BATCH:
            lane.wake.set()
        await self._prune(lane, source)
        return True

    async def _ensure_source(self, database: str) -> None:
        if database in self._sources_ready:
            return
        async with self._ensure_lock:
            if database not in self._sources_ready:
                await self.clients[database].ensure_system_tables([OUTBOX, DRAINERS])
                self._sources_ready.add(database)

    async def _ensure_target(self, database: str) -> None:
        if database in self._targets_ready:
            return
        async with self._ensure_lock:
            if database not in self._targets_ready:
                await ensure_applied_table(self.clients[database])
                self._targets_ready.add(database)

    async def _lease(self, lane: _Lane) -> bool:
        """Take or renew the lane's lease (compare-and-set); True when this router holds it."""
        now = now_ms()
        if lane.lease_until - now > self.lease_ms // 2:
            return True
        client = self.clients[lane.source]
        until = now + self.lease_ms
        free = any_of([eq("owner", self.owner), lt("lease_until", now)])
        update = pb.Update(
            predicate=all_of(eq("target", lane.target), free),
            set={"owner": value(self.owner), "lease_until": value(until)},
        )
        taken = (await client.mutate(pb.MutateRequest(collection=DRAINERS, update=update))).affected_rows == 1
        if not taken:
            entry = row({"target": lane.target, "owner": self.owner, "lease_until": until})
            taken = await client.insert_new(pb.MutateRequest(collection=DRAINERS, insert=pb.Insert(rows=[entry])))
        lane.lease_until = until if taken else 0
        return taken

    async def _release(self, lane: _Lane) -> None:
        predicate = all_of(eq("target", lane.target), eq("owner", self.owner))
        update = pb.Update(predicate=predicate, set={"lease_until": value(0)})
        await self.clients[lane.source].mutate(pb.MutateRequest(collection=DRAINERS, update=update))
        lane.lease_until = 0

    async def _mark_applied(self, source: ResolverClient, changes: Sequence[Change]) -> None:
        at = now_ms()
        for start in range(0, len(changes), _MARK_CHUNK):
            chunk = changes[start : start + _MARK_CHUNK]
            predicate = all_of(is_pending(), any_of([c.entry() for c in chunk]))
            update = pb.Update(predicate=predicate, set={"applied_at": value(at)})
            await source.mutate(pb.MutateRequest(collection=OUTBOX, update=update))

    async def _prune(self, lane: _Lane, source: ResolverClient) -> None:
        """Delete this target's applied changes older than KEEP_APPLIED_MS, once a minute."""
        if time.monotonic() - lane.pruned_at < _PRUNE_EVERY_SECS:
            return
        lane.pruned_at = time.monotonic()
        delete = pb.Delete(predicate=all_of(eq("target", lane.target), lt("applied_at", now_ms() - KEEP_APPLIED_MS)))
        await source.mutate(pb.MutateRequest(collection=OUTBOX, delete=delete))
