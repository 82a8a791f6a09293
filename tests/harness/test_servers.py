"""The harness starts real, private servers that behave the way the rest of the suite relies on:
reachable over TCP with the expected settings, and surviving stop, kill and restart."""

from __future__ import annotations

import glob
import shutil
import socket
from types import TracebackType
from typing import Any

import aiomysql
import asyncpg
import pymysql
import pytest
from harness import servers
from harness.servers import (
    BinaryNotFoundError,
    DatabaseInfo,
    MariaDBServer,
    PostgresServer,
    ServerError,
    free_port,
)

Server = PostgresServer | MariaDBServer
MYSQL_CANT_CONNECT = 2003


class Conn:
    """One autocommit connection to either engine over TCP, with just what these tests need."""

    def __init__(self, info: DatabaseInfo) -> None:
        self.info = info
        self._pg: asyncpg.Connection | None = None
        self._my: aiomysql.Connection | None = None

    async def __aenter__(self) -> Conn:
        info = self.info
        if info.engine == "postgresql":
            self._pg = await asyncpg.connect(
                host=info.host, port=info.port, user=info.user, password=info.password, database=info.database
            )
        else:
            self._my = await aiomysql.connect(
                host=info.host,
                port=info.port,
                user=info.user,
                password=info.password,
                db=info.database,
                autocommit=True,
            )
        return self

    async def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        """Run one statement; return its rows as tuples (empty for statements without rows)."""
        if self._pg is not None:
            return [tuple(record) for record in await self._pg.fetch(sql)]
        assert self._my is not None
        async with self._my.cursor() as cur:
            await cur.execute(sql)
            return list(await cur.fetchall())

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close politely; if the server died underneath, just drop the socket."""
        if self._pg is not None:
            try:
                await self._pg.close(timeout=5)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                self._pg.terminate()
        if self._my is not None:
            try:
                await self._my.ensure_closed()
            except (OSError, pymysql.err.MySQLError):
                self._my.close()


async def fetch(info: DatabaseInfo, *statements: str) -> list[tuple[Any, ...]]:
    """Run statements on one fresh connection; return the rows of the last one."""
    rows: list[tuple[Any, ...]] = []
    async with Conn(info) as conn:
        for sql in statements:
            rows = await conn.fetch(sql)
    return rows


async def assert_refused(info: DatabaseInfo) -> None:
    """Connecting fails the way a stopped server fails: connection refused."""
    if info.engine == "postgresql":
        with pytest.raises(ConnectionRefusedError):
            await fetch(info, "SELECT 1")
    else:
        with pytest.raises(pymysql.err.OperationalError) as caught:
            await fetch(info, "SELECT 1")
        assert caught.value.args[0] == MYSQL_CANT_CONNECT


def as_text(value: Any) -> str:
    """A column value as text (MariaDB returns some as bytes)."""
    return value.decode() if isinstance(value, bytes) else str(value)


@pytest.fixture(params=["postgresql", "mysql"])
def private_server(request: pytest.FixtureRequest) -> Server:
    """A server of the test's own, once per engine."""
    name = "pg_private_server" if request.param == "postgresql" else "mysql_private_server"
    server: Server = request.getfixturevalue(name)
    return server


# -- settings -----------------------------------------------------------------------------------------


async def test_postgres_settings(pg_server: PostgresServer) -> None:
    assert pg_server.dsn() == f"postgresql://postgres@127.0.0.1:{pg_server.port}/test"
    async with Conn(pg_server.info()) as conn:
        settings = {
            name: (await conn.fetch(f"SHOW {name}"))[0][0]
            for name in ("max_prepared_transactions", "max_connections", "fsync", "server_encoding", "port")
        }
        assert await conn.fetch("SELECT current_user, current_database()") == [("postgres", "test")]
    assert settings == {
        "max_prepared_transactions": "20",
        "max_connections": "200",
        "fsync": "off",
        "server_encoding": "UTF8",
        "port": str(pg_server.port),
    }


