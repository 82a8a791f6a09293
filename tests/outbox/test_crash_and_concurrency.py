"""Write-through when routers die or compete (docs/reference.md §11): a router SIGKILLed after
its write committed and before the change reached the target (or after applying it and before
marking it applied) leaves it to the next router, which applies it exactly once; two routers
draining one outbox apply every change once, in commit order. The cache's `audit` trigger counts
every write it receives."""

from __future__ import annotations

import asyncio
import contextlib
import re
import subprocess
import time

import httpx
import pytest
from cache_world import Cache, eventually, post

ONE = "00000000-0000-4000-8000-000000000001"
SEED = (
    f'mutation {{ insertCustomers(objects: [{{id: "{ONE}", email: "seed@example.com", visits: 0}}])'
    " { affectedRows } }"
)


async def _serving(process: subprocess.Popen[str]) -> str:
    """The URL a `dbmesh router` child prints once serving."""
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = await asyncio.to_thread(process.stdout.readline)
        if match := re.search(r"dbmesh router serving (\S+)", line):
            return match.group(1)
        if not line and process.poll() is not None:
            break
    raise AssertionError("dbmesh router did not start")


async def _post(url: str, query: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(url, json={"query": query})


@pytest.mark.parametrize("crash_at", ["outbox-committed", "outbox-applied"])
async def test_a_router_killed_before_the_change_is_done_leaves_it_to_the_next(cache: Cache, crash_at: str) -> None:
    seeder = cache.router_process()
    seed_url = await _serving(seeder)
    assert (await _post(seed_url, SEED)).json() == {"data": {"insertCustomers": {"affectedRows": 1}}}
    await eventually(lambda: cache.sqlite_rows("SELECT email FROM customers") == [("seed@example.com",)])
    seeder.terminate()
    await asyncio.to_thread(seeder.wait, 30)

    doomed = cache.router_process(crash_at=crash_at)
    url = await _serving(doomed)
    update = (
        f'mutation {{ updateCustomers(where: {{id: {{_eq: "{ONE}"}}}}, set: {{email: "new@example.com"}})'
        " { affectedRows } }"
    )
    if crash_at == "outbox-committed":
        with pytest.raises(httpx.HTTPError):
            await _post(url, update)  # the router dies after commit, before it answers
    else:  # it applies the change to the cache and dies before marking it applied: before it
        # answers, or after (when applying took longer than its inline wait, on a loaded machine)
        with contextlib.suppress(httpx.HTTPError):
            assert (await _post(url, update)).json() == {"data": {"updateCustomers": {"affectedRows": 1}}}
    assert await asyncio.to_thread(doomed.wait, 30) == -9
    assert await cache.pg_rows("SELECT email FROM customers") == [("new@example.com",)]
    pending = await cache.pg_rows("SELECT count(*) FROM dbmesh_outbox WHERE applied_at IS NULL")
    assert pending == [(1,)]
    expected_cache = "seed@example.com" if crash_at == "outbox-committed" else "new@example.com"
    assert cache.sqlite_rows("SELECT email FROM customers") == [(expected_cache,)]

    await _serving(cache.router_process())  # takes the lane over once the dead router's lease expires
    await eventually(
        lambda: (
            cache.sqlite_rows("SELECT email FROM customers") == [("new@example.com",)]
            and cache.sqlite_rows("SELECT 1 FROM audit WHERE email = 'new@example.com'") == [(1,)]
        ),
        timeout=20,
    )

    async def marked() -> bool:
        return await cache.pg_rows("SELECT count(*) FROM dbmesh_outbox WHERE applied_at IS NULL") == [(0,)]

    await eventually(marked, timeout=20)
    await asyncio.sleep(0.3)  # further rounds change nothing
    assert cache.audit() == [("insert", "seed@example.com"), ("update", "new@example.com")]


async def test_two_routers_apply_each_change_once_in_commit_order(cache: Cache) -> None:
    first, second = await cache.router(), await cache.router()
    assert (await post(first, SEED))["data"] == {"insertCustomers": {"affectedRows": 1}}
    emails = [f"v{n:02}@example.com" for n in range(30)]
    for n, email in enumerate(emails):
        router = (first, second)[n % 2]
        body = await post(
            router,
            f'mutation {{ updateCustomers(where: {{id: {{_eq: "{ONE}"}}}}, set: {{email: "{email}"}},'
            " inc: {visits: 1}) { affectedRows } }",
        )
        assert body == {"data": {"updateCustomers": {"affectedRows": 1}}}
    await eventually(lambda: cache.sqlite_rows("SELECT email, visits FROM customers") == [(emails[-1], 30)])
    await asyncio.sleep(0.5)
    audit = cache.audit()
    assert audit[0] == ("insert", "seed@example.com")
    applied = [email for _, email in audit[1:]]
    assert applied == sorted(set(applied))  # once each, in commit order
    assert applied[-1] == emails[-1]
    assert set(applied) <= set(emails)
