"""The second line behind the cost estimate (docs/reference.md §14): while a request runs, the rows
its fetches returned and their size, against `max_response_rows` and `max_response_bytes`.

The size is the JSON of the row sets as the resolvers sent them, counted before they are decoded
(no second serialization); it leaves out the response keys the shaper adds and counts the join
keys it drops, so it estimates the response's size rather than measuring it. Once either bound is
passed, the fetch that passed it and every fetch after it fail with `ResponseTooLarge`
(QUERY_TOO_COMPLEX): the shaper nulls the fields they serve, one error per fetch, and keeps what
was fetched before.
"""

from __future__ import annotations

from dbmesh.errors import CodedError

__all__ = ["ResponseBudget", "ResponseTooLarge"]


class ResponseTooLarge(CodedError):
    code = "QUERY_TOO_COMPLEX"


class ResponseBudget:
    """What one request may still fetch."""

    def __init__(self, max_rows: int, max_bytes: int) -> None:
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.rows = 0
        self.bytes = 0
        self.exceeded: ResponseTooLarge | None = None

    def check(self) -> None:
        """Raise once the budget is spent: no further fetch starts or is kept."""
        if self.exceeded is not None:
            raise self.exceeded

    def spend_bytes(self, size: int) -> None:
        self.check()
        self.bytes += size
        if self.bytes > self.max_bytes:
            self.exceeded = ResponseTooLarge(f"Response is too large: more than {self.max_bytes} bytes fetched.")
            raise self.exceeded

    def spend_rows(self, rows: int) -> None:
        self.check()
        self.rows += rows
        if self.rows > self.max_rows:
            self.exceeded = ResponseTooLarge(f"Response is too large: more than {self.max_rows} rows fetched.")
            raise self.exceeded
