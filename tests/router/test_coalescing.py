"""Cross-request coalescing (router.coalescing, docs/reference.md §7) through a real router over
real resolvers and databases: concurrent requests of one shape share one resolver call, and
each still gets exactly what it would get alone: its own rows, its own error, its own fallback.

Statements are counted where they run (the resolver's `_run_reads`, patched to count and then
do what it does), and every test checks that a call was in fact shared, so none passes by
coalescing nothing."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiomysql
import asyncpg
import orjson
import pytest
from harness.config import server_settings
from harness.mesh import InProcessMesh, post_together
from harness.servers import DatabaseInfo

from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.router import coalescing
from dbmesh.services.servicer import ResolverServicer

SCHEMA = Path(__file__).with_name("coalescing_schema.py")
N = 8
CUSTOMERS = [(str(uuid.UUID(int=i + 1)), f"customer {i}") for i in range(N)]
# Customer i has orders 10i .. 10i+2, totals 3, 2, 1.
ORDERS = [(10 * i + j, c, 3 - j) for i, (c, _) in enumerate(CUSTOMERS) for j in range(3)]
# Orders 10i and 10i+1 have items (lines 1 and 2); 10i+2 has none.
ITEMS = [(o, line, f"sku {o}-{line}") for o, _, _ in ORDERS if o % 10 != 2 for line in (1, 2)]
NOTES = [(i, f"note {i}") for i in range(N)]
ROUTER = {"tracing": "request", "breaker_failures": 1000}


async def _load(pg: DatabaseInfo, my: DatabaseInfo, folder: Path) -> dict[str, dict[str, Any]]:
    conn = await asyncpg.connect(host=pg.host, port=pg.port, user=pg.user, database=pg.database)
    try:
        await conn.execute("CREATE TABLE customers (id uuid PRIMARY KEY, name text NOT NULL)")
        await conn.executemany("INSERT INTO customers VALUES ($1, $2)", CUSTOMERS)
        # smallint: an Int the column cannot hold (40000) is the database's error, in a shared call
        await conn.execute("CREATE TABLE notes (id smallint PRIMARY KEY, text text NOT NULL)")
        await conn.executemany("INSERT INTO notes VALUES ($1, $2)", NOTES)
        await conn.execute("CREATE TABLE codes (code char(4) PRIMARY KEY, label text NOT NULL)")
        await conn.execute("INSERT INTO codes VALUES ('ab', 'short'), ('abcd', 'long')")
    finally:
        await conn.close()
    mysql = await aiomysql.connect(
        host=my.host, port=my.port, user=my.user, password=my.password, db=my.database, autocommit=True
    )
    try:
        async with mysql.cursor() as cur:
            await cur.execute("CREATE TABLE orders (id INT PRIMARY KEY, customer_id CHAR(36) NOT NULL, total INT)")
            await cur.executemany("INSERT INTO orders VALUES (%s, %s, %s)", ORDERS)
            await cur.execute(
                "CREATE TABLE items (order_id INT NOT NULL, line INT NOT NULL, sku VARCHAR(20) NOT NULL,"
                " PRIMARY KEY (order_id, line))"
            )
            await cur.executemany("INSERT INTO items VALUES (%s, %s, %s)", ITEMS)
    finally:
        mysql.close()
    cache = sqlite3.connect(folder / "cache.db")
    cache.execute("CREATE TABLE customers (id TEXT PRIMARY KEY, name TEXT NOT NULL)")
    cache.executemany("INSERT INTO customers VALUES (?, ?)", [(c, f"{name} (cached)") for c, name in CUSTOMERS])
    cache.commit()
    cache.close()
    return {
        "shop": server_settings(pg),
        "history": server_settings(my),
        "cache": {"engine": "sqlite", "path": str(folder / "cache.db"), "read_only": True},
    }


@pytest.fixture(scope="module")
async def databases(
    pg_module_database: DatabaseInfo, mysql_module_database: DatabaseInfo, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Any]]:
    return await _load(pg_module_database, mysql_module_database, tmp_path_factory.mktemp("coalescing"))


@pytest.fixture(scope="module")
async def on(databases: dict[str, dict[str, Any]]) -> AsyncIterator[InProcessMesh]:
    mesh = await InProcessMesh(databases, SCHEMA, ROUTER).start()
    yield mesh
    await mesh.stop()


@pytest.fixture(scope="module")
async def off(databases: dict[str, dict[str, Any]]) -> AsyncIterator[InProcessMesh]:
    mesh = await InProcessMesh(databases, SCHEMA, {**ROUTER, "coalesce": False}).start()
    yield mesh
    await mesh.stop()


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """SQL statements the resolvers run, by the table they read (the first quoted name after FROM)."""
    counted: Counter[str] = Counter()
    original = ResolverServicer._run_reads

    async def counting(self: ResolverServicer, compiled: Any, *args: Any) -> Any:
        for statement in compiled.statements:
            counted[statement.sql.split(" FROM ", 1)[1].split()[0].strip('"`(')] += 1
        return await original(self, compiled, *args)

    monkeypatch.setattr(ResolverServicer, "_run_reads", counting)
    yield counted


def shared_calls(mesh: InProcessMesh, database: str) -> float:
    value = mesh.router.metrics.registry.get_sample_value("dbmesh_coalesced_calls_total", {"database": database})
    return value or 0.0


def holds(mesh: InProcessMesh, ended: str) -> float:
    value = mesh.router.metrics.registry.get_sample_value(
        "dbmesh_coalesced_holds_total", {"database": "history", "ended": ended}
    )
    return value or 0.0


async def concurrently(
    mesh: InProcessMesh, query: str, variables: list[dict[str, Any]], **extra: Any
) -> list[dict[str, Any]]:
    """The bodies of `query` posted once per variables, all in one turn of the router's loop."""
    return await post_together(mesh.url, [{"query": query, "variables": v, **extra} for v in variables])


