"""The router that commits a write-through write applies it to the target before it answers
(docs/reference.md §11): read straight from the SQLite file, an acknowledged write is already there.
These tests give the router a generous inline wait (60 s), so that what they check is the order
(applied, then answered), not how fast the machine is; with the target unwritable or stopped,
the router answers after its own short wait (dbmesh's INLINE_SECS) and the drainer applies the
change later."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime

from cache_world import Cache, eventually, post

ONE = "00000000-0000-4000-8000-000000000001"
TWO = "00000000-0000-4000-8000-000000000002"
NOW = datetime.now(UTC).isoformat()
INSERT = (
    f'mutation {{ insertCustomers(objects: [{{id: "{ONE}", email: "one@example.com", visits: 0, lastSync: "{NOW}"}},'
    f' {{id: "{TWO}", email: "two@example.com", visits: 0, lastSync: "{NOW}"}}]) {{ affectedRows }} }}'
)
UPDATE = (
    "mutation($id: ID!, $email: String!) { updateCustomers(where: {id: {_eq: $id}}, set: {email: $email},"
    " inc: {visits: 1}) { affectedRows } }"
)
CACHED = "{ cachedCustomers(orderBy: [{email: ASC}]) { id email isStale } }"
GENEROUS = 60.0


async def _update(router: object, email: str, customer: str = ONE) -> None:
    body = await post(router, UPDATE, {"id": customer, "email": email})  # type: ignore[arg-type]
    assert body == {"data": {"updateCustomers": {"affectedRows": 1}}}


async def test_an_acknowledged_write_is_in_the_cache_when_it_is_answered(cache: Cache) -> None:
    router = await cache.router(inline_secs=GENEROUS)
    assert await post(router, INSERT) == {"data": {"insertCustomers": {"affectedRows": 2}}}
    assert cache.sqlite_rows("SELECT id, email FROM customers ORDER BY id") == [
        (ONE, "one@example.com"),
        (TWO, "two@example.com"),
    ]
    for n in range(20):
        await _update(router, f"v{n:02}@example.com")
        assert cache.sqlite_rows("SELECT email, visits FROM customers WHERE id = ?", ONE) == [
            (f"v{n:02}@example.com", n + 1)
        ]
    # Not stale the moment it is answered, although the drainer has not run a round since.
    assert await post(router, CACHED) == {
        "data": {
            "cachedCustomers": [
                {"id": TWO, "email": "two@example.com", "isStale": False},
                {"id": ONE, "email": "v19@example.com", "isStale": False},
            ]
        }
    }
    await eventually(cache.nothing_pending)
    await asyncio.sleep(0.3)  # drainer rounds meanwhile change nothing
    assert cache.audit() == [
        ("insert", "one@example.com"),
        ("insert", "two@example.com"),
        *(("update", f"v{n:02}@example.com") for n in range(20)),
    ]


async def test_a_cache_that_cannot_be_written_does_not_hold_the_answer(cache: Cache) -> None:
    router = await cache.router()  # dbmesh's own INLINE_SECS
    await post(router, INSERT)
    await eventually(cache.nothing_pending)
    blocker = sqlite3.connect(cache.sqlite_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # the cache is up, but its file cannot be written
    try:
        await _update(router, "blocked@example.com")  # answered while the file is still locked
        assert cache.sqlite_rows("SELECT email FROM customers WHERE id = ?", ONE) == [("one@example.com",)]
        body = await post(router, CACHED)
        assert [c["isStale"] for c in body["data"]["cachedCustomers"]] == [True, False]
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    await eventually(
        lambda: cache.sqlite_rows("SELECT email FROM customers WHERE id = ?", ONE) == [("blocked@example.com",)]
    )
    await eventually(cache.nothing_pending)
    assert cache.audit()[2:] == [("update", "blocked@example.com")]


async def test_with_the_cache_stopped_the_write_is_answered_and_drained_later(cache: Cache) -> None:
    router = await cache.router(inline_secs=GENEROUS)
    await post(router, INSERT)
    await cache.mesh.stop_resolver("sqlite_cache")
    await _update(router, "while-down@example.com")  # the inline apply fails: left to the drainer
    assert await cache.pg_rows("SELECT count(*) FROM dbmesh_outbox WHERE applied_at IS NULL") == [(1,)]
    assert cache.sqlite_rows("SELECT email FROM customers WHERE id = ?", ONE) == [("one@example.com",)]
    await cache.mesh.start_resolver("sqlite_cache")
    await eventually(
        lambda: cache.sqlite_rows("SELECT email FROM customers WHERE id = ?", ONE) == [("while-down@example.com",)],
        timeout=20,
    )
    await eventually(cache.nothing_pending)
    assert cache.audit()[2:] == [("update", "while-down@example.com")]


async def test_two_routers_writing_one_row_at_once_apply_each_change_once_in_commit_order(cache: Cache) -> None:
    """Both routers apply their own writes inline, racing each other and the drainer: the cache
    receives every change of the row once, in the order the outbox versions give (commit order)."""
    first, second = await cache.router(inline_secs=GENEROUS), await cache.router(inline_secs=GENEROUS)
    await post(first, INSERT)

    async def writer(router: object, name: str) -> None:
        for n in range(15):
            await _update(router, f"{name}{n:02}@example.com")

    await asyncio.gather(writer(first, "a"), writer(second, "b"))
    await eventually(cache.nothing_pending)
    await asyncio.sleep(0.3)
    committed = await cache.pg_rows(
        "SELECT row_data::json->'values'->'email'->>'string' FROM dbmesh_outbox"
        " WHERE row_key = $1 AND operation = 'upsert' ORDER BY version",
        f'["{ONE}"]',
    )
    assert len(committed) == 31  # the insert and 30 updates
    assert [("update", str(email)) for (email,) in committed[1:]] == [a for a in cache.audit()[2:]]
    assert cache.sqlite_rows("SELECT email, visits FROM customers WHERE id = ?", ONE) == [(committed[-1][0], 30)]
