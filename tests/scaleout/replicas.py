"""Real processes for the replica tests: `dbmesh resolver` replicas of one SQLite database, each
logging its calls at debug level to a file of its own, and a `dbmesh router` in front of them.

A resolver logs one `rpc=Query ... outcome=OK` line per Query call it served (services/servicer.py),
so a replica's share of the load is counted from its own log.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from harness.config import config_toml
from harness.servers import free_port

__all__ = ["Replica", "Router", "replicated_sqlite"]

REPO = Path(__file__).resolve().parents[2]

SCHEMA = """\
from dbmesh import database, types


@types.object
class Thing:
    id: int
    name: str


@types.object
class Query:
    @database("things_db")
    def things(self) -> list[Thing]: ...
"""

_SERVED_QUERY = re.compile(r"rpc=Query database=things_db outcome=OK")


def replicated_sqlite(folder: Path, replicas: int, rows: int = 5) -> tuple[Path, Path, list[str]]:
    """A SQLite database of `rows` things, its config naming `replicas` resolver addresses, and
    the schema: (config path, schema path, addresses)."""
    database = folder / "things.db"
    with contextlib.closing(sqlite3.connect(database)) as db:
        db.execute("CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
        db.executemany("INSERT INTO things VALUES (?, ?)", [(i, f"thing {i}") for i in range(1, rows + 1)])
        db.commit()
    addresses = [f"127.0.0.1:{free_port()}" for _ in range(replicas)]
    config = folder / "dbmesh.toml"
    config.write_text(
        config_toml(
            {"things_db": {"engine": "sqlite", "path": str(database), "resolver": addresses}},
            # Every request its own Query call (no coalescing, docs/reference.md §7): the replicas'
            # shares are counted in calls, one per request.
            {"probe_interval_secs": 0.5, "coalesce": False},
        ),
        encoding="utf-8",
    )
    schema = folder / "schema.py"
    schema.write_text(SCHEMA, encoding="utf-8")
    return config, schema, addresses


async def _serving(address: str) -> bool:
    async with grpc.aio.insecure_channel(address) as channel:
        try:
            answer = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1.0)
        except grpc.aio.AioRpcError:
            return False
    return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)


class Replica:
    """One `dbmesh resolver` process at `address`, its debug log in `log`."""

    def __init__(self, config: Path, address: str, log: Path) -> None:
        self.address = address
        self.log = log
        self._log_file = log.open("w", encoding="utf-8")
        command = [sys.executable, "-m", "dbmesh", "--log-level", "debug", "resolver", "-c", str(config)]
        command += ["--database", "things_db", "--listen", address]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=self._log_file, cwd=REPO)

    async def wait_serving(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not await _serving(self.address):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"resolver at {self.address} did not start:\n{self.log.read_text()[-2000:]}")
            await asyncio.sleep(0.1)

    def served(self) -> int:
        """Query calls this replica has answered so far, from its log."""
        return len(_SERVED_QUERY.findall(self.log.read_text(encoding="utf-8")))

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log_file.close()


class Router:
    """One `dbmesh router` process on a free port; `url` is its GraphQL URL."""

    def __init__(self, config: Path, schema: Path, log: Path) -> None:
        self.log = log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/graphql"
        self._log_file = log.open("w", encoding="utf-8")
        command = [sys.executable, "-m", "dbmesh", "router", "-c", str(config), "-s", str(schema)]
        command += ["--port", str(self.port)]
        self.process = subprocess.Popen(
            command, stdout=self._log_file, stderr=subprocess.STDOUT, cwd=REPO, env={**os.environ}
        )

    async def wait_serving(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while "dbmesh router serving" not in self.log.read_text(encoding="utf-8"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"router did not start:\n{self.log.read_text()[-2000:]}")
            await asyncio.sleep(0.1)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._log_file.close()
        return code
