"""The crash matrix (docs/reference.md §10): a real `dbmesh router` process, with
DBMESH_TEST_CRASH_AT in its environment, is sent one transfer as a GraphQL mutation over HTTP
(debit PostgreSQL's account and record the transfer there, credit MariaDB's and record it there;
in some cases also record it in SQLite) and SIGKILLs itself at one step of the commit or abort
path. Then a router starts again (its coordinator recovers on start, and periodically once the
dead router's heartbeat lease has run out), and the databases themselves must show the transfer
wholly applied or wholly absent, with nothing left prepared in PostgreSQL (pg_prepared_xacts) or
MariaDB (XA RECOVER) and nothing in doubt in the coordinator log. (One test, one bank: a router
start costs two seconds on this machine, and each router started recovers the previous case.)"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import httpx
import pytest
from bank import MY, OPENING, PG, SQ, transfer_mutation
from conftest import World, post

AMOUNT = 7
APPLIED = "applied"
ABSENT = "absent"

# (crash point, database order, failure, expected outcome). Participant numbers are in write order.
CASES = [
    ("begun:2", (PG, MY), "", ABSENT),  # both databases begun and written, nothing prepared
    ("prepared:1", (PG, MY), "", ABSENT),
    ("prepared:2", (PG, MY), "", ABSENT),  # every participant prepared, no decision
    ("decided", (PG, MY), "", APPLIED),  # the decision is durable, nothing committed yet
    ("committed:1", (PG, MY), "", APPLIED),
    ("committed:2", (PG, MY), "", APPLIED),  # before the log row is marked finished
    ("begun:2", (PG, MY), "field", ABSENT),  # abort: the second database's field fails
    ("rolled-back:1", (PG, MY), "field", ABSENT),
    ("prepared:1", (MY, PG), "prepare", ABSENT),  # abort: PostgreSQL's Prepare fails
    ("aborting", (MY, PG), "prepare", ABSENT),  # MariaDB prepared, not rolled back
    ("rolled-back:1", (MY, PG), "prepare", ABSENT),
    ("prepared:2", (PG, SQ, MY), "", ABSENT),  # SQLite last resource, no decision yet
    ("decided", (PG, SQ, MY), "", APPLIED),  # SQLite committed with its decision record
    ("committed:1", (PG, SQ, MY), "", APPLIED),
]


async def settled(world: World, expected: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
    """Wait until the databases hold `expected` and the coordinator log has nothing in doubt;
    the last state read (the caller asserts it)."""
    checker = await world.coordinator(start=False)
    loop = asyncio.get_running_loop()
    give_up = loop.time() + timeout
    while True:
        state = await world.bank.state()
        if state == expected and not await checker.in_doubt():
            return state
        if loop.time() > give_up:
            return state
        await asyncio.sleep(0.05)


async def test_a_router_killed_at_each_step(world: World) -> None:
    """The cases run one after another on one bank (transfer N is case N's): each case's router
    is started while the previous one's is dead, so its recovery on start is what resolves the
    previous case, which must be settled before its own transfer is sent."""
    expected: dict[str, Any] = {
        "pg_ids": set(),
        "my_ids": set(),
        "pg_balance": OPENING,
        "my_balance": OPENING,
        "prepared": [],
        "sq_ids": set(),
    }
    previous = "the start"
    for transfer_id, (point, order, fail, outcome) in enumerate(CASES, 1):
        case = f"{point} {','.join(order)} {fail or '-'}"
        doomed, url = await world.router(crash_at=point)
        assert await settled(world, expected) == expected, f"not settled after {previous}"
        with pytest.raises(httpx.HTTPError):  # the router dies before it answers
            await post(url, transfer_mutation(transfer_id, AMOUNT, order=order, fail=fail))
        assert await asyncio.to_thread(doomed.wait, 30) == -signal.SIGKILL, case
        left_prepared = point.startswith(("prepared", "decided", "aborting")) or point == "committed:1"
        assert bool(await world.bank.prepared()) == left_prepared, case  # what recovery has to resolve
        if outcome == APPLIED:
            expected["pg_ids"] = expected["pg_ids"] | {transfer_id}
            expected["my_ids"] = expected["my_ids"] | {transfer_id}
            expected["sq_ids"] = expected["sq_ids"] | ({transfer_id} if SQ in order else set())
            expected["pg_balance"] -= AMOUNT
            expected["my_balance"] += AMOUNT
        print(f"crash matrix: {point:<14} {','.join(order):<24} {fail or '-':<8} -> {outcome}")
        previous = case
    await world.router()
    assert await settled(world, expected) == expected, f"not settled after {previous}"
    assert len(expected["pg_ids"]) == sum(c[3] == APPLIED for c in CASES)
