"""Fixtures for the coordinator's tests: the bank (bank.py) on fresh PostgreSQL and MariaDB
databases of the session's throwaway servers and a SQLite file, each behind a real resolver
service in this process, a config file naming them, and the processes to run and kill: real
`dbmesh router` processes serving the bank's GraphQL API (bank_schema.py), and coordinator
processes (transfer_driver)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from bank import PG, Bank, bank_config
from conformance.backends import MysqlBackend, PostgresBackend, SqliteBackend
from harness.servers import DatabaseInfo

from dbmesh.config import Config, load_config, parse_config
from dbmesh.coordinator import Coordinator
from dbmesh.resolver.client import ResolverClient
from dbmesh.services import RunningServer, create_server

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
BANK_SCHEMA = HERE / "bank_schema.py"
TRANSACTIONS = {"log_database": PG, "recovery_interval_secs": 0.3, "lease_secs": 1.5}


@dataclass
class World:
    bank: Bank
    config_path: Path
    tmp: Path
    servers: dict[str, RunningServer]
    coordinators: list[tuple[Coordinator, dict[str, ResolverClient]]] = field(default_factory=list)
    routers: list[subprocess.Popen[str]] = field(default_factory=list)

    def config(self) -> Config:
        return load_config(self.config_path)

    async def coordinator(self, start: bool = True) -> Coordinator:
        """A coordinator in this process over the world's resolvers (stopped after the test)."""
        config = self.config()
        clients = {d.name: ResolverClient(d) for d in config.databases}
        coordinator = Coordinator(config, clients)
        self.coordinators.append((coordinator, clients))
        if start:
            await coordinator.start()
        return coordinator

    async def router(self, crash_at: str = "") -> tuple[subprocess.Popen[str], str]:
        """A real `dbmesh router` process over the world's resolvers (its coordinator runs
        recovery on start), with DBMESH_TEST_CRASH_AT=crash_at in its environment when given;
        the process and its GraphQL URL, once it serves (killed after the test)."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("DBMESH_TEST_CRASH_AT", None)
        if crash_at:
            env["DBMESH_TEST_CRASH_AT"] = crash_at
        command = [sys.executable, "-m", "dbmesh", "router", "-c", str(self.config_path), "-s", str(BANK_SCHEMA)]
        process = subprocess.Popen(
            [*command, "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO, env=env
        )
        self.routers.append(process)
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = await asyncio.to_thread(process.stdout.readline)
            if match := re.search(r"dbmesh router serving (\S+)", line):
                return process, match.group(1)
            if not line and process.poll() is not None:
                break
        raise AssertionError(f"dbmesh router did not start (exit status {process.poll()})")

    def driver(self, first: int, last: int, *args: str, crash_at: str = "") -> subprocess.Popen[str]:
        """A coordinator process running transfers first..last-1 (transfer_driver)."""
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(REPO / "tests"), str(REPO)])}
        env.pop("DBMESH_TEST_CRASH_AT", None)
        if crash_at:
            env["DBMESH_TEST_CRASH_AT"] = crash_at
        command = [sys.executable, "-m", "transfer_driver", str(self.config_path), str(first), str(last), *args]
        return subprocess.Popen(
            command, env=env, cwd=self.tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    async def run_driver(self, first: int, last: int, *args: str, crash_at: str = "") -> tuple[int, str, str]:
        """Run a driver to its end (the resolvers live in this event loop: it keeps serving)."""
        proc = self.driver(first, last, *args, crash_at=crash_at)
        out, err = await asyncio.to_thread(proc.communicate, timeout=300)
        return proc.returncode, out, err


async def _world(tmp_path: Path, pg_info: DatabaseInfo, my_info: DatabaseInfo, sqlite: bool) -> AsyncIterator[World]:
    sq = SqliteBackend(tmp_path / "bank.db") if sqlite else None
    bank = await Bank.create(PostgresBackend(pg_info), MysqlBackend(my_info), sq)
    servers: dict[str, RunningServer] = {}
    world = World(bank, tmp_path / "dbmesh.toml", tmp_path, servers)
    try:
        for name, settings in bank.settings().items():
            single = parse_config(bank_config({name: settings}, {name: "127.0.0.1:1"}, {}))
            servers[name] = await create_server(single.databases[0], "127.0.0.1:0")
        resolvers = {name: f"127.0.0.1:{server.port}" for name, server in servers.items()}
        world.config_path.write_text(bank_config(bank.settings(), resolvers, TRANSACTIONS))
        yield world
    finally:
        for process in world.routers:
            if process.poll() is None:
                process.kill()
            await asyncio.to_thread(process.wait)
            if process.stdout:
                process.stdout.close()
        for coordinator, clients in world.coordinators:
            await coordinator.stop()
            for client in clients.values():
                await client.close()
        with contextlib.suppress(Exception):
            await _forget_prepared(bank)
        for server in servers.values():
            await server.stop(None)
        await bank.pg.close()
        await bank.my.close()


async def post(url: str, query: str) -> dict[str, Any]:
    """POST one GraphQL operation; its answer's body."""
    async with httpx.AsyncClient(timeout=60) as client:
        body: dict[str, Any] = (await client.post(url, json={"query": query})).json()
        return body


async def _forget_prepared(bank: Bank) -> None:
    """Roll back what a failed test left prepared: it would hold locks and block DROP DATABASE."""
    for gid in [
        r[0] for r in await bank.pg.fetch("SELECT gid FROM pg_prepared_xacts WHERE database = current_database()")
    ]:
        await bank.pg.execute(f"ROLLBACK PREPARED '{gid}'")
    for _format, gtrid, bqual, data in await bank.my.fetch("XA RECOVER"):
        raw = data if isinstance(data, bytes) else str(data).encode()
        if raw[gtrid : gtrid + bqual] == bank.my_name.encode():
            await bank.my.execute(f"XA ROLLBACK '{raw[:gtrid].decode()}', '{bank.my_name}', 6578797")


@pytest.fixture
async def world(tmp_path: Path, pg_database: DatabaseInfo, mysql_database: DatabaseInfo) -> AsyncIterator[World]:
    """PostgreSQL + MariaDB + SQLite."""
    async for found in _world(tmp_path, pg_database, mysql_database, sqlite=True):
        yield found
