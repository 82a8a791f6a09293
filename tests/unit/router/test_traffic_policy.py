"""The traffic policy (`router.traffic.Traffic`) with real circuit breakers and a scripted resolver
client per database: which databases are asked, in which order, with which variable sets, and what
is reported when they fail (docs/reference.md §7). The row-set count check of
`dbmesh.resolver.client.ResolverClient.query` is tested last, with its gRPC stub replaced."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Protocol

import orjson
import pytest

from dbmesh.config import Config, DatabaseConfig, RouterConfig
from dbmesh.resolver.client import ResolverClient
from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.router.errors import CallError, CircuitOpen
from dbmesh.router.metrics import Metrics
from dbmesh.router.traffic import Traffic


class Clock(Protocol):
    """The `clock` fixture (conftest.py): the circuit breakers' time."""

    def advance(self, seconds: float) -> None: ...


Answer = pb.QueryResponse | CallError


class StubClient:
    """One database's resolver client: each call gets the next scripted answer (a response, or a
    `CallError` to raise); the requests are kept."""

    def __init__(self, name: str, answers: list[Answer]) -> None:
        self.name = name
        self.timeout = 2.0
        self.answers = answers
        self.requests: list[pb.QueryRequest] = []

    async def query(
        self,
        request: pb.QueryRequest,
        traceparent: str | None = None,
        timeout: float | None = None,
    ) -> pb.QueryResponse:
        sent = pb.QueryRequest()
        sent.CopyFrom(request)
        self.requests.append(sent)
        answer = self.answers.pop(0)
        if isinstance(answer, CallError):
            raise answer
        return answer

    async def close(self) -> None:
        return None


def _config(failures: int = 3) -> Config:
    databases = tuple(
        DatabaseConfig(name=name, engine="sqlite", resolver="127.0.0.1:9") for name in ("first", "second", "third")
    )
    return Config(databases, RouterConfig(breaker_failures=failures, breaker_reset_secs=30.0), "<unit>")


@pytest.fixture
async def traffic() -> AsyncIterator[Traffic]:
    """A traffic policy over three databases (`chain`) whose clients the tests replace."""
    policy = Traffic(_config(), Metrics())
    await policy.close()  # the real channels are never used
    yield policy


def chain(traffic: Traffic) -> tuple[str, ...]:
    return tuple(d.name for d in traffic.config.databases)


def script(traffic: Traffic, answers: Mapping[str, Sequence[Answer]]) -> dict[str, StubClient]:
    """A stub client for every database, answering `answers[name]` in turn."""
    stubs = {name: StubClient(name, list(answers.get(name, ()))) for name in chain(traffic)}
    traffic.clients.update(stubs)  # type: ignore[arg-type]
    return stubs


def rows(*row_sets: list[list[Any]]) -> pb.QueryResponse:
    return pb.QueryResponse(row_sets=[pb.RowSet(rows_json=orjson.dumps(r), row_count=len(r)) for r in row_sets])


def unavailable(database: str) -> CallError:
    return CallError(database, "DATABASE_UNAVAILABLE", f"database {database!r} is unavailable: gone", unavailable=True)


def keyed(*keys: str) -> pb.QueryRequest:
    return pb.QueryRequest(
        collection="authors", variables=[pb.VariableSet(values={"k0": pb.Value(string=k)}) for k in keys]
    )


async def test_an_unavailable_database_passes_the_request_to_the_next(traffic: Traffic) -> None:
    a, b, c = chain(traffic)
    error = unavailable(a)
    stubs = script(traffic, {a: [error], b: [rows([["x"]])]})
    fetched = await traffic.fetch((a, b, c), keyed(), None)
    assert fetched.row_sets == [(b'[["x"]]', b)]
    (served,) = fetched.served
    assert (served.database, served.fallback_from, [f.database for f in served.failed]) == (b, a, [a])
    assert served.failed[0].error is error
    assert [len(s.requests) for s in stubs.values()] == [1, 1, 0]
    assert stubs[b].requests == stubs[a].requests


@pytest.mark.parametrize("code", ["BAD_USER_INPUT", "DATABASE_ERROR", "PERMISSION_DENIED"])
async def test_an_error_other_than_unavailable_is_final(traffic: Traffic, code: str) -> None:
    a, b, c = chain(traffic)
    error = CallError(a, code, "no")
    stubs = script(traffic, {a: [error]})
    with pytest.raises(CallError) as raised:
        await traffic.fetch((a, b, c), keyed(), None)
    assert raised.value is error
    assert [(t.database, t.error) for t in error.attempts] == [(a, error)]
    assert [len(s.requests) for s in stubs.values()] == [1, 0, 0]


