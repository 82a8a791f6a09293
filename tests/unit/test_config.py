"""Tests for dbmesh.config (docs/reference.md §3): the SPEC and guide examples, defaults, substitution, and one case
per bad input with its exact one-line message."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

import dbmesh.config
from dbmesh.config import (
    Config,
    Connection,
    DatabaseConfig,
    RouterConfig,
    TransactionsConfig,
    load_config,
    parse_config,
)
from dbmesh.errors import ConfigError

# The guide's example (reference/federation-guide.md, "FraiseQL TOML"), verbatim.
GUIDE_EXAMPLE = """\
# FraiseQL.toml
[[FraiseQL.databases]]
name = "postgres_primary"
engine = "postgresql"
host = "${DB_POSTGRES_HOST}"
port = 5432
database = "production"
username = "${DB_POSTGRES_USER}"
password = "${DB_POSTGRES_PASSWORD}"
pool_size = 10
timeout_secs = 30

[[FraiseQL.databases]]
name = "mysql_historical"
engine = "mysql"
host = "${DB_MYSQL_HOST}"
port = 3306
database = "historical"
username = "${DB_MYSQL_USER}"
password = "${DB_MYSQL_PASSWORD}"
pool_size = 5
timeout_secs = 30
read_only = true  # Historical data, no writes

[[FraiseQL.databases]]
name = "sqlite_cache"
engine = "sqlite"
path = "/var/cache/FraiseQL.db"
pool_size = 1
read_write = false  # Read-only cache
"""

# docs/reference.md §3's example, verbatim.
SPEC_EXAMPLE = """\
[[databases]]                 # the guide's [[FraiseQL.databases]] is accepted too, identically
name = "postgres_primary"     # [a-z_][a-z0-9_]*, unique
engine = "postgresql"         # postgresql | mysql | sqlite
host = "${DB_POSTGRES_HOST}"  # ${VAR} and ${VAR:-default} are substituted in every string value
port = 5432
database = "production"
username = "${DB_POSTGRES_USER}"
password = "${DB_POSTGRES_PASSWORD}"
pool_size = 10                # default 10
timeout_secs = 30             # default 30: deadline for every call to this database, and its statement timeout
read_only = true              # default false: the API never writes here (the guide's read_write = false means the same)
resolver = "127.0.0.1:50051"  # where this database's resolver service listens (`up` assigns one when absent)
replicas = ["10.0.0.7:5432"]  # optional read replicas, used by affinity = "read_replica"

[[databases]]
name = "sqlite_cache"
engine = "sqlite"
path = "/var/cache/dbmesh.db"

