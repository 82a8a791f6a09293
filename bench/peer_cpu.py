"""CPU per request of each dbmesh process under the peer benchmark's loads, A/B.

`python -m bench.peer_cpu PEER_BENCH_DIR CHECKOUT [CHECKOUT ...]` starts `dbmesh up` from each
checkout (its own source tree, run with this Python) over the peer benchmark's configuration and
schema (`PEER_BENCH_DIR/dbmesh/`, on a free port), drives each with the peer benchmark's own
`load.sh` (wrk, the same queries and ids), and prints, per scenario and round, the requests/s and
the user + system CPU milliseconds per request of the router, of each resolver and of the two
database servers (`run-all.sh`'s PostgreSQL, postmaster and backends, and MariaDB; shared by the
checkouts, measured while each one's load runs). Checkouts take
turns within every round, so a busy machine weighs on all of them alike: compare checkouts within
one run, never across runs. The peer benchmark (`run-all.sh`) gives ratios against the other
systems but no per-process CPU; this is what tells which process a change helped. It needs the
databases `run-all.sh` started (`servers.sh start`) and loaded; it starts and stops only its own
`dbmesh up` processes.

Env: SCENARIOS ("Point Nested Batch Fanout"), ROUNDS (2), DURATION (seconds per run, 8),
WARMUP (3), CONNECTIONS (16).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.processes import CpuMeter, Mesh

__all__ = ["main"]

SCENARIOS = "Point Nested Batch Fanout"


class _CheckoutMesh(Mesh):
    """`dbmesh up` run from `checkout`'s source tree (it is the working directory of `-m dbmesh`,
    and so first on the path of the router and of the resolvers it starts)."""

    def __init__(self, checkout: Path, peer_bench: Path, log_path: Path) -> None:
        super().__init__(
            peer_bench / "dbmesh" / "dbmesh-peer.toml", peer_bench / "dbmesh" / "dbmesh_peer_schema.py", log_path
        )
        self.cwd = checkout


def _load(peer_bench: Path, url: str, scenario: str, seconds: int, connections: int) -> float:
    """Requests/s of one `load.sh` run (it prints `scenario url rps p50 p99 errors non2xx`)."""
    line = subprocess.run(
        [str(peer_bench / "load.sh"), url, scenario, str(seconds), str(connections)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    errors, non2xx = int(line[5]), int(line[6])
    if errors or non2xx:
        raise RuntimeError(f"{scenario}: {errors} errors and {non2xx} non-2xx responses")
    return float(line[2])


def _database_pids() -> dict[str, int]:
    """The pids of the peer benchmark's database servers (`servers.sh`'s pid files), where running."""
    work = Path(os.environ.get("PEER_BENCH_WORK", Path(tempfile.gettempdir()) / "dbmesh-peer-bench"))
    files = {"pg": work / "pg" / "postmaster.pid", "mariadb": work / "my" / "mysqld.pid"}
    return {name: int(f.read_text().split()[0]) for name, f in files.items() if f.exists()}


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    peer_bench = Path(argv[0]).resolve()
    checkouts = [Path(a).resolve() for a in argv[1:]]
    scenarios = os.environ.get("SCENARIOS", SCENARIOS).split()
    rounds = int(os.environ.get("ROUNDS", "2"))
    seconds = int(os.environ.get("DURATION", "8"))
    warmup = int(os.environ.get("WARMUP", "3"))
    connections = int(os.environ.get("CONNECTIONS", "16"))
    logs = Path(tempfile.mkdtemp(prefix="dbmesh-peer-cpu-"))
    meshes = [_CheckoutMesh(c, peer_bench, logs / f"dbmesh-{i}.log") for i, c in enumerate(checkouts)]
    try:
        for mesh in meshes:
            mesh.start()
            mesh.wait_ready()
        databases = _database_pids()
        meters = [CpuMeter({**mesh.pids(), **databases}, trees=frozenset({"pg"})) for mesh in meshes]
        names = list(meters[0].pids)
        print("CPU ms/request; " + ", ".join(f"[{i}] {c}" for i, c in enumerate(checkouts)))
        print(f"{'scenario':8} {'#':>2} {'rps':>8} " + " ".join(f"{n[-16:]:>16}" for n in names), flush=True)
        for scenario in scenarios:
            results: dict[int, list[list[float]]] = {i: [] for i in range(len(meshes))}
            for mesh in meshes:
                if warmup:
                    _load(peer_bench, mesh.url, scenario, warmup, connections)
            for turn in range(rounds):
                order = range(len(meshes)) if turn % 2 == 0 else reversed(range(len(meshes)))
                for i in order:
                    before = meters[i].snapshot()
                    rps = _load(peer_bench, meshes[i].url, scenario, seconds, connections)
                    used = meters[i].seconds_since(before)
                    results[i].append([rps] + [used[n] * 1000 / (rps * seconds) for n in names])
                    cells = " ".join(f"{v:16.3f}" for v in results[i][-1][1:])
                    print(f"{scenario:8} {i:>2} {rps:8.1f} {cells}  (round {turn + 1})", flush=True)
            for i, rows in results.items():
                med = [statistics.median(column) for column in zip(*rows, strict=True)]
                cells = " ".join(f"{v:16.3f}" for v in med[1:])
                print(f"{scenario:8} {i:>2} {med[0]:8.1f} {cells}  (median)", flush=True)
    finally:
        for mesh in meshes:
            mesh.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
