"""A SQLite resolver's connection released after its engine closed (a call cancelled by the
server's stop finishes after `servicer.close()`) is closed, not kept idle: its aiosqlite worker
thread would otherwise keep the process from exiting."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from dbmesh.config import parse_config
from dbmesh.services.engines import create_engine
from dbmesh.services.engines.sqlite import SqliteEngine, _SqliteConnection


async def test_a_connection_released_after_close_is_closed(tmp_path: Path) -> None:
    path = tmp_path / "pool.db"
    sqlite3.connect(path).close()
    config = parse_config(f'[[databases]]\nname = "lite"\nengine = "sqlite"\npath = "{path}"\n').databases[0]
    engine = create_engine(config)
    assert isinstance(engine, SqliteEngine)
    await engine.open()
    kept, late = await engine.acquire(), await engine.acquire()
    await engine.release(kept)
    await engine.close()
    await engine.release(late)  # the cancelled call's release, after the close
    assert isinstance(kept, _SqliteConnection) and isinstance(late, _SqliteConnection)
    for released in (kept, late):
        worker = released.conn._thread  # aiosqlite's worker thread: alive until the connection closes
        worker.join(10)
        assert not worker.is_alive()
