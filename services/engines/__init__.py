"""One engine per database kind; `create_engine` picks it from the configuration."""

from __future__ import annotations

from dbmesh.config import DatabaseConfig
from dbmesh.services.engines.base import Connection, Engine, Status

__all__ = ["Connection", "Engine", "Status", "create_engine"]


def create_engine(config: DatabaseConfig) -> Engine:
    if config.engine == "sqlite":
        from dbmesh.services.engines.sqlite import SqliteEngine

        return SqliteEngine(config)
    if config.engine == "postgresql":
        from dbmesh.services.engines.postgresql import PostgresEngine

        return PostgresEngine(config)
    if config.engine == "mysql":
        from dbmesh.services.engines.mysql import MysqlEngine

        return MysqlEngine(config)
    raise ValueError(f"unknown engine {config.engine!r}")
