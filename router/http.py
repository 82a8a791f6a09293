"""The HTTP face of the router (docs/reference.md §5), per the GraphQL-over-HTTP specification.

- `POST /graphql` with a JSON body `{query, variables, operationName, extensions}`, and
  `GET /graphql?query=...` (queries only). Responses are `application/graphql-response+json` when
  the client accepts it, else `application/json`; `Accept` without either is 406, a POST body that
  is not JSON 415/400.
- Status codes: with `application/json`, every well-formed request gets 200 whatever its GraphQL
  errors; with `application/graphql-response+json`, a request error (parse, validation, variables:
  no `data`) gets 400. A body that is not a GraphQL request is 400 under both; a body over
  `[router] max_body_bytes` is 413 (read no further than the limit). A JSON array is a batch of
  at most `max_batch_operations` operations, answered by an array in the same order. Anything
  unexpected is one `INTERNAL_SERVER_ERROR` GraphQL error with status 500, never plain text.
- GraphiQL on `GET /graphql` for browsers (`Accept: text/html`), when `[router] graphiql` allows;
  its assets are served from `/_dbmesh/static/` (no CDN).
- `GET /healthz` (alive, with each database's state), `GET /readyz` (started, and every database
  reachable or covered by a live fallback; 503 otherwise), `GET /readyz?partial=true` (started and
  able to serve, partial results included: for load balancers), `GET /metrics` (Prometheus text).
- An incoming W3C `traceparent` header is passed on to the resolvers; otherwise one is made.
- With `[auth]` (docs/reference.md §14) every GraphQL request — POST, GET, each operation of a
  batch, persisted queries, federation fields, GraphiQL's own requests — needs `Authorization:
  Bearer <JWT>` (or gets the anonymous role); a refused one is HTTP 401 with one fixed
  UNAUTHENTICATED error, whatever was wrong. The GraphiQL page itself, `/healthz`, `/readyz` and
  `/metrics` stay open.
- Automatic persisted queries (`extensions.persistedQuery`, Apollo's protocol: `router.persisted`)
  on both methods, batch items included; GET refuses a persisted mutation as it refuses any.

`POST /graphql`, the request every client sends, is served by `GraphQLEndpoint`, plain ASGI in
front of the FastAPI app that serves every other route: FastAPI's routing, middleware stack and
request object cost about a tenth of the router's CPU per request (bench/results/peer-round1.md).
Both paths share `_run` and the helpers below, so they answer alike.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any, NamedTuple

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from dbmesh.auth.tokens import Principal
from dbmesh.router.graphql_errors import graphql_error
from dbmesh.router.metrics import CONTENT_TYPE
from dbmesh.router.persisted import PersistedQueries, Refusal
from dbmesh.router.service import GraphQLRequest, Router

__all__ = ["GraphQLEndpoint", "create_app"]

log = logging.getLogger("dbmesh.router")

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
_TRACEPARENT = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")


_NOT_ACCEPTABLE = "Accept must allow application/graphql-response+json or application/json"
UNAUTHENTICATED = "Unauthenticated."  # the one answer to any refused token: nothing about why


class Answer(NamedTuple):
    """An HTTP response of either path: status, body, Content-Type."""

    status: int
    body: bytes
    content_type: str


def _json(body: Any, status: int = 200, media_type: str = JSON) -> Answer:
    return Answer(status, orjson.dumps(body), f"{media_type}; charset=utf-8")


def _bad_request(message: str, status: int = 400, media_type: str = JSON) -> Answer:
    return _json({"errors": [graphql_error(message, "BAD_USER_INPUT")]}, status, media_type)


def _unauthenticated(media: str) -> Answer:
    return _json({"errors": [graphql_error(UNAUTHENTICATED, "UNAUTHENTICATED")]}, 401, media)


def _principal(router: Router, authorization: str | None) -> Principal | Answer | None:
    """Who asks (None without [auth]), or the 401 answer."""
    if router.authenticator is None:
        return None
    principal = router.authenticator.principal(authorization)
    return principal if principal is not None else _unauthenticated(JSON)


def _response(answer: Answer) -> Response:
    return Response(answer.body, status_code=answer.status, media_type=answer.content_type)


def _traceparent(header: str | None) -> str | None:
    """An incoming W3C traceparent worth passing on, or None (one is made)."""
    return header if header and _TRACEPARENT.fullmatch(header) else None


@functools.lru_cache(maxsize=64)
def _accepted(accept: str | None) -> str | None:
    """The response media type for an `Accept` header, or None when nothing we serve is accepted.
    A client sends the same header with every request, so the answer is kept per header text."""
    if not accept:
        return JSON
    ranges = []
    for position, part in enumerate(accept.split(",")):
        media, *params = [p.strip() for p in part.split(";")]
        q = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    q = float(param[2:])
                except ValueError:
                    q = 0.0
        ranges.append((q, -position, media.lower()))
    for q, _, media in sorted(ranges, reverse=True):
        if q <= 0:
            continue
        if media in (GRAPHQL_RESPONSE, JSON):
            return media
        if media in ("*/*", "application/*"):
            return JSON
    return None


def _wants_html(accept: str | None) -> bool:
    return bool(accept) and "text/html" in (accept or "")


def _request_from(payload: Any) -> GraphQLRequest | str:
    """A GraphQL request from a decoded JSON object, or why it is not one."""
    if not isinstance(payload, dict):
        return "the request body must be a JSON object"
    query = payload.get("query")
    if not isinstance(query, str) or not query.strip():
        return "the request must have a 'query' string"
    variables = payload.get("variables")
    if variables is not None and not isinstance(variables, dict):
        return "'variables' must be a JSON object"
    operation = payload.get("operationName")
    if operation is not None and not isinstance(operation, str):
        return "'operationName' must be a string"
    extensions = payload.get("extensions")
    if extensions is not None and not isinstance(extensions, dict):
        return "'extensions' must be a JSON object"
    return GraphQLRequest(query, variables, operation or None, extensions)


class _Disconnected(Exception):
    """The client went away before its request body was complete."""


async def _read_body(receive: Receive, declared: str, limit: int) -> bytes | None:
    """The request body, or None when it is larger than `limit` bytes (read no further than that)."""
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _decode_param(params: Mapping[str, str], name: str) -> Any:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    return orjson.loads(raw)


async def _execute(
    router: Router, request: GraphQLRequest, traceparent: str | None, principal: Principal | None
) -> tuple[dict[str, Any], int]:
    """The response body and status of one operation. Anything unexpected is logged and answered
    as one INTERNAL_SERVER_ERROR (JSON, status 500), never a bare HTTP 500."""
    try:
        response = await router.execute(request, traceparent, principal)
    except Exception:
        log.exception("request failed")
        return {"errors": [graphql_error("Internal server error.", "INTERNAL_SERVER_ERROR")]}, 500
    return response.body, 400 if response.request_error else 200


async def _answer(
    router: Router, request: GraphQLRequest | Refusal, traceparent: str | None, principal: Principal | None
) -> tuple[dict[str, Any], int]:
    """The response body and status of one operation, or of a persisted query not run."""
    if isinstance(request, Refusal):
        return {"errors": [request.error]}, 400 if request.request_error else 200
    return await _execute(router, request, traceparent, principal)


async def _run(
    router: Router,
    persisted: PersistedQueries,
    payload: Any,
    media: str,
    traceparent: str | None,
    principal: Principal | None = None,
) -> Answer:
    """The answer to a decoded request body: one operation, or a batch (a JSON array)."""
    limits = router.config.router
    if isinstance(payload, list):  # a batch: one response per operation, in order
        if not payload or len(payload) > limits.max_batch_operations:
            count = f"a batch must have 1 to {limits.max_batch_operations} operations (got {len(payload)})"
            return _bad_request(count, 400, media)
        resolved = [persisted.resolve(item) for item in payload]
        parsed = [r if isinstance(r, Refusal) else _request_from(r) for r in resolved]
        invalid = [p for p in parsed if isinstance(p, str)]
        if invalid:
            return _bad_request(invalid[0], 400, media)
        answers = await asyncio.gather(
            *(_answer(router, p, traceparent, principal) for p in parsed if not isinstance(p, str))
        )
        failed = any(status == 500 for _, status in answers)
        return _json([body for body, _ in answers], 500 if failed else 200, media)
    resolved = persisted.resolve(payload)
    one = resolved if isinstance(resolved, Refusal) else _request_from(resolved)
    if isinstance(one, str):
        return _bad_request(one, 400, media)
    body, status = await _answer(router, one, traceparent, principal)
    if status == 400 and media != GRAPHQL_RESPONSE:
        status = 200  # application/json: every well-formed request is 200 (GraphQL-over-HTTP)
    return _json(body, status, media)


_WANTED = frozenset((b"accept", b"content-type", b"content-length", b"traceparent", b"authorization"))


class GraphQLEndpoint:
    """ASGI: `POST /graphql` served here, every other request handed to `app`."""

    def __init__(self, router: Router, app: ASGIApp, persisted: PersistedQueries) -> None:
        self.router = router
        self.app = app
        self.persisted = persisted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != "/graphql":
            await self.app(scope, receive, send)
            return
        try:
            answer = await self._post(scope, receive)
        except _Disconnected:
            return
        except Exception:
            log.exception("request failed")
            answer = _json({"errors": [graphql_error("Internal server error.", "INTERNAL_SERVER_ERROR")]}, 500)
        await send(
            {
                "type": "http.response.start",
                "status": answer.status,
                "headers": [
                    (b"content-type", answer.content_type.encode("latin-1")),
                    (b"content-length", str(len(answer.body)).encode("latin-1")),
                ],
            }
        )
        await send({"type": "http.response.body", "body": answer.body})

    async def _post(self, scope: Scope, receive: Receive) -> Answer:
        headers: dict[bytes, str] = {}
        for name, value in scope["headers"]:
            if name in _WANTED and name not in headers:  # the first of repeated headers, as Starlette
                headers[name] = value.decode("latin-1")
        media = _accepted(headers.get(b"accept"))
        if media is None:
            return _bad_request(_NOT_ACCEPTABLE, 406)
        principal = _principal(self.router, headers.get(b"authorization"))
        if isinstance(principal, Answer):
            return _unauthenticated(media)
        content_type = headers.get(b"content-type", "").split(";")[0].strip().lower()
        if content_type != JSON:
            return _bad_request("Content-Type must be application/json", 415, media)
        limit = self.router.config.router.max_body_bytes
        body = await _read_body(receive, headers.get(b"content-length", ""), limit)
        if body is None:
            return _bad_request(f"the request body is larger than {limit} bytes", 413, media)
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            return _bad_request("the request body is not valid JSON", 400, media)
        traceparent = _traceparent(headers.get(b"traceparent"))
        return await _run(self.router, self.persisted, payload, media, traceparent, principal)


def create_app(router: Router, *, manage_router: bool = True) -> GraphQLEndpoint:
    """The ASGI app serving `router`; with `manage_router` the app starts and stops it."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if manage_router:
            await router.start()
        try:
            yield
        finally:
            if manage_router:
                await router.stop()

    app = FastAPI(title="dbmesh", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    # GraphiQL's assets ship with dbmesh, so the browser IDE works with no internet access.
    app.mount(
        "/_dbmesh/static", StaticFiles(directory=str(resources.files("dbmesh.router").joinpath("static"))), "static"
    )
    graphiql_html = resources.files("dbmesh.router").joinpath("graphiql.html").read_text(encoding="utf-8")
    limits = router.config.router
    persisted = PersistedQueries(
        limits.document_cache_size,
        limits.document_cache_bytes,
        lambda query: router.preparation.document(query).document is not None,
    )

    @app.get("/graphql")
    async def graphql_get(request: Request) -> Response:
        params = request.query_params
        accept = request.headers.get("accept")
        if "query" not in params and _wants_html(accept):
            if not router.config.router.graphiql:
                return _response(_bad_request("GraphiQL is disabled", 404))
            return HTMLResponse(graphiql_html)
        media = _accepted(accept)
        if media is None:
            return _response(_bad_request(_NOT_ACCEPTABLE, 406))
        principal = _principal(router, request.headers.get("authorization"))
        if isinstance(principal, Answer):
            return _response(_unauthenticated(media))
        try:
            payload = {
                "query": params.get("query"),
                "variables": _decode_param(params, "variables"),
                "operationName": params.get("operationName"),
                "extensions": _decode_param(params, "extensions"),
            }
        except orjson.JSONDecodeError:
            return _response(_bad_request("'variables' and 'extensions' must be JSON", 400, media))
        payload = persisted.resolve(payload)  # a persisted mutation is refused like any other
        if (
            isinstance(payload, dict)
            and isinstance(payload["query"], str)
            and router.preparation.is_mutation(payload["query"], payload["operationName"] or None)
        ):
            return _response(_bad_request("mutations are not allowed over GET", 405, media))
        traceparent = _traceparent(request.headers.get("traceparent"))
        return _response(await _run(router, persisted, payload, media, traceparent, principal))

    @app.get("/healthz")
    async def healthz() -> Response:
        return _response(_json({"status": "ok", "databases": router.health.databases()}))

    @app.get("/readyz")
    async def readyz(partial: bool = False) -> Response:
        """Ready: every database reachable or covered by a live fallback (docs/reference.md §5).
        `?partial=true` asks whether this router can serve at all, partial results included:
        the Kubernetes readiness probe, so an outage of one database does not take every router
        out of its Service."""
        databases = router.health.databases()
        if not router.health.started:
            return _response(_json({"status": "starting", "databases": databases}, 503))
        problems = [] if partial else router.health.not_ready()
        if problems:
            return _response(_json({"status": "unavailable", "problems": problems, "databases": databases}, 503))
        return _response(_json({"status": "ready", "checked_at": time.time(), "databases": databases}))

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(router.metrics.render(), media_type=CONTENT_TYPE)

    return GraphQLEndpoint(router, app, persisted)
