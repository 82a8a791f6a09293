"""dbmesh.supervisor with real resolver processes over SQLite files: a resolver that dies is reported
by name and restarted with backoff, a stop request silences exits, `stop()` escalates from SIGTERM
to SIGKILL after the grace, and a resolver that fails at start is one line naming it and why."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dbmesh.config import load_config
from dbmesh.errors import DbmeshError
from dbmesh.supervisor import Supervisor

RESTARTING = "dbmesh: resolver {name} (pid {pid}) exited with code {code}; restarting in {delay}"


def write_config(folder: Path, names: tuple[str, ...] = ("alpha", "beta"), path: str = "NAME.db") -> Path:
    text = ""
    for name in names:
        conn = sqlite3.connect(folder / f"{name}.db")
        conn.execute("CREATE TABLE IF NOT EXISTS things (id INTEGER PRIMARY KEY)")
        conn.close()
        text += f'[[databases]]\nname = "{name}"\nengine = "sqlite"\npath = "{path.replace("NAME", name)}"\n'
    config = folder / "dbmesh.toml"
    config.write_text(text, encoding="utf-8")
    return config


def pid_of(supervisor: Supervisor, name: str) -> int:
    process = next(child.process for child in supervisor.children if child.name == name)
    assert process is not None
    return process.pid


async def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_a_killed_resolver_is_reported_by_name_and_restarted_with_backoff(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    supervisor = Supervisor(str(config), load_config(config))
    try:
        addresses = await supervisor.start()
        assert set(addresses) == {"alpha", "beta"}
        beta = pid_of(supervisor, "beta")
        alpha = supervisor.children[0]

        first = pid_of(supervisor, "alpha")
        os.kill(first, signal.SIGKILL)
        await wait_for(lambda: alpha.restarts == 1)
        second = pid_of(supervisor, "alpha")

        os.kill(second, signal.SIGKILL)
        killed = time.monotonic()
        await wait_for(lambda: alpha.restarts == 2)
        assert time.monotonic() - killed >= 1.0  # the second restart waits twice as long
        third = pid_of(supervisor, "alpha")

        assert len({first, second, third}) == 3
        assert pid_of(supervisor, "beta") == beta
        err = capsys.readouterr().err
        assert RESTARTING.format(name="alpha", pid=first, code=-9, delay="0.5s") in err
        assert f"resolver alpha (pid {second}) restarted" in err
        assert RESTARTING.format(name="alpha", pid=second, code=-9, delay="1s") in err
        assert f"resolver alpha (pid {third}) restarted" in err
        assert "resolver beta" not in err
    finally:
        await supervisor.stop()
    assert gone(pid_of(supervisor, "alpha")) and gone(pid_of(supervisor, "beta"))


async def test_resolvers_that_exit_once_stopping_is_requested_are_neither_reported_nor_restarted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As with Ctrl+C in a terminal: the resolvers get SIGINT as `up` does, a moment before `up`
    sets its stop request."""
    config = write_config(tmp_path)
    stopping = asyncio.Event()
    supervisor = Supervisor(str(config), load_config(config), stopping=stopping)
    try:
        await supervisor.start()
        pids = [pid_of(supervisor, name) for name in ("alpha", "beta")]
        for pid in pids:
            os.kill(pid, signal.SIGINT)
        await asyncio.sleep(0.05)
        stopping.set()
        await wait_for(lambda: all(gone(pid) for pid in pids))
        await asyncio.sleep(1.0)  # longer than the first restart delay
        assert [child.restarts for child in supervisor.children] == [0, 0]
        assert [pid_of(supervisor, name) for name in ("alpha", "beta")] == pids
    finally:
        await supervisor.stop()
    assert "restarting" not in capsys.readouterr().err


async def test_stop_sends_sigterm_then_sigkill_after_the_grace(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    supervisor = Supervisor(str(config), load_config(config), grace_secs=1.0)
    await supervisor.start()
    hung = pid_of(supervisor, "alpha")
    os.kill(hung, signal.SIGSTOP)  # it cannot act on SIGTERM now; SIGKILL still ends it
    started = time.monotonic()
    await supervisor.stop()
    assert time.monotonic() - started >= 1.0
    codes = {child.name: child.process.returncode for child in supervisor.children if child.process}
    assert codes == {"alpha": -signal.SIGKILL, "beta": 0}


async def test_a_resolver_that_fails_at_start_is_one_line_naming_it_and_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The supervisor's process has the variable (it does not need it); the resolver's does not."""
    config_path = write_config(tmp_path, ("alpha",), path="${DBMESH_TEST_DATA}/NAME.db")
    monkeypatch.delenv("DBMESH_TEST_DATA", raising=False)
    config = load_config(config_path, environ={"DBMESH_TEST_DATA": str(tmp_path)})
    supervisor = Supervisor(str(config_path), config)
    try:
        with pytest.raises(DbmeshError) as caught:
            await supervisor.start()
    finally:
        await supervisor.stop()
    assert str(caught.value) == (
        f"resolver alpha exited with code 1 while starting: {config_path}: databases[0].path (alpha): "
        "environment variable 'DBMESH_TEST_DATA' is not set and has no default"
    )
