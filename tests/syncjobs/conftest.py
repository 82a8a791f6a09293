"""The sync jobs' tests' fixture, `orders` (sync_world.py)."""

from sync_world import orders

__all__ = ["orders"]
