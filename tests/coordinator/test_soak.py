"""The soak (docs/reference.md §10): 200 transfers between PostgreSQL and MariaDB (debit one,
credit the other, record the transfer in both), each one GraphQL mutation over HTTP to a real
`dbmesh router` process, while the router is SIGKILLed 20 times: half at random fault points
(DBMESH_TEST_CRASH_AT=POINT#N in its environment), half from outside at a random moment. Each
router's successor is started while it still serves (a start takes seconds), so after each kill
the successor's recovery resolves what the dead router left once its lease runs out; then the
transfer that was in flight is looked up in the databases: applied wholly, or absent and sent
again. Afterwards: no
transfer lost, none applied twice, none applied in one database only, nothing left prepared, and
the sum of the balances unchanged."""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import subprocess

import httpx
from bank import OPENING, transfer_mutation
from conftest import World, post

TRANSFERS = 200
KILLS = 20
POINTS = ["begun:1", "begun:2", "prepared:1", "prepared:2", "decided", "committed:1", "committed:2"]


async def _settled(world: World, timeout: float = 30.0) -> None:
    """Wait until nothing is prepared in either database and nothing is in doubt in the log."""
    checker = await world.coordinator(start=False)
    loop = asyncio.get_running_loop()
    give_up = loop.time() + timeout
    while await world.bank.prepared() or await checker.in_doubt():
        assert loop.time() < give_up, "recovery did not settle"
        await asyncio.sleep(0.05)


async def _kill_later(process: subprocess.Popen[str], delay: float) -> None:
    await asyncio.sleep(delay)
    process.send_signal(signal.SIGKILL)


async def _send(url: str, first: int, amounts: dict[int, int]) -> tuple[int, bool]:
    """Send transfers first.. one after another until the router dies; (the transfer in flight
    or next, whether the router died)."""
    for transfer_id in range(first, TRANSFERS):
        try:
            body = await post(url, transfer_mutation(transfer_id, amounts[transfer_id]))
        except httpx.HTTPError:
            return transfer_id, True
        assert "errors" not in body, (transfer_id, body)
    return TRANSFERS, False


async def test_soak_200_transfers_through_a_router_killed_20_times(world: World) -> None:
    rng = random.Random(20)
    amounts = {t: 1 + t % 13 for t in range(TRANSFERS)}
    next_id, kills = 0, 0
    bank = world.bank

    def crash_for(kill: int) -> str:
        """Even kills at a fault point, odd ones from outside, none after the last."""
        return f"{rng.choice(POINTS)}#{rng.randint(1, 6)}" if kill < KILLS and kill % 2 == 0 else ""

    crash = crash_for(0)
    starting = asyncio.create_task(world.router(crash_at=crash))
    while next_id < TRANSFERS:
        router, url = await starting
        if kills < KILLS:  # this router will die: its successor starts now (a start takes seconds)
            spare_crash = crash_for(kills + 1)
            starting = asyncio.create_task(world.router(crash_at=spare_crash))
        await _settled(world)  # the dead router's transactions, resolved by the live routers' recovery
        if next_id in await bank.transfer_ids(bank.pg):
            next_id += 1  # the transfer in flight when the router died was applied: not again
        killer = None
        if kills < KILLS and not crash:  # a kill from outside, at a random moment
            killer = asyncio.create_task(_kill_later(router, rng.uniform(0.05, 0.5)))
        next_id, died = await _send(url, next_id, amounts)
        if killer is not None:
            if not died:
                killer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await killer
        if not died:
            break
        assert await asyncio.to_thread(router.wait, 30) == -signal.SIGKILL
        kills += 1
        crash = spare_crash

    if not starting.done():
        await starting  # an unused successor: it only recovers, and is killed after the test
    await _settled(world)
    pg_ids, my_ids = await bank.transfer_ids(bank.pg), await bank.transfer_ids(bank.my)
    everything = set(range(TRANSFERS))
    lost = len(everything - (pg_ids | my_ids))
    half_applied = len(pg_ids ^ my_ids)
    moved = sum(amounts[t] for t in pg_ids & my_ids)
    pg_balance, my_balance = await bank.balance(bank.pg), await bank.balance(bank.my)
    duplicated = int(OPENING - pg_balance != moved) + int(my_balance - OPENING != moved)
    prepared = await bank.prepared()
    print(
        f"\nsoak: {TRANSFERS} transfers through dbmesh router processes, {kills} kills: applied"
        f" {len(pg_ids & my_ids)}, lost {lost}, duplicated {duplicated}, half-applied {half_applied}, left prepared"
        f" {len(prepared)}, balances {pg_balance} + {my_balance} = {pg_balance + my_balance} (opening {2 * OPENING})"
    )
    assert kills == KILLS
    assert (lost, duplicated, half_applied, prepared) == (0, 0, 0, [])
    assert pg_balance + my_balance == 2 * OPENING
    assert pg_ids == my_ids == everything