async def test_attempts_list_every_database_tried(traffic: Traffic) -> None:
    a, b, c = chain(traffic)
    errors = [unavailable(a), unavailable(b), unavailable(c)]
    script(traffic, {a: [errors[0]], b: [errors[1]], c: [errors[2]]})
    with pytest.raises(CallError) as raised:
        await traffic.fetch((a, b, c), keyed(), None)
    assert raised.value is errors[2]
    assert [(t.database, t.error) for t in raised.value.attempts] == list(zip((a, b, c), errors, strict=True))

    final = CallError(b, "DATABASE_ERROR", "broken")
    stubs = script(traffic, {a: [unavailable(a)], b: [final]})
    with pytest.raises(CallError) as raised:
        await traffic.fetch((a, b, c), keyed(), None)
    assert [t.database for t in raised.value.attempts] == [a, b]
    assert len(stubs[c].requests) == 0


async def test_not_found_asks_only_the_empty_sets_of_each_later_database_in_turn(traffic: Traffic) -> None:
    a, b, c = chain(traffic)
    stubs = script(
        traffic,
        {
            a: [rows([["k0@a"]], [], [["k2@a"]], [], [])],
            b: [rows([], [["k3@b"]], [])],
            c: [rows([["k1@c"]], [])],
        },
    )
    request = keyed("k0", "k1", "k2", "k3", "k4")
    fetched = await traffic.fetch((a, b, c), request, None, not_found=True)
    assert [list(r.variables) for s in stubs.values() for r in s.requests] == [
        list(request.variables),
        [request.variables[i] for i in (1, 3, 4)],
        [request.variables[i] for i in (1, 4)],
    ]
    for stub in stubs.values():
        del stub.requests[0].variables[:]
        assert stub.requests[0] == keyed()  # everything else as asked
    assert fetched.row_sets == [
        (b'[["k0@a"]]', a),
        (b'[["k1@c"]]', c),
        (b'[["k2@a"]]', a),
        (b'[["k3@b"]]', b),
        (b"[]", c),
    ]
    assert [s.database for s in fetched.served] == [a, b, c]


async def test_not_found_without_variables_asks_the_next_database_the_same_request(traffic: Traffic) -> None:
    a, b, c = chain(traffic)
    stubs = script(traffic, {a: [unavailable(a)], b: [rows([])], c: [rows([["found"]])]})
    request = pb.QueryRequest(collection="authors", limit=1)
    fetched = await traffic.fetch((a, b, c), request, None, not_found=True)
    assert fetched.row_sets == [(b'[["found"]]', c)]
    assert [s.requests for s in stubs.values()] == [[request], [request], [request]]


async def test_not_found_stops_once_every_set_has_rows(traffic: Traffic) -> None:
    a, b, c = chain(traffic)
    stubs = script(traffic, {a: [rows([], [["k1@a"]])], b: [rows([["k0@b"]])]})
    fetched = await traffic.fetch((a, b, c), keyed("k0", "k1"), None, not_found=True)
    assert fetched.row_sets == [(b'[["k0@b"]]', b), (b'[["k1@a"]]', a)]
    assert len(stubs[c].requests) == 0


async def test_an_open_circuit_refuses_without_calling_and_the_chain_moves_on(traffic: Traffic) -> None:
    a, b, _ = chain(traffic)
    failures = traffic.config.router.breaker_failures
    stubs = script(traffic, {a: [unavailable(a) for _ in range(failures)], b: [rows([["b"]])]})
    for _ in range(failures):
        with pytest.raises(CallError):
            await traffic.fetch((a,), keyed(), None)
    assert traffic.breakers[a].state == "open"
    with pytest.raises(CircuitOpen) as raised:
        await traffic.fetch((a,), keyed(), None)
    assert raised.value.message == f"database {a!r} is unavailable (circuit open after repeated failures)"
    fetched = await traffic.fetch((a, b), keyed(), None)
    assert fetched.row_sets == [(b'[["b"]]', b)]
    assert isinstance(fetched.served[0].failed[0].error, CircuitOpen)
    assert len(stubs[a].requests) == failures


