"""Errors a resolver service reports, each carrying the gRPC status code the contract gives it.

    ResolverError                    (any failure the caller should see, with a gRPC code)
     ├── InvalidArgument             INVALID_ARGUMENT: unknown collection/column/operator, bad value
     ├── Unavailable                 UNAVAILABLE: the database cannot be reached
     ├── DeadlineExceeded            DEADLINE_EXCEEDED: a statement ran past timeout_secs
     ├── ConstraintViolation         FAILED_PRECONDITION: a foreign key, check or not-null constraint
     ├── AlreadyExists               ALREADY_EXISTS: a unique constraint
     ├── PermissionDenied            PERMISSION_DENIED: the database refused the statement (privileges)
     │    └── ReadOnly               PERMISSION_DENIED, "read-only: ...": a write to a read-only database
     ├── NotFound                    NOT_FOUND: an unknown transaction id or prepared transaction
     ├── ResourceExhausted           RESOURCE_EXHAUSTED: as many transactions open as max_transactions
     ├── Unimplemented               UNIMPLEMENTED: a capability this engine does not have
     └── DatabaseError               INTERNAL: any other engine error

Each engine module maps its driver's exceptions to these in one function (`map_error`); the
servicer turns them into gRPC statuses in one place. Messages never contain DSNs or passwords.
docs/reference.md §8.
"""

from __future__ import annotations

import grpc

__all__ = [
    "AlreadyExists",
    "ConstraintViolation",
    "DatabaseError",
    "DeadlineExceeded",
    "InvalidArgument",
    "NotFound",
    "PermissionDenied",
    "ReadOnly",
    "ResolverError",
    "ResourceExhausted",
    "Unavailable",
    "Unimplemented",
]


class ResolverError(Exception):
    code: grpc.StatusCode = grpc.StatusCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(ResolverError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class Unavailable(ResolverError):
    code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceeded(ResolverError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class ConstraintViolation(ResolverError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class AlreadyExists(ResolverError):
    code = grpc.StatusCode.ALREADY_EXISTS


class PermissionDenied(ResolverError):
    code = grpc.StatusCode.PERMISSION_DENIED


class ReadOnly(PermissionDenied):
    """A write to a database that is read-only (configured so, or the server says so). The message
    starts with "read-only", which is how callers tell it from a privilege error."""

    def __init__(self, database: str, detail: str = "") -> None:
        super().__init__(f"read-only: database {database!r} is read-only" + (f" ({detail})" if detail else ""))


class NotFound(ResolverError):
    code = grpc.StatusCode.NOT_FOUND


class ResourceExhausted(ResolverError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unimplemented(ResolverError):
    code = grpc.StatusCode.UNIMPLEMENTED


class DatabaseError(ResolverError):
    code = grpc.StatusCode.INTERNAL
