"""The garbage collector in a serving process.

Once a process has started (schema built, catalog introspected, modules imported), what it holds
lives as long as it does. `freeze_startup_heap` moves it out of the collector's reach
(`gc.freeze`), so the collections that requests' garbage triggers no longer walk the start-up
heap each time they reach the oldest generation. It then raises the youngest generation's
threshold from 700 to 50,000 allocations: a request's garbage is freed by reference counting as it
goes, and what the collector found each time was nothing, at a cost (measured with `gc.callbacks`
under the peer benchmark's Nested load: 4.7 % of the router's CPU and 2.3 % of the MariaDB
resolver's went to young collections; with 50,000, none ran in 10 s of load). Cyclic garbage is
still collected, after at most 50,000 net allocations.
"""

from __future__ import annotations

import gc

__all__ = ["YOUNG_THRESHOLD", "freeze_startup_heap"]

YOUNG_THRESHOLD = 50_000


def freeze_startup_heap() -> None:
    """Collect once, keep every object alive now out of later collections, and collect the young
    generation only after `YOUNG_THRESHOLD` net allocations."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *gc.get_threshold()[1:])
