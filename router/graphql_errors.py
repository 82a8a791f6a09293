"""The one place GraphQL error objects are built (GraphQL spec "Errors"; docs/reference.md §5).

An error is `{"message", "locations"?, "path"?, "extensions": {"code", ...}}`, keys in that order.
Locations are computed only for errors that are reported, never for every field of a document.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from graphql import GraphQLError

__all__ = ["graphql_error", "request_error"]


def graphql_error(
    message: str,
    code: str,
    *,
    locations: Iterable[tuple[int, int]] = (),
    path: Sequence[str | int] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One GraphQL error with `extensions.code` (and any further extensions after it)."""
    error: dict[str, Any] = {"message": message}
    where = [{"line": line, "column": column} for line, column in locations]
    if where:
        error["locations"] = where
    if path is not None:
        error["path"] = list(path)
    error["extensions"] = {"code": code, **(extensions or {})}
    return error


def request_error(message: str, code: str, error: GraphQLError | None = None) -> dict[str, Any]:
    """An error of the request as a whole (no `data`): parse, validation, variables, limits;
    located where graphql-core located it."""
    locations = [(loc.line, loc.column) for loc in (error.locations or ())] if error is not None else []
    return graphql_error(message, code, locations=locations)
