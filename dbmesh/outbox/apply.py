"""Applying changes to a write-through target (docs/reference.md §11), through its resolver, as
dbmesh's own replication: every request carries `replication`, which a read_only target accepts
and which the GraphQL API never sets (the router's mutation path builds its requests without it).

A batch of changes is one transaction on the target. For each change, in version order, the row's
entry in the target's `dbmesh_applied` is moved to the change's version by compare-and-set
(`UPDATE ... WHERE version < v`, or an insert when the row has none); only when that succeeds is
the row upserted by its primary key (its values as after the write) or deleted by it. So applying a
change twice changes nothing, and an older change arriving after a newer one (a drainer that lost
its lease while stalled) is skipped instead of overwriting it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import grpc
import orjson

from dbmesh.coordinator._requests import all_of, eq, lt, row, value
from dbmesh.outbox.store import APPLIED, DELETE, Change, now_ms
from dbmesh.resolver.client import CallError, ResolverClient, call_error
from dbmesh.resolver.v1 import resolver_pb2 as pb

__all__ = ["apply_changes", "ensure_applied_table"]


async def ensure_applied_table(client: ResolverClient) -> None:
    request = pb.EnsureSystemTablesRequest(tables=[APPLIED], replication=True)
    try:
        await client.stub.EnsureSystemTables(request, timeout=client.timeout)
    except grpc.aio.AioRpcError as exc:
        raise call_error(exc, client.name) from None


async def _begin(client: ResolverClient) -> str:
    try:
        response = await client.stub.Begin(pb.BeginRequest(replication=True), timeout=client.timeout)
    except grpc.aio.AioRpcError as exc:
        raise call_error(exc, client.name) from None
    return str(response.transaction_id)


def _key_predicate(data: pb.Row, key_columns: Sequence[str]) -> pb.Expression:
    comparisons = [
        pb.Expression(
            comparison=pb.Comparison(column=c, operator=pb.OPERATOR_EQ, operand=pb.Operand(value=data.values[c]))
        )
        for c in key_columns
    ]
    return comparisons[0] if len(comparisons) == 1 else all_of(*comparisons)


class _Target:
    def __init__(self, client: ResolverClient, transaction_id: str) -> None:
        self.client = client
        self.transaction_id = transaction_id

    async def mutate(self, request: pb.MutateRequest) -> pb.MutateResponse:
        request.transaction_id = self.transaction_id
        request.replication = True
        return await self.client.mutate(request)

    async def applied_versions(self, changes: Sequence[Change]) -> dict[tuple[str, str], int]:
        pairs = list(dict.fromkeys((c.collection, c.row_key) for c in changes))
        variable = pb.Expression(
            comparison=pb.Comparison(column="row_key", operator=pb.OPERATOR_EQ, operand=pb.Operand(variable="k"))
        )
        found: dict[tuple[str, str], int] = {}
        for collection in dict.fromkeys(c for c, _ in pairs):
            keys = [k for c, k in pairs if c == collection]
            request = pb.QueryRequest(
                collection=APPLIED,
                columns=[pb.ColumnRef(name="version")],
                predicate=all_of(eq("collection", collection), variable),
                variables=[pb.VariableSet(values={"k": pb.Value(string=k)}) for k in keys],
                transaction_id=self.transaction_id,
            )
            response = await self.client.query(request)
            for key, row_set in zip(keys, response.row_sets, strict=True):
                rows: list[list[int]] = orjson.loads(row_set.rows_json or b"[]")
                if rows:
                    found[(collection, key)] = rows[0][0]
        return found

    async def advance(self, change: Change, current: int | None) -> bool:
        """Move the row's applied version to `change.version`; False when a newer one is there."""
        at = now_ms()
        if current is None:
            entry: dict[str, str | int | None] = {
                "collection": change.collection,
                "row_key": change.row_key,
                "version": change.version,
                "applied_at": at,
            }
            await self.mutate(pb.MutateRequest(collection=APPLIED, insert=pb.Insert(rows=[row(entry)])))
            return True
        predicate = all_of(
            eq("collection", change.collection), eq("row_key", change.row_key), lt("version", change.version)
        )
        update = pb.Update(predicate=predicate, set={"version": value(change.version), "applied_at": value(at)})
        return (await self.mutate(pb.MutateRequest(collection=APPLIED, update=update))).affected_rows == 1


async def apply_changes(
    client: ResolverClient, changes: Sequence[Change], key_columns: dict[str, tuple[str, ...]]
) -> int:
    """Apply `changes` (in version order) to the target behind `client`, in one transaction; how
    many changed a row (the others were applied already). Raises CallError; then nothing of the
    batch is applied."""
    target = _Target(client, await _begin(client))
    applied = 0
    try:
        versions = await target.applied_versions(changes)
        for change in changes:
            current = versions.get((change.collection, change.row_key))
            if current is not None and current >= change.version:
                continue
            if not await target.advance(change, current):
                continue
            versions[(change.collection, change.row_key)] = change.version
            data = change.row()
            if change.operation == DELETE:
                predicate = _key_predicate(data, key_columns[change.collection])
                await target.mutate(
                    pb.MutateRequest(collection=change.collection, delete=pb.Delete(predicate=predicate))
                )
            else:
                await target.mutate(pb.MutateRequest(collection=change.collection, upsert=pb.Upsert(rows=[data])))
            applied += 1
        await client.commit(target.transaction_id)
    except BaseException:
        with contextlib.suppress(CallError):
            await client.rollback(target.transaction_id)
        raise
    return applied
