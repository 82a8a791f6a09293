"""`dbmesh up`'s resolver processes: one per configured database (SPEC §2).

Each resolver runs as its own process (`python -m dbmesh resolver ...`), as it would in its own
Kubernetes Deployment. A database without a `resolver` key gets a free local port. `start` returns
once every resolver answers the gRPC health check. A resolver that dies is reported by name and
restarted (after 0.5 s, doubling up to 10 s while it keeps dying); `stop` sends SIGTERM (the
resolvers drain in-flight calls) and SIGKILL after a grace period.
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

from dbmesh.config import Config
from dbmesh.errors import DbmeshError

__all__ = ["PARENT_ENV", "Supervisor", "die_with_supervisor", "free_port"]

log = logging.getLogger("dbmesh.up")

START_TIMEOUT_SECS = 30.0
STOP_GRACE_SECS = 10.0


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


async def _serving(address: str) -> bool:
    async with grpc.aio.insecure_channel(address) as channel:
        try:
            answer = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1.0)
        except grpc.aio.AioRpcError:
            return False
    return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)


class _Child:
    def __init__(self, name: str, address: str) -> None:
        self.name = name
        self.address = address
        self.process: asyncio.subprocess.Process | None = None
        self.restarts = 0


class Supervisor:
    def __init__(self, config_path: str, config: Config) -> None:
        self.config_path = config_path
        self.children = [_Child(d.name, d.resolver or f"127.0.0.1:{free_port()}") for d in config.databases]
        self._watch: asyncio.Task[None] | None = None
        self._stopping = False

    async def _spawn(self, child: _Child) -> None:
        level = logging.getLevelName(logging.getLogger().getEffectiveLevel()).lower()
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
            env={**os.environ, "PYTHONUNBUFFERED": "1", PARENT_ENV: str(os.getpid())},
        )

    async def _wait_serving(self, child: _Child, deadline: float) -> None:
        while time.monotonic() < deadline:
            assert child.process is not None
            if child.process.returncode is not None:
                code = child.process.returncode
                raise DbmeshError(f"resolver {child.name} exited with code {code} while starting (see its log above)")
            if await _serving(child.address):
                return
            await asyncio.sleep(0.1)
        raise DbmeshError(f"resolver {child.name} did not answer on {child.address} within {START_TIMEOUT_SECS:g}s")

    async def start(self) -> dict[str, str]:
        """Start every resolver; their addresses once all of them answer."""
        for child in self.children:
            await self._spawn(child)
        deadline = time.monotonic() + START_TIMEOUT_SECS
        await asyncio.gather(*(self._wait_serving(c, deadline) for c in self.children))
        for child in self.children:
            assert child.process is not None
            print(f"resolver {child.name} (pid {child.process.pid}) at {child.address}", flush=True)
        self._watch = asyncio.get_running_loop().create_task(self._supervise())
        return {c.name: c.address for c in self.children}

    async def _supervise(self) -> None:
        async def watch(child: _Child) -> None:
            delay = 0.5
            while not self._stopping:
                assert child.process is not None
                started = time.monotonic()
                code = await child.process.wait()
                if self._stopping:
                    return
                if time.monotonic() - started > 30:
                    delay = 0.5
                print(
                    f"dbmesh: resolver {child.name} (pid {child.process.pid}) exited with code {code}; "
                    f"restarting in {delay:g}s",
                    file=sys.stderr,
                    flush=True,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                if self._stopping:
                    return
                await self._spawn(child)
                child.restarts += 1
                print(f"resolver {child.name} (pid {child.process.pid}) restarted", file=sys.stderr, flush=True)

        await asyncio.gather(*(watch(c) for c in self.children))

    async def stop(self) -> None:
        self._stopping = True
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
                await asyncio.wait_for(process.wait(), STOP_GRACE_SECS)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
