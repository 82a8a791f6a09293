"""The soak (docs/reference.md §10): 200 transfers between PostgreSQL and MariaDB (debit one,
credit the other) by coordinator processes killed 20 times, at random fault points and at random
moments (an outside SIGKILL); each new process first lets recovery settle what the dead one left,
then retries the transfer it was running. Afterwards: no transfer lost, none applied twice, none
applied in one database only, and the sum of the balances unchanged."""

from __future__ import annotations

import asyncio
import random
import signal

from bank import OPENING
from conftest import World

TRANSFERS = 200
KILLS = 20
POINTS = [
    "begun:1",
    "begun:2",
    "prepared:1",
    "prepared:2",
    "decided",
    "committed:1",
    "committed:2",
]


def _last_started(out: str) -> int | None:
    started = [int(line.split()[1]) for line in out.splitlines() if line.startswith("start ")]
    return started[-1] if started else None


async def test_soak_200_transfers_with_20_kills(world: World) -> None:
    rng = random.Random(20)
    amounts = {t: 1 + t % 13 for t in range(TRANSFERS)}
    next_id, kills = 0, 0
    while next_id < TRANSFERS:
        settle = ["--settle", "--amount", "0"]
        if kills < KILLS and kills % 2 == 0:
            crash = f"{rng.choice(POINTS)}#{rng.randint(1, 6)}"
            proc = world.driver(next_id, TRANSFERS, *settle, crash_at=crash)
            out, err = await asyncio.to_thread(proc.communicate, timeout=300)
        elif kills < KILLS:
            proc = world.driver(next_id, TRANSFERS, *settle)
            await asyncio.sleep(rng.uniform(1.5, 3.5))  # past start-up and settling, inside some transfer
            proc.send_signal(signal.SIGKILL)
            out, err = await asyncio.to_thread(proc.communicate, timeout=300)
        else:
            proc = world.driver(next_id, TRANSFERS, *settle)
            out, err = await asyncio.to_thread(proc.communicate, timeout=300)
            assert proc.returncode == 0, err
            break
        killed = proc.returncode == -signal.SIGKILL
        assert killed or proc.returncode == 0, err
        kills += killed
        last = _last_started(out)
        if not killed:
            break
        next_id = next_id if last is None else last  # retry the transfer it was running

    code, _, err = await world.run_driver(0, 0, "--settle")
    assert code == 0, err
    bank = world.bank
    pg_ids, my_ids = await bank.transfer_ids(bank.pg), await bank.transfer_ids(bank.my)
    everything = set(range(TRANSFERS))
    lost = len(everything - (pg_ids | my_ids))
    half_applied = len(pg_ids ^ my_ids)
    moved = sum(amounts[t] for t in pg_ids & my_ids)
    pg_balance, my_balance = await bank.balance(bank.pg), await bank.balance(bank.my)
    duplicated = int(OPENING - pg_balance != moved) + int(my_balance - OPENING != moved)
    prepared = await bank.prepared()
    print(
        f"\nsoak: {TRANSFERS} transfers, {kills} kills: applied {len(pg_ids & my_ids)}, lost {lost},"
        f" duplicated {duplicated}, half-applied {half_applied}, left prepared {len(prepared)},"
        f" balances {pg_balance} + {my_balance} = {pg_balance + my_balance} (opening {2 * OPENING})"
    )
    assert kills == KILLS
    assert (lost, duplicated, half_applied, prepared) == (0, 0, 0, [])
    assert pg_balance + my_balance == 2 * OPENING
    assert pg_ids == my_ids == everything
