"""Tables and rows of the access-control tests (tests/access/access_schema.py), tokens minted
with PyJWT, and the mesh's `[auth]` / `[[permissions]]` configuration.

Two tenants: `a` (customer c1) and `b` (customers c2, and c3 only in the SQLite cache). Order 3
belongs to c1 but to tenant `b`: reached through c1's `orders` relation it must stay hidden."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import aiomysql
import asyncpg
import jwt
from harness.config import server_settings
from harness.servers import DatabaseInfo

SECRET = "test-secret-0123456789-abcdefghijklmnop"

CUSTOMERS = [("c1", "Ann", "ann@a.example", "a"), ("c2", "Bob", "bob@b.example", "b")]
CACHED = [*CUSTOMERS, ("c3", "Cy", "cy@b.example", "b")]
ORDERS = [(1, "c1", 10, "a"), (2, "c2", 20, "b"), (3, "c1", 30, "b"), (4, "c1", 40, "a")]

MINE = '{ tenant = { _eq = "claims.https://dbmesh/claims.tenant" } }'  # the row's tenant is the caller's
ANY_OF = '{ tenant = { _in = "claims.https://dbmesh/claims.tenants" } }'  # one of the caller's tenants

AUTH = f"""
[auth]
jwt_secret = "{SECRET}"
issuer = "https://id.example.com"
audience = "dbmesh"
role_claim = "https://dbmesh/claims.role"
anonymous_role = "anonymous"

[auth.roles.customer]
max_limit = 100

[[permissions]]
role = "customer"
type = "Customer"
select = {{ columns = ["id", "name", "tenant"], filter = {MINE} }}

[[permissions]]
role = "customer"
type = "Order"
select = {{ columns = ["id", "customer_id", "total", "tenant"], filter = {MINE} }}
insert = {{ columns = ["id", "customer_id", "total", "tenant"], check = {MINE} }}
update = {{ columns = ["total"], filter = {{ total = {{ _lt = 1000 }} }} }}
delete = {{ filter = {{ total = {{ _gte = 0 }} }} }}

[[permissions]]
role = "auditor"
type = "Customer"
select = {{ columns = ["id", "tenant"], filter = {ANY_OF} }}

[[permissions]]
role = "auditor"
type = "Order"
select = {{ columns = ["id", "customer_id", "tenant"], filter = {ANY_OF} }}

[auth.roles.auditor]
privileged = true

[[permissions]]
role = "anonymous"
type = "Customer"
select = {{ columns = ["name"], filter = {{ tenant = {{ _eq = "public" }} }} }}
"""


def token(
    role: str = "customer",
    tenant: str | None = "a",
    key: Any = SECRET,
    algorithm: str = "HS256",
    tenants: list[str] | None = None,
    **claims: Any,
) -> str:
    """A token as the identity provider mints it (role and tenants in a namespaced claim)."""
    now = int(time.time())
    namespaced: dict[str, Any] = {"role": role}
    if tenant is not None:
        namespaced["tenant"] = tenant
    if tenants is not None:
        namespaced["tenants"] = tenants
    body = {"iss": "https://id.example.com", "aud": "dbmesh", "iat": now, "exp": now + 300, "sub": "u1"}
    body["https://dbmesh/claims"] = namespaced
    body.update(claims)
    return jwt.encode(body, key, algorithm=algorithm)


def _sqlite_tables(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE customers (id TEXT PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL, tenant TEXT NOT NULL)"
    )
    conn.executemany("INSERT INTO customers VALUES (?, ?, ?, ?)", CACHED)
    conn.execute("CREATE TABLE secrets (id INTEGER PRIMARY KEY, note TEXT NOT NULL)")
    conn.execute("INSERT INTO secrets VALUES (1, 'the launch codes')")
    conn.commit()
    conn.close()


async def _pg_tables(info: DatabaseInfo) -> None:
    pg = await asyncpg.connect(host=info.host, port=info.port, user=info.user, database=info.database)
    try:
        await pg.execute(
            "CREATE TABLE customers (id text PRIMARY KEY, name text NOT NULL, email text NOT NULL,"
            " tenant text NOT NULL)"
        )
        await pg.executemany("INSERT INTO customers VALUES ($1, $2, $3, $4)", CUSTOMERS)
    finally:
        await pg.close()


async def mysql_run(info: DatabaseInfo, sql: str, args: Any = None, many: bool = False) -> list[tuple[Any, ...]]:
    my = await aiomysql.connect(
        host=info.host, port=info.port, user=info.user, password=info.password, db=info.database, autocommit=True
    )
    try:
        async with my.cursor() as cur:
            if many:
                await cur.executemany(sql, args)
            else:
                await cur.execute(sql, args)
            return list(await cur.fetchall())
    finally:
        my.close()


async def reset_orders(info: DatabaseInfo) -> None:
    await mysql_run(info, "DELETE FROM orders")
    await mysql_run(info, "INSERT INTO orders VALUES (%s, %s, %s, %s)", ORDERS, many=True)


async def databases(pg: DatabaseInfo, my: DatabaseInfo, folder: Path) -> dict[str, dict[str, Any]]:
    """The three databases, created and seeded."""
    await _pg_tables(pg)
    await mysql_run(
        my,
        "CREATE TABLE orders (id integer PRIMARY KEY, customer_id varchar(20) NOT NULL, total integer NOT NULL,"
        " tenant varchar(20) NOT NULL)",
    )
    await reset_orders(my)
    _sqlite_tables(folder / "cache.db")
    return {
        "shop": server_settings(pg),
        "history": server_settings(my),
        "cache": {"engine": "sqlite", "path": str(folder / "cache.db")},
    }
