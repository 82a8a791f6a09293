"""Cross-request coalescing (docs/reference.md §7): resolver calls to one database that are made
in the same event-loop turn and differ only in the values they compare with go out as ONE `Query`
call, each caller's values one variable set of it, and each caller gets its own row sets back.

The contract, stated plainly (as `graphql/dataloader` states its own):

* A request's *shape* is the request with the literal values of its top-level `column = value`
  conjuncts (ints and UUIDs) replaced by variables `$dbmesh_c0`, `$dbmesh_c1`, ...; its
  variable sets are its own sets (one, empty, when it has none), each binding those variables
  to its values. Requests of one shape to one database join one call: their sets, concatenated
  in the order they joined; caller i gets back the row sets at its positions, exactly as many as
  it sent, and no statements (they are no one caller's; traced requests, which show theirs, never
  join) (`ResolverClient.query` fails a call whose count is wrong). The resolver compiles
  such a call into one statement (`services.compiler`: `column = $variable` in the top-level
  AND), with `limit`/`offset` per set.
* A request with `nested` requests (a chain served in the same call) joins as any other: the
  nested requests are part of the shape. The resolver runs each nested request over the distinct
  keys of ALL the callers' rows; caller i gets the row sets of its own rows' distinct keys, in
  its own order (`_Nesting`), which is what it would have got alone.
* Requests with `transaction_id` or `replica`, or whose own sets already bind a `dbmesh_c`
  name, never join: they are sent as they are.
* The call goes out on the next turn (`loop.call_soon`): whoever joined by then is in it. Unless
  `IN_FLIGHT` calls of its key (database, deadline, shape) are already on their way: then it is
  held until one of them lands, at most `HOLD_SECONDS`, and whoever joins meanwhile is in it too
  (group commit). The resolvers' cost is per call far more than per row set (gRPC, the event
  loop, the thread hops; bench/results/ has the numbers), so under load the calls grow rather
  than multiply; with less than `IN_FLIGHT` calls on their way nothing waits. A call with one
  caller is that caller's own request, sent by that caller as before (it counts as in flight).
* A call that fails because the database is unavailable (or timed out) fails every caller, each
  with its own copy of the error (each then falls back on its own chain). Any other failure may
  be one caller's fault (a value its column cannot take): every caller sends its own request
  alone, and gets what it would have got alone.
* The shared call runs in a task of its own: a caller that is cancelled leaves it, and the call
  goes on for the others.

What is kept per caller is kept by `router.traffic`, around this: the breaker, the fetch metrics,
the fallbacks. A shared call carries no trace context (it belongs to no one request): callers
whose trace is recorded do not coalesce (`router.service`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from dbmesh.canonical import distinct_keys
from dbmesh.resolver.client import CallError, ResolverClient
from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.router.metrics import Metrics

__all__ = ["Coalescer", "shaped"]

# The value kinds a shape turns into variables: those the resolver matches by key exactly as it
# compares them. Strings stay in the shape: PostgreSQL's char(n) (and citext) compare equal to a
# value whose text differs ('ab' = 'ab  '), and the resolver matches a shared call's rows to its
# variable sets by the text (a coalesced lookup of 'ab' found nothing where one alone found the
# row); so do floats, decimals, dates and the like.
_KINDS = frozenset(("int", "uuid"))
_PREFIX = "dbmesh_c"
# Calls of one key on their way before the next waits for one of them to land, and how long at
# most it waits (a call stuck on a slow database holds back no one longer than this).
IN_FLIGHT = 2
HOLD_SECONDS = 0.005

_Key = tuple[str, float, bytes]


def shaped(request: pb.QueryRequest) -> tuple[pb.QueryRequest, list[pb.VariableSet]] | None:
    """`request`'s shape (without variable sets) and its variable sets, or None when it may not
    join a shared call (see the module docstring)."""
    if request.transaction_id or request.replica:
        return None
    shape = pb.QueryRequest()
    shape.CopyFrom(request)
    del shape.variables[:]
    literals: dict[str, pb.Value] = {}
    if shape.HasField("predicate"):
        predicate = shape.predicate
        kind = predicate.WhichOneof("kind")
        conjuncts = (
            [predicate] if kind == "comparison" else getattr(predicate, "and").expressions if kind == "and" else []
        )
        for conjunct in conjuncts:
            if conjunct.WhichOneof("kind") != "comparison":
                continue
            comparison = conjunct.comparison
            operand = comparison.operand
            if (
                comparison.operator != pb.OPERATOR_EQ
                or operand.WhichOneof("kind") != "value"
                or operand.value.WhichOneof("kind") not in _KINDS
            ):
                continue
            name = f"{_PREFIX}{len(literals)}"
            value = pb.Value()
            value.CopyFrom(operand.value)
            literals[name] = value
            operand.variable = name
    if not request.variables:
        return shape, [pb.VariableSet(values=literals)]
    sets = []
    for own in request.variables:
        if any(name.startswith(_PREFIX) for name in own.values):
            return None
        variable_set = pb.VariableSet()
        variable_set.CopyFrom(own)
        for name, value in literals.items():
            variable_set.values[name].CopyFrom(value)
        sets.append(variable_set)
    return shape, sets


@dataclass
class _Caller:
    sets: list[pb.VariableSet]
    # Its row sets; None: send its own request alone.
    answer: asyncio.Future[pb.QueryResponse | None]


@dataclass
class _Call:
    shape: pb.QueryRequest
    callers: list[_Caller] = field(default_factory=list)
    held: asyncio.TimerHandle | None = None  # waiting for a call in flight to land, at most until then


class Coalescer:
    """The shared calls being gathered, by database, deadline and shape, and how many of each are
    in flight."""

    def __init__(self, clients: Mapping[str, ResolverClient], metrics: Metrics) -> None:
        self.clients = clients
        self.metrics = metrics
        self._open: dict[_Key, _Call] = {}
        self._flying: dict[_Key, int] = {}
        self._sending: set[asyncio.Task[None]] = set()

    async def query(
        self,
        database: str,
        request: pb.QueryRequest,
        traceparent: str | None,
        timeout: float,  # noqa: ASYNC109
    ) -> pb.QueryResponse:
        """`ResolverClient.query` of `request`, in a call shared with those of its shape."""
        client = self.clients[database]
        found = shaped(request)
        if found is None:
            return await client.query(request, traceparent, timeout)
        shape, sets = found
        loop = asyncio.get_running_loop()
        key = (database, timeout, shape.SerializeToString(deterministic=True))
        call = self._open.get(key)
        if call is None:
            call = self._open[key] = _Call(shape)
            if self._flying.get(key, 0) < IN_FLIGHT:
                loop.call_soon(self._flush, database, key, timeout)
            else:
                call.held = loop.call_later(HOLD_SECONDS, self._hold_over, database, key, timeout)
        caller = _Caller(sets, loop.create_future())
        call.callers.append(caller)
        response = await caller.answer
        if response is None:
            self._took_off(key)
            try:
                return await client.query(request, traceparent, timeout)
            finally:
                self._landed(database, key, timeout)
        return response

    def _took_off(self, key: _Key) -> None:
        self._flying[key] = self._flying.get(key, 0) + 1

    def _landed(self, database: str, key: _Key, timeout: float) -> None:
        """A call of `key` is back: the one held for it (if any) goes out on the next turn."""
        left = self._flying.pop(key) - 1
        if left:
            self._flying[key] = left
        call = self._open.get(key)
        if call is not None and call.held is not None:
            call.held.cancel()
            call.held = None
            self.metrics.held(database, "landed")
            asyncio.get_running_loop().call_soon(self._flush, database, key, timeout)

    def _hold_over(self, database: str, key: _Key, timeout: float) -> None:
        self.metrics.held(database, "timer")
        self._flush(database, key, timeout)

    def _flush(self, database: str, key: _Key, timeout: float) -> None:
        call = self._open.pop(key)
        callers = [c for c in call.callers if not c.answer.done()]  # those cancelled meanwhile left
        if len(callers) <= 1:
            _alone(callers)
        else:
            self._took_off(key)
            task = asyncio.get_running_loop().create_task(self._send(database, call.shape, callers, timeout))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)
            task.add_done_callback(lambda _: self._landed(database, key, timeout))

    async def _send(self, database: str, shape: pb.QueryRequest, callers: list[_Caller], timeout: float) -> None:  # noqa: ASYNC109
        shape.variables.extend(s for caller in callers for s in caller.sets)
        self.metrics.coalesced(database, len(callers))
        try:
            response = await self.clients[database].query(shape, None, timeout)
        except CallError as exc:
            for caller in callers:
                if caller.answer.done():
                    continue
                if exc.unavailable:
                    caller.answer.set_exception(_copy(exc))
                else:
                    caller.answer.set_result(None)
            return
        except BaseException:  # cancelled (the router stops), or a failure nobody expects: each alone
            _alone(callers)
            raise
        try:
            nesting = _Nesting(shape.nested, response)
            answers, start = [], 0
            for caller in callers:
                end = start + len(caller.sets)
                # No statements: a shared call's are no one request's, and traced requests,
                # the ones that show theirs, never share.
                answers.append(
                    pb.QueryResponse(row_sets=response.row_sets[start:end], nested=nesting.split(start, end))
                )
                start = end
        except (ValueError, KeyError, IndexError, TypeError, orjson.JSONDecodeError):  # not the answer asked for
            _alone(callers)
            return
        for caller, answer in zip(callers, answers, strict=True):
            if not caller.answer.done():
                caller.answer.set_result(answer)


class _Part:
    """One nested request's part of a shared call's answer: one row set per distinct key of ALL the
    callers' parent rows (in order of first appearance, `dbmesh.canonical.distinct_keys`, as the
    resolver made them); a caller's part is the row sets of its own rows' distinct keys, in its
    own order, which is what its request alone would have got (the nested request, row filter
    included, is the same for all: it is in the shape)."""

    def __init__(self, item: pb.NestedQuery, parents: list[list[list[Any]]], response: pb.QueryResponse) -> None:
        self.columns = [k.parent_column for k in item.keys]
        keys = distinct_keys((row for rows in parents for row in rows), self.columns)
        if len(keys) != len(response.row_sets):
            raise ValueError("row sets and nested keys differ in number")
        self.positions = {key: i for i, key in enumerate(keys)}
        self.response = response
        self.rows = [orjson.loads(rs.rows_json) for rs in response.row_sets] if item.request.nested else []
        self.parts = [
            _Part(child, self.rows, answer) for child, answer in zip(item.request.nested, response.nested, strict=True)
        ]

    def split(self, parents: list[list[list[Any]]]) -> pb.QueryResponse:
        mine = [self.positions[k] for k in distinct_keys((row for rows in parents for row in rows), self.columns)]
        return pb.QueryResponse(
            row_sets=[self.response.row_sets[i] for i in mine],
            nested=[part.split([self.rows[i] for i in mine]) for part in self.parts],
        )


class _Nesting:
    """The nested parts of a shared call's answer, split by caller (a caller: a slice of the call's
    variable sets, so of its row sets)."""

    def __init__(self, nested: Sequence[pb.NestedQuery], response: pb.QueryResponse) -> None:
        self.rows = [orjson.loads(rs.rows_json) for rs in response.row_sets] if nested else []
        self.parts = [_Part(item, self.rows, answer) for item, answer in zip(nested, response.nested, strict=True)]

    def split(self, start: int, end: int) -> list[pb.QueryResponse]:
        return [part.split(self.rows[start:end]) for part in self.parts]


def _alone(callers: list[_Caller]) -> None:
    for caller in callers:
        if not caller.answer.done():
            caller.answer.set_result(None)


def _copy(error: CallError) -> CallError:
    """A caller's own copy of a shared call's error (each caller's chain notes its attempts on it)."""
    return CallError(error.database, error.code, error.message, unavailable=error.unavailable, detail=error.detail)
