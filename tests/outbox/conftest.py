"""The write-through tests' fixture, `cache` (cache_world.py)."""

from cache_world import cache

__all__ = ["cache"]
