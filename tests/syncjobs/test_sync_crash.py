"""A real `dbmesh sync run` process SIGKILLed at random points, then run again (docs/reference.md
§12): each row ends in the target exactly once, equal to the source, and the job's counts are
exact. The target's `audit` trigger records every insert and update the target received, so a
batch applied twice or half applied would show there. Kill points: the fault points of the sync
job (`sync:upserted`, `sync:state-written`, `sync:committed`, each at a random batch) and a kill
after a random delay; the seed is printed so a failure can be replayed."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time

from sync_world import MYSQL, PG, REPO, Orders, cli, order

AUDIT = [
    "CREATE TABLE audit (n INT AUTO_INCREMENT PRIMARY KEY, what VARCHAR(8) NOT NULL, id BIGINT NOT NULL)",
    "CREATE TRIGGER audit_insert AFTER INSERT ON orders FOR EACH ROW"
    " INSERT INTO audit (what, id) VALUES ('insert', NEW.id)",
    "CREATE TRIGGER audit_update AFTER UPDATE ON orders FOR EACH ROW"
    " INSERT INTO audit (what, id) VALUES ('update', NEW.id)",
]
ROWS = 2000
JOB = {"name": "archive", "source": PG, "target": MYSQL, "table": "orders", "cursor": "created_at", "batch_size": 100}


async def _kill_while_copying(orders: Orders, config: str, delay: float) -> tuple[int, int]:
    """Start a run, SIGKILL it `delay` s after it commits its next batch; its exit status and the
    rows copied when it was killed."""
    before = (await orders.state("archive"))["rows_copied"]
    process = subprocess.Popen(
        [sys.executable, "-m", "dbmesh", "sync", "run", "-c", config],
        cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # polling the database: there is no event to wait on
        if (await orders.state("archive"))["rows_copied"] != before:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(delay)
    process.send_signal(signal.SIGKILL)
    return process.wait(), (await orders.state("archive"))["rows_copied"]


async def test_a_run_killed_at_random_points_then_run_again_copies_each_row_exactly_once(orders: Orders) -> None:
    seed = random.randrange(1_000_000)
    print(f"seed {seed}")
    rng = random.Random(seed)
    for statement in AUDIT:
        await orders.mysql.execute(statement)
    # Runs of equal cursor values straddle batch boundaries too.
    await orders.insert([order(n) if n % 3 else order(n, at=order(n - 1)[4]) for n in range(1, ROWS + 1)])
    config = str(orders.config(JOB))

    killed = []
    for point in ("sync:upserted", "sync:state-written", "sync:committed"):
        nth = rng.randint(1, 6)
        done = cli("sync", "run", "-c", config, env={"DBMESH_TEST_CRASH_AT": f"{point}#{nth}"})
        assert done.returncode == -signal.SIGKILL, (point, nth, done.stdout, done.stderr)
        killed.append(f"{point}#{nth}")
    status, copied = await _kill_while_copying(orders, config, rng.uniform(0.0, 0.05))
    assert status == -signal.SIGKILL and copied < ROWS, (status, copied)  # killed mid-run
    killed.append(f"timed, at {copied} rows")

    done = cli("sync", "run", "-c", config)

    assert done.returncode == 0, done.stderr
    assert await orders.target_rows() == await orders.source_rows(), killed
    audit = await orders.mysql.fetch("SELECT what, COUNT(*), COUNT(DISTINCT id) FROM audit GROUP BY what")
    assert audit == [("insert", ROWS, ROWS)], (killed, audit)  # each row inserted once, never rewritten
    state = await orders.state("archive")
    assert state["rows_copied"] == ROWS  # counts exact across the killed runs
    assert state["high_water"][1] == ROWS
    assert "0 rows copied" in cli("sync", "run", "-c", config).stdout
