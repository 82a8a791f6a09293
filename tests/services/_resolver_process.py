"""A resolver service as a real process, `python -m dbmesh resolver -c CONFIG --database NAME
--listen 127.0.0.1:PORT`, exactly as a user runs it, so that tests can SIGKILL it (a crash) and
start another one.

`ResolverProcesses` (the `resolver_processes` fixture in the tests that use it) starts them and,
whatever happens in the test, kills every one it started when the test ends. A process runs at
dbmesh's default log level unless given `log_level` (`--log-level`); its stdout and stderr go to
`log_path`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
from conformance.client import ResolverClient
from grpc_health.v1 import health_pb2, health_pb2_grpc
from harness.servers import free_port

__all__ = ["ResolverProcess", "ResolverProcesses"]

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 30.0
PORT_ATTEMPTS = 3


class ResolverProcess:
    def __init__(self, config_path: Path, database: str, log_path: Path, log_level: str = "") -> None:
        self.config_path = config_path
        self.database = database
        self.log_path = log_path
        self.log_level = log_level
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        level = ["--log-level", self.log_level] if self.log_level else []
        return [
            sys.executable,
            "-m",
            "dbmesh",
            *level,
            "resolver",
            "-c",
            str(self.config_path),
            "--database",
            self.database,
            "--listen",
            self.address,
        ]

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return "(no log)"

    async def start(self) -> ResolverProcess:
        """Start on a free port and wait until its gRPC health check says SERVING."""
        for attempt in range(PORT_ATTEMPTS):
            self.port = free_port()
            with self.log_path.open("ab") as log:
                env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "MYSQL"))}
                self.proc = subprocess.Popen(
                    self.command(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=env
                )
            if await self._serving():
                return self
            if attempt == PORT_ATTEMPTS - 1 or "address already in use" not in self.log().lower():
                break
        raise RuntimeError(f"resolver process did not start ({self.command()}):\n{self.log()}")

    async def _serving(self) -> bool:
        assert self.proc is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        async with grpc.aio.insecure_channel(self.address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    return False
                with contextlib.suppress(grpc.aio.AioRpcError):
                    reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return True
                await asyncio.sleep(0.05)
        self.kill()
        return False

    def kill(self) -> None:
        """SIGKILL: a crash, nothing is cleaned up."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=30)

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM and wait for a graceful exit (SIGKILL if it does not come)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode

    def client(self, engine: str = "") -> ResolverClient:
        return ResolverClient(self.address, engine)


class ResolverProcesses:
    """Starts resolver processes for one test and kills whatever is left of them at its end."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.started: list[ResolverProcess] = []

    async def start(self, config_path: Path, database: str, log_level: str = "") -> ResolverProcess:
        log = self.folder / f"resolver-{database}-{len(self.started) + 1}.log"
        process = ResolverProcess(config_path, database, log, log_level)
        self.started.append(process)
        return await process.start()

    def close(self) -> None:
        for process in self.started:
            process.kill()
