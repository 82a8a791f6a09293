"""The results: the machine, every number as dbmesh, baseline and their ratio, the targets with
pass/fail, written as JSON (`latest.json` and a timestamped copy) and a markdown table
(`latest.md`), which also goes into README.md between `<!-- bench:start -->` and
`<!-- bench:end -->`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import subprocess
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import orjson

__all__ = ["RESULTS", "evaluate_targets", "machine", "markdown", "run_report", "update_readme", "write_results"]

RESULTS = Path(__file__).with_name("results")
README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"

# (scenario, metric, comparison, bound): dbmesh / baseline must satisfy it.
TARGETS: tuple[tuple[str, str, str, float], ...] = (
    ("nested", "rps", ">=", 0.5),
    ("nested", "p99_ms", "<=", 3.0),
    ("batch", "rps", ">=", 0.5),
    ("batch", "p99_ms", "<=", 3.0),
    ("point", "rps", ">=", 0.35),
)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return 0.0


def _git_commit() -> str:
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+changes" if dirty else "")


def machine(versions: Mapping[str, str], wrk: str) -> dict[str, Any]:
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "postgresql": versions.get("postgresql", ""),
        "mariadb": versions.get("mariadb", ""),
        "wrk": wrk,
        "dbmesh_commit": _git_commit(),
    }


def _ratio(mesh: float, baseline: float) -> float | None:
    return round(mesh / baseline, 3) if baseline else None


def evaluate_targets(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each target with what was measured and whether it holds."""
    out = []
    scenarios = results["scenarios"]
    for scenario, metric, comparison, bound in TARGETS:
        if scenario not in scenarios:
            continue
        ratio = scenarios[scenario]["ratio"][metric]
        passed = ratio is not None and (ratio >= bound if comparison == ">=" else ratio <= bound)
        what = "requests/s" if metric == "rps" else "p99 latency"
        margin = None if ratio is None else round(ratio - bound if comparison == ">=" else bound - ratio, 3)
        out.append(
            {
                "target": f"{scenario}: dbmesh {what} {comparison} {bound:g}x baseline",
                "measured": f"{ratio:.2f}x" if ratio is not None else "n/a",
                "margin": margin,
                "pass": passed,
            }
        )
    for name, s in scenarios.items():
        counts = s["checks"]["mesh_statements"]
        passed = bool(s["checks"]["statements_match_plan"])
        fetches = s["checks"]["plan_fetches"]
        out.append(
            {
                "target": f"{name}: SQL statements per request = the plan's fetch count ({fetches})",
                "measured": "/".join(str(c) for c in counts) + f" in {s['checks']['samples']} traced requests",
                "margin": None,
                "pass": passed,
            }
        )
    return out


def scenario_result(mesh: Mapping[str, Any], baseline: Mapping[str, Any], checks: Mapping[str, Any]) -> dict[str, Any]:
    metrics = ("rps", "p50_ms", "p99_ms", "errors", "statements_per_request", "cpu_ms")
    return {
        "mesh": dict(mesh),
        "baseline": dict(baseline),
        "ratio": {m: _ratio(float(mesh[m]), float(baseline[m])) for m in metrics},
        "checks": dict(checks),
    }


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def markdown(results: Mapping[str, Any]) -> str:
    m = results["machine"]
    cfg = results["config"]
    data = results["data"]
    lines = [
        f"Measured {results['finished_at']} on {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['os']}; "
        f"Python {m['python']}, PostgreSQL {m['postgresql']}, MariaDB {m['mariadb'] or 'n/a'}, {m['wrk']}; "
        f"dbmesh {m['dbmesh_commit']}. Load average before the run: {m['load_average_before'][0]:.2f}.",
        "",
        f"Data (scale {cfg['scale']:g}): {data['customers']:,} customers and {data['customer_details']:,} details "
        f"(PostgreSQL), {data['orders']:,} orders and {data['order_items']:,} items "
        f"({'MariaDB' if cfg['orders_on'] == 'mysql' else 'PostgreSQL'}), {data['sqlite_cached_customers']:,} "
        f"cached customers (SQLite). Load: wrk, {cfg['connections']} connections, 1 thread, "
        f"{cfg['rounds']} rounds x {cfg['duration_s']:g} s per scenario per target after {cfg['warmup_s']:g} s of "
        "warm-up, dbmesh and baseline alternating. Ratio = dbmesh / baseline.",
        "",
        "| scenario | metric | dbmesh | baseline | ratio |",
        "|---|---|---:|---:|---:|",
    ]
    names = {
        "rps": ("requests/s", 0),
        "p50_ms": ("p50 latency (ms)", 2),
        "p99_ms": ("p99 latency (ms)", 2),
        "errors": ("errors", 0),
        "statements_per_request": ("SQL statements / request", 1),
        "cpu_ms": ("CPU ms / request (all its processes and the databases)", 2),
    }
    for name, s in results["scenarios"].items():
        for i, (metric, (label, digits)) in enumerate(names.items()):
            mesh, base, ratio = s["mesh"][metric], s["baseline"][metric], s["ratio"][metric]
            shown_ratio = f"{ratio:.2f}x" if ratio is not None else "n/a"
            lines.append(
                f"| {name if i == 0 else ''} | {label} | {_fmt(mesh, digits)} | {_fmt(base, digits)} | {shown_ratio} |"
            )
    memory = results["memory"]
    lines += ["", "| peak memory (VmHWM) | dbmesh MiB | baseline MiB | ratio |", "|---|---:|---:|---:|"]
    for name, kb in memory["mesh"].items():
        lines.append(f"| {name} | {kb['VmHWM'] / 1024:.1f} | | |")
    total_ratio = memory["ratio"]
    lines.append(
        f"| **total** | **{memory['mesh_total_kb'] / 1024:.1f}** | **{memory['baseline_kb'] / 1024:.1f}** | "
        f"**{total_ratio:.2f}x** |"
    )
    lines += ["", "| target | measured | result |", "|---|---:|---|"]
    for t in results["targets"]:
        lines.append(f"| {t['target']} | {t['measured']} | {'pass' if t['pass'] else '**FAIL**'} |")
    return "\n".join(lines) + "\n"