[router]                      # all optional
host = "127.0.0.1"
port = 8000
tracing = "request"           # off | request (a client may ask) | always
max_depth = 15
graphiql = true
introspection = true
"""

ENV = {
    "DB_POSTGRES_HOST": "10.0.0.5",
    "DB_POSTGRES_USER": "api",
    "DB_POSTGRES_PASSWORD": "pg-s3cret",
    "DB_MYSQL_HOST": "10.0.0.6",
    "DB_MYSQL_USER": "reporting",
    "DB_MYSQL_PASSWORD": "my-s3cret",
}

PG = '[[databases]]\nname = "pg"\nengine = "postgresql"\nhost = "db"\ndatabase = "app"\n'
SQLITE = '[[databases]]\nname = "cache"\nengine = "sqlite"\npath = "/var/cache/x.db"\n'
BAD_ENV = {"EMPTY": "", "WORD": "abc"}


def parse(text: str, environ: dict[str, str] | None = None) -> Config:
    return parse_config(text, source="dbmesh.toml", environ=environ if environ is not None else {})


def test_public_api() -> None:
    assert dbmesh.config.__all__ == [
        "Config",
        "Connection",
        "DatabaseConfig",
        "RouterConfig",
        "TelemetryConfig",
        "TransactionsConfig",
        "load_config",
        "parse_config",
    ]


def test_guide_example() -> None:
    config = parse(GUIDE_EXAMPLE, ENV)
    assert config == Config(
        databases=(
            DatabaseConfig(
                name="postgres_primary",
                engine="postgresql",
                settings=config.databases[0].settings,
                pool_size=10,
                timeout_secs=30.0,
            ),
            DatabaseConfig(
                name="mysql_historical",
                engine="mysql",
                settings=config.databases[1].settings,
                pool_size=5,
                timeout_secs=30.0,
                read_only=True,
            ),
            DatabaseConfig(
                name="sqlite_cache",
                engine="sqlite",
                settings=config.databases[2].settings,
                pool_size=1,
                read_only=True,
            ),
        ),
        router=RouterConfig(),
        source="dbmesh.toml",
        # The coordinator log defaults to the first PostgreSQL database that is not read-only.
        transactions=TransactionsConfig(log_database="postgres_primary"),
    )
    assert [database.connection() for database in config.databases] == [
        Connection(host="10.0.0.5", port=5432, database="production", username="api", password="pg-s3cret"),
        Connection(host="10.0.0.6", port=3306, database="historical", username="reporting", password="my-s3cret"),
        Connection(path="/var/cache/FraiseQL.db"),
    ]


def test_a_database_config_built_directly_has_its_connection_as_given() -> None:
    settings = Connection(host="db", port=5432, database="app", password="pw")
    database = DatabaseConfig(name="pg", engine="postgresql", settings=settings)
    assert database.connection() is settings
    assert (database.host, database.port, database.database, database.password) == ("db", 5432, "app", "pw")
    assert (database.username, database.path) == (None, None)
    assert "pw" not in repr(database) and "pw" not in repr(settings)


def test_spec_example() -> None:
    config = parse(SPEC_EXAMPLE, ENV)
    primary = config.database("postgres_primary")
    assert primary.host == "10.0.0.5"
    assert primary.read_only is True
    assert primary.resolver == "127.0.0.1:50051"
    assert primary.replicas == ("10.0.0.7:5432",)
    assert config.database("sqlite_cache").path == "/var/cache/dbmesh.db"
    assert config.router == RouterConfig()
    assert [database.describe() for database in config.databases] == [
        "postgres_primary (postgresql, 10.0.0.5:5432/production)",
        "sqlite_cache (sqlite, /var/cache/dbmesh.db)",
    ]


def test_defaults() -> None:
    text = PG + SQLITE + '[[databases]]\nname = "my"\nengine = "mysql"\nhost = "h"\ndatabase = "d"\n'
    pg, cache, my = parse(text).databases
    assert (pg.port, pg.username, pg.password, pg.path) == (5432, None, None, None)
    assert (pg.pool_size, pg.timeout_secs, pg.read_only, pg.resolver, pg.replicas) == (
        10,
        30.0,
        False,
        None,
        (),
    )
    assert isinstance(pg.timeout_secs, float)
    assert my.port == 3306
    assert (cache.host, cache.port, cache.database, cache.pool_size) == (None, None, None, 10)
    assert parse(PG).router == RouterConfig(
        host="127.0.0.1",
        port=8000,
        tracing="request",
        max_depth=15,
        graphiql=True,
        introspection=True,
        probe_interval_secs=5.0,
        breaker_failures=3,
        breaker_reset_secs=5.0,
        document_cache_size=512,
    )


def test_router_keys() -> None:
    text = PG + (
        '[router]\nhost = "0.0.0.0"\nport = 0\ntracing = "always"\nmax_depth = 7\ngraphiql = false\n'
        "introspection = false\nprobe_interval_secs = 0.5\nbreaker_failures = 1\nbreaker_reset_secs = 2\n"
        "document_cache_size = 0\n"
    )
    assert parse(text).router == RouterConfig("0.0.0.0", 0, "always", 7, False, False, 0.5, 1, 2.0, 0)


def test_coalescing_is_on_unless_switched_off() -> None:
    assert parse(PG).router.coalesce is True
    assert parse(PG + "[router]\ncoalesce = false\n").router.coalesce is False


def test_fraiseql_router_and_mixed_spellings() -> None:
    text = GUIDE_EXAMPLE + '[FraiseQL.router]\ntracing = "off"\n'
    assert parse(text, ENV).router.tracing == "off"
    assert parse(GUIDE_EXAMPLE + '[router]\ntracing = "always"\n', ENV).router.tracing == "always"
    assert parse("[FraiseQL]\n[router]\nport = 9000\n" + PG).router.port == 9000


@pytest.mark.parametrize(
    ("given", "expected"),
    [("postgres", "postgresql"), ("PostgreSQL", "postgresql"), ("mariadb", "mysql"), ("MySQL", "mysql")],
)
def test_engine_aliases(given: str, expected: str) -> None:
    text = PG.replace('engine = "postgresql"', f'engine = "{given}"')
    database = parse(text).databases[0]
    assert database.engine == expected
    assert database.port == {"postgresql": 5432, "mysql": 3306}[expected]


@pytest.mark.parametrize(
    ("keys", "read_only"),
    [
        ("", False),
        ("read_only = true", True),
        ("read_write = false", True),
        ("read_write = true", False),
        ("read_only = true\nread_write = false", True),
        ("read_only = false\nread_write = true", False),
    ],
)
def test_read_only_and_read_write(keys: str, read_only: bool) -> None:
    assert parse(PG + keys + "\n").databases[0].read_only is read_only


@pytest.mark.parametrize(
    ("value", "environ", "expected"),
    [
        ("${U}", {"U": "alice"}, "alice"),
        ("user-${U}-x", {"U": "alice"}, "user-alice-x"),
        ("${A}${B}", {"A": "a", "B": "b"}, "ab"),
        ("${U:-bob}", {}, "bob"),
        ("${U:-bob}", {"U": ""}, "bob"),
        ("${U:-bob}", {"U": "alice"}, "alice"),
        ("${U:-a:b-c}", {}, "a:b-c"),
        ("${U}x", {"U": ""}, "x"),
        ("$${U}", {}, "${U}"),
        ("a$$b", {}, "a$b"),
        ("a$b$", {}, "a$b$"),
        ("pa$word", {}, "pa$word"),
    ],
)
def test_substitution(value: str, environ: dict[str, str], expected: str) -> None:
    assert parse(PG + f'username = "{value}"\n', environ).databases[0].username == expected


def test_substitution_everywhere() -> None:
    text = (
        '[[databases]]\nname = "${NAME}"\nengine = "${ENGINE:-postgres}"\nhost = "db-${ZONE}.internal"\n'
        'database = "app"\nport = "${PGPORT:-5432}"\npool_size = "${POOL}"\ntimeout_secs = "${T:-2.5}"\n'
        'read_only = "${RO:-true}"\nresolver = "127.0.0.1:${RPORT}"\n'
        'replicas = ["${REPLICA_A}:5432", "replica-b:${PGPORT:-5432}"]\n'
        '[router]\nhost = "${ROUTER_HOST:-0.0.0.0}"\nport = "${ROUTER_PORT}"\ngraphiql = "${GQL}"\n'
    )
    environ = {"NAME": "pg", "ZONE": "eu", "POOL": "4", "RPORT": "50051", "REPLICA_A": "10.0.0.7"}
    environ |= {"ROUTER_PORT": "9000", "GQL": "False"}
    config = parse(text, environ)
    database = config.databases[0]
    assert (database.name, database.engine, database.host) == ("pg", "postgresql", "db-eu.internal")
    assert (database.port, database.pool_size, database.timeout_secs) == (5432, 4, 2.5)
    assert database.read_only is True
    assert database.resolver == "127.0.0.1:50051"
    assert database.replicas == ("10.0.0.7:5432", "replica-b:5432")
    assert (config.router.host, config.router.port, config.router.graphiql) == ("0.0.0.0", 9000, False)
    assert parse(text, environ | {"PGPORT": "6543"}).databases[0].port == 6543


def test_environ_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBMESH_TEST_HOST", "from-os-environ")
    text = PG.replace('host = "db"', 'host = "${DBMESH_TEST_HOST}"')
    assert parse_config(text).databases[0].host == "from-os-environ"


BAD_INPUTS = [
    # The file as a whole.
    ('[[databases]]\nname = "pg\n', "invalid TOML: Illegal character '\\n' (at line 2, column 11)"),
    (
        PG + "port = 54 32\n",
        "invalid TOML: Expected newline or end of document after a statement (at line 6, column 11)",
    ),
    ("a = [\n", "invalid TOML: Invalid value (at end of document)"),
    ("", "no databases configured (add a [[databases]] table)"),
    ("databases = []\n", "no databases configured (add a [[databases]] table)"),
    ("FraiseQL.databases = []\n", "no databases configured (add a [[FraiseQL.databases]] table)"),
    ('[databases]\nname = "pg"\n', "databases: expected an array of tables ([[databases]]), got a table"),
    ("databases = [1]\n", "databases[0]: expected a table, got an integer"),
    (
        PG + '[[FraiseQL.databases]]\nname = "x"\n',
        "both [[databases]] and [[FraiseQL.databases]] are present; use one",
    ),
    (PG + "[router]\n[FraiseQL.router]\n", "both [router] and [FraiseQL.router] are present; use one"),
    (PG + "[routr]\n", "unknown top-level key 'routr' (did you mean 'router'?)"),
    ("colour = 1\n" + PG, "unknown top-level key 'colour'"),
    ("[FraiseQL]\nrouters = 1\n" + PG, "FraiseQL: unknown key 'routers' (did you mean 'router'?)"),
    ("FraiseQL = 1\n" + PG, "FraiseQL: expected a table, got an integer"),
    # name
    ('[[databases]]\nengine = "sqlite"\n', "databases[0]: missing required key 'name'"),
    ("[[databases]]\nname = 5\n", "databases[0].name: expected a string, got an integer (5)"),
    (
        '[[databases]]\nname = "Bad-Name"\n',
        "databases[0].name: invalid name 'Bad-Name' (expected [a-z_][a-z0-9_]*)",
    ),
    ('[[databases]]\nname = "1st"\n', "databases[0].name: invalid name '1st' (expected [a-z_][a-z0-9_]*)"),
    ('[[databases]]\nname = ""\n', "databases[0].name: must not be empty"),
    (PG + SQLITE.replace('"cache"', '"pg"'), "databases[1].name: duplicate name 'pg' (also databases[0])"),
    # unknown keys
    (
        PG.replace('"pg"', '"postgres_primary"') + "pool_sise = 3\n",
        "databases[0] (postgres_primary): unknown key 'pool_sise' (did you mean 'pool_size'?)",
    ),
    (PG + "colour = 1\n", "databases[0] (pg): unknown key 'colour'"),
    (PG + "[router]\ntracng = 'off'\n", "router: unknown key 'tracng' (did you mean 'tracing'?)"),
    # engine
    ('[[databases]]\nname = "pg"\n', "databases[0] (pg): missing required key 'engine'"),
    (
        '[[databases]]\nname = "pg"\nengine = "oracle"\n',
        "databases[0].engine (pg): unknown engine 'oracle'"
        " (known: mysql, postgresql, sqlite; aliases: mariadb, postgres)",
    ),
    (
        '[[databases]]\nname = "pg"\nengine = ["sqlite"]\n',
        "databases[0].engine (pg): expected a string, got an array",
    ),
    # which keys an engine takes
    (
        PG + 'path = "x.db"\n',
        "databases[0].path (pg): not allowed for engine 'postgresql' ('path' is for sqlite)",
    ),
    # pool_size, timeout_secs, read_only / read_write, transactions
    (PG + "pool_size = 0\n", "databases[0].pool_size (pg): must be at least 1, got 0"),
    (PG + 'pool_size = "ten"\n', "databases[0].pool_size (pg): expected an integer, got a string ('ten')"),
    (PG + "timeout_secs = 0\n", "databases[0].timeout_secs (pg): must be a number greater than 0, got 0"),
    (
        PG + "timeout_secs = -1.5\n",
        "databases[0].timeout_secs (pg): must be a number greater than 0, got -1.5",
    ),
    (PG + "timeout_secs = inf\n", "databases[0].timeout_secs (pg): must be a number greater than 0, got inf"),
    (
        PG + 'timeout_secs = "soon"\n',
        "databases[0].timeout_secs (pg): expected a number, got a string ('soon')",
    ),
    (PG + 'read_only = "yes"\n', "databases[0].read_only (pg): expected a boolean, got a string ('yes')"),
    (PG + "read_write = 0\n", "databases[0].read_write (pg): expected a boolean, got an integer (0)"),
    (
        PG + "read_only = true\nread_write = true\n",
        "databases[0] (pg): read_only = true contradicts read_write = true (give only one)",
    ),
    (
        SQLITE + "read_only = false\nread_write = false\n",
        "databases[0] (cache): read_only = false contradicts read_write = false (give only one)",
    ),
    (PG + "max_transactions = 0\n", "databases[0].max_transactions (pg): must be at least 1, got 0"),
    (
        PG + 'max_transactions = "many"\n',
        "databases[0].max_transactions (pg): expected an integer, got a string ('many')",
    ),
    (
        SQLITE + "max_transactions = 2.5\n",
        "databases[0].max_transactions (cache): expected an integer, got a float (2.5)",
    ),
    (
        PG + "transaction_idle_secs = 0\n",
        "databases[0].transaction_idle_secs (pg): must be a number greater than 0, got 0",
    ),
    (
        PG + "transaction_idle_secs = -1\n",
        "databases[0].transaction_idle_secs (pg): must be a number greater than 0, got -1",
    ),
    (
        PG + "transaction_idle_secs = true\n",
        "databases[0].transaction_idle_secs (pg): expected a number, got a boolean (true)",
    ),
    # resolver, replicas
    (
        PG + 'resolver = "localhost"\n',
        "databases[0].resolver (pg): expected 'host:port' (IPv6 as '[::1]:port'), got 'localhost'",
    ),
    (
        PG + 'resolver = "::1:50051"\n',
        "databases[0].resolver (pg): expected 'host:port' (IPv6 as '[::1]:port'), got '::1:50051'",
    ),
    (PG + 'resolver = "h:0"\n', "databases[0].resolver (pg): port must be between 1 and 65535, got 'h:0'"),
    (
        PG + "resolver = 50051\n",
        "databases[0].resolver (pg): expected a 'host:port' string, got an integer (50051)",
    ),
    (
        PG + 'replicas = "r:5432"\n',
        "databases[0].replicas (pg): expected an array of 'host:port' strings, got a string ('r:5432')",
    ),
    (
        PG + 'replicas = ["r:5432", "r2"]\n',
        "databases[0].replicas[1] (pg): expected 'host:port' (IPv6 as '[::1]:port'), got 'r2'",
    ),
    (
        PG + 'replicas = ["r:5432", 5433]\n',
        "databases[0].replicas[1] (pg): expected a 'host:port' string, got an integer (5433)",
    ),
    (
        PG + 'replicas = ["${REPLICA}:5432"]\n',
        "databases[0].replicas[0] (pg): environment variable 'REPLICA' is not set and has no default",
    ),
    # sqlite
    (
        SQLITE + 'host = "h"\n',
        "databases[0].host (cache): not allowed for engine 'sqlite' (a sqlite database is its 'path')",
    ),
    (
        SQLITE + "port = 1\n",
        "databases[0].port (cache): not allowed for engine 'sqlite' (a sqlite database is its 'path')",
    ),
    (
        SQLITE + 'replicas = ["r:1"]\n',
        "databases[0].replicas (cache): not allowed for engine 'sqlite' (a sqlite database is its 'path')",
    ),
    (
        SQLITE + 'password = "hunter2"\n',
        "databases[0].password (cache): not allowed for engine 'sqlite' (a sqlite database is its 'path')",
    ),
    # substitution in what every process needs
    (
        '[[databases]]\nname = "${NAME}"\n',
        "databases[0].name: environment variable 'NAME' is not set and has no default",
    ),
    (
        PG + 'timeout_secs = "${TIMEOUT}"\n',
        "databases[0].timeout_secs (pg): environment variable 'TIMEOUT' is not set and has no default",
    ),
    (
        PG + 'resolver = "${RESOLVER}"\n',
        "databases[0].resolver (pg): environment variable 'RESOLVER' is not set and has no default",
    ),
    # router
    (PG + "router = 1\n", "databases[0] (pg): unknown key 'router'"),
    ("router = 1\n" + PG, "router: expected a table, got an integer"),
    (
        PG + '[router]\ntracing = "sometimes"\n',
        "router.tracing: unknown tracing mode 'sometimes' (known: off, request, always)",
    ),
    (PG + "[router]\ntracing = true\n", "router.tracing: expected a string, got a boolean (true)"),
    (
        GUIDE_EXAMPLE + '[FraiseQL.router]\ntracing = "Request"\n',
        "FraiseQL.router.tracing: unknown tracing mode 'Request' (known: off, request, always)",
    ),
    (PG + '[router]\nhost = ""\n', "router.host: must not be empty"),
    (PG + "[router]\nport = -1\n", "router.port: must be between 0 and 65535, got -1"),
    (PG + "[router]\nmax_depth = 0\n", "router.max_depth: must be at least 1, got 0"),
    (PG + "[router]\nmax_tokens = 0\n", "router.max_tokens: must be at least 1, got 0"),
    (
        PG + "[router]\nmax_limit = 100\ndefault_limit = 101\n",
        "router.default_limit: must be at most max_limit (100), got 101",
    ),
    (PG + '[router]\ngraphiql = "on"\n', "router.graphiql: expected a boolean, got a string ('on')"),
    (PG + "[router]\nintrospection = 1\n", "router.introspection: expected a boolean, got an integer (1)"),
    (PG + '[router]\ncoalesce = "off"\n', "router.coalesce: expected a boolean, got a string ('off')"),
    (
        PG + "[router]\nprobe_interval_secs = 0\n",
        "router.probe_interval_secs: must be a number greater than 0, got 0",
    ),
    (PG + "[router]\nbreaker_failures = 0\n", "router.breaker_failures: must be at least 1, got 0"),
    (
        PG + "[router]\nbreaker_reset_secs = -5\n",
        "router.breaker_reset_secs: must be a number greater than 0, got -5",
    ),
    (PG + "[router]\ndocument_cache_size = -1\n", "router.document_cache_size: must be at least 0, got -1"),
    (
        PG + '[router]\nport = "${ROUTER_PORT}"\n',
        "router.port: environment variable 'ROUTER_PORT' is not set and has no default",
    ),
    # router limits (docs/reference.md §14)
    (PG + "[router]\nmax_aliases = 0\n", "router.max_aliases: must be at least 1, got 0"),
    (PG + '[router]\nmax_aliases = "lots"\n', "router.max_aliases: expected an integer, got a string ('lots')"),
    (PG + "[router]\nmax_root_fields = 0\n", "router.max_root_fields: must be at least 1, got 0"),
    (PG + "[router]\nmax_root_fields = 2.5\n", "router.max_root_fields: expected an integer, got a float (2.5)"),
    (PG + "[router]\nmax_limit = 0\n", "router.max_limit: must be at least 1, got 0"),
    (PG + "[router]\nmax_limit = true\n", "router.max_limit: expected an integer, got a boolean (true)"),
    (PG + "[router]\ndefault_limit = 0\n", "router.default_limit: must be at least 1, got 0"),
    (
        PG + '[router]\ndefault_limit = "none"\n',
        "router.default_limit: expected an integer, got a string ('none')",
    ),
    (PG + "[router]\nmax_cost = -1\n", "router.max_cost: must be at least 1, got -1"),
    (PG + "[router]\nmax_cost = 1e6\n", "router.max_cost: expected an integer, got a float (1000000.0)"),
    (PG + "[router]\nmax_body_bytes = 1023\n", "router.max_body_bytes: must be at least 1024, got 1023"),
    (
        PG + '[router]\nmax_body_bytes = "1MiB"\n',
        "router.max_body_bytes: expected an integer, got a string ('1MiB')",
    ),
    (PG + "[router]\nmax_batch_operations = 0\n", "router.max_batch_operations: must be at least 1, got 0"),
    (
        PG + "[router]\nmax_batch_operations = [1]\n",
        "router.max_batch_operations: expected an integer, got an array",
    ),
    (PG + "[router]\nmax_query_bytes = 63\n", "router.max_query_bytes: must be at least 64, got 63"),
    (PG + "[router]\nmax_response_rows = 0\n", "router.max_response_rows: must be at least 1, got 0"),
    (
        PG + "[router]\nmax_response_bytes = 1000\n",
        "router.max_response_bytes: must be at least 1024, got 1000",
    ),
    (
        PG + "[router]\ndocument_cache_bytes = -1\n",
        "router.document_cache_bytes: must be at least 0, got -1",
    ),
    (
        PG + '[router]\ndocument_cache_bytes = "big"\n',
        "router.document_cache_bytes: expected an integer, got a string ('big')",
    ),
]


# Connection settings: the file loads (the router needs none of them); the problem is raised when
# the database's connection is first asked for, and by check_connections (`dbmesh check`).
BAD_CONNECTIONS = [
    (
        '[[databases]]\nname = "pg"\nengine = "postgresql"\ndatabase = "app"\n',
        "databases[0] (pg): missing required key 'host' (for postgresql)",
    ),
    (
        '[[databases]]\nname = "my"\nengine = "mysql"\nhost = "h"\n',
        "databases[0] (my): missing required key 'database' (for mysql)",
    ),
    (PG.replace('"db"', '"${EMPTY}"'), "databases[0].host (pg): must not be empty"),
    (PG + 'port = "${WORD}"\n', "databases[0].port (pg): expected an integer, got a string ('abc')"),
    (
        PG + 'port = "${PGPORT:-x5432}"\n',
        "databases[0].port (pg): expected an integer, got a string ('x5432')",
    ),
    (PG + "port = true\n", "databases[0].port (pg): expected an integer, got a boolean (true)"),
    (PG + "port = 5432.0\n", "databases[0].port (pg): expected an integer, got a float (5432.0)"),
    (PG + "port = 70000\n", "databases[0].port (pg): must be between 1 and 65535, got 70000"),
    (PG + "port = 0\n", "databases[0].port (pg): must be between 1 and 65535, got 0"),
    (PG + "username = 1979-05-27\n", "databases[0].username (pg): expected a string, got a date or time"),
    (
        '[[databases]]\nname = "cache"\nengine = "sqlite"\n',
        "databases[0] (cache): missing required key 'path' (for sqlite)",
    ),
    (
        SQLITE.replace("/var/cache/x.db", ":memory:"),
        "databases[0].path (cache): ':memory:' is not supported (a resolver's pool needs a database file)",
    ),
    (SQLITE.replace("/var/cache/x.db", ""), "databases[0].path (cache): must not be empty"),
    (
        PG + 'username = "${DB_USER}"\n',
        "databases[0].username (pg): environment variable 'DB_USER' is not set and has no default",
    ),
    (
        PG + 'password = "${DB_PASSWORD}"\n',
        "databases[0].password (pg): environment variable 'DB_PASSWORD' is not set and has no default",
    ),
    (
        SQLITE.replace("/var/cache/x.db", "${CACHE_DIR}/x.db"),
        "databases[0].path (cache): environment variable 'CACHE_DIR' is not set and has no default",
    ),
    (
        PG + 'username = "a${DB_USER"\n',
        "databases[0].username (pg): unterminated '${' (write '$${' for a literal '${')",
    ),
    (
        PG + 'username = "${1X}"\n',
        "databases[0].username (pg): malformed reference '${1X}' (expected ${NAME} or ${NAME:-default})",
    ),
    (
        PG + 'username = "${}"\n',
        "databases[0].username (pg): malformed reference '${}' (expected ${NAME} or ${NAME:-default})",
    ),
    (
        PG + 'username = "${U-x}"\n',
        "databases[0].username (pg): malformed reference '${U-x}' (expected ${NAME} or ${NAME:-default})",
    ),
    (PG + "password = 12345678\n", "databases[0].password (pg): expected a string, got an integer"),
    (PG + 'password = ["hunter2"]\n', "databases[0].password (pg): expected a string, got an array"),
    (
        PG + 'password = "hun${ter 2}"\n',
        "databases[0].password (pg): malformed reference (expected ${NAME} or ${NAME:-default})",
    ),
    (
        PG + 'password = "hun${ter2"\n',
        "databases[0].password (pg): unterminated '${' (write '$${' for a literal '${')",
    ),
    # the FraiseQL spelling names its own keys
    (
        GUIDE_EXAMPLE.replace("port = 3306", 'port = "${WORD}"'),
        "FraiseQL.databases[1].port (mysql_historical): expected an integer, got a string ('abc')",
    ),
]


@pytest.mark.parametrize(("text", "expected"), BAD_INPUTS, ids=[expected for _, expected in BAD_INPUTS])
def test_bad_input(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(text, ENV | BAD_ENV)
    assert str(caught.value) == f"dbmesh.toml: {expected}"


@pytest.mark.parametrize(("text", "expected"), BAD_CONNECTIONS, ids=[expected for _, expected in BAD_CONNECTIONS])
def test_bad_connection_settings_fail_when_first_used(text: str, expected: str) -> None:
    config = parse(text, ENV | BAD_ENV)
    failing = next(database for database in config.databases if f"({database.name})" in expected)
    for use in (config.check_connections, failing.connection, lambda: failing.host, failing.describe):
        with pytest.raises(ConfigError) as caught:
            use()
        assert str(caught.value) == f"dbmesh.toml: {expected}"


def test_the_router_view_loads_without_connection_variables() -> None:
    """What the router reads is there with no database variable set; a resolver's connection is not."""
    config = parse(GUIDE_EXAMPLE + "[FraiseQL.router]\nport = 9000\n", {})
    assert [(d.name, d.engine, d.read_only, d.pool_size) for d in config.databases] == [
        ("postgres_primary", "postgresql", False, 10),
        ("mysql_historical", "mysql", True, 5),
        ("sqlite_cache", "sqlite", True, 1),
    ]
    assert config.router.port == 9000
    assert config.database("sqlite_cache").connection() == Connection(path="/var/cache/FraiseQL.db")
    with pytest.raises(ConfigError) as caught:
        config.database("mysql_historical").connection()
    assert str(caught.value) == (
        "dbmesh.toml: FraiseQL.databases[1].host (mysql_historical): "
        "environment variable 'DB_MYSQL_HOST' is not set and has no default"
    )
    with pytest.raises(ConfigError) as caught:
        config.check_connections()
    assert str(caught.value) == (
        "dbmesh.toml: FraiseQL.databases[0].host (postgres_primary): "
        "environment variable 'DB_POSTGRES_HOST' is not set and has no default"
    )


