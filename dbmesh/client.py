"""The Python client (SPEC §9): a thin, typed wrapper over GraphQL-over-HTTP with httpx.

    client = Client("http://127.0.0.1:8000/graphql")
    result = await client.query(QUERY, variables={"customerId": "1"}, trace=True)
    result.data; result.errors; result.meta.trace

GraphQL errors (field errors, partial results, request errors) come back in `result.errors`; only
a transport failure or a response that is not GraphQL raises `ClientError`.
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
    status_code: int
    extensions: dict[str, Any] = field(default_factory=dict)

    @property
    def trace(self) -> dict[str, Any] | None:
        """`extensions.trace`: which database served what, the SQL as sent, the plan."""
        trace = self.extensions.get("trace")
        return trace if isinstance(trace, dict) else None


@dataclass(frozen=True)
class Result:
    data: dict[str, Any] | None
    errors: list[dict[str, Any]]
    meta: Meta

    @property
    def ok(self) -> bool:
        return not self.errors


class Client:
    def __init__(
        self,
        url: str,
        *,
        timeout: float = 60.0,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
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
        payload: dict[str, Any] = {"query": query}
        if variables is not None:
            payload["variables"] = dict(variables)
        if operation_name is not None:
            payload["operationName"] = operation_name
        if trace:
            payload["extensions"] = {"trace": True}
        try:
            response = await self._http.post(self.url, json=payload)
        except httpx.HTTPError as exc:
            raise ClientError(f"cannot reach {self.url}: {exc}") from exc
        try:
            body = response.json()
        except ValueError:
            raise ClientError(f"{self.url} answered {response.status_code} without a GraphQL response") from None
        if not isinstance(body, dict) or not ("data" in body or "errors" in body):
            raise ClientError(f"{self.url} answered {response.status_code} without a GraphQL response")
        return Result(
            data=body.get("data"),
            errors=list(body.get("errors") or []),
            meta=Meta(response.status_code, dict(body.get("extensions") or {})),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
