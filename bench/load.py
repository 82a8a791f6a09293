"""Load with wrk (C, one thread, fixed connections): it leaves the 2 cores to the servers, which a
Python load generator would not. `load.lua` picks random customer ids per request, checks every
response (status and GraphQL `errors`) and prints its counts and latency percentiles as JSON.

wrk runs a closed loop: `connections` requests are in flight at any time, so requests/s is the
throughput at that concurrency and latency excludes queueing before a connection is free
(coordinated omission); both targets are measured the same way.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench.processes import CpuMeter
from bench.scenarios import Scenario

__all__ = ["LUA", "Run", "Summary", "ensure_wrk", "run_wrk", "summarize", "write_inputs"]

LUA = Path(__file__).with_name("load.lua")
MARKER = "WRK_RESULT "


class LoadError(RuntimeError):
    """wrk could not be installed or run, or printed no result."""


def ensure_wrk() -> str:
    """The wrk binary; installs Debian's package when it is missing (as scripts/ensure-db-binaries
    does for the databases)."""
    found = shutil.which("wrk")
    if found:
        return found
    if shutil.which("apt-get") is None:
        raise LoadError("wrk is not installed and apt-get is not available: install wrk (https://github.com/wg/wrk)")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    if sudo and shutil.which("sudo") is None:
        raise LoadError("wrk is not installed: run as root or install sudo, or install wrk yourself")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [*sudo, "apt-get", "install", "-y", "-q", "--no-install-recommends", "wrk"]
    print("bench: installing wrk (apt-get install wrk)", file=sys.stderr, flush=True)
    if subprocess.run(install, env=env, check=False).returncode != 0:
        subprocess.run([*sudo, "apt-get", "update", "-q"], env=env, check=False)
        subprocess.run(install, env=env, check=False)
    found = shutil.which("wrk")
    if not found:
        raise LoadError("apt-get install wrk failed; install wrk and run the benchmark again")
    return found


def wrk_version(wrk: str) -> str:
    out = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).splitlines()[0].split(" Copyright")[0].strip()


def write_inputs(folder: Path, ids: Sequence[str], scenarios: Sequence[Scenario]) -> Path:
    """The ids file and one body file per scenario (`<name>.body`); returns the ids file."""
    ids_file = folder / "ids.txt"
    ids_file.write_text("\n".join(ids) + "\n")
    for scenario in scenarios:
        template = scenario.template
        lines = (template.prefix, template.separator, template.suffix)
        if any("\n" in part for part in lines):
            raise LoadError(f"scenario {scenario.name}: the body template must fit on one line")
        (folder / f"{scenario.name}.body").write_text("\n".join(lines) + "\n")
    return ids_file


@dataclass
class Run:
    """One wrk run of one scenario against one target."""

    target: str
    scenario: str
    round: int
    seed: int
    duration_s: float
    requests: int
    socket_errors: int
    non_2xx: int
    graphql_errors: int
    checked: int
    latency_us: dict[str, float]
    percentiles: list[tuple[float, int]] = field(repr=False)
    cpu_s: dict[str, float] = field(default_factory=dict)  # per measured process
    wrk_cpu_s: float = 0.0

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def errors(self) -> int:
        return self.socket_errors + self.non_2xx + self.graphql_errors

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        del out["percentiles"]
        out["rps"] = round(self.rps, 1)
        return out


def run_wrk(
    wrk: str,
    url: str,
    scenario: Scenario,
    folder: Path,
    ids_file: Path,
    *,
    seconds: float,
    connections: int,
    seed: int,
    target: str = "",
    round_number: int = 0,
    log: Path | None = None,
    meter: CpuMeter | None = None,
) -> Run:
    argv = [wrk, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "--timeout", "30s"]
    argv += ["-s", str(LUA), url, "--", str(ids_file), str(folder / f"{scenario.name}.body")]
    argv += [str(scenario.ids_per_request), str(seed)]
    before = meter.snapshot() if meter is not None else {}
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 120, check=False)
    cpu = meter.seconds_since(before) if meter is not None else {}
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_cpu = (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
    if log is not None:
        with log.open("a", encoding="utf-8") as out:
            out.write(f"$ {' '.join(argv)}\n{done.stdout}{done.stderr}\n")
    line = next((li for li in done.stdout.splitlines() if li.startswith(MARKER)), None)
    if done.returncode != 0 or line is None:
        raise LoadError(f"wrk failed (exit {done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    result = orjson.loads(line[len(MARKER) :])
    errors = result["errors"]
    return Run(
        target=target,
        scenario=scenario.name,
        round=round_number,
        seed=seed,
        duration_s=result["duration_us"] / 1e6,
        requests=result["requests"],
        socket_errors=errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
        non_2xx=errors["status"],
        graphql_errors=result["graphql_errors"],
        checked=result["checked"],
        latency_us=result["latency_us"],
        percentiles=[(float(p), int(v)) for p, v in result["percentiles"]],
        cpu_s={name: round(seconds, 3) for name, seconds in cpu.items()},
        wrk_cpu_s=round(wrk_cpu, 3),
    )


@dataclass
class Summary:
    """Every round of one scenario on one target, merged."""

    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    checked: int
    cpu_ms_per_request: dict[str, float]  # per process, and "total"
    wrk_cpu_pct: float  # of one core, while measuring
    rounds: list[dict[str, Any]]


def _merged_quantile(runs: Sequence[Run], q: float) -> float:
    """The q-quantile (0..1) of all rounds' latencies together, in microseconds: each round's
    percentile points carry that round's share of its requests."""
    weighted: list[tuple[int, float]] = []
    for run in runs:
        previous = 0.0
        for p, value in run.percentiles:
            weighted.append((value, run.requests * (p - previous) / 100))
            previous = p
        weighted.append((int(run.latency_us["max"]), run.requests * (100 - previous) / 100))
    weighted.sort()
    total = sum(w for _, w in weighted)
    running = 0.0
    for value, weight in weighted:
        running += weight
        if running >= q * total - 1e-9:
            return float(value)
    return float(weighted[-1][0])


def summarize(runs: Sequence[Run]) -> Summary:
    requests = sum(r.requests for r in runs)
    duration = sum(r.duration_s for r in runs)
    cpu: dict[str, float] = {}
    for run in runs:
        for name, seconds in run.cpu_s.items():
            cpu[name] = cpu.get(name, 0.0) + seconds
    per_request = {name: round(1000 * s / requests, 3) if requests else 0.0 for name, s in cpu.items()}
    per_request["total"] = round(sum(per_request.values()), 3)
    return Summary(
        requests=requests,
        duration_s=round(duration, 2),
        rps=round(requests / duration, 1) if duration else 0.0,
        p50_ms=round(_merged_quantile(runs, 0.50) / 1000, 2),
        p99_ms=round(_merged_quantile(runs, 0.99) / 1000, 2),
        max_ms=round(max(r.latency_us["max"] for r in runs) / 1000, 2),
        errors=sum(r.errors for r in runs),
        checked=sum(r.checked for r in runs),
        cpu_ms_per_request=per_request,
        wrk_cpu_pct=round(100 * sum(r.wrk_cpu_s for r in runs) / duration, 1) if duration else 0.0,
        rounds=[r.as_json() for r in runs],
    )
