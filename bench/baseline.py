"""The direct baseline: what a person would write by hand to answer the benchmark's four requests.

The same server stack as the router (FastAPI on uvicorn, one process, asyncio, orjson), the same
POST body, dispatched on the exact query text to a handler with the fewest statements a person
would write over asyncpg and aiomysql pools of the router's default size: a join where the tables
share a database (orders with their items), statements on different databases run concurrently
when neither needs the other's rows. The answer is the same JSON as dbmesh's: the same field names
and the same canonical values (UUIDs lower-case, decimals as strings at their scale, dates
YYYY-MM-DD, timestamps ISO 8601 in UTC ending in `Z`).

Every statement a handler runs is counted: `GET /stats` gives the totals per scenario, and a
request with `"extensions": {"trace": true}` gets them in `extensions.trace.routes`, as dbmesh's
trace has them.

Run: `python -m bench.baseline CONFIG.json` (written by the bench); prints "baseline is serving URL".
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import aiomysql
import asyncpg
import orjson
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response

from bench.scenarios import BATCH_SIZE, FANOUT_YEAR, SCENARIOS

__all__ = ["create_app", "main"]

Row = Sequence[Any]


def _uuid(value: Any) -> str:
    return str(value)


def _decimal(value: Decimal) -> str:
    return format(value, "f")


def _date(value: date) -> str:
    return value.isoformat()


def _timestamp(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Trace:
    """The statements one request ran."""

    routes: list[dict[str, Any]] = field(default_factory=list)

    def add(self, database: str, sql: str, rows: int) -> None:
        self.routes.append({"database": database, "query": sql, "rows": rows})


class OrdersStore(Protocol):
    """Where orders and order items live (MariaDB; PostgreSQL with `--orders-on postgresql`)."""

    database: str

    async def fetch(self, trace: Trace, sql: str, args: Sequence[Any]) -> list[Row]: ...

    def placeholders(self, count: int, first: int = 1) -> str: ...

    def any_of(self, column: str, count: int, first: int = 1) -> str: ...

    async def close(self) -> None: ...


class MariaDBOrders:
    database = "mysql_historical"

    def __init__(self, pool: aiomysql.Pool) -> None:
        self.pool = pool

    async def fetch(self, trace: Trace, sql: str, args: Sequence[Any]) -> list[Row]:
        async with self.pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute(sql, args)
            rows: list[Row] = await cur.fetchall()
        trace.add(self.database, sql, len(rows))
        return rows

    def placeholders(self, count: int, first: int = 1) -> str:
        return ", ".join(["%s"] * count)

    def any_of(self, column: str, count: int, first: int = 1) -> str:
        return f"{column} IN ({self.placeholders(count)})"

    async def close(self) -> None:
        self.pool.close()
        await self.pool.wait_closed()


class PostgresOrders:
    database = "mysql_historical"

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def fetch(self, trace: Trace, sql: str, args: Sequence[Any]) -> list[Row]:
        rows: list[Row] = await self.pool.fetch(sql, *args)
        trace.add(self.database, sql, len(rows))
        return rows

    def placeholders(self, count: int, first: int = 1) -> str:
        return ", ".join(f"${n}" for n in range(first, first + count))

    def any_of(self, column: str, count: int, first: int = 1) -> str:
        return f"{column} = ANY(${first}::uuid[])"

    async def close(self) -> None:
        await self.pool.close()


@dataclass
class Store:
    customers: asyncpg.Pool
    orders: OrdersStore

    async def fetch_customers(self, trace: Trace, sql: str, *args: Any) -> list[Row]:
        rows: list[Row] = await self.customers.fetch(sql, *args)
        trace.add("postgres_primary", sql, len(rows))
        return rows


# --- the handlers: one per scenario -------------------------------------------------------------

POINT_SQL = "SELECT id, email, name, created_at FROM customers WHERE id = $1"
CUSTOMER_SQL = "SELECT id, email, name FROM customers WHERE id = $1"
CUSTOMERS_SQL = f"SELECT id, email, name FROM customers WHERE id = ANY($1::uuid[]) ORDER BY id LIMIT {BATCH_SIZE}"


def _customer(row: Row) -> dict[str, Any]:
    return {"id": _uuid(row[0]), "email": row[1], "name": row[2]}


def _order(row: Row, at: int = 0) -> dict[str, Any]:
    return {"id": _uuid(row[at]), "orderDate": _date(row[at + 1]), "totalAmount": _decimal(row[at + 2])}


async def point(store: Store, variables: dict[str, Any], trace: Trace) -> dict[str, Any]:
    rows = await store.fetch_customers(trace, POINT_SQL, variables["id"])
    if not rows:
        return {"customer": None}
    row = rows[0]
    return {"customer": {**_customer(row), "createdAt": _timestamp(row[3])}}


async def nested(store: Store, variables: dict[str, Any], trace: Trace) -> dict[str, Any]:
    orders = store.orders
    sql = (
        "SELECT o.id, o.order_date, o.total_amount, i.product_id, i.quantity, i.price"
        " FROM orders o LEFT JOIN order_items i ON i.order_id = o.id"
        f" WHERE o.customer_id = {orders.placeholders(1)} ORDER BY o.id, i.product_id"
    )
    customers, rows = await asyncio.gather(
        store.fetch_customers(trace, CUSTOMER_SQL, variables["id"]), orders.fetch(trace, sql, [variables["id"]])
    )
    if not customers:
        return {"customer": None}
    out_orders: list[dict[str, Any]] = []
    last = None
    for row in rows:
        if row[0] != last:
            last = row[0]
            out_orders.append({**_order(row), "items": []})
        if row[3] is not None:
            out_orders[-1]["items"].append({"productId": _uuid(row[3]), "quantity": row[4], "price": _decimal(row[5])})
    return {"customer": {**_customer(customers[0]), "allOrders": out_orders}}


async def batch(store: Store, variables: dict[str, Any], trace: Trace) -> dict[str, Any]:
    ids: list[str] = variables["ids"]
    orders = store.orders
    distinct = list(dict.fromkeys(ids))
    sql = (
        f"SELECT customer_id, id, order_date, total_amount FROM orders"
        f" WHERE {orders.any_of('customer_id', len(distinct))} ORDER BY id"
    )
    args: list[Any] = [distinct] if isinstance(orders, PostgresOrders) else distinct
    customers, rows = await asyncio.gather(
        store.fetch_customers(trace, CUSTOMERS_SQL, distinct), orders.fetch(trace, sql, args)
    )
    by_customer: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_customer.setdefault(_uuid(row[0]), []).append(_order(row, 1))
    out = []
    for row in customers:
        customer = _customer(row)
        customer["allOrders"] = by_customer.get(customer["id"], [])
        out.append(customer)
    return {"customers": out}


async def fanout(store: Store, variables: dict[str, Any], trace: Trace) -> dict[str, Any]:
    orders = store.orders
    sql = (
        "SELECT id, order_date, total_amount FROM orders"
        f" WHERE customer_id = {orders.placeholders(1)} AND order_date >= {orders.placeholders(1, 2)}"
        f" AND order_date < {orders.placeholders(1, 3)} ORDER BY id"
    )
    year = [date(FANOUT_YEAR, 1, 1), date(FANOUT_YEAR + 1, 1, 1)]
    customers, rows = await asyncio.gather(
        store.fetch_customers(trace, CUSTOMER_SQL, variables["id"]), orders.fetch(trace, sql, [variables["id"], *year])
    )
    return {
        "customer": _customer(customers[0]) if customers else None,
        "historicalOrders": [_order(row) for row in rows],
    }


Handler = Callable[[Store, dict[str, Any], Trace], Awaitable[dict[str, Any]]]
HANDLERS: dict[str, Handler] = {"point": point, "nested": nested, "batch": batch, "fanout": fanout}
BY_QUERY: dict[str, tuple[str, Handler]] = {s.query: (s.name, HANDLERS[s.name]) for s in SCENARIOS}


# --- the app ------------------------------------------------------------------------------------


async def open_store(config: dict[str, Any]) -> Store:
    pool_size = int(config.get("pool_size", 10))
    pg = config["postgres"]
    customers = await asyncpg.create_pool(
        host=pg["host"], port=pg["port"], user=pg["user"], database=pg["database"], min_size=1, max_size=pool_size
    )
    spec = config["orders"]
    orders: OrdersStore
    if spec["engine"] == "postgresql":
        pool = await asyncpg.create_pool(
            host=spec["host"],
            port=spec["port"],
            user=spec["user"],
            database=spec["database"],
            min_size=1,
            max_size=pool_size,
        )
        orders = PostgresOrders(pool)
    else:
        mysql_pool = await aiomysql.create_pool(
            host=spec["host"],
            port=spec["port"],
            user=spec["user"],
            password=spec["password"],
            db=spec["database"],
            minsize=1,
            maxsize=pool_size,
            autocommit=True,
        )
        orders = MariaDBOrders(mysql_pool)
    return Store(customers, orders)


def _error(message: str, status: int = 400) -> Response:
    body = {"errors": [{"message": message, "extensions": {"code": "BAD_USER_INPUT"}}]}
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def create_app(config: dict[str, Any]) -> FastAPI:
    """The baseline's ASGI app; its pools open and close with the app's lifespan."""
    stats: dict[str, dict[str, int]] = {s.name: {"requests": 0, "statements": 0} for s in SCENARIOS}
    state: dict[str, Store] = {}

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        state["store"] = await open_store(config)
        try:
            yield
        finally:
            store = state.pop("store")
            await store.customers.close()
            await store.orders.close()

    app = FastAPI(title="dbmesh bench baseline", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)

    @app.post("/graphql")
    async def graphql(request: Request) -> Response:
        try:
            payload = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _error("the request body is not valid JSON")
        query = payload.get("query") if isinstance(payload, dict) else None
        found = BY_QUERY.get(query) if isinstance(query, str) else None
        if found is None:
            return _error("the baseline answers only the benchmark's queries")
        name, handler = found
        trace = Trace()
        data = await handler(state["store"], payload.get("variables") or {}, trace)
        counters = stats[name]
        counters["requests"] += 1
        counters["statements"] += len(trace.routes)
        body: dict[str, Any] = {"data": data}
        if (payload.get("extensions") or {}).get("trace"):
            body["extensions"] = {"trace": {"routes": trace.routes}}
        return Response(orjson.dumps(body), media_type="application/json")

    @app.get("/stats")
    async def get_stats() -> Response:
        return Response(orjson.dumps(stats), media_type="application/json")

    return app


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m bench.baseline CONFIG.json", file=sys.stderr)
        return 2
    config = orjson.loads(Path(args[0]).read_bytes())
    # uvicorn binds the port itself, as `uvicorn app:app` does: asyncio then sets TCP_NODELAY on
    # every accepted connection (it does not on a socket made with socket.socket(AF_INET,
    # SOCK_STREAM), whose proto is 0).
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config),
            host="127.0.0.1",
            port=int(config.get("port", 0)),
            log_level="warning",
            lifespan="on",
            access_log=False,
        )
    )

    async def serve() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
            await asyncio.sleep(0.02)
        if server.started:
            port = server.servers[0].sockets[0].getsockname()[1]
            print(f"baseline is serving http://127.0.0.1:{port}/graphql", flush=True)
        await task

    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
