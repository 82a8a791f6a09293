"""The two targets as real processes: `dbmesh up` (router + one resolver process per database) and
the baseline (`python -m bench.baseline`). Both run in their own session, so a Ctrl-C reaches the
bench only and the bench stops them in order; both are stopped by pid, SIGTERM first.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

__all__ = ["BASELINE_READY", "Child", "CpuMeter", "Mesh", "memory_kb"]

REPO = Path(__file__).resolve().parents[1]
STOP_TIMEOUT_SECS = 30.0
BASELINE_READY = re.compile(r"baseline is serving (\S+)")
_SERVING = re.compile(r"dbmesh is serving (\S+)")
_RESOLVER = re.compile(r"resolver (\w+) \(pid (\d+)\) at (\S+)")


def memory_kb(pid: int) -> dict[str, int]:
    """Peak (VmHWM) and current (VmRSS) resident memory of `pid`, in kB."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            out[key] = int(value.split()[0])
    return out


def _cpu_ticks(pid: int) -> int:
    """User + system CPU time of `pid` (all its threads), in clock ticks; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return out


class CpuMeter:
    """CPU time used by named processes between two snapshots. A name with `tree=True` counts the
    process and its children (PostgreSQL: the postmaster and one backend per connection)."""

    TICK_SECONDS = 1 / os.sysconf("SC_CLK_TCK")

    def __init__(self, pids: dict[str, int], trees: frozenset[str] = frozenset()) -> None:
        self.pids = pids
        self.trees = trees

    def snapshot(self) -> dict[str, dict[int, int]]:
        out: dict[str, dict[int, int]] = {}
        for name, pid in self.pids.items():
            members = [pid, *(_children(pid) if name in self.trees else [])]
            out[name] = {p: _cpu_ticks(p) for p in members}
        return out

    def seconds_since(self, before: dict[str, dict[int, int]]) -> dict[str, float]:
        after = self.snapshot()
        return {
            name: max(0, sum(t - before[name].get(p, 0) for p, t in now.items())) * self.TICK_SECONDS
            for name, now in after.items()
        }


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _is_resolver(pid: int) -> bool:
    """Whether `pid` still is a dbmesh resolver (and not a new process that reused the pid)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"dbmesh" in argv and b"resolver" in argv


class Child:
    """A child process whose output goes to a log file and is kept for matching."""

    def __init__(self, name: str, argv: list[str], log_path: Path) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.lines: list[str] = []
        self.process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self.cwd = REPO  # its working directory: first on the path of `python -m dbmesh`

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=self.cwd,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, name=f"{self.name}-output", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        with self.log_path.open("a", encoding="utf-8") as log:
            for line in self.process.stdout:
                self.lines.append(line)
                log.write(line)
                log.flush()

    def wait_for(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str]:
        """The first output line matching `pattern`; raises with the output tail if the process
        exits or `timeout` passes first."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for line in self.lines[seen:]:
                if match := pattern.search(line):
                    return match
            seen = len(self.lines)
            if self.process.poll() is not None or time.monotonic() > deadline:
                time.sleep(0.2)
                tail = "".join(self.lines[-30:]) or "(no output)"
                state = f"exited with code {self.process.poll()}" if self.process.poll() is not None else "timed out"
                raise RuntimeError(f"{self.name} did not start ({state}); its output:\n{tail}")
            time.sleep(0.05)

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT_SECS. Idempotent."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT_SECS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._reader is not None:
            self._reader.join(5)
        if process.stdout is not None:
            process.stdout.close()
        return process.returncode


class Mesh(Child):
    """`python -m dbmesh --log-level warning up -c CONFIG -s SCHEMA --port 0`: the router runs in
    this process; its resolvers are children whose pids it prints."""

    def __init__(self, config: Path, schema: Path, log_path: Path) -> None:
        argv = [sys.executable, "-m", "dbmesh", "--log-level", "warning", "up"]
        argv += ["-c", str(config), "-s", str(schema), "--port", "0"]
        super().__init__("dbmesh up", argv, log_path)
        self.url = ""
        self.resolvers: dict[str, int] = {}

    def wait_ready(self, timeout: float = 90.0) -> None:
        self.url = self.wait_for(_SERVING, timeout).group(1)
        for line in self.lines:
            if match := _RESOLVER.search(line):
                self.resolvers[match.group(1)] = int(match.group(2))

    def pids(self) -> dict[str, int]:
        """Process name -> pid: the router and every resolver."""
        return {"router": self.pid, **{f"resolver {name}": pid for name, pid in self.resolvers.items()}}

    def stop(self) -> int | None:
        code = super().stop()
        # `up` stops its resolvers itself (and they die with it); make sure, by their pids.
        deadline = time.monotonic() + STOP_TIMEOUT_SECS
        for pid in self.resolvers.values():
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _alive(pid) and _is_resolver(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        return code


def baseline(config: Path, log_path: Path) -> Child:
    return Child("baseline", [sys.executable, "-m", "bench.baseline", str(config)], log_path)
