"""`dbmesh sync serve` (docs/reference.md §12): two real serving processes over the same job, on a
schedule of every two seconds (cron with a seconds field, UTC): each due run happens once, in one
of them, through the job's lease row in its target."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from sync_world import MYSQL, PG, REPO, Orders, cli, order, run

JOB = {
    "name": "archive",
    "source": PG,
    "target": MYSQL,
    "table": "orders",
    "cursor": "created_at",
    "schedule": "* * * * * */2",
}
SCHEDULED = re.compile(r"sync archive: (\d+) rows copied, .* \(scheduled for (\S+)\)")


async def _start(config: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "dbmesh", "sync", "serve", "-c", config],
        cwd=REPO,
        # Each claim waits 1.5 s after reading the lease: both processes read the same row, then both
        # try to take the run, and only the compare-and-set keeps one of them from running it too.
        env={**os.environ, "PYTHONUNBUFFERED": "1", "DBMESH_TEST_SYNC_CLAIM_PAUSE": "1.5"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = await asyncio.to_thread(process.stdout.readline)
    assert line == "dbmesh sync serve: 1 scheduled jobs: archive (* * * * * */2)\n", line
    return process


async def test_two_serving_processes_run_each_due_run_once(orders: Orders) -> None:
    await orders.insert([order(n) for n in range(1, 21)])
    config = str(orders.config(JOB))
    first, second = await _start(config), await _start(config)
    await asyncio.sleep(1)
    await orders.insert([order(n) for n in range(21, 31)])  # copied by whichever takes the next run
    await asyncio.sleep(8)
    outputs = []
    for process in (first, second):
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
        assert process.returncode == 0, err
        outputs.append(out)

    runs = [SCHEDULED.search(line) for out in outputs for line in out.splitlines()]
    slots = [m.group(2) for m in runs if m]
    assert len(slots) == len(runs) and len(slots) >= 3, outputs  # every line is a run's summary
    assert len(set(slots)) == len(slots), outputs  # no due run twice
    assert sum(int(m.group(1)) for m in runs if m) == 30  # each row copied once, by one of them
    assert await orders.target_rows() == await orders.source_rows()
    leases = await orders.mysql.fetch("SELECT job, lease_until FROM dbmesh_sync_leases")
    assert leases == [("archive", 0)]  # released


def test_serve_without_a_scheduled_job_is_an_error(orders: Orders) -> None:
    config = orders.config({k: v for k, v in JOB.items() if k != "schedule"})
    done = cli("sync", "serve", "-c", str(config))
    assert done.returncode == 1
    assert done.stderr == (
        f"dbmesh: error: {config}: no sync job has a 'schedule' (dbmesh sync serve runs scheduled jobs)\n"
    )


async def test_a_run_by_hand_while_another_process_holds_the_job_fails_naming_it(orders: Orders) -> None:
    await orders.insert([order(n) for n in range(1, 6)])
    config = orders.config({k: v for k, v in JOB.items() if k != "schedule"})
    assert (await run(config))[0] == 0  # creates the tables
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    await orders.mysql.execute(
        "UPDATE dbmesh_sync_leases SET owner = 'other', lease_until = %s", [int(until.timestamp() * 1000)]
    )
    await orders.insert([order(6)])

    code, output = await run(config)

    assert code == 1
    busy = f"job 'archive' is running in another process (its lease lasts until {until:%Y-%m-%dT%H:%M:%SZ})"
    assert re.fullmatch(
        r"sync archive: FAILED after 0\.00 s \(0 rows copied, 0 rows deleted\): " + re.escape(busy) + "\n", output
    ), output
    assert len(await orders.target_rows()) == 5  # it copied nothing
    await orders.mysql.execute("UPDATE dbmesh_sync_leases SET lease_until = 0")
    assert (await run(config))[1].startswith("sync archive: 1 rows copied")
