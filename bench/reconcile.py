"""`dbmesh reconcile` against reladiff on the same PostgreSQL and MariaDB tables (docs/reference.md §13).

    .venv/bin/python -m bench.reconcile [--rows 1000000]

Starts the throwaway servers of bench/servers.py, loads a `ledger` table (integer key, a decimal,
a text and a timestamp) of ROWS rows into both (PostgreSQL COPY, MariaDB LOAD DATA LOCAL), starts a
`dbmesh resolver` process per database, then for 0, 10 and 1 % of ROWS differences (amounts changed
in MariaDB) runs each tool once as a child process:

- dbmesh: `python -m dbmesh reconcile -c CONFIG ledger --source pg --target maria --json`;
- reladiff (from PyPI, in its own virtualenv bench/.venv-reladiff, created on first use):
  `reladiff postgresql://... ledger mysql://... ledger -k id -c amount -c label -c created_at`.

The tree is byte-compiled first, as pip leaves an installed package (reladiff's is): where
PYTHONDONTWRITEBYTECODE is set, each `dbmesh reconcile` would otherwise compile its modules again
(~40 ms of its start-up). Per run: wall seconds, rows moved to the comparing process (dbmesh counts
them exactly, its DEBUG line; reladiff does not say), the comparing process's peak RSS (VmHWM,
sampled every 20 ms), and whether both found exactly the changed keys. The report goes to
bench/results/reconcile-latest.md.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pymysql
from harness.config import config_toml, server_settings

from bench.processes import Child
from bench.servers import BenchMariaDB, BenchPostgres, DatabaseInfo

REPO = Path(__file__).resolve().parents[1]
RELADIFF_VENV = REPO / "bench" / ".venv-reladiff"
RESULTS = REPO / "bench" / "results" / "reconcile-latest.md"
_START = datetime(2020, 1, 1, tzinfo=UTC)


def _rows(count: int) -> list[tuple[int, Decimal, str, datetime]]:
    return [
        (i, Decimal(i % 100_000) / 100 + Decimal("0.01"), f"entry {i}", _START + timedelta(seconds=i))
        for i in range(1, count + 1)
    ]


async def _load_pg(db: DatabaseInfo, rows: list[tuple[int, Decimal, str, datetime]]) -> None:
    conn = await asyncpg.connect(host=db.host, port=db.port, user=db.user, database=db.database)
    try:
        await conn.execute(
            "CREATE TABLE ledger (id bigint PRIMARY KEY, amount numeric(12,2) NOT NULL, label varchar(40) NOT NULL,"
            " created_at timestamp NOT NULL)"
        )
        await conn.copy_records_to_table("ledger", records=[(i, a, t, c.replace(tzinfo=None)) for i, a, t, c in rows])
        await conn.execute("VACUUM ANALYZE ledger")
    finally:
        await conn.close()


def _maria(db: DatabaseInfo, **kwargs: Any) -> pymysql.connections.Connection[Any]:
    return pymysql.connect(
        host=db.host, port=db.port, user=db.user, password=db.password, database=db.database, autocommit=True, **kwargs
    )


def _load_maria(db: DatabaseInfo, rows: list[tuple[int, Decimal, str, datetime]], folder: Path) -> None:
    path = folder / "ledger.tsv"
    with path.open("w", encoding="utf-8") as out:
        out.writelines(f"{i}\t{a}\t{t}\t{c:%Y-%m-%d %H:%M:%S}\n" for i, a, t, c in rows)
    conn = _maria(db, local_infile=True, read_timeout=600, write_timeout=600)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "CREATE TABLE ledger (id bigint PRIMARY KEY, amount decimal(12,2) NOT NULL, label varchar(40) NOT NULL,"
                " created_at datetime NOT NULL)"
            )
            cur.execute(f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE ledger FIELDS TERMINATED BY '\\t'")
            cur.execute("ANALYZE TABLE ledger")
            cur.fetchall()
    finally:
        conn.close()
        path.unlink(missing_ok=True)


def _change(db: DatabaseInfo, ids: list[int], delta: str) -> None:
    conn = _maria(db)
    try:
        with conn.cursor() as cur:
            for start in range(0, len(ids), 1000):
                chunk = ids[start : start + 1000]
                cur.execute(
                    f"UPDATE ledger SET amount = amount + {delta} WHERE id IN ({', '.join(['%s'] * len(chunk))})",
                    chunk,
                )
    finally:
        conn.close()


def _proc(pid: int) -> tuple[int, int]:
    """(peak RSS in kB, bytes read so far) of a running process."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        io = Path(f"/proc/{pid}/io").read_text()
    except OSError:
        return 0, 0
    hwm = re.search(r"VmHWM:\s+(\d+) kB", status)
    rchar = re.search(r"rchar: (\d+)", io)
    return (int(hwm.group(1)) if hwm else 0), (int(rchar.group(1)) if rchar else 0)


