"""The coordinator's own error (docs/reference.md §10)."""

from __future__ import annotations

from dbmesh.errors import CodedError

__all__ = ["TransactionAborted"]


class TransactionAborted(CodedError):
    """The operation's transaction was rolled back for a reason other than this field's own
    failure: another field failed, the operation cannot be run as one transaction (two SQLite
    databases), or recovery aborted it first. Nothing of the operation is applied."""

    code = "TRANSACTION_ABORTED"
