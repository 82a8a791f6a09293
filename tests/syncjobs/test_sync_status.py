"""What a job's state says (docs/reference.md §12): `dbmesh sync status`, the built-in GraphQL field
`syncStatus` of a real router, and `dbmesh sync run`'s progress bar on a terminal (a pty) instead of
its summary line."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path
from typing import Any

from harness.config import server_settings
from harness.mesh import InProcessMesh
from sync_world import HERE, MYSQL, PG, REPO, Orders, cli, order, run

JOB = {"name": "archive", "source": PG, "target": MYSQL, "table": "orders", "cursor": "created_at", "batch_size": 4}
BROKEN = {**JOB, "name": "broken", "table": "ordres"}


async def test_sync_status_prints_each_jobs_last_run_rows_mark_lag_and_error(orders: Orders) -> None:
    await orders.insert([order(n) for n in range(1, 11)])
    config = str(orders.config(JOB, BROKEN))
    before = cli("sync", "status", "-c", config)
    assert before.returncode == 0, before.stderr
    assert before.stdout.splitlines() == [
        "archive: never run (postgres_primary.orders -> mysql_historical.orders, copy)",
        "broken: never run (postgres_primary.ordres -> mysql_historical.ordres, copy)",
    ]
    assert (await run(Path(config)))[0] == 1  # `broken` fails

    after = cli("sync", "status", "-c", config)

    assert after.returncode == 0, after.stderr
    mark = json.dumps((await orders.state("archive"))["high_water"], separators=(",", ":"))
    archive, broken = after.stdout.splitlines()
    assert re.fullmatch(
        r"archive: last run \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ, 10 rows \(total 10 copied, 0 deleted\),"
        rf" high-water mark {re.escape(mark)}, lag \d+ s, last error: none",
        archive,
    ), archive
    assert re.fullmatch(
        r"broken: last run \S+Z, 0 rows \(total 0 copied, 0 deleted\), high-water mark none, lag \d+ s, last error: "
        + re.escape(f"{config}: sync[1].table: database 'postgres_primary' has no table 'ordres'"),
        broken,
    ), broken


class _Mesh(InProcessMesh):
    def __init__(self, *args: Any, sync: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sync = sync

    def toml(self) -> str:
        return super().toml() + "\n" + self.sync


async def test_the_sync_status_field_reads_each_jobs_state_from_its_target(orders: Orders) -> None:
    await orders.insert([order(n) for n in range(1, 8)])
    config = orders.config(JOB, BROKEN)
    await run(config)
    jobs = config.read_text(encoding="utf-8").split("[[sync]]", 1)[1]
    databases = {PG: server_settings(orders.pg_info), MYSQL: server_settings(orders.mysql_info)}
    mesh = await _Mesh(databases, HERE / "archive_schema.py", sync="[[sync]]" + jobs).start()
    try:
        body = await mesh.post("{ syncStatus { name lastRun rows highWaterMark lagSeconds error } }")
    finally:
        await mesh.stop()

    assert "errors" not in body, body
    archive, broken = body["data"]["syncStatus"]
    state = await orders.state("archive")
    assert archive["name"] == "archive" and archive["rows"] == 7 and archive["error"] is None
    assert json.loads(archive["highWaterMark"]) == state["high_water"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", archive["lastRun"]), archive
    assert 0 <= archive["lagSeconds"] < 120
    assert broken["rows"] == 0 and broken["highWaterMark"] is None
    assert broken["error"].endswith("sync[1].table: database 'postgres_primary' has no table 'ordres'")


async def test_a_terminal_gets_a_progress_bar_as_well_as_the_summary_line(orders: Orders) -> None:
    await orders.insert([order(n) for n in range(1, 21)])
    config = str(orders.config(JOB))
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal 100 wide
    process = subprocess.Popen(
        [sys.executable, "-m", "dbmesh", "sync", "run", "-c", config],
        cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=terminal,
        text=True,
    )
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = await asyncio.to_thread(os.read, controller, 4096)
        except OSError:  # the terminal closed: the process is done
            break
        if not chunk:
            break
        shown += chunk
    os.close(controller)
    stdout, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    bar = shown.decode()
    assert "sync archive: " in bar and "20 rows" in bar, bar  # tqdm's bar, counting the rows
    assert stdout.startswith("sync archive: 20 rows copied")  # stdout is no terminal here: the line too