async def test_postgres_two_phase_commit(pg_database: DatabaseInfo) -> None:
    async with Conn(pg_database) as conn:
        await conn.fetch("CREATE TABLE t (id INT)")
        await conn.fetch("BEGIN")
        await conn.fetch("INSERT INTO t VALUES (1)")
        await conn.fetch("PREPARE TRANSACTION 'harness_2pc'")
        assert await conn.fetch("SELECT gid FROM pg_prepared_xacts") == [("harness_2pc",)]
        await conn.fetch("COMMIT PREPARED 'harness_2pc'")
        assert await conn.fetch("SELECT id FROM t") == [(1,)]


async def test_mariadb_settings(mysql_server: MariaDBServer) -> None:
    assert mysql_server.dsn() == f"mysql://root@127.0.0.1:{mysql_server.port}/test"
    names = (
        "character_set_server",
        "collation_server",
        "collation_database",
        "time_zone",
        "max_connections",
        "log_bin",
        "innodb_flush_log_at_trx_commit",
    )
    rows = await fetch(mysql_server.info(), "SELECT " + ", ".join(f"@@{name}" for name in names))
    assert dict(zip(names, map(as_text, rows[0]), strict=True)) == {
        "character_set_server": "utf8mb4",
        "collation_server": "utf8mb4_general_ci",
        "collation_database": "utf8mb4_general_ci",
        "time_zone": "+00:00",
        "max_connections": "300",
        "log_bin": "0",
        "innodb_flush_log_at_trx_commit": "2",
    }
    assert await fetch(mysql_server.info(), "SELECT CURRENT_USER()") == [("root@127.0.0.1",)]


async def test_mariadb_xa(mysql_database: DatabaseInfo) -> None:
    async with Conn(mysql_database) as conn:
        await conn.fetch("CREATE TABLE t (id INT) ENGINE=InnoDB")
        for sql in ("XA START 'harness_xa'", "INSERT INTO t VALUES (1)", "XA END 'harness_xa'"):
            await conn.fetch(sql)
        await conn.fetch("XA PREPARE 'harness_xa'")
        assert [as_text(row[3]) for row in await conn.fetch("XA RECOVER")] == ["harness_xa"]
        await conn.fetch("XA COMMIT 'harness_xa'")
        assert await conn.fetch("SELECT id FROM t") == [(1,)]


# -- fixtures -----------------------------------------------------------------------------------------


