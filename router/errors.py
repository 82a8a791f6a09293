"""Errors the router reports. Each becomes one GraphQL error with `extensions.code`
(`router.graphql_errors` is the one place that builds them).

    CodedError                          (dbmesh.errors)
     ├── BadUserInput                   BAD_USER_INPUT: an argument the databases cannot take
     └── CallError                      a call to one database failed (dbmesh.resolver.client,
          │                             the one place gRPC errors become dbmesh errors)
          └── CircuitOpen               DATABASE_UNAVAILABLE without a call: the circuit is open

Messages name the database, never a DSN, a password or a stack trace (docs/reference.md §5).
"""

from __future__ import annotations

from dbmesh.errors import CodedError
from dbmesh.resolver.client import CallError

__all__ = ["BadUserInput", "CallError", "CircuitOpen", "CodedError"]


class BadUserInput(CodedError):
    code = "BAD_USER_INPUT"


class CircuitOpen(CallError):
    def __init__(self, database: str) -> None:
        super().__init__(
            database,
            "DATABASE_UNAVAILABLE",
            f"database {database!r} is unavailable (circuit open after repeated failures)",
            unavailable=True,
        )
