"""Errors the router reports, and the two boundaries where errors change form.

    RouterError                         (becomes one GraphQL error with `extensions.code`)
     ├── BadUserInput                   BAD_USER_INPUT: an argument the databases cannot take
     └── FetchError                     a fetch from one database failed
          ├── DATABASE_UNAVAILABLE      its resolver or its database cannot be reached, or its
          │                             circuit is open (`unavailable` is True: fallbacks apply)
          ├── DATABASE_TIMEOUT          the deadline passed (`unavailable` too, SPEC §7)
          ├── READ_ONLY_DATABASE        a write to a read-only database
          └── DATABASE_ERROR            anything else the database said

`from_rpc_error` is the one place a `grpc.aio.AioRpcError` becomes a dbmesh error;
`Shaper._fetch_failed` (in `router.shaping`) is the one place they become GraphQL errors.
Messages name the database, never a DSN, a password or a stack trace (SPEC §5).
"""

from __future__ import annotations

from typing import Any

import grpc

__all__ = [
    "BadUserInput",
    "CircuitOpen",
    "FetchError",
    "RouterError",
    "from_rpc_error",
]


class RouterError(Exception):
    code = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadUserInput(RouterError):
    code = "BAD_USER_INPUT"


class FetchError(RouterError):
    def __init__(self, database: str, code: str, message: str, *, unavailable: bool = False) -> None:
        super().__init__(message)
        self.database = database
        self.code = code
        self.unavailable = unavailable
        # Every database tried before giving up, this one last (set by the fallback chain).
        self.attempts: list[Any] = []


class CircuitOpen(FetchError):
    def __init__(self, database: str) -> None:
        super().__init__(
            database,
            "DATABASE_UNAVAILABLE",
            f"database {database!r} is unavailable (circuit open after repeated failures)",
            unavailable=True,
        )


def from_rpc_error(exc: grpc.aio.AioRpcError, database: str) -> FetchError:
    code = exc.code()
    details = exc.details() or ""
    if code == grpc.StatusCode.UNAVAILABLE:
        if "failed to connect" in details.lower() or "connection refused" in details.lower():
            details = "its resolver cannot be reached"
        return FetchError(
            database, "DATABASE_UNAVAILABLE", f"database {database!r} is unavailable: {details}", unavailable=True
        )
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return FetchError(
            database, "DATABASE_TIMEOUT", f"database {database!r} did not answer in time", unavailable=True
        )
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return FetchError(database, "READ_ONLY_DATABASE", f"database {database!r} is read-only")
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return FetchError(database, "BAD_USER_INPUT", f"database {database!r} refused the request: {details}")
    if code == grpc.StatusCode.CANCELLED:
        return FetchError(
            database, "DATABASE_UNAVAILABLE", f"the call to database {database!r} was cancelled", unavailable=True
        )
    return FetchError(database, "DATABASE_ERROR", f"database {database!r} failed: {details}")
