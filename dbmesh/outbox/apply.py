"""Applying changes to a write-through target (docs/reference.md §11), through its resolver, as
dbmesh's own replication: every request carries `replication` (ResolverClient's `replication=`),
which a read_only target accepts and which the GraphQL API never sets (the router's mutation path
builds its requests without it).

A batch of changes is one transaction on the target, of two MutateMany calls whatever its size
(so a drainer keeps up with a busy writer): steps 1-2, then steps 3-4 and the commit.
1. the batch's rows' entries in the target's `dbmesh_applied` are locked (one UPDATE of them), so a
   stalled drainer that lost its lease waits for, and then sees, what the new one applied;
2. their versions are read, as that UPDATE's RETURNING (no call of its own);
3. each row's changes newer than its applied version are applied in version order, in rounds:
   round k holds the k-th such change of every row, as one upsert (by primary key, values as after
   the write) and one delete (by primary key) per table; so each row's changes land in commit
   order and every change is applied (an update trigger on the target sees each);
4. each row's entry moves to the newest version applied: an insert for a row that had none (a
   concurrent drainer that inserted it first makes the insert, and the whole batch, fail: it is
   retried next round), an upsert for a row whose entry step 1 locked.
So applying a change twice changes nothing, and an older change arriving after a newer one is
skipped instead of overwriting it.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Sequence

import orjson

from dbmesh.coordinator._requests import all_of, any_of, eq, one_of, row, value
from dbmesh.outbox.store import APPLIED, DELETE, Change, now_ms
from dbmesh.resolver.client import CallError, ResolverClient
from dbmesh.resolver.v1 import resolver_pb2 as pb

__all__ = ["apply_changes", "ensure_applied_table"]

_Row = tuple[str, str]  # (collection, row key)


async def ensure_applied_table(client: ResolverClient) -> None:
    await client.ensure_system_tables([APPLIED], replication=True)


def _keys_predicate(rows: Sequence[pb.Row], key_columns: Sequence[str]) -> pb.Expression:
    """The rows whose primary key (`key_columns`) is one of `rows`'."""
    if len(key_columns) == 1:
        return one_of(key_columns[0], [r.values[key_columns[0]] for r in rows])
    return any_of(
        [
            all_of(
                *(
                    pb.Expression(
                        comparison=pb.Comparison(
                            column=c, operator=pb.OPERATOR_EQ, operand=pb.Operand(value=r.values[c])
                        )
                    )
                    for c in key_columns
                )
            )
            for r in rows
        ]
    )


def _entries(collection: str, keys: Sequence[str]) -> pb.Expression:
    return all_of(eq("collection", collection), one_of("row_key", [value(k) for k in keys]))


def _lock_requests(rows: Sequence[_Row]) -> list[pb.MutateRequest]:
    """Lock the applied entries of `rows` and read their versions (steps 1-2 of the module
    docstring): one UPDATE ... RETURNING per table."""
    requests = []
    for collection in dict.fromkeys(c for c, _ in rows):
        keys = [k for c, k in rows if c == collection]
        update = pb.Update(predicate=_entries(collection, keys), set={"applied_at": value(now_ms())})
        returning = [pb.ColumnRef(name="row_key"), pb.ColumnRef(name="version")]
        requests.append(pb.MutateRequest(collection=APPLIED, update=update, returning=returning))
    return requests


def _read_versions(rows: Sequence[_Row], responses: Sequence[pb.MutateResponse]) -> dict[_Row, int]:
    found: dict[_Row, int] = {}
    for collection, response in zip(dict.fromkeys(c for c, _ in rows), responses, strict=True):
        entries: list[list[str | int]] = orjson.loads(response.returning.rows_json or b"[]")
        found.update({(collection, str(k)): int(v) for k, v in entries})
    return found


def _round_requests(changes: Sequence[Change], key_columns: dict[str, tuple[str, ...]]) -> list[pb.MutateRequest]:
    """One change per row at most: one upsert and one delete per table (step 3)."""
    requests = []
    for collection in dict.fromkeys(c.collection for c in changes):
        mine = [c for c in changes if c.collection == collection]
        upserts = [c.row() for c in mine if c.operation != DELETE]
        deletes = [c.row() for c in mine if c.operation == DELETE]
        if upserts:
            requests.append(pb.MutateRequest(collection=collection, upsert=pb.Upsert(rows=upserts)))
        if deletes:
            predicate = _keys_predicate(deletes, key_columns[collection])
            requests.append(pb.MutateRequest(collection=collection, delete=pb.Delete(predicate=predicate)))
    return requests


def _advance_requests(newest: dict[_Row, int], known: dict[_Row, int]) -> list[pb.MutateRequest]:
    """Move each row's applied entry to its newest applied version (step 4)."""
    at = now_ms()

    def entry(r: _Row) -> pb.Row:
        return row({"collection": r[0], "row_key": r[1], "version": newest[r], "applied_at": at})

    new = [entry(r) for r in newest if r not in known]
    moved = [entry(r) for r in newest if r in known]
    requests = []
    if new:
        requests.append(pb.MutateRequest(collection=APPLIED, insert=pb.Insert(rows=new)))
    if moved:
        requests.append(pb.MutateRequest(collection=APPLIED, upsert=pb.Upsert(rows=moved)))
    return requests


def _rounds(changes: Sequence[Change], applied: dict[_Row, int]) -> list[list[Change]]:
    """The changes not applied yet (newer than their row's applied version), in rounds: round k
    holds the k-th of each row's, in version order."""
    per_row: dict[_Row, list[Change]] = defaultdict(list)
    for change in sorted(changes, key=lambda c: c.version):
        key = (change.collection, change.row_key)
        if change.version > applied.get(key, -1):
            per_row[key].append(change)
    rounds: list[list[Change]] = []
    for row_changes in per_row.values():
        for k, change in enumerate(row_changes):
            if k == len(rounds):
                rounds.append([])
            rounds[k].append(change)
    return rounds


async def apply_changes(
    client: ResolverClient, changes: Sequence[Change], key_columns: dict[str, tuple[str, ...]]
) -> int:
    """Apply `changes` to the target behind `client`, in one transaction of two calls (the
    entries locked and read; then the rounds, the entries moved and the commit); how many changed
    a row (the others were applied already). Raises CallError; then nothing of the batch is applied."""
    rows = list(dict.fromkeys((c.collection, c.row_key) for c in changes))
    locked = await client.mutate_many(_lock_requests(rows), commit=False, replication=True)
    try:
        applied = _read_versions(rows, locked.responses)
        rounds = _rounds(changes, applied)
        newest: dict[_Row, int] = {}
        writes: list[pb.MutateRequest] = []
        for round_changes in rounds:
            writes += _round_requests(round_changes, key_columns)
            newest.update({(c.collection, c.row_key): c.version for c in round_changes})
        writes += _advance_requests(newest, applied)
        await client.mutate_many(writes, transaction_id=locked.transaction_id, commit=True, replication=True)
    except BaseException:
        with contextlib.suppress(CallError):
            await client.rollback(locked.transaction_id)
        raise
    return sum(len(r) for r in rounds)
