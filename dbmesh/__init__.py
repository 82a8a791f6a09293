"""dbmesh: one GraphQL API in front of many databases.

What users import: the schema DSL (`types`, `database`, docs/reference.md §4), the client
(`Client`, docs/reference.md §9), and the configuration loader (`load_config`, docs/reference.md §3).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["Client", "database", "load_config", "types"]

if TYPE_CHECKING:
    from dbmesh.client import Client
    from dbmesh.config import load_config
    from dbmesh.schema.dsl import database, types


def __getattr__(name: str) -> Any:
    # Imported on first use, so that `import dbmesh` in a schema module stays cheap.
    if name == "Client":
        from dbmesh.client import Client

        return Client
    if name == "load_config":
        from dbmesh.config import load_config

        return load_config
    if name in ("types", "database"):
        from dbmesh.schema import dsl

        return getattr(dsl, name)
    raise AttributeError(f"module 'dbmesh' has no attribute {name!r}")
