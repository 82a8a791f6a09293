"""The tables of tests/router/mutation_schema.py on each engine, and a way to read them back
directly (not through dbmesh), so the mutation tests check what the databases really hold."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import aiomysql
import asyncpg
from harness.config import server_settings
from harness.servers import DatabaseInfo

_TYPES = {
    "postgresql": {"uuid": "uuid", "text": "text", "int": "integer", "money": "numeric(10,2)"},
    "mysql": {"uuid": "char(36)", "text": "varchar(200)", "int": "integer", "money": "decimal(10,2)"},
    "sqlite": {"uuid": "text", "text": "text", "int": "integer", "money": "numeric(10,2)"},
}


def ddl(engine: str) -> list[str]:
    t = _TYPES[engine]
    return [
        f"CREATE TABLE customers (id {t['uuid']} PRIMARY KEY, email {t['text']} NOT NULL, name {t['text']},"
        f" balance {t['int']} NOT NULL, CONSTRAINT customers_email_key UNIQUE (email))",
        f"CREATE TABLE orders (id {t['uuid']} PRIMARY KEY, customer_id {t['uuid']} NOT NULL, total {t['money']}"
        " NOT NULL, CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id))",
        f"CREATE TABLE entries (id {t['uuid']} PRIMARY KEY, account {t['text']} NOT NULL,"
        f" amount {t['money']} NOT NULL)",
    ]


class Tables:
    """One database of a mutation test: created with `ddl`, read with plain SQL."""

    def __init__(self, engine: str, settings: dict[str, Any], info: DatabaseInfo | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.info = info

    @classmethod
    def sqlite(cls, path: Path) -> Tables:
        return cls("sqlite", {"engine": "sqlite", "path": str(path)})

    @classmethod
    def server(cls, info: DatabaseInfo) -> Tables:
        return cls(info.engine, server_settings(info), info)

    async def run(self, sql: str) -> list[tuple[Any, ...]]:
        if self.engine == "sqlite":
            conn = sqlite3.connect(self.settings["path"])
            try:
                rows = conn.execute(sql).fetchall()
                conn.commit()
                return rows
            finally:
                conn.close()
        info = self.info
        assert info is not None
        if self.engine == "postgresql":
            pg = await asyncpg.connect(host=info.host, port=info.port, user=info.user, database=info.database)
            try:
                return [tuple(r) for r in await pg.fetch(sql)]
            finally:
                await pg.close()
        my = await aiomysql.connect(
            host=info.host, port=info.port, user=info.user, password=info.password, db=info.database, autocommit=True
        )
        try:
            async with my.cursor() as cur:
                await cur.execute(sql)
                return list(await cur.fetchall())
        finally:
            my.close()

    async def create(self) -> None:
        for statement in ddl(self.engine):
            await self.run(statement)