def test_an_unset_password_fails_only_its_own_database() -> None:
    text = PG + 'password = "${PG_PASSWORD}"\n' + SQLITE
    config = parse(text, {})
    assert config.database("cache").path == "/var/cache/x.db"
    with pytest.raises(ConfigError) as caught:
        _ = config.database("pg").password
    assert str(caught.value) == (
        "dbmesh.toml: databases[0].password (pg): environment variable 'PG_PASSWORD' is not set and has no default"
    )


def test_connection_settings_are_substituted_once_when_first_asked_for() -> None:
    environ = {"PG_HOST": "first"}
    database = parse(PG.replace('"db"', '"${PG_HOST}"'), environ).databases[0]
    environ["PG_HOST"] = "second"
    assert database.host == "second"
    environ["PG_HOST"] = "third"
    assert database.connection().host == "second"


def test_unused_connection_settings_never_appear_in_repr() -> None:
    config = parse(GUIDE_EXAMPLE, ENV)
    pending = repr(config)
    config.check_connections()
    for text in (pending, repr(config), str(config)):
        assert "s3cret" not in text and "10.0.0.5" not in text


def test_load_config_reads_the_file_and_resolves_relative_sqlite_paths(tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    config_file = folder / "dbmesh.toml"
    config_file.write_text(SQLITE.replace("/var/cache/x.db", "data/../cache.db"), encoding="utf-8")
    config = load_config(config_file, environ={})
    assert config.source == str(config_file)
    assert config.databases[0].path == str(folder / "cache.db")
    assert load_config(str(config_file)).databases[0].path == str(folder / "cache.db")


def test_relative_sqlite_path_without_a_file_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    text = SQLITE.replace("/var/cache/x.db", "cache.db")
    assert parse_config(text, environ={}).databases[0].path == str(tmp_path / "cache.db")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    text = SQLITE.replace("/var/cache/x.db", "~/cache.db")
    assert parse_config(text, environ={}).databases[0].path == str(tmp_path / "home" / "cache.db")


def test_load_config_file_problems(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    with pytest.raises(ConfigError) as caught:
        load_config(missing)
    assert str(caught.value) == f"{missing}: configuration file not found"

    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert str(caught.value) == f"{tmp_path}: cannot read configuration file: Is a directory"

    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes(PG.encode() + b'username = "J\xf6rg"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(latin1)
    assert str(caught.value) == f"{latin1}: not valid UTF-8 (byte {len(PG) + 13})"


def test_unknown_database_lists_the_known_ones() -> None:
    config = parse(PG + SQLITE)
    assert config.database("cache").engine == "sqlite"
    with pytest.raises(ConfigError) as caught:
        config.database("pgg")
    assert str(caught.value) == "dbmesh.toml: unknown database 'pgg' (known: pg, cache)"


def test_passwords_never_appear_in_repr_str_or_describe() -> None:
    config = parse(GUIDE_EXAMPLE, ENV)
    primary = config.database("postgres_primary")
    assert primary.password == "pg-s3cret"
    for text in (repr(config), str(config), repr(primary), str(primary), primary.describe()):
        assert "s3cret" not in text
    assert "password" not in repr(primary)


@pytest.mark.parametrize(
    "value",
    ["12345678", '["hunter2"]', "{ secret = 'hunter2' }", '"hun${ter 2}"', '"hun${ter2"', "1234.5678"],
)
def test_bad_password_is_not_echoed(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(PG + f"password = {value}\n").check_connections()
    message = str(caught.value)
    assert message.startswith("dbmesh.toml: databases[0].password (pg): ")
    for secret in ("hun", "1234", "5678"):
        assert secret not in message


def test_with_resolver_and_describe() -> None:
    database = parse(PG + 'password = "pw"\n').databases[0]
    moved = database.with_resolver("127.0.0.1:50052")
    assert moved.resolver == "127.0.0.1:50052"
    assert moved == dataclasses.replace(database, resolver="127.0.0.1:50052")
    assert database.resolver is None
    assert moved.with_resolver("[::1]:50053").resolver == "[::1]:50053"
    with pytest.raises(ValueError, match="expected 'host:port'"):
        database.with_resolver("nowhere")
    assert database.describe() == "pg (postgresql, db:5432/app)"
    ipv6 = PG.replace('host = "db"', 'host = "::1"')
    assert parse(ipv6).databases[0].describe() == "pg (postgresql, [::1]:5432/app)"
    assert parse(SQLITE).databases[0].describe() == "cache (sqlite, /var/cache/x.db)"


def test_configs_are_frozen() -> None:
    config = parse(PG)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.databases[0].port = 1  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.router.port = 1  # type: ignore[misc]


def test_os_environ_is_not_modified() -> None:
    before = dict(os.environ)
    parse_config(PG + 'username = "${DBMESH_SURELY_UNSET:-x}"\n')
    assert dict(os.environ) == before


def test_an_empty_password_means_none() -> None:
    config = parse_config(PG + 'password = "${DB_PASSWORD:-}"\n', environ={})
    assert config.databases[0].password is None
