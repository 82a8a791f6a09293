"""`python -m bench` (`make bench`): dbmesh against a hand-written baseline, end to end.

1. Generate the data (`--scale`) and load it into throwaway PostgreSQL and MariaDB servers and a
   SQLite file.
2. Start the mesh (`dbmesh --log-level warning up`, real processes) and the baseline.
3. Check that both return equal data for sampled requests of every scenario; abort if not.
4. Per scenario: warm both up, then `--rounds` rounds of `--duration` seconds per target under
   wrk, alternating (baseline first in even rounds, dbmesh first in odd ones).
5. Read every process's peak memory; profile the router and the resolvers under the nested
   scenario with py-spy.
6. Write bench/results/ (JSON, markdown, profiles) and, for a default full run, README.md's table.

Everything started is stopped, in reverse order, however the run ends.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import orjson

from bench import profile as profiling
from bench.check import Mismatch, ScenarioCheck, check
from bench.data import Dataset
from bench.load import LUA, Run, ensure_wrk, run_wrk, summarize, write_inputs, wrk_version
from bench.processes import CpuMeter, memory_kb
from bench.report import RESULTS, evaluate_targets, machine, markdown, scenario_result, update_readme, write_results
from bench.scenarios import SCENARIOS, Scenario
from bench.stack import POOL_SIZE, Databases, Targets, databases, load, targets

__all__ = ["main"]

WORK = Path(__file__).with_name("work")
PROFILED = ("router", "resolver mysql_historical", "resolver postgres_primary")
DEFAULTS = {"scale": 1.0, "duration": 10.0, "rounds": 2, "connections": 8}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--scale", type=float, default=DEFAULTS["scale"], help="data size (1 = 10,000 customers)")
    p.add_argument("--duration", type=float, default=DEFAULTS["duration"], help="seconds per round per target")
    p.add_argument("--rounds", type=int, default=DEFAULTS["rounds"], help="rounds per scenario per target")
    p.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per scenario per target")
    p.add_argument("--connections", type=int, default=DEFAULTS["connections"], help="wrk connections")
    p.add_argument("--samples", type=int, default=20, help="requests per scenario compared before timing")
    p.add_argument("--scenarios", default=",".join(s.name for s in SCENARIOS), help="comma-separated subset")
    p.add_argument("--profile-seconds", type=int, default=10, help="py-spy seconds per process (0: no profiling)")
    p.add_argument(
        "--orders-on",
        choices=["mysql", "postgresql"],
        default="mysql",
        help="where orders and items live (postgresql: a development aid when MariaDB is not usable)",
    )
    p.add_argument("--results", type=Path, default=RESULTS, help="where results go (default bench/results)")
    p.add_argument(
        "--readme",
        choices=["auto", "yes", "no"],
        default="auto",
        help="update README.md's table (auto: only for a run with the default scale, duration, rounds, connections "
        "and scenarios)",
    )
    p.add_argument("--keep-work", action="store_true", help="keep bench/work/<run> (logs, config) after success")
    p.add_argument("--strict", action="store_true", help="exit 3 when a target fails")
    return p


def _log(message: str) -> None:
    print(f"bench: {message}", flush=True)


def _raise_interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


async def _baseline_stats(url: str) -> dict[str, dict[str, int]]:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.get(url.replace("/graphql", "/stats"))
    response.raise_for_status()
    stats: dict[str, dict[str, int]] = response.json()
    return stats


def _measure(
    wrk: str,
    t: Targets,
    dbs: Databases,
    scenarios: Sequence[Scenario],
    work: Path,
    ids_file: Path,
    args: argparse.Namespace,
) -> dict[str, dict[str, list[Run]]]:
    urls = {"baseline": t.baseline_url, "dbmesh": t.mesh.url}
    meters = {
        "baseline": CpuMeter({"baseline": t.baseline.pid, **dbs.pids}, frozenset({"postgresql"})),
        "dbmesh": CpuMeter({**t.mesh.pids(), **dbs.pids}, frozenset({"postgresql"})),
    }
    runs: dict[str, dict[str, list[Run]]] = {s.name: {"baseline": [], "dbmesh": []} for s in scenarios}
    log = work / "wrk.log"
    common = {"connections": args.connections, "log": log}
    for scenario in scenarios:
        if args.warmup > 0:
            for target in ("baseline", "dbmesh"):
                run_wrk(wrk, urls[target], scenario, work, ids_file, seconds=args.warmup, seed=999, **common)
        for number in range(args.rounds):
            order = ("baseline", "dbmesh") if number % 2 == 0 else ("dbmesh", "baseline")
            for target in order:
                run = run_wrk(
                    wrk,
                    urls[target],
                    scenario,
                    work,
                    ids_file,
                    seconds=args.duration,
                    seed=1000 + number,
                    target=target,
                    round_number=number,
                    meter=meters[target],
                    **common,
                )
                runs[scenario.name][target].append(run)
                _log(
                    f"{scenario.name:7} round {number + 1} {target:8} {run.rps:8.1f} req/s  "
                    f"p50 {run.latency_us['p50'] / 1000:7.2f} ms  p99 {run.latency_us['p99'] / 1000:7.2f} ms  "
                    f"errors {run.errors}"
                )
    return runs


def _profile(
    wrk: str, t: Targets, work: Path, ids_file: Path, args: argparse.Namespace, results: Path
) -> dict[str, Any]:
    py_spy = profiling.find_py_spy()
    if py_spy is None:
        _log("WARNING: py-spy not found (it is in the dev extras: pip install -e '.[dev]'); no profiles")
        return {"skipped": "py-spy not found"}
    pids = t.mesh.pids()
    out: dict[str, Any] = {}
    for name in PROFILED:
        if name not in pids:
            continue
        slug = name.replace("resolver ", "resolver-").replace("_", "-")
        svg, raw = results / f"profile-{slug}.svg", results / f"profile-{slug}.txt"
        seconds = args.profile_seconds
        argv = [wrk, "-t1", f"-c{args.connections}", f"-d{seconds + 4}s", "-s", str(LUA), t.mesh.url, "--"]
        argv += [str(ids_file), str(work / "nested.body"), "1", "7"]
        load = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            time.sleep(2)
            profiling.record(py_spy, pids[name], seconds, svg, raw)
            load_out, _ = load.communicate(timeout=seconds + 60)
        finally:
            if load.poll() is None:
                load.kill()
                load.wait()
        summary = profiling.analyze(raw)
        summary["svg"] = svg.name
        summary["stacks"] = raw.name
        summary["rps_while_profiled"] = _rps_from(load_out)
        out[name] = summary
        top = ", ".join(f"{f['function']} {f['share']}%" for f in summary["self"][:3])
        _log(f"profiled {name}: event loop {summary['event_loop_busy_pct']}% busy; {top}")
    return out


def _rps_from(wrk_output: str) -> float | None:
    for line in wrk_output.splitlines():
        if line.startswith("WRK_RESULT "):
            result: dict[str, int] = orjson.loads(line[len("WRK_RESULT ") :])
            return round(result["requests"] / (result["duration_us"] / 1e6), 1)
    return None


def _statements_per_request(before: dict[str, dict[str, int]], after: dict[str, dict[str, int]], name: str) -> float:
    requests = after[name]["requests"] - before[name]["requests"]
    statements = after[name]["statements"] - before[name]["statements"]
    return round(statements / requests, 3) if requests else 0.0


def _results(
    args: argparse.Namespace,
    data: Dataset,
    dbs: Databases,
    wrk: str,
    timings: dict[str, Any],
    checks: dict[str, ScenarioCheck],
    runs: dict[str, dict[str, list[Run]]],
    baseline_spr: dict[str, float],
    memory: dict[str, dict[str, int]],
    profiles: dict[str, Any],
) -> dict[str, Any]:
    scenarios: dict[str, Any] = {}
    for name, by_target in runs.items():
        c = checks[name]
        mesh = summarize(by_target["dbmesh"])
        base = summarize(by_target["baseline"])
        mesh_spr = sum(c.mesh_statements) / len(c.mesh_statements) if c.mesh_statements else 0.0
        description = next(s.description for s in SCENARIOS if s.name == name)
        scenarios[name] = {
            "description": description,
            **scenario_result(
                {
                    **mesh.__dict__,
                    "statements_per_request": round(mesh_spr, 3),
                    "cpu_ms": mesh.cpu_ms_per_request["total"],
                },
                {
                    **base.__dict__,
                    "statements_per_request": baseline_spr[name],
                    "cpu_ms": base.cpu_ms_per_request["total"],
                },
                c.as_json(),
            ),
        }
    mesh_memory = {name: kb for name, kb in memory.items() if name != "baseline"}
    mesh_total = sum(kb["VmHWM"] for kb in mesh_memory.values())
    results: dict[str, Any] = {
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(dbs.versions, wrk_version(wrk)),
        "config": {
            "scale": args.scale,
            "duration_s": args.duration,
            "rounds": args.rounds,
            "warmup_s": args.warmup,
            "connections": args.connections,
            "wrk_threads": 1,
            "samples_checked": args.samples,
            "pool_size": POOL_SIZE,
            "orders_on": args.orders_on,
        },
        "data": data.describe(),
        "timings_s": timings,
        "scenarios": scenarios,
        "memory": {
            "mesh": mesh_memory,
            "baseline": memory["baseline"],
            "mesh_total_kb": mesh_total,
            "baseline_kb": memory["baseline"]["VmHWM"],
            "ratio": round(mesh_total / memory["baseline"]["VmHWM"], 2),
        },
        "profiles": profiles,
    }
    results["targets"] = evaluate_targets(results)
    return results


def _is_default(args: argparse.Namespace) -> bool:
    every = ",".join(s.name for s in SCENARIOS)
    return args.scenarios == every and all(getattr(args, key) == value for key, value in DEFAULTS.items())


def run(args: argparse.Namespace) -> int:
    began = time.monotonic()
    wanted = [n.strip() for n in args.scenarios.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in {s.name for s in SCENARIOS}]
    if unknown:
        raise SystemExit(f"bench: unknown scenario(s) {unknown} (known: {[s.name for s in SCENARIOS]})")
    scenarios = [s for s in SCENARIOS if s.name in wanted]
    wrk = ensure_wrk()
    load_before = os.getloadavg()
    if load_before[0] > 0.5:
        _log(f"WARNING: the machine is busy before the run (load average {load_before[0]:.2f}): numbers will be noisy")
    work = WORK / datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    work.mkdir(parents=True, exist_ok=True)
    args.results.mkdir(parents=True, exist_ok=True)
    timings: dict[str, Any] = {}
    start = time.perf_counter()
    data = Dataset(args.scale)
    timings["generate"] = round(time.perf_counter() - start, 2)
    _log(f"generated {data.describe()} in {timings['generate']} s; work folder {work}")
    succeeded = False
    try:
        with databases(work, args.orders_on) as dbs:
            _log(f"servers up: PostgreSQL {dbs.versions['postgresql']} {dbs.versions.get('mariadb', '')}")
            start = time.perf_counter()
            timings["load"] = asyncio.run(load(data, dbs, work))
            timings["load_total"] = round(time.perf_counter() - start, 2)
            _log(f"loaded in {timings['load_total']} s {timings['load']}")
            with targets(dbs, work) as t:
                _log(f"dbmesh at {t.mesh.url} (pids {t.mesh.pids()}), baseline at {t.baseline_url}")
                ids = data.customer_ids
                start = time.perf_counter()
                checks = asyncio.run(check(t.mesh.url, t.baseline_url, ids, samples=args.samples))
                timings["check"] = round(time.perf_counter() - start, 2)
                for name, c in checks.items():
                    _log(
                        f"check {name}: {c.samples} requests equal; statements dbmesh {sorted(set(c.mesh_statements))}"
                        f" (plan: {c.plan_fetches} fetches), baseline {sorted(set(c.baseline_statements))}"
                    )
                ids_file = write_inputs(work, ids, SCENARIOS)
                before = asyncio.run(_baseline_stats(t.baseline_url))
                start = time.perf_counter()
                runs = _measure(wrk, t, dbs, scenarios, work, ids_file, args)
                timings["load_runs"] = round(time.perf_counter() - start, 2)
                after = asyncio.run(_baseline_stats(t.baseline_url))
                baseline_spr = {s.name: _statements_per_request(before, after, s.name) for s in scenarios}
                memory = {name: memory_kb(pid) for name, pid in t.pids().items()}
                profiles: dict[str, Any] = {}
                if args.profile_seconds > 0:
                    start = time.perf_counter()
                    profiles = _profile(wrk, t, work, ids_file, args, args.results)
                    timings["profile"] = round(time.perf_counter() - start, 2)
        timings["total"] = round(time.monotonic() - began, 1)
        results = _results(args, data, dbs, wrk, timings, checks, runs, baseline_spr, memory, profiles)
        results["machine"]["load_average_before"] = [round(x, 2) for x in load_before]
        results["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
        latest, table = write_results(results, args.results)
        text = markdown(results)
        print("\n" + text)
        _log(f"wrote {latest} and {table}")
        wants_readme = args.readme == "yes" or (args.readme == "auto" and _is_default(args))
        if wants_readme and update_readme(text):
            _log("updated README.md's Performance table")
        failed = [t["target"] for t in results["targets"] if not t["pass"]]
        _log(
            f"finished in {timings['total']} s; "
            + (f"{len(failed)} target(s) FAILED" if failed else "all targets pass")
        )
        succeeded = True
        return 3 if failed and args.strict else 0
    finally:
        if succeeded and not args.keep_work:
            shutil.rmtree(work, ignore_errors=True)
        elif not succeeded:
            print(f"bench: logs kept in {work}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        return run(args)
    except Mismatch as exc:
        print(f"\nbench: ABORTED: dbmesh and the baseline disagree.\n{exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nbench: interrupted; everything it started has been stopped", file=sys.stderr)
        return 130
    except Exception as exc:
        print(f"\nbench: FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        with contextlib.suppress(Exception):
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