def _measured(argv: list[str]) -> tuple[float, int, int, str, str]:
    """Run `argv`: (seconds, peak RSS in kB, bytes read, stdout, stderr); the process's /proc
    entries are sampled every 20 ms (both only grow, so the last sample is within 20 ms of the end)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        process = subprocess.Popen(argv, stdout=out, stderr=err, text=True, cwd=REPO)
        peak = read = 0
        while process.poll() is None:
            hwm, rchar = _proc(process.pid)
            peak, read = max(peak, hwm), max(read, rchar)
            time.sleep(0.02)
        seconds = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        if process.returncode not in (0, 1):
            raise RuntimeError(f"{argv[0]} exited with {process.returncode}: {err.read()[-2000:]}")
        return seconds, peak, read, out.read(), err.read()


def _ensure_reladiff() -> Path:
    binary = RELADIFF_VENV / "bin" / "reladiff"
    if not binary.exists():
        subprocess.run([sys.executable, "-m", "venv", str(RELADIFF_VENV)], check=True)
        pip = RELADIFF_VENV / "bin" / "pip"
        subprocess.run([str(pip), "install", "-q", "reladiff[postgresql,mysql]"], check=True)
    return binary


def _dbmesh(config: Path) -> dict[str, Any]:
    argv = [sys.executable, "-m", "dbmesh", "--log-level", "debug", "reconcile", "-c", str(config), "ledger"]
    argv += ["--source", "pg", "--target", "maria", "--json", "--show", "1000000"]
    seconds, peak, read, out, err = _measured(argv)
    document = json.loads(out)
    moved = re.search(r"(\d+) rows moved to this process", err)
    keys = {e["key"]["id"] for e in document["examples"]["different"]}
    keys |= {e["id"] for e in document["examples"]["only_in_source"]}
    keys |= {e["id"] for e in document["examples"]["only_in_target"]}
    return {
        "seconds": seconds,
        "peak_kb": peak,
        "read_bytes": read,
        "rows_moved": int(moved.group(1)) if moved else None,
        "keys": keys,
    }


def _reladiff(binary: Path, pg: DatabaseInfo, maria: DatabaseInfo) -> dict[str, Any]:
    argv = [str(binary), f"postgresql://{pg.user}@{pg.host}:{pg.port}/{pg.database}", "ledger"]
    argv += [f"mysql://{maria.user}@{maria.host}:{maria.port}/{maria.database}", "ledger"]
    argv += ["-k", "id", "-c", "amount", "-c", "label", "-c", "created_at", "--json"]
    seconds, peak, read, out, _err = _measured(argv)
    keys = set()
    for line in out.splitlines():
        if line.strip():
            _sign, values = json.loads(line)  # ["-", [id, ...]] / ["+", [id, ...]]
            keys.add(int(values[0]))
    return {"seconds": seconds, "peak_kb": peak, "read_bytes": read, "rows_moved": None, "keys": keys}


def _load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def _report(rows: int, rounds: int, results: list[dict[str, Any]], versions: dict[str, str], loads: list[str]) -> str:
    lines = [
        f"# dbmesh reconcile vs reladiff, {rows:,} rows (PostgreSQL {versions['pg']} vs MariaDB {versions['maria']})",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `python -m bench.reconcile --rows {rows} --rounds {rounds}`"
        " on this machine"
        f" ({os.cpu_count()} cores, shared; load average 1/5/15 min at the start of each case:"
        f" {'; '.join(loads)}). The fastest of alternating rounds; the resolvers run in their own"
        " processes, next to"
        " the databases. Rows moved: rows the comparing process received (dbmesh's exact count, row digests"
        " and key probes included; reladiff does not report one). Peak RSS: VmHWM of the comparing process"
        " (dbmesh's resolvers are separate processes, as the databases are for reladiff).",
        "",
        "| differences | tool | seconds (best) | every run | rows moved | peak RSS | found | same answer |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for tool in ("dbmesh", "reladiff"):
            m = r[tool]
            moved = f"{m['rows_moved']:,}" if m["rows_moved"] is not None else "n/a"
            runs = ", ".join(f"{t:.2f}" for t in m["all"])
            lines.append(
                f"| {r['differences']:,} | {tool} | {m['seconds']:.2f} | {runs} | {moved}"
                f" | {m['peak_kb'] / 1024:.0f} MB | {len(m['keys']):,} | {'yes' if r['same'] else 'NO'} |"
            )
    return "\n".join(lines) + "\n"


async def main(rows: int, rounds: int) -> None:
    binary = _ensure_reladiff()
    compileall.compile_dir(REPO / "dbmesh", quiet=1)  # as pip leaves an installed package (see the docstring)
    data = _rows(rows)
    pg_server, maria_server = BenchPostgres(), BenchMariaDB()
    resolvers: list[Child] = []
    work = Path(tempfile.mkdtemp(prefix="dbmesh-bench-reconcile-"))
    try:
        for server in (pg_server, maria_server):
            server.start()
        pg, maria = pg_server.info(), maria_server.info()
        await asyncio.gather(_load_pg(pg, data), asyncio.to_thread(_load_maria, maria, data, work))
        del data
        config = work / "dbmesh.toml"
        ports = {"pg": _free(), "maria": _free()}
        config.write_text(
            config_toml(
                {
                    "pg": {**server_settings(pg), "resolver": f"127.0.0.1:{ports['pg']}", "timeout_secs": 600},
                    "maria": {**server_settings(maria), "resolver": f"127.0.0.1:{ports['maria']}", "timeout_secs": 600},
                }
            )
        )
        for name in ports:
            child = Child(
                f"resolver-{name}",
                [sys.executable, "-m", "dbmesh", "resolver", "-c", str(config), "--database", name],
                work / f"{name}.log",
            )
            child.start()
            child.wait_for(re.compile("listening on"), 60)
            resolvers.append(child)
        versions = {
            "pg": pg_server.psql("SHOW server_version").strip(),
            "maria": str(maria_server.execute("SELECT VERSION()")[0][0]),
        }
        results = []
        loads = []
        rng = random.Random(12)
        for count in (0, 10, rows // 100):
            loads.append(_load())
            ids = sorted(rng.sample(range(1, rows + 1), count))
            _change(maria, ids, "0.01")
            # Alternating rounds (dbmesh first, then reladiff first); the fastest of each is kept,
            # all times are reported: the machine is shared.
            meshes, others = [], []
            for round_ in range(rounds):
                if round_ % 2:
                    others.append(_reladiff(binary, pg, maria))
                    meshes.append(_dbmesh(config))
                else:
                    meshes.append(_dbmesh(config))
                    others.append(_reladiff(binary, pg, maria))
            mesh = min(meshes, key=lambda m: m["seconds"])
            other = min(others, key=lambda m: m["seconds"])
            mesh["all"] = [m["seconds"] for m in meshes]
            other["all"] = [m["seconds"] for m in others]
            same = all(m["keys"] == set(ids) for m in [*meshes, *others])
            results.append({"differences": count, "dbmesh": mesh, "reladiff": other, "same": same})
            print(
                f"{count} differences: dbmesh {mesh['seconds']:.2f}s, reladiff {other['seconds']:.2f}s, same {same}",
                flush=True,
            )
            _change(maria, ids, "-0.01")
        report = _report(rows, rounds, results, versions, loads)
        RESULTS.write_text(report)
        print(report)
    finally:
        for child in resolvers:
            child.stop()
        for server in (pg_server, maria_server):
            server.cleanup()


def _free() -> int:
    from harness.servers import free_port

    return free_port()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2, help="runs of each tool per case (the fastest is kept)")
    args = parser.parse_args()
    asyncio.run(main(args.rows, args.rounds))
