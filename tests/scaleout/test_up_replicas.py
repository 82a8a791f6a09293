"""`dbmesh up` and `dbmesh resolver` with resolver replicas (docs/reference.md §2, §15): `up`
starts a resolver per listed address and its router spreads reads over them; a replica SIGKILLed
is restarted while reads keep being answered; what cannot work is one exact line."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

import httpx
from harness.mesh import UpProcess
from scaleout.replicas import REPO, replicated_sqlite

QUERY = {"query": "{ things { id } }"}
_STARTED = re.compile(r"resolver things_db \(pid (\d+)\) at (\S+)")


async def _reads(url: str, count: int) -> list[str]:
    failures = []
    async with httpx.AsyncClient(timeout=30) as client:
        for _ in range(count):
            body = (await client.post(url, json=QUERY)).json()
            if body != {"data": {"things": [{"id": i} for i in range(1, 6)]}}:
                failures.append(str(body))
    return failures


async def test_up_starts_a_resolver_per_listed_address_and_survives_a_killed_one(tmp_path: Path) -> None:
    config, schema, addresses = replicated_sqlite(tmp_path, replicas=2)
    up = await UpProcess(config, schema).start()
    try:
        started = {address: int(pid) for pid, address in _STARTED.findall("".join(up.output))}
        assert sorted(started) == sorted(addresses)
        assert await _reads(up.url, 20) == []
        victim = started[addresses[0]]
        subprocess.run(["kill", "-KILL", str(victim)], check=True)
        assert await _reads(up.url, 50) == []
        for _ in range(200):
            if f"resolver things_db (pid {victim}) exited with code -9" in "".join(up.output):
                break
            await asyncio.sleep(0.05)
        assert f"resolver things_db (pid {victim}) exited with code -9; restarting in 0.5s" in "".join(up.output)
    finally:
        assert await up.stop() == 0


def _dbmesh(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dbmesh", *args], capture_output=True, text=True, cwd=REPO, timeout=60)


def test_a_replica_needs_its_own_listen_address(tmp_path: Path) -> None:
    config, _schema, addresses = replicated_sqlite(tmp_path, replicas=2)
    result = _dbmesh("resolver", "-c", str(config), "--database", "things_db")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"dbmesh: error: {config}: database 'things_db' has several resolver replicas"
        f" (resolver = 'ipv4:{addresses[0]},{addresses[1]}'); pass --listen with this one's address"
    )


def test_up_refuses_a_dns_name(tmp_path: Path) -> None:
    config, schema, _addresses = replicated_sqlite(tmp_path, replicas=1)
    text = config.read_text()
    config.write_text(re.sub(r"resolver = \[.*\]", 'resolver = "dns:///resolvers.local:50051"', text))
    result = _dbmesh("up", "-c", str(config), "-s", str(schema), "--port", "0")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"dbmesh: error: {config}: database 'things_db': dbmesh up cannot start resolvers at"
        " 'dns:///resolvers.local:50051' (a DNS name is for routers: list 'host:port' addresses, or leave"
        " 'resolver' out)"
    )
