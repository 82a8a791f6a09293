"""Open transactions are bounded, apart from the reads (docs/reference.md §8): a Begin beyond
`max_transactions` open ones is RESOURCE_EXHAUSTED at once; open transactions hold connections of
their own, so a database with `pool_size = 1` still answers reads while they are open; an idle one
is rolled back after `transaction_idle_secs`, and Begin works again. On every engine, through a
real resolver."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
import pytest_asyncio

from conformance.client import expect_error, row
from conformance.conftest import ENGINES, Conformance, module_backend, running_resolver

MAX_TRANSACTIONS = 2
IDLE_SECS = 2.0
# The reaper looks at most every IDLE_SECS / 4; a generous margin past that for a busy machine.
REAPED_WITHIN_SECS = IDLE_SECS + 2.0
# Calls that must answer at once (no wait on a pool): well under the 20 s timeout_secs.
PROMPT_SECS = 5.0


@pytest_asyncio.fixture(scope="module", params=ENGINES, loop_scope="session")
async def limited(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Conformance]:
    backend = await module_backend(request.param, request, tmp_path_factory)
    try:
        await backend.execute("CREATE TABLE things (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL)")
        await backend.execute("INSERT INTO things (id, name) VALUES (1, 'one')")
        settings = {"pool_size": 1, "max_transactions": MAX_TRANSACTIONS, "transaction_idle_secs": IDLE_SECS}
        async with running_resolver(backend, **settings) as client:
            yield client
    finally:
        await backend.close()


async def test_begin_beyond_the_limit_is_refused_and_reads_go_on(limited: Conformance) -> None:
    transactions = [await limited.begin(timeout=PROMPT_SECS) for _ in range(MAX_TRANSACTIONS)]
    try:
        details = await expect_error(grpc.StatusCode.RESOURCE_EXHAUSTED, limited.begin(timeout=PROMPT_SECS))
        assert details == (
            f"database 'conformance' has {MAX_TRANSACTIONS} open transactions, its limit"
            f" (max_transactions = {MAX_TRANSACTIONS}); commit or roll back one first"
        )
        assert await limited.rows("things", ["id", "name"], timeout=PROMPT_SECS) == [[1, "one"]]
        status = await limited.status(timeout=PROMPT_SECS)
        assert (status.pool_in_use, status.pool_size) == (0, 1)
        in_transaction = await limited.rows("things", ["id"], transaction_id=transactions[0], timeout=PROMPT_SECS)
        assert in_transaction == [[1]]
    finally:
        for transaction_id in transactions:
            await limited.rollback(transaction_id=transaction_id, timeout=PROMPT_SECS)
    # Ended transactions free their places.
    again = await limited.begin(timeout=PROMPT_SECS)
    await limited.mutate("things", insert=[row(id=2, name="two")], transaction_id=again, timeout=PROMPT_SECS)
    await limited.commit(transaction_id=again, timeout=PROMPT_SECS)
    assert await limited.backend.fetch("SELECT id FROM things ORDER BY id") == [(1,), (2,)]
    await limited.backend.execute("DELETE FROM things WHERE id = 2")


async def test_idle_transactions_are_rolled_back(limited: Conformance) -> None:
    transactions = [await limited.begin(timeout=PROMPT_SECS) for _ in range(MAX_TRANSACTIONS)]
    await limited.mutate("things", insert=[row(id=3, name="three")], transaction_id=transactions[0])
    await asyncio.sleep(REAPED_WITHIN_SECS)
    for transaction_id in transactions:
        details = await expect_error(
            grpc.StatusCode.NOT_FOUND, limited.commit(transaction_id=transaction_id, timeout=PROMPT_SECS)
        )
        assert details == f"no open transaction {transaction_id!r}"
    assert await limited.backend.fetch("SELECT id FROM things ORDER BY id") == [(1,)]
    transaction_id = await limited.begin(timeout=PROMPT_SECS)
    await limited.rollback(transaction_id=transaction_id, timeout=PROMPT_SECS)