def details_markdown(results: Mapping[str, Any]) -> str:
    """Where the CPU goes (per process, per request) and what the profiles show."""
    lines = ["## CPU per request, by process (ms)", ""]
    names: list[str] = []
    for s in results["scenarios"].values():
        for side in ("mesh", "baseline"):
            names += [n for n in s[side]["cpu_ms_per_request"] if n not in names and n != "total"]
    lines.append("| scenario | target | " + " | ".join(names) + " | total | wrk CPU % of a core |")
    lines.append("|---|---|" + "---:|" * (len(names) + 2))
    for scenario, s in results["scenarios"].items():
        for side, label in (("mesh", "dbmesh"), ("baseline", "baseline")):
            cpu = s[side]["cpu_ms_per_request"]
            cells = " | ".join(f"{cpu[n]:.2f}" if n in cpu else "" for n in names)
            lines.append(f"| {scenario} | {label} | {cells} | {cpu['total']:.2f} | {s[side]['wrk_cpu_pct']:.0f} |")
    for name, p in (results.get("profiles") or {}).items():
        if not isinstance(p, dict) or "self" not in p:
            continue
        lines += [
            "",
            f"## Profile: {name} under the nested scenario (py-spy, [{p['svg']}]({p['svg']}))",
            "",
            f"Event loop busy {p['event_loop_busy_pct']}% of {p['main_thread_samples']} samples "
            f"({p.get('rps_while_profiled') or 'n/a'} req/s while profiled). Shares are of its busy samples.",
            "",
            "| self | % | | dbmesh function (inclusive) | % |",
            "|---|---:|---|---|---:|",
        ]
        rows = max(len(p["self"]), len(p["inclusive"]))
        for i in range(min(rows, 12)):
            own = p["self"][i] if i < len(p["self"]) else {"function": "", "share": ""}
            inc = p["inclusive"][i] if i < len(p["inclusive"]) else {"function": "", "share": ""}
            lines.append(f"| `{own['function']}` | {own['share']} | | `{inc['function']}` | {inc['share']} |")
        libraries = ", ".join(f"{lib['library']} {lib['share']}%" for lib in p["libraries"])
        lines += ["", f"By library (self): {libraries}."]
    return "\n".join(lines) + "\n"


def write_results(results: Mapping[str, Any], folder: Path = RESULTS) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    payload = orjson.dumps(results, option=orjson.OPT_INDENT_2)
    stamp = re.sub(r"[^0-9T]", "", results["finished_at"].split("+")[0])[:15]
    (folder / f"{stamp}.json").write_bytes(payload)
    latest = folder / "latest.json"
    latest.write_bytes(payload)
    table = folder / "latest.md"
    text = "# dbmesh benchmark: latest results\n\n" + markdown(results) + "\n" + details_markdown(results)
    table.write_text(text, encoding="utf-8")
    return latest, table


def run_report(parser: argparse.ArgumentParser, run: Callable[[argparse.Namespace], Awaitable[str]], path: Path) -> int:
    """The `main` of a benchmark that prints one markdown report: parse the arguments, run it, write
    the report to `path` (under bench/results/) and print it."""
    report = asyncio.run(run(parser.parse_args()))
    path.parent.mkdir(exist_ok=True)
    path.write_text(report)
    print(report)
    return 0


def update_readme(table: str, readme: Path = README) -> bool:
    """Replace what is between the markers; False when README.md has no markers."""
    text = readme.read_text(encoding="utf-8")
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        return False
    readme.write_text(text[: start + len(START)] + "\n" + table + text[end:], encoding="utf-8")
    return True
