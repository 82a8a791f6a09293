"""`dbmesh up`'s resolver processes: one per configured database (docs/reference.md §2).

Each resolver runs as its own process (`python -m dbmesh resolver ...`), as it would in its own
Kubernetes Deployment. A database without a `resolver` key gets a free local port; one whose
`resolver` is an array of addresses gets a resolver process per address (its replicas,
docs/reference.md §15); `dns:///NAME:PORT` is refused (`up` cannot listen on a DNS name). `start`
returns once every resolver answers the gRPC health check; one that exits first is the one-line error
`resolver NAME exited with code N while starting: ITS ERROR`. A resolver's own `dbmesh: error: ...`
line is passed on as `dbmesh: resolver NAME: ...`, so only `up` itself prints `dbmesh: error:`.

A resolver that dies is reported by name and restarted (after 0.5 s, doubling up to 10 s while it
keeps dying within 30 s of its start). Once stopping is requested (the `stopping` event, which
`dbmesh up` sets from SIGINT/SIGTERM, or `stop()`), resolvers that exit are not restarted and not
reported: Ctrl+C in a terminal signals the whole process group, so the resolvers may exit before
`up` has begun to stop them. `stop` sends SIGTERM (the resolvers drain in-flight calls) and
SIGKILL to any still running after the grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import socket
import sys
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from dbmesh.config import Config, DatabaseConfig
from dbmesh.errors import ConfigError, DbmeshError
from dbmesh.mesh import MeshConfig, channel

__all__ = ["PARENT_ENV", "Supervisor", "die_with_supervisor", "free_port"]

log = logging.getLogger("dbmesh.up")

START_TIMEOUT_SECS = 30.0
STOP_GRACE_SECS = 10.0
FIRST_RESTART_SECS = 0.5
MAX_RESTART_SECS = 10.0
# A resolver that exits because the process group got SIGINT exits about when `up` sees it too:
# this long is waited for the stop request before an exit counts as a crash.
_SIGNAL_SETTLE_SECS = 0.3
_ERROR_PREFIX = "dbmesh: error: "


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


PARENT_ENV = "DBMESH_SUPERVISOR_PID"


def die_with_supervisor() -> None:
    """In a resolver started by `dbmesh up`: get SIGTERM when `up` itself dies (Linux), so no
    resolver is left orphaned. Done by the child at start rather than in a preexec hook, so the
    parent can spawn with posix_spawn/vfork (no Python code between fork and exec)."""
    parent = os.environ.get(PARENT_ENV)
    if not parent:
        return
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != int(parent):  # `up` died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


async def _serving(address: str, mesh: MeshConfig) -> bool:
    async with channel(address, mesh) as opened:
        try:
            answer = await health_pb2_grpc.HealthStub(opened).Check(health_pb2.HealthCheckRequest(), timeout=1.0)
        except grpc.aio.AioRpcError:
            return False
    return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)


def _listen_addresses(database: DatabaseConfig, source: str) -> tuple[str, ...]:
    """Where `up` starts `database`'s resolver processes: one per listed address, else a free port."""
    if database.replicated and not database.resolver_addresses:
        raise ConfigError(
            f"{source}: database {database.name!r}: dbmesh up cannot start resolvers at {database.resolver!r}"
            " (a DNS name is for routers: list 'host:port' addresses, or leave 'resolver' out)"
        )
    return database.resolver_addresses or (f"127.0.0.1:{free_port()}",)


class _Child:
    """One resolver process and what is known of it: its address, restarts and last error line."""

    def __init__(self, name: str, address: str) -> None:
        self.name = name
        self.address = address
        self.process: asyncio.subprocess.Process | None = None
        self.restarts = 0
        self.error: str | None = None
        self.relay: asyncio.Task[None] | None = None


