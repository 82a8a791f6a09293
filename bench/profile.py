"""Where the time goes: py-spy samples a process under load and the samples are summarized.

Each profiled process gets a flame graph (`profile-<name>.svg`) and its collapsed stacks
(`profile-<name>.txt`, one "frame;frame;... count" line per distinct stack, which speedscope or
flamegraph.pl read), both recorded at the same time by two py-spy processes. `analyze`
reads the collapsed stacks of the main thread, which runs the event loop and so all of dbmesh's
Python code: how busy it was, the functions where its busy samples are (self), the functions under
which they are (inclusive) and which library the sampled code belongs to.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["analyze", "find_py_spy", "record"]

_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^():]*)(?::(?P<line>\d+))?\)$")

# Where a sampled frame's code lives, by the first matching path fragment.
CATEGORIES: tuple[tuple[str, str], ...] = (
    ("router/", "dbmesh router"),
    ("services/", "dbmesh resolver"),
    ("dbmesh/", "dbmesh (shared)"),
    ("bench/", "baseline"),
    ("graphql/", "graphql-core"),
    ("grpc", "grpc"),
    ("google/protobuf", "protobuf"),
    ("uvicorn/", "HTTP server (uvicorn/h11/starlette/fastapi)"),
    ("h11/", "HTTP server (uvicorn/h11/starlette/fastapi)"),
    ("starlette/", "HTTP server (uvicorn/h11/starlette/fastapi)"),
    ("fastapi/", "HTTP server (uvicorn/h11/starlette/fastapi)"),
    ("anyio/", "HTTP server (uvicorn/h11/starlette/fastapi)"),
    ("asyncpg/", "asyncpg"),
    ("aiomysql/", "aiomysql/PyMySQL"),
    ("asyncmy/", "asyncmy"),
    ("pymysql/", "aiomysql/PyMySQL"),
    ("aiosqlite/", "aiosqlite"),
    ("asyncio/", "asyncio event loop"),
    ("selectors.py", "asyncio event loop"),
    ("logging/", "logging"),
)


def find_py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def record(py_spy: str, pid: int, seconds: int, svg: Path, raw: Path, rate: int = 250) -> str:
    """Sample `pid` for `seconds` into a flame graph (running threads only) and collapsed stacks
    (every sample, idle ones included, so that `analyze` can tell how busy the event loop was);
    py-spy's output."""
    common = ["record", "--pid", str(pid), "--duration", str(seconds), "--rate", str(rate)]
    flame = subprocess.Popen(
        [py_spy, *common, "-o", str(svg)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        stacks = subprocess.run(
            [py_spy, *common, "--idle", "--format", "raw", "-o", str(raw)],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=False,
        )
        flame_out, _ = flame.communicate(timeout=seconds + 60)
    finally:
        if flame.poll() is None:
            flame.kill()
            flame.wait()
    if stacks.returncode != 0 or not raw.exists():
        raise RuntimeError(f"py-spy failed on pid {pid}: {stacks.stdout}{stacks.stderr}")
    return (flame_out or "") + stacks.stdout + stacks.stderr


@dataclass(frozen=True)
class Frame:
    function: str
    file: str

    @property
    def label(self) -> str:
        return f"{self.function} ({self.file})"

    @property
    def category(self) -> str:
        for fragment, name in CATEGORIES:
            if fragment in self.file:
                return name
        return "other (stdlib, C extensions called from here)"


def _parse(line: str) -> tuple[list[Frame], int] | None:
    stack, _, count = line.rstrip("\n").rpartition(" ")
    if not stack or not count.isdigit():
        return None
    frames = []
    for text in stack.split(";"):
        match = _FRAME.match(text)
        frames.append(Frame(match["function"], match["file"]) if match else Frame(text, ""))
    return frames, int(count)


def _idle(frames: list[Frame]) -> bool:
    """The event loop waiting for something to do (epoll) or a thread blocked in a wait."""
    leaf = frames[-1]
    return (leaf.file.endswith("selectors.py") and leaf.function.endswith("select")) or leaf.function in (
        "wait",
        "_do_waitpid",
    )


def analyze(raw: Path, top: int = 15) -> dict[str, Any]:
    """What the main thread (the event loop: all of dbmesh's Python code) spends its CPU on:
    self and inclusive shares of the top functions and the share of each library, as
    percentages of its busy samples (inclusive: dbmesh's own functions only); and how busy it
    was (busy samples / all its samples)."""
    own: Counter[Frame] = Counter()
    under: Counter[Frame] = Counter()
    libraries: Counter[str] = Counter()
    busy = idle = other_threads = 0
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        parsed = _parse(line)
        if parsed is None or not parsed[0]:
            continue
        frames, count = parsed
        if frames[0].function.endswith("_bootstrap"):  # a thread other than the main one
            other_threads += count
            continue
        if _idle(frames):
            idle += count
            continue
        busy += count
        own[frames[-1]] += count
        libraries[frames[-1].category] += count
        for frame in set(frames):
            under[frame] += count

    def share(n: int) -> float:
        return round(100 * n / busy, 1) if busy else 0.0

    # Inclusive shares of dbmesh's own functions: where its request path spends the CPU.
    # (Frames under which nearly everything runs, like `main`, say nothing: skipped.)
    inclusive = [(f, n) for f, n in under.most_common() if f.category.startswith("dbmesh") and n < 0.9 * busy]
    return {
        "main_thread_samples": busy + idle,
        "busy_samples": busy,
        "event_loop_busy_pct": round(100 * busy / (busy + idle), 1) if busy + idle else 0.0,
        "other_thread_samples": other_threads,
        "self": [{"function": f.label, "share": share(n)} for f, n in own.most_common(top)],
        "inclusive": [{"function": f.label, "share": share(n)} for f, n in inclusive[:top]],
        "libraries": [{"library": name, "share": share(n)} for name, n in libraries.most_common()],
    }
