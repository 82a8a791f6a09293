"""The garbage collector in a serving process.

Once a process has started (schema built, catalog introspected, modules imported), what it holds
lives as long as it does. `freeze_startup_heap` moves it out of the collector's reach
(`gc.freeze`), so the collections that requests' garbage triggers no longer walk the start-up
heap each time they reach the oldest generation.
"""

from __future__ import annotations

import gc

__all__ = ["freeze_startup_heap"]


def freeze_startup_heap() -> None:
    """Collect once, then keep every object alive now out of later collections."""
    gc.collect()
    gc.freeze()