async def alone(mesh: InProcessMesh, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    return (await concurrently(mesh, query, [variables]))[0]


POINT = "query P($id: ID!) { customer(id: $id) { id name } }"


async def test_concurrent_point_requests_share_a_call_and_get_their_own_rows(
    on: InProcessMesh, off: InProcessMesh, statements: Counter[str]
) -> None:
    ids = [{"id": c} for c, _ in CUSTOMERS]
    expected = [{"data": {"customer": {"id": c, "name": name}}} for c, name in CUSTOMERS]
    assert await concurrently(off, POINT, ids) == expected
    assert statements["customers"] == N  # coalescing off: one statement per request
    statements.clear()
    before = shared_calls(on, "shop")
    assert await concurrently(on, POINT, ids) == expected
    assert 1 <= statements["customers"] < N
    assert shared_calls(on, "shop") > before


async def test_paging_is_per_request_in_a_shared_call(on: InProcessMesh, statements: Counter[str]) -> None:
    query = "query O($c: ID!) { orders(customerId: $c, limit: 2) { id total } }"
    before = shared_calls(on, "history")
    bodies = await concurrently(on, query, [{"c": c} for c, _ in CUSTOMERS])
    assert bodies == [
        {"data": {"orders": [{"id": 10 * i, "total": 3}, {"id": 10 * i + 1, "total": 2}]}} for i in range(N)
    ]
    assert statements["orders"] < N
    assert shared_calls(on, "history") > before


NESTED = "query N($id: ID!) { customer(id: $id) { name orders { id items { line sku } } } }"


async def test_a_chain_served_in_one_call_is_shared_and_split_by_request(
    on: InProcessMesh, off: InProcessMesh, statements: Counter[str]
) -> None:
    """Orders -> items is one call to `history` per request (nested); concurrent requests share
    it: every request gets its own customer's orders and items, the same as with coalescing off,
    also when two ask for the same customer and one for a customer that does not exist."""
    ids = [{"id": c} for c, _ in CUSTOMERS] + [{"id": CUSTOMERS[3][0]}, {"id": str(uuid.UUID(int=999))}]
    expected = await concurrently(off, NESTED, ids)
    assert statements["items"] == N + 1  # off: one items statement per request that found a customer
    assert expected[3] == expected[N] and expected[N + 1] == {"data": {"customer": None}}
    assert expected[0]["data"]["customer"]["orders"] == [
        {"id": o, "items": [{"line": 1, "sku": f"sku {o}-1"}, {"line": 2, "sku": f"sku {o}-2"}] if o != 2 else []}
        for o in (0, 1, 2)
    ]
    statements.clear()
    before = shared_calls(on, "history")
    assert await concurrently(on, NESTED, ids) == expected
    assert 1 <= statements["items"] < N + 1
    assert shared_calls(on, "history") > before


async def test_the_same_value_twice_gets_its_row_twice(on: InProcessMesh) -> None:
    query = "query O($id: Int!) { order(id: $id) { id customerId } }"
    before = shared_calls(on, "history")
    bodies = await concurrently(on, query, [{"id": 10}, {"id": 10}, {"id": 20}, {"id": 999}])
    first, second = CUSTOMERS[1][0], CUSTOMERS[2][0]
    assert bodies == [
        {"data": {"order": {"id": 10, "customerId": first}}},
        {"data": {"order": {"id": 10, "customerId": first}}},
        {"data": {"order": {"id": 20, "customerId": second}}},
        {"data": {"order": None}},
    ]
    assert shared_calls(on, "history") > before


async def test_a_bad_value_fails_only_its_own_request(on: InProcessMesh) -> None:
    notes = "query N($id: Int!) { note(id: $id) { text } }"
    own_error = await alone(on, notes, {"id": 40000})  # more than a smallint holds
    assert own_error["data"] == {"note": None}
    assert own_error["errors"][0]["extensions"]["code"] in ("BAD_USER_INPUT", "DATABASE_ERROR")
    before = shared_calls(on, "shop")
    bodies = await concurrently(on, notes, [{"id": 1}, {"id": 2}, {"id": 40000}, {"id": 3}])
    assert bodies == [
        {"data": {"note": {"text": "note 1"}}},
        {"data": {"note": {"text": "note 2"}}},
        own_error,
        {"data": {"note": {"text": "note 3"}}},
    ]
    assert shared_calls(on, "shop") > before


async def test_a_resolver_down_fails_or_falls_back_each_request_as_alone(on: InProcessMesh) -> None:
    notes = "query N($id: Int!) { note(id: $id) { text } }"
    await on.stop_resolver("shop")
    try:
        fallen_back = await alone(on, POINT, {"id": CUSTOMERS[0][0]})
        assert fallen_back == {"data": {"customer": {"id": CUSTOMERS[0][0], "name": "customer 0 (cached)"}}}
        failed = await alone(on, notes, {"id": 1})
        assert failed["errors"][0]["extensions"]["code"] == "DATABASE_UNAVAILABLE"
        before = shared_calls(on, "shop") + shared_calls(on, "cache")
        bodies = await concurrently(on, POINT, [{"id": c} for c, _ in CUSTOMERS])
        assert bodies == [{"data": {"customer": {"id": c, "name": f"{name} (cached)"}}} for c, name in CUSTOMERS]
        assert await concurrently(on, notes, [{"id": 1}] * N) == [failed] * N
        assert shared_calls(on, "shop") + shared_calls(on, "cache") > before
    finally:
        await on.start_resolver("shop")
    for _ in range(100):  # the channel reconnects within its backoff (200 ms, then up to 2 s)
        if await alone(on, notes, {"id": 1}) == {"data": {"note": {"text": "note 1"}}}:
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("the shop resolver did not come back")


async def test_a_traced_request_makes_its_own_call(on: InProcessMesh, statements: Counter[str]) -> None:
    before = shared_calls(on, "shop")
    bodies = await concurrently(on, POINT, [{"id": c} for c, _ in CUSTOMERS], extensions={"trace": True})
    for body, (c, _) in zip(bodies, CUSTOMERS, strict=True):
        (route,) = body["extensions"]["trace"]["routes"]
        assert "ANY" not in route["query"] and route["rows"] == 1  # its own statement, alone
        assert body["data"] == {"customer": {"id": c, "name": CUSTOMERS[int(c[-1], 16) - 1][1]}}
    assert statements["customers"] == N
    assert shared_calls(on, "shop") == before


async def test_a_cancelled_caller_leaves_the_shared_call_to_the_others(
    on: InProcessMesh, statements: Counter[str]
) -> None:
    def point(customer: str) -> pb.QueryRequest:
        request = pb.QueryRequest(collection="customers", columns=[pb.ColumnRef(name="id"), pb.ColumnRef(name="name")])
        request.predicate.comparison.CopyFrom(
            pb.Comparison(column="id", operator=pb.OPERATOR_EQ, operand=pb.Operand(value=pb.Value(uuid=customer)))
        )
        return request

    before = shared_calls(on, "shop")
    traffic = on.router.traffic
    calls = [asyncio.create_task(traffic.fetch(("shop",), point(c), None, coalesce=True)) for c, _ in CUSTOMERS]
    for _ in range(3):  # they join one call, it is sent, and it is in flight
        await asyncio.sleep(0)
    assert shared_calls(on, "shop") == before + 1
    calls[1].cancel()
    answers = await asyncio.gather(*calls, return_exceptions=True)
    assert isinstance(answers[1], asyncio.CancelledError)
    for answer, (c, name) in zip(answers[:1] + answers[2:], CUSTOMERS[:1] + CUSTOMERS[2:], strict=True):
        assert not isinstance(answer, BaseException)
        assert [(orjson.loads(rows), database) for rows, database in answer.row_sets] == [([[c, name]], "shop")]
    assert statements["customers"] == 1


async def test_char_n_lookups_get_the_row_they_get_alone(on: InProcessMesh) -> None:
    # char(4) compares 'ab' equal to its padded 'ab  ': a string stays in the shape, so these
    # are not shared (a shared call's rows are matched to its sets by their text, 'ab  ' != 'ab').
    query = "query C($c: String!) { code(code: $c) { code label } }"
    short = await alone(on, query, {"c": "ab"})
    assert short == {"data": {"code": {"code": "ab  ", "label": "short"}}}
    bodies = await concurrently(on, query, [{"c": "ab"}, {"c": "abcd"}, {"c": "ab"}])
    assert bodies == [short, {"data": {"code": {"code": "abcd", "label": "long"}}}, short]


def _order(order_id: int) -> pb.QueryRequest:
    request = pb.QueryRequest(collection="orders", columns=[pb.ColumnRef(name="id"), pb.ColumnRef(name="total")])
    request.predicate.comparison.CopyFrom(
        pb.Comparison(column="id", operator=pb.OPERATOR_EQ, operand=pb.Operand(value=pb.Value(int=order_id)))
    )
    return request


async def _until(condition: Any, what: str) -> None:
    for _ in range(400):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"never: {what}")


