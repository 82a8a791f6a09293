"""What a real resolver process writes to its log, and what its clients are told of failures
(docs/reference.md §8): at the default level (info) a resolver under load writes no line per call,
only real events; at `--log-level debug` it writes one per call. A failure that is neither a
constraint, a timeout nor a lost connection reaches the engine's generic branch: the client gets
the database's name and the server's own message, never a driver's exception class, which goes to
the resolver's log (at WARNING) instead."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from _resolver_process import ResolverProcesses
from conformance.backends import Backend, backend_for
from conformance.client import expect_error
from harness.servers import DatabaseInfo

from dbmesh.config import parse_config
from dbmesh.services.engines import create_engine
from dbmesh.services.engines.base import DRIVER_FAILED

DATABASE = "logged_db"
QUERIES = 20


@pytest.fixture
def resolver_processes(tmp_path: Path) -> Iterator[ResolverProcesses]:
    processes = ResolverProcesses(tmp_path)
    yield processes
    processes.close()


async def _sqlite_config(tmp_path: Path) -> Path:
    backend = backend_for("sqlite", tmp_path / "logged.db")
    await backend.execute("CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
    await backend.execute("INSERT INTO things (id, name) VALUES (1, 'one')")
    config_path = tmp_path / "dbmesh.toml"
    config_path.write_text(backend.config_toml(DATABASE))
    return config_path


async def _serve_queries(processes: ResolverProcesses, config_path: Path, log_level: str) -> str:
    """Start a resolver at `log_level`, run QUERIES queries, stop it; its whole log."""
    process = await processes.start(config_path, DATABASE, log_level)
    async with process.client("sqlite") as client:
        for _ in range(QUERIES):
            assert await client.rows("things", ["id", "name"]) == [[1, "one"]]
    assert process.stop() == 0
    return process.log_path.read_text()


async def test_no_line_per_call_at_the_default_level(tmp_path: Path, resolver_processes: ResolverProcesses) -> None:
    log = await _serve_queries(resolver_processes, await _sqlite_config(tmp_path), "")
    assert "rpc=" not in log
    assert f"resolver for {DATABASE} (sqlite, " in log  # the start line: a real event
    assert f"resolver for {DATABASE} stopping" in log


async def test_one_line_per_call_at_debug(tmp_path: Path, resolver_processes: ResolverProcesses) -> None:
    log = await _serve_queries(resolver_processes, await _sqlite_config(tmp_path), "debug")
    calls = [line for line in log.splitlines() if f"rpc=Query database={DATABASE} outcome=OK" in line]
    assert len(calls) == QUERIES
    assert all(" DEBUG dbmesh.resolver: " in line for line in calls)


# A read that fails in the database with an error no branch of `map_error` names, per engine: the
# DDL that sets it up, the message the client gets, and the driver class only the log names.
GENERIC_FAILURES = {
    "postgresql": (
        [
            "CREATE FUNCTION kaboom() RETURNS integer LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'kaboom happened'; END $$",
            "CREATE VIEW broken AS SELECT kaboom() AS n",
        ],
        f"database {DATABASE!r}: the statement failed (SQLSTATE P0001: kaboom happened)",
        "RaiseError",
    ),
    "mysql": (
        [
            "CREATE FUNCTION kaboom() RETURNS INT DETERMINISTIC "
            "BEGIN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'kaboom happened'; RETURN 1; END",
            "CREATE VIEW broken AS SELECT kaboom() AS n",
        ],
        f"database {DATABASE!r}: error 1644: kaboom happened",
        "OperationalError",
    ),
    "sqlite": (
        ["CREATE VIEW broken AS SELECT json_extract('not json', '$') AS n"],
        f"database {DATABASE!r}: the statement failed (SQLITE_ERROR: malformed JSON)",
        "OperationalError",
    ),
}


async def _backend(engine: str, request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if engine == "sqlite":
        return backend_for(engine, tmp_path / "broken.db")
    info: DatabaseInfo = request.getfixturevalue("pg_database" if engine == "postgresql" else "mysql_database")
    return backend_for(engine, info)


@pytest.mark.parametrize("engine", sorted(GENERIC_FAILURES))
async def test_generic_database_error_names_no_driver_class(
    engine: str, request: pytest.FixtureRequest, tmp_path: Path, resolver_processes: ResolverProcesses
) -> None:
    ddl, message, driver_class = GENERIC_FAILURES[engine]
    backend = await _backend(engine, request, tmp_path)
    try:
        for statement in ddl:
            await backend.execute(statement)
        config_path = tmp_path / "dbmesh.toml"
        config_path.write_text(backend.config_toml(DATABASE))
    finally:
        await backend.close()
    process = await resolver_processes.start(config_path, DATABASE)
    async with process.client(engine) as client:
        details = await expect_error(grpc.StatusCode.INTERNAL, client.rows("broken", ["n"]))
    assert details == message
    assert driver_class not in details
    process.stop()
    warnings = [line for line in process.log_path.read_text().splitlines() if " WARNING dbmesh.resolver: " in line]
    assert len(warnings) == 1
    assert warnings[0].endswith(f"rpc=Query database={DATABASE} failed: {message} ({driver_class})")


@pytest.mark.parametrize("engine", ["postgresql", "mysql", "sqlite"])
def test_a_failure_outside_the_database_is_a_plain_sentence(engine: str, tmp_path: Path) -> None:
    """An exception that is not the driver's (a bug, an unexpected driver fault) is INTERNAL with
    the database's name and a plain sentence: its class and text stay in the log."""
    where = {"postgresql": "host = '127.0.0.1'\nport = 1", "mysql": "host = '127.0.0.1'\nport = 1"}
    entry = where.get(engine, f"path = '{tmp_path / 'x.db'}'")
    config = parse_config(f"[[databases]]\nname = 'plain'\nengine = '{engine}'\n{entry}\n").database("plain")
    error = create_engine(config).map_error(KeyError("internal detail"))
    assert error.code == grpc.StatusCode.INTERNAL
    assert error.message == f"database 'plain': {DRIVER_FAILED}"
