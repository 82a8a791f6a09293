"""Fixtures shared by the whole dbmesh test suite."""

from __future__ import annotations

import os

# This process forks servers and CLI processes after gRPC is loaded; gRPC's fork handlers are for
# processes that keep using gRPC after fork, not for fork+exec, and crash the child on
# grpcio >= 1.81 (grpc/grpc#43055). Set before any test imports grpc.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

import itertools
import re
from collections.abc import Iterator
from typing import TypeVar

import pytest
from harness.servers import (
    BinaryNotFoundError,
    DatabaseInfo,
    MariaDBServer,
    PostgresServer,
    ServerError,
)

# ===================================================================================================
# Throwaway database servers (harness/servers.py)
#
# The suite never uses the machine's own PostgreSQL/MariaDB: it starts private servers from the
# installed binaries (scripts/ensure-db-binaries installs them). A missing binary fails the tests
# that need it; it never skips them.
#
#   pg_server / mysql_server                   one server per engine for the whole session
#   pg_database / mysql_database               a fresh empty database per test      -> DatabaseInfo
#   pg_module_database / mysql_module_database a fresh empty database per module    -> DatabaseInfo
#   pg_private_server / mysql_private_server   a server of the test's own, for stopping, killing,
#                                              restarting (never stop or kill the shared ones)
# ===================================================================================================

ServerT = TypeVar("ServerT", PostgresServer, MariaDBServer)

_database_counter = itertools.count(1)


def _started(server_type: type[ServerT]) -> ServerT:
    """A new, running server, or a test failure (not an error trace, not a skip) saying why not."""
    try:
        server = server_type()
    except BinaryNotFoundError as exc:
        problem = f"{server_type.__name__}: {exc}"
    else:
        try:
            server.start()
        except ServerError as exc:
            server.cleanup()
            problem = f"{server_type.__name__} did not start: {exc}"
        else:
            return server
    pytest.fail(problem, pytrace=False)


def _database_name(request: pytest.FixtureRequest) -> str:
    """A unique, readable database name derived from the requesting test or module."""
    stem = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower()).strip("_")
    return f"t{next(_database_counter)}_{stem}"[:60]


def _fresh_database(server: PostgresServer | MariaDBServer, request: pytest.FixtureRequest) -> Iterator[DatabaseInfo]:
    """Create an empty database for the requester and drop it afterwards (if the server is up)."""
    server.start()  # a no-op unless an earlier test left the shared server stopped
    name = _database_name(request)
    server.create_database(name)
    yield server.info(name)
    if server.is_running():
        server.drop_database(name)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """The session's PostgreSQL server (max_prepared_transactions = 20, database "test")."""
    server = _started(PostgresServer)
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def mysql_server() -> Iterator[MariaDBServer]:
    """The session's MariaDB server (root without password over TCP, database "test")."""
    server = _started(MariaDBServer)
    yield server
    server.cleanup()


@pytest.fixture
def pg_database(pg_server: PostgresServer, request: pytest.FixtureRequest) -> Iterator[DatabaseInfo]:
    """A fresh, empty PostgreSQL database for one test."""
    yield from _fresh_database(pg_server, request)


@pytest.fixture
def mysql_database(mysql_server: MariaDBServer, request: pytest.FixtureRequest) -> Iterator[DatabaseInfo]:
    """A fresh, empty MariaDB database for one test."""
    yield from _fresh_database(mysql_server, request)


@pytest.fixture(scope="module")
def pg_module_database(pg_server: PostgresServer, request: pytest.FixtureRequest) -> Iterator[DatabaseInfo]:
    """A fresh, empty PostgreSQL database shared by the tests of one module."""
    yield from _fresh_database(pg_server, request)


@pytest.fixture(scope="module")
def mysql_module_database(mysql_server: MariaDBServer, request: pytest.FixtureRequest) -> Iterator[DatabaseInfo]:
    """A fresh, empty MariaDB database shared by the tests of one module."""
    yield from _fresh_database(mysql_server, request)


@pytest.fixture
def pg_private_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server owned by one test, free to stop, kill and restart (~1 s to start)."""
    server = _started(PostgresServer)
    yield server
    server.cleanup()


@pytest.fixture
def mysql_private_server() -> Iterator[MariaDBServer]:
    """A MariaDB server owned by one test, free to stop, kill and restart (~1 s to start)."""
    server = _started(MariaDBServer)
    yield server
    server.cleanup()


# ===================================================================================================
# End of throwaway database servers
# ===================================================================================================
