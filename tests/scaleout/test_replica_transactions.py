"""Transactions over resolver replicas (docs/reference.md §15): Begin, a read inside the
transaction, Mutate and Commit all reach the replica holding the transaction (the pick_first
channel), while plain reads are spread over every replica. Real processes over one SQLite file."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from scaleout.replicas import Replica, replicated_sqlite

from dbmesh.config import load_config
from dbmesh.resolver.client import ResolverClient
from dbmesh.resolver.v1 import resolver_pb2 as pb


@pytest.fixture
async def replicas(tmp_path: Path) -> AsyncIterator[tuple[ResolverClient, list[Replica]]]:
    config, _schema, addresses = replicated_sqlite(tmp_path, replicas=3)
    started = [Replica(config, address, tmp_path / f"replica{i}.log") for i, address in enumerate(addresses)]
    client = ResolverClient(load_config(config).databases[0])
    try:
        await asyncio.gather(*(replica.wait_serving() for replica in started))
        yield client, started
    finally:
        await client.close()
        for replica in started:
            replica.stop()


def _calls(replica: Replica, rpc: str) -> int:
    return len(re.findall(rf"rpc={rpc} database=things_db outcome=OK", replica.log.read_text(encoding="utf-8")))


def _ids(response: pb.QueryResponse) -> list[int]:
    return [row[0] for row in json.loads(response.row_sets[0].rows_json)]


async def test_every_call_of_a_transaction_reaches_the_replica_holding_it(
    replicas: tuple[ResolverClient, list[Replica]],
) -> None:
    client, started = replicas
    for n in range(10):
        transaction = await client.begin()
        inside = await client.query(
            pb.QueryRequest(collection="things", columns=[pb.ColumnRef(name="id")], transaction_id=transaction)
        )
        assert _ids(inside) == list(range(1, 6 + n))
        row = pb.Row(values={"id": pb.Value(int=6 + n), "name": pb.Value(string=f"new {n}")})
        await client.mutate(
            pb.MutateRequest(collection="things", insert=pb.Insert(rows=[row]), transaction_id=transaction)
        )
        await client.commit(transaction)
    begins = [_calls(replica, "Begin") for replica in started]
    assert sorted(begins) == [0, 0, 10]  # one replica held every transaction
    holder = started[begins.index(10)]
    assert [_calls(holder, rpc) for rpc in ("Mutate", "Commit")] == [10, 10]

    plain = pb.QueryRequest(collection="things", columns=[pb.ColumnRef(name="id")])
    inside_only = [_calls(replica, "Query") for replica in started]
    while not all(_calls(replica, "Query") > first for replica, first in zip(started, inside_only, strict=True)):
        await client.query(plain)  # until the round-robin channel has connected to all three
    before = [_calls(replica, "Query") for replica in started]
    for _ in range(30):
        assert _ids(
            await client.query(pb.QueryRequest(collection="things", columns=[pb.ColumnRef(name="id")]))
        ) == list(range(1, 16))
    spread = [_calls(replica, "Query") - first for replica, first in zip(started, before, strict=True)]
    assert spread == [10, 10, 10]  # plain reads: round robin over all three
