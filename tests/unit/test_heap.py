"""`dbmesh.heap.freeze_startup_heap`, run by the router and every resolver once they serve: what
lives at start-up leaves the collector's reach, and young collections wait for 50,000 net
allocations instead of 700 (what requests leave is freed by reference counting as they go)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from dbmesh.heap import YOUNG_THRESHOLD, freeze_startup_heap


@pytest.fixture
def restored_collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_the_start_up_heap_is_frozen_and_young_collections_are_rarer(restored_collector: None) -> None:
    older = gc.get_threshold()[1:]
    kept = [[] for _ in range(100)]  # alive at "start-up"
    freeze_startup_heap()
    assert gc.get_freeze_count() >= len(kept)
    assert gc.get_threshold() == (YOUNG_THRESHOLD, *older)
    assert YOUNG_THRESHOLD == 50_000


def test_cyclic_garbage_is_still_collected(restored_collector: None) -> None:
    freeze_startup_heap()
    before = gc.get_count()[0]
    cycle: list[object] = []
    cycle.append(cycle)
    del cycle
    assert gc.get_count()[0] >= before  # counted toward the next young collection
    assert gc.collect(0) >= 1