async def test_database_fixtures_are_fresh_and_distinct(
    pg_database: DatabaseInfo, mysql_database: DatabaseInfo, pg_server: PostgresServer
) -> None:
    assert pg_database.database != pg_server.database
    assert (pg_database.engine, mysql_database.engine) == ("postgresql", "mysql")
    tables_pg = await fetch(pg_database, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    assert tables_pg == []
    assert await fetch(mysql_database, "SHOW TABLES") == []


async def test_create_database_replaces_an_existing_one(pg_server: PostgresServer) -> None:
    pg_server.create_database("harness_again")
    await fetch(pg_server.info("harness_again"), "CREATE TABLE t (id INT)")
    async with Conn(pg_server.info("harness_again")):  # an open session must not block the drop
        pg_server.create_database("harness_again")
    assert await fetch(pg_server.info("harness_again"), "SELECT count(*) FROM pg_tables WHERE tablename = 't'") == [
        (0,)
    ]
    pg_server.drop_database("harness_again")


def test_database_names_are_checked(pg_server: PostgresServer) -> None:
    with pytest.raises(ValueError, match="must match"):
        pg_server.create_database('x"; DROP DATABASE test; --')


# -- stop, kill, restart ------------------------------------------------------------------------------


async def test_stop_refuses_connections_and_start_keeps_data(private_server: Server) -> None:
    info = private_server.info()
    await fetch(info, "CREATE TABLE kept (id INT)", "INSERT INTO kept VALUES (1)")
    private_server.stop()
    assert not private_server.is_running()
    await assert_refused(info)
    private_server.start()
    assert private_server.is_running()
    assert await fetch(info, "SELECT id FROM kept") == [(1,)]


PREPARE_IN_DOUBT = {
    "postgresql": ("BEGIN", "INSERT INTO kept VALUES (2)", "PREPARE TRANSACTION 'in_doubt'"),
    "mysql": (
        "XA START 'in_doubt'",
        "INSERT INTO kept VALUES (2)",
        "XA END 'in_doubt'",
        "XA PREPARE 'in_doubt'",
    ),
}
LIST_IN_DOUBT = {"postgresql": "SELECT gid FROM pg_prepared_xacts", "mysql": "XA RECOVER"}
COMMIT_IN_DOUBT = {"postgresql": "COMMIT PREPARED 'in_doubt'", "mysql": "XA COMMIT 'in_doubt'"}


async def test_kill_then_start_recovers_committed_and_prepared_work(private_server: Server) -> None:
    """A crash keeps commits and prepared (in-doubt) transactions and loses open ones."""
    info = private_server.info()
    engine = info.engine
    await fetch(info, "CREATE TABLE kept (id INT)", "INSERT INTO kept VALUES (1)")
    await fetch(info, *PREPARE_IN_DOUBT[engine])
    async with Conn(info) as open_transaction:
        await open_transaction.fetch("BEGIN")
        await open_transaction.fetch("INSERT INTO kept VALUES (3)")
        private_server.kill()
        assert not private_server.is_running()
    await assert_refused(info)

    private_server.start()
    assert [as_text(row[-1]) for row in await fetch(info, LIST_IN_DOUBT[engine])] == ["in_doubt"]
    assert await fetch(info, "SELECT id FROM kept") == [(1,)]
    await fetch(info, COMMIT_IN_DOUBT[engine])
    assert await fetch(info, "SELECT id FROM kept ORDER BY id") == [(1,), (2,)]


async def test_restart_keeps_port_and_repeated_kills_are_fine(private_server: Server) -> None:
    port = private_server.port
    private_server.restart()
    private_server.kill()
    private_server.kill()  # a no-op once dead
    private_server.start()
    private_server.start()  # a no-op while running
    assert private_server.port == port
    assert await fetch(private_server.info(), "SELECT 1") == [(1,)]


def test_cleanup_is_idempotent_and_removes_everything(private_server: Server) -> None:
    base_dir = private_server.base_dir
    assert private_server.log_path.exists()
    private_server.cleanup()
    private_server.cleanup()
    assert not private_server.is_running()
    assert not base_dir.exists()
    with pytest.raises(ServerError, match="cleaned up"):
        private_server.start()


def test_first_start_moves_off_a_port_taken_meanwhile() -> None:
    server = PostgresServer()
    try:
        with socket.socket() as squatter:
            squatter.bind(("127.0.0.1", server.port))
            squatter.listen()
            taken = server.port
            server.start()
        assert server.is_running()
        assert server.port != taken
    finally:
        server.cleanup()


@pytest.mark.parametrize("server_type", [PostgresServer, MariaDBServer])
def test_failed_start_raises_with_the_log_tail(server_type: type[Server]) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        server = server_type(port=squatter.getsockname()[1])  # an explicit port is never changed
        try:
            with pytest.raises(ServerError, match=r"(?is)log tail:.*(in use|could not bind)"):
                server.start()
            assert not server.is_running()
        finally:
            server.cleanup()


def test_free_port_is_bindable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", free_port()))


# -- missing binaries ---------------------------------------------------------------------------------


def test_missing_postgres_binaries_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(glob, "glob", lambda pattern: [])
    monkeypatch.setattr(shutil, "which", lambda name, *args, **kwargs: None)
    with pytest.raises(BinaryNotFoundError, match=r"initdb.*ensure-db-binaries"):
        PostgresServer()


def test_missing_mariadb_binaries_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(servers, "_SBIN_PATH", "/nonexistent")
    with pytest.raises(BinaryNotFoundError, match=r"mariadbd, mariadb-install-db.*ensure-db-binaries"):
        MariaDBServer()
