"""The crash matrix (docs/reference.md §10): a coordinator process (transfer_driver) running one
transfer is SIGKILLed at each step of the commit and abort paths; then another coordinator process
starts, waits for recovery to resolve what the dead one left (its heartbeat lease runs out first),
and the databases themselves must show the transfer wholly applied or wholly absent, with nothing
left prepared in PostgreSQL (pg_prepared_xacts) or MariaDB (XA RECOVER)."""

from __future__ import annotations

import signal

import pytest
from bank import MY, OPENING, PG, SQ
from conftest import World

AMOUNT = 7
APPLIED = "applied"
ABSENT = "absent"

# (crash point, transfer options, expected outcome). Participant numbers are in write order.
CASES = [
    ("begun:2", [], ABSENT),  # both databases begun and written, nothing prepared
    ("prepared:1", [], ABSENT),
    ("prepared:2", [], ABSENT),  # every participant prepared, no decision
    ("decided", [], APPLIED),  # the decision is durable, nothing committed yet
    ("committed:1", [], APPLIED),
    ("committed:2", [], APPLIED),  # before the log row is marked finished
    ("begun:2", ["--fail", "field"], ABSENT),  # abort: the second database's field fails
    ("rolled-back:1", ["--fail", "field"], ABSENT),
    ("prepared:1", ["--order", f"{MY},{PG}", "--fail", "prepare"], ABSENT),  # abort: PostgreSQL's Prepare fails
    ("aborting", ["--order", f"{MY},{PG}", "--fail", "prepare"], ABSENT),  # MariaDB prepared, not rolled back
    ("rolled-back:1", ["--order", f"{MY},{PG}", "--fail", "prepare"], ABSENT),
    ("prepared:2", ["--order", f"{PG},{SQ},{MY}"], ABSENT),  # SQLite last resource, no decision yet
    ("decided", ["--order", f"{PG},{SQ},{MY}"], APPLIED),  # SQLite committed with its decision record
    ("committed:1", ["--order", f"{PG},{SQ},{MY}"], APPLIED),
]


def _id(case: tuple[str, list[str], str]) -> str:
    point, options, outcome = case
    how = "sqlite" if SQ in " ".join(options) else (options[1] if "--fail" in options else "commit")
    if "--fail" in options:
        how = options[options.index("--fail") + 1]
    return f"{point}-{how}-{outcome}"


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
async def test_coordinator_killed_at_each_step(world: World, case: tuple[str, list[str], str]) -> None:
    point, options, expected = case
    code, out, err = await world.run_driver(1, 2, "--amount", str(AMOUNT), *options, crash_at=point)
    assert code == -signal.SIGKILL, f"the driver was not killed at {point}: {code}\n{out}\n{err}"
    assert "done 1" not in out
    left_prepared = point.startswith(("prepared", "decided", "aborting")) or point == "committed:1"
    assert bool(await world.bank.prepared()) == left_prepared  # what recovery has to resolve

    code, out, err = await world.run_driver(0, 0, "--settle")  # a new coordinator: recovery, then nothing
    assert code == 0, err

    state = await world.bank.state()
    sqlite = SQ in " ".join(options)
    applied = {
        "pg_ids": {1},
        "my_ids": {1},
        "pg_balance": OPENING - AMOUNT,
        "my_balance": OPENING + AMOUNT,
        "prepared": [],
        "sq_ids": {1} if sqlite else set(),
    }
    absent = {"pg_ids": set(), "my_ids": set(), "pg_balance": OPENING, "my_balance": OPENING, "prepared": []}
    absent["sq_ids"] = set()
    assert state == (applied if expected == APPLIED else absent)
    print(f"crash matrix: {point:<14} {' '.join(options) or 'commit':<40} -> {expected}")
