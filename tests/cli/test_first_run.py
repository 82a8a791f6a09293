"""The CLI as a new user first meets it, each as a real `dbmesh` process: Ctrl+C on `up` and `demo`
stops everything quietly; `health --url` takes the URL `up` prints; the demo banner says how to run
`plan` when `dbmesh` is not on PATH; the README's Python client example runs against the demo."""

from __future__ import annotations

import ast
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_commands import REPO, dbmesh, one_line_error

from dbmesh.commands import PLAN_EXAMPLE
from dbmesh.demo import customer_id, prepare
from dbmesh.supervisor import free_port

SCRIPT = Path(sys.executable).parent / "dbmesh"  # what `make demo` runs: .venv/bin/dbmesh
BARE_PATH = "/usr/bin:/bin"
_RESOLVER_PID = re.compile(r"^resolver (\w+) \(pid (\d+)\) at ")


class Running:
    """A `dbmesh` process in a process group of its own (as a terminal runs it), its output
    (stdout and stderr) collected line by line."""

    def __init__(self, args: list[str], *, cwd: Path = REPO, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=cwd,
            env={**(env or os.environ), "PYTHONUNBUFFERED": "1"},
            process_group=0,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, found: Callable[[str], bool], timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            for line in list(self.lines):
                if found(line):
                    return line
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("dbmesh did not print what was expected:\n" + self.output)
            time.sleep(0.05)

    @property
    def url(self) -> str:
        return self.wait_for(lambda line: line.startswith("dbmesh is serving ")).split()[-1]

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def resolver_pids(self) -> dict[str, int]:
        return {m.group(1): int(m.group(2)) for line in self.lines if (m := _RESOLVER_PID.match(line))}

    def interrupt(self, timeout: float = 30.0) -> int:
        """Ctrl+C: SIGINT to the whole process group; the exit code."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
        try:
            code = self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
            self._reader.join(5)
            if self.process.stdout:
                self.process.stdout.close()
        return code


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture(scope="module")
def demo_without_path(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Running, Path]]:
    """`.venv/bin/dbmesh demo` from the checkout, as `make demo` runs it, with `dbmesh` not on PATH."""
    data = tmp_path_factory.mktemp("demo")
    demo = Running([str(SCRIPT), "demo", "--port", "0", "--data", str(data)], env={**os.environ, "PATH": BARE_PATH})
    try:
        demo.wait_for(lambda line: line.startswith("(dbmesh "))
        yield demo, data
    finally:
        demo.interrupt()


@pytest.mark.parametrize("command", ["up", "demo"])
def test_ctrl_c_stops_every_part_without_restarting_any_and_exits_0(command: str, tmp_path: Path) -> None:
    if command == "up":
        config, schema = prepare(tmp_path)
        args = ["up", "-c", str(config), "-s", str(schema), "--port", "0"]
    else:
        args = ["demo", "--port", "0", "--data", str(tmp_path / "data")]
    running = Running([sys.executable, "-m", "dbmesh", *args])
    assert running.url
    pids = running.resolver_pids()
    assert len(pids) == 3
    assert running.interrupt() == 0, running.output
    assert "restart" not in running.output
    assert "Traceback" not in running.output
    assert "error" not in running.output.lower()
    assert [name for name, pid in pids.items() if not gone(pid)] == []


def test_health_takes_the_graphql_url_up_prints(demo_without_path: tuple[Running, Path]) -> None:
    url = demo_without_path[0].url
    origin = url.removesuffix("/graphql")
    for given in (url, origin, origin + "/healthz", origin + "/readyz"):
        result = dbmesh("health", "--url", given)
        assert (result.returncode, result.stdout, result.stderr) == (0, "", ""), given
    dead = f"http://127.0.0.1:{free_port()}/graphql"
    message = one_line_error(dbmesh("health", "--url", dead, "--timeout", "2"))
    assert message == f"{dead.removesuffix('graphql')}healthz: All connection attempts failed"


def test_the_demo_banner_says_how_to_run_plan_when_dbmesh_is_not_on_path(
    demo_without_path: tuple[Running, Path],
) -> None:
    demo, data = demo_without_path
    command = str(SCRIPT.relative_to(REPO))
    plan = demo.wait_for(lambda line: " plan -c " in line)
    assert plan == f"{command} plan -c {data / 'dbmesh.toml'} -s {data / 'schema.py'} '{PLAN_EXAMPLE}'"
    assert f"(dbmesh is not on PATH here: run it as {command})" in demo.lines
    ran = subprocess.run(
        shlex.split(plan), capture_output=True, text=True, cwd=REPO, env={**os.environ, "PATH": BARE_PATH}, timeout=60
    )
    assert ran.returncode == 0, ran.stderr
    assert re.fullmatch(r"query: \d+ fetch(es)?", ran.stdout.splitlines()[0])


def test_the_demo_banner_says_dbmesh_when_it_is_on_path(tmp_path: Path) -> None:
    path = f"{SCRIPT.parent}:{BARE_PATH}"
    demo = Running([str(SCRIPT), "demo", "--port", "0", "--data", str(tmp_path)], env={**os.environ, "PATH": path})
    try:
        plan = demo.wait_for(lambda line: " plan -c " in line)
        assert plan.startswith(f"dbmesh plan -c {tmp_path / 'dbmesh.toml'} ")
        demo.url  # noqa: B018 - the banner is complete once the URL line is out
    finally:
        assert demo.interrupt() == 0
    assert not any(line.startswith("(dbmesh ") for line in demo.lines)


def readme_python_client_example() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Python client\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "README.md's Python client section has no python example"
    return match.group(1)


def test_the_readme_python_client_example_runs_against_the_demo(demo_without_path: tuple[Running, Path]) -> None:
    example = readme_python_client_example()
    assert '"http://127.0.0.1:8000/graphql"' in example
    code = example.replace("http://127.0.0.1:8000/graphql", demo_without_path[0].url)
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert ran.returncode == 0, ran.stderr
    data, errors, trace = (ast.literal_eval(line) for line in ran.stdout.splitlines())
    assert data["customer"]["id"] == customer_id(1)
    assert data["customer"]["name"] and "@" in data["customer"]["email"]
    assert errors == []
    assert isinstance(trace, dict) and trace
