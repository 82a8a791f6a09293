"""Running meshes for tests: real resolvers, a real router on a real port.

- `InProcessMesh`: resolvers (`services.create_server`) and the router (uvicorn, via
  `dbmesh.commands.serve_router`) in the test's event loop. Fast; a resolver can be stopped and
  started again on the same port.
- `UpProcess`: `python -m dbmesh up` as a child process, exactly as a user runs it; its resolver
  processes' pids come from its output, so fault tests can kill them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from harness.config import config_toml, database_toml, mesh_toml

from dbmesh.commands import serve_router
from dbmesh.config import Config, parse_config
from dbmesh.schema import SchemaModel, load_schema
from dbmesh.services import RunningServer, create_server

REPO = Path(__file__).resolve().parents[1]


@dataclass
class InProcessMesh:
    databases: dict[str, dict[str, Any]]  # name -> config keys (engine, path/host/...)
    schema_path: Path
    router_settings: dict[str, Any] = field(default_factory=dict)
    mesh: dict[str, Any] = field(default_factory=dict)  # the [mesh] table: token, tls_* (dbmesh/mesh.py)
    extra_toml: str = ""  # more tables after [router] ([auth], [[permissions]], ...)
    resolvers: dict[str, RunningServer] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    url: str = ""
    config: Config | None = None
    model: SchemaModel | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None
    router: Any = None

    def toml(self) -> str:
        """The mesh's configuration: every database with its running resolver's address."""
        databases = {
            name: {**settings, **({"resolver": f"127.0.0.1:{self.ports[name]}"} if name in self.ports else {})}
            for name, settings in self.databases.items()
        }
        router = {"probe_interval_secs": 0.5, "breaker_reset_secs": 0.5, **self.router_settings}
        return config_toml(databases, router, mesh=self.mesh) + "\n" + self.extra_toml

    async def start_resolver(self, name: str) -> None:
        base = parse_config(database_toml(name, self.databases[name]) + (mesh_toml(self.mesh) if self.mesh else ""))
        address = f"127.0.0.1:{self.ports.get(name, 0)}"
        server = await create_server(base.databases[0], address, base.mesh)
        self.ports[name] = server.port
        self.resolvers[name] = server

    async def stop_resolver(self, name: str) -> None:
        server = self.resolvers.pop(name)
        await server.stop(grace=0)

    async def start(self) -> InProcessMesh:
        for name in self.databases:
            await self.start_resolver(name)
        self.config = parse_config(self.toml())
        self.model = load_schema(self.schema_path, [d.name for d in self.config.databases])
        ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        def on_ready(url: str, router: Any) -> None:
            self.router = router
            ready.set_result(url)

        self._task = asyncio.get_running_loop().create_task(
            serve_router(self.config, self.model, "127.0.0.1", 0, self._stop, on_ready)
        )
        done, _ = await asyncio.wait({ready, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if self._task in done:
            await self._task  # raises why the router did not start
        self.url = ready.result()
        return self

    async def stop(self) -> None:
        self._stop.set()
        if self._task:
            await self._task
        for name in list(self.resolvers):
            await self.stop_resolver(name)

    async def router_probe(self) -> None:
        """Run the router's health probes now instead of waiting for the next round."""
        if self.router is not None:
            await self.router.health.probe_all()

    async def post(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        """POST a query (with `token` as its bearer token); the decoded response body."""
        payload: dict[str, Any] = {"query": query, **extra}
        if variables is not None:
            payload["variables"] = variables
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        async with httpx.AsyncClient(timeout=60) as client:
            response = await client.post(self.url, json=payload, headers=headers)
        body: dict[str, Any] = response.json()
        return body


async def post_together(
    url: str, payloads: list[dict[str, Any]], tokens: list[str | None] | None = None
) -> list[dict[str, Any]]:
    """The decoded bodies of `payloads` POSTed to `url` (with `tokens[i]` as bearer token), each on
    a connection of its own opened first, every request written in one go: the router reads them
    all in one turn of its event loop, as a busy router does when many clients wait (httpx would
    spread them over several turns)."""
    target = httpx.URL(url)
    connections = [await asyncio.open_connection(target.host, target.port) for _ in payloads]
    try:
        for (_, writer), payload, token in zip(connections, payloads, tokens or [None] * len(payloads), strict=True):
            body = json.dumps(payload).encode()
            head = f"POST {target.path} HTTP/1.1\r\nHost: {target.host}\r\nContent-Type: application/json\r\n"
            head += f"Accept: application/json\r\nContent-Length: {len(body)}\r\n"
            head += f"Authorization: Bearer {token}\r\n" if token is not None else ""
            writer.write(f"{head}\r\n".encode() + body)
        bodies = []
        for reader, _ in connections:
            headers = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
            length = int(headers.split("content-length:", 1)[1].split("\r\n", 1)[0])
            bodies.append(json.loads(await reader.readexactly(length)))
        return bodies
    finally:
        for _, writer in connections:
            writer.close()


_SERVING = re.compile(r"dbmesh is serving (\S+)")
_RESOLVER = re.compile(r"resolver (\w+) \(pid (\d+)\) (?:at (\S+)|restarted)")


class UpProcess:
    """`python -m dbmesh up` as a user runs it."""

    def __init__(self, config_path: Path, schema_path: Path, env: dict[str, str] | None = None) -> None:
        self.config_path = config_path
        self.schema_path = schema_path
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.process: subprocess.Popen[str] | None = None
        self.url = ""
        self.pids: dict[str, int] = {}
        self.addresses: dict[str, str] = {}
        self.output: list[str] = []
        self._reader: asyncio.Task[None] | None = None

    async def start(self, timeout: float = 60.0) -> UpProcess:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dbmesh",
                "up",
                "-c",
                str(self.config_path),
                "-s",
                str(self.schema_path),
                "--port",
                "0",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=REPO,
            env=self.env,
        )
        self._reader = asyncio.get_running_loop().create_task(asyncio.to_thread(self._read))
        deadline = time.monotonic() + timeout
        while not self.url:
            if self.process.poll() is not None or time.monotonic() > deadline:
                await asyncio.sleep(0.2)
                raise RuntimeError("dbmesh up did not start:\n" + "".join(self.output[-40:]))
            await asyncio.sleep(0.05)
        return self

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            if match := _SERVING.search(line):
                self.url = match.group(1)
            if match := _RESOLVER.search(line):
                self.pids[match.group(1)] = int(match.group(2))
                if match.group(3):
                    self.addresses[match.group(1)] = match.group(3)

    def kill_resolver(self, name: str) -> int:
        """SIGKILL one resolver process; its pid."""
        pid = self.pids.pop(name)
        os.kill(pid, signal.SIGKILL)
        return pid

    async def wait_restarted(self, name: str, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while name not in self.pids:
            if time.monotonic() > deadline:
                raise RuntimeError(f"resolver {name} was not restarted:\n" + "".join(self.output[-20:]))
            await asyncio.sleep(0.05)
        return self.pids[name]

    async def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self.process.wait, 30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                await asyncio.to_thread(self.process.wait)
        if self._reader:
            with contextlib.suppress(Exception):
                await self._reader
        if self.process.stdout:
            self.process.stdout.close()
        return int(self.process.returncode or 0)
