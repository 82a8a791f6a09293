"""dbmesh's own exceptions, for what a user can get wrong before anything runs.

    DbmeshError
     ├── ConfigError     the TOML configuration (docs/reference.md §3)
     └── SchemaError     the schema module (docs/reference.md §4), or the schema against the databases

Each message is one line that says what is wrong and where (file, key, class and field), so the
CLI can print it as it is and exit non-zero. Messages never contain passwords.
"""

from __future__ import annotations

__all__ = ["CodedError", "ConfigError", "DbmeshError", "SchemaError"]


class DbmeshError(Exception):
    """Base class for errors dbmesh reports to the user as one line."""


class ConfigError(DbmeshError):
    """The configuration file is invalid."""


class SchemaError(DbmeshError):
    """The schema module is invalid, or does not match the databases that serve it."""


class CodedError(Exception):
    """An error that reaches a GraphQL client as `extensions.code` and one plain sentence.

    Subclasses: `dbmesh.resolver.client.CallError` (a call to a resolver failed) and the router's
    own (`BadUserInput`, ...). The message names the database, never a DSN, a password or a
    driver's exception class."""

    code = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
