"""The Python client (docs/reference.md §9): a thin, typed wrapper over GraphQL-over-HTTP with httpx.

    async with Client("http://127.0.0.1:8000/graphql") as client:
        result = await client.query(
            "query($id: ID!) { customer(id: $id) { name } }",
            variables={"id": "00000000-0000-4000-8000-000000000001"},
            trace=True,
        )
    result.data; result.errors; result.meta.trace

GraphQL errors (field errors, partial results, request errors, whatever the HTTP status) come back
in `result.errors`, the status in `result.meta.status_code`; only a transport failure (refused,
timed out) or a response that is not GraphQL (a proxy's error page) raises `ClientError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx

__all__ = ["Client", "ClientError", "Meta", "Result"]


class ClientError(Exception):
    """The server could not be reached, or did not answer with a GraphQL response."""


@dataclass(frozen=True)
class Meta:
    """What came with the data: the HTTP status and the response's `extensions`."""

    status_code: int
    extensions: dict[str, Any] = field(default_factory=dict)

    @property
    def trace(self) -> dict[str, Any] | None:
        """`extensions.trace`: which database served what, the SQL as sent, the plan."""
        trace = self.extensions.get("trace")
        return trace if isinstance(trace, dict) else None


@dataclass(frozen=True)
class Result:
    """One GraphQL response: `data` (None when the request failed as a whole), `errors`, `meta`."""

    data: dict[str, Any] | None
    errors: list[dict[str, Any]]
    meta: Meta

    @property
    def ok(self) -> bool:
        return not self.errors


class Client:
    """Sends GraphQL requests to one URL; use it as an async context manager or call `aclose()`."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 60.0,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self._http = httpx.AsyncClient(
            timeout=timeout,
            headers={"accept": "application/graphql-response+json, application/json;q=0.9", **(headers or {})},
            transport=transport,
        )

    async def query(
        self,
        query: str,
        variables: Mapping[str, Any] | None = None,
        *,
        operation_name: str | None = None,
        trace: bool = False,
    ) -> Result:
        """Run one operation; `trace=True` asks for `meta.trace` (the router's `tracing` must allow it)."""
        payload: dict[str, Any] = {"query": query}
        if variables is not None:
            payload["variables"] = dict(variables)
        if operation_name is not None:
            payload["operationName"] = operation_name
        if trace:
            payload["extensions"] = {"trace": True}
        try:
            response = await self._http.post(self.url, json=payload)
        except httpx.ConnectError as exc:
            raise ClientError(f"cannot connect to {self.url} ({exc or 'connection failed'})") from exc
        except httpx.TimeoutException as exc:
            raise ClientError(f"no answer from {self.url} within {self.timeout:g}s") from exc
        except httpx.HTTPError as exc:
            raise ClientError(f"request to {self.url} failed: {exc or type(exc).__name__}") from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not ("data" in body or "errors" in body):
            kind = response.headers.get("content-type", "no content type").split(";")[0]
            raise ClientError(f"{self.url} answered HTTP {response.status_code} ({kind}), not a GraphQL response")
        return Result(
            data=body.get("data"),
            errors=list(body.get("errors") or []),
            meta=Meta(response.status_code, dict(body.get("extensions") or {})),
        )

    async def aclose(self) -> None:
        """Close the connections this client keeps open."""
        await self._http.aclose()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
