"""The harness's configuration writer and DDL reader: what they write is what dbmesh's own loader
reads back, and the deployed SQL files split into the statements a one-statement driver runs."""

from __future__ import annotations

import tomllib
from pathlib import Path

from harness import ddl
from harness.config import config_toml, database_toml, server_settings
from harness.servers import DatabaseInfo

from dbmesh.config import parse_config

MARIADB = DatabaseInfo("mysql", "127.0.0.1", 3307, "root", "", "shop")


def test_written_values_are_read_back_by_the_config_loader() -> None:
    text = config_toml(
        {
            "shop": {**server_settings(MARIADB), "read_only": True, "timeout_secs": 2.5, "replicas": ["10.0.0.7:3306"]},
            "cache": {"engine": "sqlite", "path": '/tmp/Zoë "cache".db', "pool_size": None},
        },
        {"max_depth": 4, "graphiql": False},
        comment="written by a test",
    )
    config = parse_config(text)
    shop, cache = config.databases
    assert (shop.name, shop.engine, shop.read_only, shop.timeout_secs, shop.replicas) == (
        "shop", "mysql", True, 2.5, ("10.0.0.7:3306",)
    )  # fmt: skip
    connection = shop.connection()
    assert (connection.host, connection.port, connection.database, connection.username) == (
        "127.0.0.1", 3307, "shop", "root"
    )  # fmt: skip
    assert connection.password is None  # the server's user has none: no key written
    assert cache.pool_size == 10  # None: left out, so the default
    assert tomllib.loads(text)["databases"][1]["path"] == '/tmp/Zoë "cache".db'
    assert (config.router.max_depth, config.router.graphiql) == (4, False)
    assert text.startswith('# written by a test\n\n[[databases]]\nname = "shop"\nengine = "mysql"\n')


def test_a_variable_is_left_for_dbmesh_to_substitute() -> None:
    entry = database_toml("vault", {**server_settings(MARIADB), "password": "${VAULT_PASSWORD}"})
    assert 'password = "${VAULT_PASSWORD}"\n' in entry
    config = parse_config(entry, environ={"VAULT_PASSWORD": "s3cret"})
    assert config.databases[0].connection().password == "s3cret"


def test_a_server_without_a_password_gets_no_password_key() -> None:
    assert "password" not in database_toml("shop", server_settings(MARIADB))
    with_one = DatabaseInfo("mysql", "127.0.0.1", 3307, "app", "pw", "shop")
    assert server_settings(with_one)["password"] == "pw"


def test_the_mysql_tables_split_into_their_statements() -> None:
    statements = ddl.statements(ddl.MYSQL)
    assert [s.split("(", 1)[0].strip() for s in statements] == ["CREATE TABLE orders", "CREATE TABLE order_items"]
    assert not any("--" in s for s in statements)


def _created_tables(path: Path) -> list[str]:
    creates = [s.replace(" IF NOT EXISTS", "") for s in ddl.statements(path) if s.startswith("CREATE TABLE")]
    return [s.split()[2] for s in creates]


def test_each_dialect_has_the_tables_its_databases_serve() -> None:
    assert _created_tables(ddl.POSTGRESQL) == ["customers", "customer_details"]
    assert _created_tables(ddl.MYSQL) == ["orders", "order_items"]
    assert _created_tables(ddl.SQLITE) == ["customers", "customer_details", "orders", "order_items"]