class Supervisor:
    """Runs one resolver process per configured database (see the module docstring)."""

    def __init__(
        self,
        config_path: str,
        config: Config,
        *,
        stopping: asyncio.Event | None = None,
        grace_secs: float = STOP_GRACE_SECS,
    ) -> None:
        self.config_path = config_path
        self._databases = {d.name: d for d in config.databases}
        self.mesh = config.mesh
        self.children = [
            _Child(d.name, address) for d in config.databases for address in _listen_addresses(d, config.source)
        ]
        self.stopping = stopping or asyncio.Event()
        self.grace_secs = grace_secs
        self._watch: asyncio.Task[None] | None = None

    async def _spawn(self, child: _Child) -> None:
        level = logging.getLevelName(logging.getLogger().getEffectiveLevel()).lower()
        child.error = None
        child.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "dbmesh",
            "--log-level",
            level if level in ("debug", "info", "warning", "error") else "info",
            "resolver",
            "-c",
            self.config_path,
            "--database",
            child.name,
            "--listen",
            child.address,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1", PARENT_ENV: str(os.getpid())},
        )
        child.relay = asyncio.get_running_loop().create_task(self._relay(child, child.process))

    async def _relay(self, child: _Child, process: asyncio.subprocess.Process) -> None:
        """Pass the resolver's log on to our stderr; its error line is kept and renamed."""
        assert process.stderr is not None
        async for raw in process.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if line.startswith(_ERROR_PREFIX):
                child.error = line.removeprefix(_ERROR_PREFIX)
                line = f"dbmesh: resolver {child.name}: {child.error}"
            print(line, file=sys.stderr, flush=True)

    async def _exited(self, child: _Child) -> int:
        """Wait for the resolver to exit and its log to be passed on; its exit code."""
        assert child.process is not None
        code = await child.process.wait()
        if child.relay is not None:
            await child.relay
        return code

    async def _wait_serving(self, child: _Child, deadline: float) -> None:
        assert child.process is not None
        while time.monotonic() < deadline:
            if self.stopping.is_set():
                return
            if child.process.returncode is not None:
                code = await self._exited(child)
                if await self._stop_requested(_SIGNAL_SETTLE_SECS):
                    return
                why = f": {child.error}" if child.error else " (see its log above)"
                raise DbmeshError(f"resolver {child.name} exited with code {code} while starting{why}")
            if await _serving(child.address, self.mesh):
                return
            await asyncio.sleep(0.1)
        raise DbmeshError(f"resolver {child.name} did not answer on {child.address} within {START_TIMEOUT_SECS:g}s")

    async def start(self) -> dict[str, str]:
        """Start every resolver; once all of them answer, each database's resolver address (the
        gRPC target of its replicas when it has several, for `DatabaseConfig.with_resolver`), or
        nothing at once when stopping is requested meanwhile (the caller then checks `stopping`)."""
        for child in self.children:
            await self._spawn(child)
        deadline = time.monotonic() + START_TIMEOUT_SECS
        await asyncio.gather(*(self._wait_serving(c, deadline) for c in self.children))
        if self.stopping.is_set():
            return {}
        for child in self.children:
            assert child.process is not None
            print(f"resolver {child.name} (pid {child.process.pid}) at {child.address}", flush=True)
        self._watch = asyncio.get_running_loop().create_task(self._supervise())
        addresses: dict[str, list[str]] = {}
        for child in self.children:
            addresses.setdefault(child.name, []).append(child.address)
        return {name: self._databases[name].with_resolvers(listed).resolver or "" for name, listed in addresses.items()}

    async def _stop_requested(self, within: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), within)
        return self.stopping.is_set()

    async def _supervise(self) -> None:
        await asyncio.gather(*(self._keep_running(c) for c in self.children))

    async def _keep_running(self, child: _Child) -> None:
        delay = FIRST_RESTART_SECS
        while True:
            assert child.process is not None
            started = time.monotonic()
            code = await self._exited(child)
            if await self._stop_requested(_SIGNAL_SETTLE_SECS):
                return
            if time.monotonic() - started > 30:
                delay = FIRST_RESTART_SECS
            print(
                f"dbmesh: resolver {child.name} (pid {child.process.pid}) exited with code {code}; "
                f"restarting in {delay:g}s",
                file=sys.stderr,
                flush=True,
            )
            if await self._stop_requested(delay):
                return
            delay = min(delay * 2, MAX_RESTART_SECS)
            await self._spawn(child)
            child.restarts += 1
            print(f"resolver {child.name} (pid {child.process.pid}) restarted", file=sys.stderr, flush=True)

    async def stop(self) -> None:
        """Stop supervising, SIGTERM every resolver still running, SIGKILL those left after the grace."""
        self.stopping.set()
        if self._watch:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        running = [c.process for c in self.children if c.process and c.process.returncode is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        for process in running:
            try:
                await asyncio.wait_for(process.wait(), self.grace_secs)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        for child in self.children:
            if child.relay is not None:
                with contextlib.suppress(Exception):
                    await child.relay
