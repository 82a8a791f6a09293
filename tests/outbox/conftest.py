"""The write-through tests' fixtures, `cache` and `read_only_cache` (cache_world.py)."""

from cache_world import cache, read_only_cache

__all__ = ["cache", "read_only_cache"]
