"""The Node.js side of the federation and persisted-query tests (tests/apollo/js): its npm
packages installed from package-lock.json (`npm ci`, once, when node_modules is missing or older
than the lock file), its long-running servers, and its one-shot scripts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import subprocess
from pathlib import Path
from typing import Any

JS = Path(__file__).with_name("js")
_READY = re.compile(r"ready at (\S+)")


def npm_ci() -> None:
    """Install the locked packages unless node_modules is as new as package-lock.json."""
    installed = JS / "node_modules" / ".package-lock.json"
    if installed.exists() and installed.stat().st_mtime >= (JS / "package-lock.json").stat().st_mtime:
        return
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=JS, check=True, capture_output=True, timeout=300)


class NodeServer:
    """`node SCRIPT ARGS...` in js/, serving until stopped; `url` is what it printed as ready."""

    def __init__(self, script: str, *args: str) -> None:
        self.command = ["node", script, *args]
        self.process: asyncio.subprocess.Process | None = None
        self.url = ""

    async def start(self, timeout: float = 60.0) -> NodeServer:
        self.process = await asyncio.create_subprocess_exec(
            *self.command, cwd=JS, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        assert self.process.stdout is not None
        output: list[str] = []
        async with asyncio.timeout(timeout):
            while line := (await self.process.stdout.readline()).decode():
                output.append(line)
                if found := _READY.search(line):
                    self.url = found.group(1)
                    return self
        raise RuntimeError(f"{' '.join(self.command)} exited without serving:\n{''.join(output)}")

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            with contextlib.suppress(ProcessLookupError):
                await self.process.wait()


async def run_json(script: str, *args: str, timeout: float = 60.0) -> Any:
    """The JSON line `node SCRIPT ARGS...` prints (it must exit 0)."""
    process = await asyncio.create_subprocess_exec(
        "node", script, *args, cwd=JS, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode == 0, stderr.decode()
    return json.loads(stdout.decode().strip().splitlines()[-1])
