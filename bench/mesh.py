"""The cost of `[mesh]` (`python -m bench.mesh`): one resolver over a SQLite file, called through
`ResolverClient` (exactly what the router uses) with no security, with the token only, with mTLS
only and with token + mTLS; prints a Markdown report and writes it to bench/results/mesh-latest.md.

Per mode, `--calls` Query calls (a by-key read of one row) from `--concurrency` concurrent callers
after a warm-up, on a fresh channel; the resolver and the client share this process's event loop,
so the numbers are the work both ends do per call (interceptor, TLS records), not the network's.
The certificates are made with `cryptography` (a dev dependency) in a temporary folder.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.config import database_toml, mesh_toml

from dbmesh.config import parse_config
from dbmesh.resolver.client import ResolverClient
from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.services import create_server

RESULTS = Path(__file__).resolve().parent / "results" / "mesh-latest.md"
TOKEN = "bench-mesh-token-0123456789abcdef"


def _database(folder: Path) -> Path:
    path = folder / "bench.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
    conn.executemany("INSERT INTO items VALUES (?, ?)", [(i, f"item {i}") for i in range(1, 1001)])
    conn.commit()
    conn.close()
    return path


def _modes(folder: Path) -> dict[str, dict[str, Any]]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from mesh_security.mesh_pki import make_pki

    pki = make_pki(folder / "pki")
    tls = {"tls_cert": str(pki.server.cert), "tls_key": str(pki.server.key), "tls_ca": str(pki.ca)}
    return {"plaintext": {}, "token": {"token": TOKEN}, "mTLS": tls, "token + mTLS": {"token": TOKEN, **tls}}


async def _run(database: Path, mesh: dict[str, Any], calls: int, concurrency: int) -> dict[str, float]:
    text = database_toml("bench", {"engine": "sqlite", "path": str(database)}) + (mesh_toml(mesh) if mesh else "")
    config = parse_config(text)
    server = await create_server(config.databases[0], "127.0.0.1:0", config.mesh)
    client = ResolverClient(config.databases[0].with_resolver(f"127.0.0.1:{server.port}"), config.mesh)
    request = pb.QueryRequest(
        collection="items",
        columns=[
            pb.ColumnRef(name="id", type=pb.LOGICAL_TYPE_INT),
            pb.ColumnRef(name="name", type=pb.LOGICAL_TYPE_STRING),
        ],
        predicate=pb.Expression(
            comparison=pb.Comparison(column="id", operator=pb.OPERATOR_EQ, operand=pb.Operand(value=pb.Value(int=7)))
        ),
    )
    latencies: list[float] = []

    async def caller(count: int) -> None:
        for _ in range(count):
            start = time.perf_counter()
            await client.query(request)
            latencies.append(time.perf_counter() - start)

    try:
        answer = await client.query(request)
        assert answer.row_sets[0].row_count == 1, answer  # the call does the work it is meant to
        await asyncio.gather(*(caller(20) for _ in range(concurrency)))  # warm-up, handshake included
        latencies.clear()
        started = time.perf_counter()
        await asyncio.gather(*(caller(calls // concurrency) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    finally:
        await client.close()
        await server.stop(grace=0)
    latencies.sort()
    return {
        "calls_per_s": len(latencies) / elapsed,
        "p50_us": statistics.median(latencies) * 1e6,
        "p99_us": latencies[int(len(latencies) * 0.99) - 1] * 1e6,
    }


async def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="rounds per mode, alternating modes")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dbmesh-bench-mesh-") as folder:
        database = _database(Path(folder))
        modes = _modes(Path(folder))
        results: dict[str, list[dict[str, float]]] = {name: [] for name in modes}
        for _ in range(args.rounds):
            for name, mesh in modes.items():
                results[name].append(await _run(database, mesh, args.calls, args.concurrency))
    lines = [
        "# Mesh security cost (bench/mesh.py)",
        "",
        f"One SQLite resolver, `ResolverClient.query` by key, {args.calls} calls from {args.concurrency}"
        f" concurrent callers per round, {args.rounds} rounds per mode (alternating); client and resolver in one"
        " process and event loop; best round per mode. Load average at the end:"
        f" {' / '.join(f'{x:.1f}' for x in os.getloadavg())} (1 / 5 / 15 min) on {os.cpu_count()} CPUs.",
        "",
        "| mode | calls/s | p50 µs | p99 µs |",
        "|---|---|---|---|",
    ]
    for name, rounds in results.items():
        best = max(rounds, key=lambda r: r["calls_per_s"])
        lines.append(f"| {name} | {best['calls_per_s']:.0f} | {best['p50_us']:.0f} | {best['p99_us']:.0f} |")
    report = "\n".join(lines) + "\n"
    RESULTS.write_text(report, encoding="utf-8")
    return report


if __name__ == "__main__":
    print(asyncio.run(main()))
