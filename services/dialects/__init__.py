"""SQL dialects: what differs between engines when building statements."""

from dbmesh.services.dialects.base import Dialect, Params

__all__ = ["Dialect", "Params"]