@contextlib.asynccontextmanager
async def _orders_locked(my: DatabaseInfo) -> AsyncIterator[None]:
    """A session holding `LOCK TABLES orders WRITE` meanwhile: every read of `orders` waits."""
    conn = await aiomysql.connect(
        host=my.host, port=my.port, user=my.user, password=my.password, db=my.database, autocommit=True
    )
    try:
        async with conn.cursor() as cur:
            await cur.execute("LOCK TABLES orders WRITE")
        yield
    finally:
        async with conn.cursor() as cur:
            await cur.execute("UNLOCK TABLES")
        conn.close()


def _fetch_order(mesh: InProcessMesh, order_id: int) -> asyncio.Task[Any]:
    return asyncio.create_task(mesh.router.traffic.fetch(("history",), _order(order_id), None, coalesce=True))


def _expect_orders(answers: list[Any], ids: list[int]) -> None:
    totals = {o: total for o, _, total in ORDERS}
    for answer, order_id in zip(answers, ids, strict=True):
        assert not isinstance(answer, BaseException), answer
        assert [(orjson.loads(rows), db) for rows, db in answer.row_sets] == [
            ([[order_id, totals[order_id]]], "history")
        ]


async def test_fetches_arriving_while_calls_are_in_flight_wait_and_go_out_as_one(
    on: InProcessMesh, statements: Counter[str], mysql_module_database: DatabaseInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    # IN_FLIGHT (2) calls of a shape on their way: the next fetches of that shape wait for one of
    # them to land and then go out together, although each came in a turn of its own.
    monkeypatch.setattr(coalescing, "HOLD_SECONDS", 30.0)
    landed, timers = holds(on, "landed"), holds(on, "timer")
    ids = [o for o, _, _ in ORDERS][:7]
    calls = []
    async with _orders_locked(mysql_module_database):
        for order_id in ids:
            calls.append(_fetch_order(on, order_id))
            sent = len(calls)
            if sent <= coalescing.IN_FLIGHT:
                await _until(lambda n=sent: statements["orders"] == n, f"call {sent} on its way")
            else:
                await asyncio.sleep(0.01)  # a turn (many) of its own
        assert statements["orders"] == coalescing.IN_FLIGHT  # the other five are held
    _expect_orders(await asyncio.gather(*calls, return_exceptions=True), ids)
    assert statements["orders"] == coalescing.IN_FLIGHT + 1
    assert holds(on, "landed") == landed + 1 and holds(on, "timer") == timers


async def test_a_fetch_held_by_a_call_stuck_in_flight_goes_out_after_the_hold(
    on: InProcessMesh, statements: Counter[str], mysql_module_database: DatabaseInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(coalescing, "HOLD_SECONDS", 0.05)
    timers = holds(on, "timer")
    ids = [o for o, _, _ in ORDERS][:3]
    calls = []
    async with _orders_locked(mysql_module_database):
        for order_id in ids:
            calls.append(_fetch_order(on, order_id))
            await asyncio.sleep(0.01)
        # The first two are still stuck behind the lock; the third went out without them.
        await _until(lambda: statements["orders"] == 3, "the held fetch sent while the others are stuck")
        assert not any(call.done() for call in calls)
        assert holds(on, "timer") == timers + 1
    _expect_orders(await asyncio.gather(*calls, return_exceptions=True), ids)
