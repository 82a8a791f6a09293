"""The executor (`router.executor.Execution`) on its own, with the traffic policy stubbed.

What a whole mesh cannot show: exactly which variable sets a BatchedJoin sends (distinct parent
keys, first appearance first, NULL keys left out), that row set i is mapped back to key i, that
nothing is sent when there is nothing to ask, and that a plan shared by concurrent executions is
never written. The stub stands in for `Traffic.fetch` only; the executor is the real one.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable, Sequence
from typing import Any, cast

import orjson
import pytest

from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.router import executor as executor_module
from dbmesh.router.errors import CallError
from dbmesh.router.executor import Execution, Outcome
from dbmesh.router.plan import BatchedJoin, Fetch, Plan, plan_to_json
from dbmesh.router.preparation import Prepared
from dbmesh.router.requests import build_request
from dbmesh.router.schema import SchemaIndex
from dbmesh.router.traffic import Fetched, Traffic

Prepare = Callable[..., Prepared]  # the `prepare` fixture (conftest.py)

A1, A2, A3 = (f"00000000-0000-4000-8000-00000000000{n}" for n in (1, 2, 3))

# A request -> the rows of each of its variable sets (one set when there are none), or an error.
Respond = Callable[[pb.QueryRequest], list[list[list[Any]]] | CallError]


class FakeTraffic:
    """`Traffic.fetch` for one execution: records every request and answers with `respond`; the
    row sets are served by the first database of the chain."""

    def __init__(self, respond: Respond) -> None:
        self.respond = respond
        self.calls: list[tuple[tuple[str, ...], pb.QueryRequest]] = []  # copies, as sent
        self.received: list[pb.QueryRequest] = []  # the objects the executor passed

    async def fetch(
        self,
        chain: Sequence[str],
        request: pb.QueryRequest,
        traceparent: str | None,
        affinity: str = "read_primary",
        *,
        not_found: bool = False,
        coalesce: bool = False,
    ) -> Fetched:
        sent = pb.QueryRequest()
        sent.CopyFrom(request)
        self.calls.append((tuple(chain), sent))
        self.received.append(request)
        await asyncio.sleep(0)  # concurrent executions interleave here
        answer = self.respond(sent)
        if isinstance(answer, CallError):
            raise answer
        return Fetched([(orjson.dumps(rows), chain[0]) for rows in answer], [])


async def _run(plan: Plan, index: SchemaIndex, traffic: FakeTraffic, variables: dict[str, Any]) -> Execution:
    execution = Execution(plan, index, cast(Traffic, traffic), variables, None)
    await execution.run()
    return execution


def _join(plan: Plan, path: tuple[str, ...]) -> BatchedJoin:
    node = next(n for n in plan.nodes.values() if n.path == path)
    assert isinstance(node, BatchedJoin)
    return node


def _keys(*values: str) -> list[pb.VariableSet]:
    return [pb.VariableSet(values={"k0": pb.Value(uuid=v)}) for v in values]


async def test_batched_join_sends_distinct_non_null_keys_in_first_appearance_order(
    prepare: Prepare, index: SchemaIndex
) -> None:
    prepared = prepare("{ books { title editor { name } } }")
    editor = _join(prepared.plan, ("books", "editor"))
    editors = [A2, None, A1, A2, A3, None, A1]

    def respond(request: pb.QueryRequest) -> list[list[list[Any]]]:
        if not request.variables:
            return [[[f"book {i}", key] for i, key in enumerate(editors)]]
        return [[[f"editor {s.values['k0'].uuid}"]] for s in request.variables]

    traffic = FakeTraffic(respond)
    execution = await _run(prepared.plan, index, traffic, prepared.variables)
    assert list(traffic.calls[1][1].variables) == _keys(A2, A1, A3)
    assert traffic.calls[1][0] == editor.fetch.chain
    served = editor.fetch.database
    assert execution.outcomes[editor.id].by_key == {
        (A2,): [[f"editor {A2}", served]],
        (A1,): [[f"editor {A1}", served]],
        (A3,): [[f"editor {A3}", served]],
    }
    assert execution.outcomes[editor.id].rows == [[f"editor {k}", served] for k in (A2, A1, A3)]


async def test_row_set_i_is_the_rows_of_key_i_whatever_their_counts(prepare: Prepare, index: SchemaIndex) -> None:
    prepared = prepare("{ authors { id books { title } } }")
    books = _join(prepared.plan, ("authors", "books"))
    counts = {A3: 2, A1: 0, A2: 1}

    def respond(request: pb.QueryRequest) -> list[list[list[Any]]]:
        if request.collection == "authors":
            return [[[A3], [A1], [A2], [A3]]]
        return [
            [[f"{s.values['k0'].uuid} #{n}"] for n in range(counts[s.values["k0"].uuid])] for s in request.variables
        ]

    traffic = FakeTraffic(respond)
    execution = await _run(prepared.plan, index, traffic, prepared.variables)
    assert list(traffic.calls[1][1].variables) == _keys(A3, A1, A2)
    db = books.fetch.database
    assert execution.outcomes[books.id].by_key == {
        (A3,): [[f"{A3} #0", db], [f"{A3} #1", db]],
        (A1,): [],
        (A2,): [[f"{A2} #0", db]],
    }


@pytest.mark.parametrize("parent_rows", [[], [["t1", None], ["t2", None]]], ids=["no rows", "only null keys"])
async def test_a_batched_join_without_keys_sends_nothing(
    prepare: Prepare, index: SchemaIndex, parent_rows: list[list[Any]]
) -> None:
    prepared = prepare("{ books { title editor { name } } }")
    editor = _join(prepared.plan, ("books", "editor"))
    traffic = FakeTraffic(lambda request: [parent_rows])
    execution = await _run(prepared.plan, index, traffic, prepared.variables)
    assert [request.collection for _, request in traffic.calls] == ["books"]
    assert execution.outcomes[editor.id] == Outcome()


async def test_a_failed_parent_empties_its_children_without_a_call(prepare: Prepare, index: SchemaIndex) -> None:
    prepared = prepare("{ books { title editor { name } } }")
    editor = _join(prepared.plan, ("books", "editor"))
    error = CallError("books_db", "DATABASE_ERROR", "database 'books_db' failed: boom")
    traffic = FakeTraffic(lambda request: error)
    execution = await _run(prepared.plan, index, traffic, prepared.variables)
    assert len(traffic.calls) == 1
    assert execution.outcomes[editor.parent] == Outcome(error=error)
    assert execution.outcomes[editor.id] == Outcome()
    assert execution.failures == [
        {"fetch": editor.parent, "database": "books_db", "code": "DATABASE_ERROR", "message": error.message}
    ]


def _snapshot(plan: Plan) -> tuple[Any, ...]:
    templates = {i: t.SerializeToString(deterministic=True) for i, t in plan.templates.items()}
    return plan_to_json(plan, with_selections=True), copy.deepcopy(dict(plan.nodes)), templates


def _by_shape(traffic: FakeTraffic) -> dict[tuple[str, str | None], pb.QueryRequest]:
    """The requests of one execution by (collection, kind of predicate): in the query below, each
    fetch has its own."""
    return {(r.collection, r.predicate.WhichOneof("kind")): r for _, r in traffic.calls}


def _eq(column: str, operand: pb.Operand) -> pb.Expression:
    return pb.Expression(comparison=pb.Comparison(column=column, operator=pb.OPERATOR_EQ, operand=operand))


async def test_concurrent_executions_with_different_variables_leave_the_plan_unchanged(
    prepare: Prepare, index: SchemaIndex
) -> None:
    query = """query($n: Int!, $t: String!) {
      authors(limit: $n) { id books(where: {title: {_eq: $t}}) { title } drafts { title } }
    }"""
    first, second = prepare(query, {"n": 1, "t": "x"}), prepare(query, {"n": 2, "t": "y"})
    plan = first.plan
    assert second.plan is plan
    drafts = _join(plan, ("authors", "drafts"))
    assert set(plan.templates) == {drafts.id}
    before = _snapshot(plan)

    def respond(request: pb.QueryRequest) -> list[list[list[Any]]]:
        if request.collection == "authors":
            return [[[A1], [A2]]]
        return [[[f"of {s.values['k0'].uuid}"]] for s in request.variables]

    one, two = FakeTraffic(respond), FakeTraffic(respond)
    await asyncio.gather(_run(plan, index, one, first.variables), _run(plan, index, two, second.variables))
    assert _snapshot(plan) == before
    expected_drafts = pb.QueryRequest()
    expected_drafts.CopyFrom(plan.templates[drafts.id])
    expected_drafts.variables.extend(_keys(A1, A2))
    for traffic, limit, title in ((one, 1, "x"), (two, 2, "y")):
        sent = _by_shape(traffic)
        assert set(sent) == {("authors", None), ("books", "and"), ("books", "comparison")}
        assert sent["authors", None].limit == limit
        books = sent["books", "and"]
        assert list(getattr(books.predicate, "and").expressions) == [
            _eq("title", pb.Operand(value=pb.Value(string=title))),
            _eq("author_id", pb.Operand(variable="k0")),
        ]
        assert list(books.variables) == _keys(A1, A2)
        assert sent["books", "comparison"] == expected_drafts


async def test_a_fetch_without_variables_copies_the_template_and_one_with_variables_builds_its_own(
    prepare: Prepare, index: SchemaIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepared = prepare("query($n: Int) { authors(limit: $n) { id } shelf { title } }", {"n": 7})
    plan = prepared.plan
    authors, shelf = (n for n in plan.nodes.values() if isinstance(n, Fetch))
    assert (authors.variable_usages, shelf.variable_usages) == (("n",), ())
    assert set(plan.templates) == {shelf.id}
    built: list[tuple[int, dict[str, Any]]] = []

    def spy(node: Fetch | BatchedJoin, index: SchemaIndex, arguments: dict[str, Any], **kw: Any) -> pb.QueryRequest:
        built.append((node.id, dict(arguments)))
        return build_request(node, index, arguments, **kw)

    monkeypatch.setattr(executor_module, "build_request", spy)
    traffic = FakeTraffic(lambda request: [[]])
    await _run(plan, index, traffic, prepared.variables)
    assert built == [(authors.id, {"limit": 7})]
    sent = {request.collection: request for _, request in traffic.calls}
    assert sent["books"].SerializeToString() == plan.templates[shelf.id].SerializeToString()
    assert all(request is not plan.templates[shelf.id] for request in traffic.received)
    assert sent["authors"].limit == 7


async def test_an_unset_variable_leaves_the_argument_its_default(prepare: Prepare, index: SchemaIndex) -> None:
    """GraphQL spec, CoerceArgumentValues: a variable that was not provided gives the argument its
    default value (`authors(limit: Int = 50)`), it does not remove the limit."""
    prepared = prepare("query($n: Int) { authors(limit: $n) { id } }", {})
    traffic = FakeTraffic(lambda request: [[]])
    await _run(prepared.plan, index, traffic, prepared.variables)
    assert traffic.calls[0][1].limit == 50
