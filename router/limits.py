"""The limits a document must pass before it is validated and planned (docs/reference.md §14),
each refused as one request error with an exact message:

| limit                            | code              | message                                                    |
|----------------------------------|-------------------|------------------------------------------------------------|
| `max_query_bytes`                | QUERY_TOO_COMPLEX | Query is too large: N bytes exceeds the maximum of M.      |
| tokens (`max_tokens`, at most `max_query_bytes // 2`) | QUERY_TOO_COMPLEX | Query is too large: more than T tokens. |
| `max_depth`                      | QUERY_TOO_DEEP    | Query is too deep: depth N exceeds the maximum of M.       |
| fragment nesting (100)           | QUERY_TOO_COMPLEX | Query nests fragments too deeply: N levels exceed the ...  |
| `max_aliases`                    | QUERY_TOO_COMPLEX | Query has too many aliases: N exceeds the maximum of M.    |
| `max_root_fields`                | QUERY_TOO_COMPLEX | Query has too many root fields: N exceeds the maximum of M.|

The byte limit is checked on the text before parsing. The parser is also given a token bound
(graphql-core's `max_tokens`, comments included) of `[router] max_tokens` (15,000, Apollo Router's
default) and at most half `max_query_bytes`: every token and the
separator after it take two bytes in any but machine-made text, so only dense documents such as
`{a a a ...}` reach it first, and they are stopped before their syntax tree is built. How depth,
nesting, aliases and root fields are counted: `router.depth`.
"""

from __future__ import annotations

from typing import Any

from graphql import DocumentNode

from dbmesh.config import RouterConfig
from dbmesh.router.depth import MAX_FRAGMENT_NESTING, measure, root_fields
from dbmesh.router.graphql_errors import request_error

__all__ = ["document_limits", "max_tokens", "text_limit", "token_limit_error"]

TOO_COMPLEX = "QUERY_TOO_COMPLEX"


def max_tokens(config: RouterConfig) -> int:
    """The parser's token bound: `max_tokens` (15,000 by default, Apollo Router's: the parser's
    time grows with tokens, some 40 µs each here, so this keeps the worst refused document to about
    a tenth of a second of the event loop), and at most half `max_query_bytes`."""
    return max(1, min(config.max_tokens, config.max_query_bytes // 2))


def text_limit(size: int, config: RouterConfig) -> dict[str, Any] | None:
    """The error of a query text of `size` bytes, if it is too long."""
    if size <= config.max_query_bytes:
        return None
    return request_error(
        f"Query is too large: {size} bytes exceeds the maximum of {config.max_query_bytes}.", TOO_COMPLEX
    )


def token_limit_error(message: str, config: RouterConfig) -> dict[str, Any] | None:
    """The error for a syntax error the parser raised because of the token bound, else None."""
    if not message.endswith("tokens. Parsing aborted."):
        return None
    return request_error(f"Query is too large: more than {max_tokens(config)} tokens.", TOO_COMPLEX)


def document_limits(document: DocumentNode, config: RouterConfig) -> dict[str, Any] | None:
    """The first limit `document` exceeds, as a request error; None when it passes them all."""
    found = measure(document)
    if found.depth > config.max_depth:
        message = f"Query is too deep: depth {found.depth} exceeds the maximum of {config.max_depth}."
        return request_error(message, "QUERY_TOO_DEEP")
    if found.fragment_nesting > MAX_FRAGMENT_NESTING:
        message = (
            f"Query nests fragments too deeply: {found.fragment_nesting} levels exceed the maximum of "
            f"{MAX_FRAGMENT_NESTING}."
        )
        return request_error(message, TOO_COMPLEX)
    if found.aliases > config.max_aliases:
        message = f"Query has too many aliases: {found.aliases} exceeds the maximum of {config.max_aliases}."
        return request_error(message, TOO_COMPLEX)
    roots = root_fields(document)
    if roots > config.max_root_fields:
        message = f"Query has too many root fields: {roots} exceeds the maximum of {config.max_root_fields}."
        return request_error(message, TOO_COMPLEX)
    return None
