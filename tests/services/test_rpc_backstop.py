"""The resolver's backstop on a call (services/servicer.py `_Backstop`, in `_rpc`): past its time
the call's task is cancelled and that cancellation is told apart from, and taken back unlike, a
cancellation from elsewhere (the caller going away), as `asyncio.timeout` does."""

from __future__ import annotations

import asyncio

import pytest

from dbmesh.services.servicer import _Backstop


async def _call(seconds: float, work: float) -> str:
    """`work` seconds under a backstop of `seconds`: "done", "expired" or CancelledError."""
    backstop = _Backstop(seconds)
    try:
        await asyncio.sleep(work)
        return "done"
    except asyncio.CancelledError:
        if backstop.expired():
            return "expired"
        raise
    finally:
        backstop.expired()


async def test_a_call_past_its_backstop_expires_and_its_task_is_not_left_cancelling() -> None:
    task = asyncio.create_task(_call(0.05, 10))
    assert await task == "expired"
    assert task.cancelling() == 0


async def test_a_call_within_its_backstop_is_not_cancelled_later() -> None:
    task = asyncio.create_task(_call(0.05, 0))
    assert await task == "done"
    await asyncio.sleep(0.1)  # the timer was disarmed: nothing cancels the finished task's successor
    assert task.cancelling() == 0


async def test_a_cancellation_from_elsewhere_is_not_an_expiry() -> None:
    task = asyncio.create_task(_call(10, 10))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_the_rest_of_the_task_runs_on_after_an_expiry() -> None:
    async def two_calls() -> list[str]:
        first = await _call(0.02, 10)
        await asyncio.sleep(0.05)  # would raise if the expiry's cancellation were still pending
        return [first, await _call(10, 0)]

    assert await asyncio.create_task(two_calls()) == ["expired", "done"]
