"""The one writer of dbmesh configuration files for the tests and the benchmark: `[[databases]]`
and `[router]` tables from plain dicts, and the keys that reach a throwaway server's database.

Values are written as TOML literals (a string's JSON form is a valid TOML basic string), so a
`${VAR}` in a string is left for dbmesh's own substitution. A key whose value is None is left out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from harness.servers import DatabaseInfo

__all__ = ["config_toml", "database_toml", "mesh_toml", "server_settings", "toml_value"]


def toml_value(value: Any) -> str:
    """One value as TOML: booleans, numbers, lists of those, everything else a string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


def _keys(settings: Mapping[str, Any]) -> str:
    return "".join(f"{key} = {toml_value(value)}\n" for key, value in settings.items() if value is not None)


def database_toml(name: str, settings: Mapping[str, Any]) -> str:
    """One `[[databases]]` table."""
    return "[[databases]]\n" + _keys({"name": name, **settings})


def config_toml(
    databases: Mapping[str, Mapping[str, Any]],
    router: Mapping[str, Any] | None = None,
    comment: str = "",
    mesh: Mapping[str, Any] | None = None,
) -> str:
    """A whole configuration file: each database (name -> keys) in order, then `[router]` and
    `[mesh]` (token and TLS files, dbmesh/mesh.py) if given."""
    parts = [f"# {comment}\n"] if comment else []
    parts += [database_toml(name, settings) for name, settings in databases.items()]
    if router is not None:
        parts.append("[router]\n" + _keys(router))
    if mesh:
        parts.append(mesh_toml(mesh))
    return "\n".join(parts)


def mesh_toml(mesh: Mapping[str, Any]) -> str:
    """A `[mesh]` table."""
    return "[mesh]\n" + _keys(mesh)


def server_settings(db: DatabaseInfo) -> dict[str, Any]:
    """The keys that reach `db` on its throwaway server: engine, host, port, database, username,
    and the password when there is one (the servers' users have none unless a test made one)."""
    return {
        "engine": db.engine,
        "host": db.host,
        "port": db.port,
        "database": db.database,
        "username": db.user,
        "password": db.password or None,
    }