async def test_only_unavailability_counts_towards_opening(traffic: Traffic) -> None:
    a = chain(traffic)[0]
    failures = traffic.config.router.breaker_failures
    script(traffic, {a: [CallError(a, "BAD_USER_INPUT", "no") for _ in range(failures + 1)]})
    for _ in range(failures + 1):
        with pytest.raises(CallError):
            await traffic.fetch((a,), keyed(), None)
    assert (traffic.breakers[a].state, traffic.breakers[a].failures) == ("closed", 0)


async def test_a_success_between_failures_resets_the_count(traffic: Traffic) -> None:
    """Only CONSECUTIVE unavailable calls open the circuit (router.breaker)."""
    a = chain(traffic)[0]
    failures = traffic.config.router.breaker_failures
    script(traffic, {a: [*(unavailable(a) for _ in range(failures - 1)), rows([]), unavailable(a)]})
    for _ in range(failures - 1):
        with pytest.raises(CallError):
            await traffic.fetch((a,), keyed(), None)
    assert (await traffic.fetch((a,), keyed(), None)).row_sets == [(b"[]", a)]
    with pytest.raises(CallError):
        await traffic.fetch((a,), keyed(), None)
    assert (traffic.breakers[a].state, traffic.breakers[a].failures) == ("closed", 1)


async def test_a_trial_answered_with_a_non_unavailable_error_closes_the_circuit(traffic: Traffic, clock: Clock) -> None:
    """The half-open trial reached the database (it refused the request, it did not fail to
    answer): the trial is over and the database is up, so the next call goes through."""
    a = chain(traffic)[0]
    failures = traffic.config.router.breaker_failures
    refused = CallError(a, "BAD_USER_INPUT", "no")
    script(traffic, {a: [*(unavailable(a) for _ in range(failures)), refused, rows([["up"]])]})
    for _ in range(failures):
        with pytest.raises(CallError):
            await traffic.fetch((a,), keyed(), None)
    clock.advance(traffic.config.router.breaker_reset_secs)
    with pytest.raises(CallError) as raised:
        await traffic.fetch((a,), keyed(), None)
    assert raised.value is refused
    fetched = await traffic.fetch((a,), keyed(), None)
    assert fetched.row_sets == [(b'[["up"]]', a)]


# --- ResolverClient.query: one row set per variable set -----------------------------------------


class StubStub:
    """The gRPC stub of a resolver: `Query` answers `response` and keeps what it was given."""

    def __init__(self, response: pb.QueryResponse) -> None:
        self.response = response
        self.calls: list[tuple[pb.QueryRequest, float, tuple[tuple[str, str], ...]]] = []

    async def Query(
        self, request: pb.QueryRequest, timeout: float, metadata: tuple[tuple[str, str], ...]
    ) -> pb.QueryResponse:
        self.calls.append((request, timeout, metadata))
        return self.response


@pytest.fixture
async def client() -> AsyncIterator[ResolverClient]:
    resolver = ResolverClient(DatabaseConfig(name="solo", engine="sqlite", resolver="127.0.0.1:9", timeout_secs=3.0))
    yield resolver
    await resolver.close()


@pytest.mark.parametrize(("keys", "sent"), [(2, 1), (0, 2), (0, 0), (3, 4)])
async def test_a_row_set_count_other_than_the_variable_sets_is_a_database_error(
    client: ResolverClient, keys: int, sent: int
) -> None:
    stub = StubStub(rows(*([] for _ in range(sent))))
    client.stub = stub  # type: ignore[assignment]
    with pytest.raises(CallError) as raised:
        await client.query(keyed(*(f"k{i}" for i in range(keys))))
    error = raised.value
    assert (error.database, error.code, error.unavailable) == ("solo", "DATABASE_ERROR", False)
    assert error.message == f"resolver of 'solo' returned {sent} row sets for {max(1, keys)} variable sets"


async def test_a_response_with_one_row_set_per_variable_set_is_returned(client: ResolverClient) -> None:
    response = rows([["a"]], [])
    stub = StubStub(response)
    client.stub = stub  # type: ignore[assignment]
    request = keyed("k0", "k1")
    assert await client.query(request, "00-trace-span-01") is response
    assert stub.calls == [(request, 3.0, (("traceparent", "00-trace-span-01"),))]
