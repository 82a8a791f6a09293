"""Batching (docs/reference.md §8, STYLE "Tiny batching core"): one row set back per variable set, in order, empty
sets included; keyed batches are one statement unless the engine's parameter limit splits them."""

from __future__ import annotations

import math
import re
import uuid
from decimal import Decimal

import grpc

from conformance.client import T, and_, asc, cmp, desc, expect_error, var
from conformance.conftest import Conformance
from conformance.dataset import ORDERS, PERSON
from dbmesh.resolver.v1 import resolver_pb2 as pb

P = PERSON
NOBODY = uuid.UUID("00000000-0000-4000-8000-000000000000")
ORDER_IDS = {key: sorted(i for i, p, *_ in ORDERS if p == key) for key in PERSON}
_PLACEHOLDER = re.compile(r"\$\d+|%\(\w+\)s|%s|\?")


def _ids(row_sets: list[list[list[object]]]) -> list[list[object]]:
    return [[r[0] for r in rows] for rows in row_sets]


async def test_one_row_set_per_variable_set_in_order(resolver: Conformance) -> None:
    keys = [P["zoe"], P["EMILE"], P["abc"], P["zoe"], None, NOBODY, P["bob"]]
    row_sets = await resolver.query(
        "orders",
        ["id", ("person_id", T.UUID)],
        where=cmp("person_id", "eq", var("person")),
        order_by=[asc("id")],
        variables=[{"person": k} for k in keys],
    )
    assert _ids(row_sets) == [[1, 2, 7], [], [4, 5, 10], [1, 2, 7], [], [], [8]]
    assert [{r[1] for r in rows} for rows in row_sets] == [
        {str(P["zoe"])},
        set(),
        {str(P["abc"])},
        {str(P["zoe"])},
        set(),
        set(),
        {str(P["bob"])},
    ]
    assert len(resolver.statements) == 1


async def test_upper_case_uuid_keys_match(resolver: Conformance) -> None:
    row_sets = await resolver.query(
        "orders",
        ["id"],
        where=cmp("person_id", "eq", var("person")),
        variables=[{"person": pb.Value(uuid=str(P[k]).upper())} for k in ("abc", "emile")],
    )
    assert _ids(row_sets) == [[4, 5, 10], [3]]


async def test_no_variable_sets_is_one_row_set(resolver: Conformance) -> None:
    row_sets = await resolver.query("orders", ["id"], where=cmp("total", "gte", Decimal("300")))
    assert _ids(row_sets) == [[6, 9]]


async def test_variable_sets_binding_nothing_share_one_result(resolver: Conformance) -> None:
    row_sets = await resolver.query(
        "orders", ["id"], where=cmp("total", "gte", Decimal("300")), variables=[{}, {"unused": 1}, {}]
    )
    assert _ids(row_sets) == [[6, 9], [6, 9], [6, 9]]


async def test_per_set_limit_and_offset(resolver: Conformance) -> None:
    keys = ["zoe", "abc", "emile", "EMILE", "bob", "zoe"]
    row_sets = await resolver.query(
        "orders",
        ["id", "order_date"],
        where=cmp("person_id", "eq", var("person")),
        order_by=[desc("order_date")],
        limit=2,
        offset=1,
        variables=[{"person": P[k]} for k in keys],
    )
    assert _ids(row_sets) == [[2, 1], [5, 10], [], [], [], [2, 1]]
    assert len(resolver.statements) == 1


async def test_per_set_limit_keeps_each_sets_first_rows(resolver: Conformance) -> None:
    keys = ["zoe", "abc", "emile", "nihon", "bob", "ABC", "EMILE"]
    row_sets = await resolver.query(
        "orders",
        ["id"],
        where=cmp("person_id", "eq", var("person")),
        order_by=[desc("order_date")],
        limit=1,
        variables=[{"person": P[k]} for k in keys],
    )
    assert _ids(row_sets) == [[7], [4], [3], [6], [8], [9], []]


async def test_keys_with_another_condition(resolver: Conformance) -> None:
    row_sets = await resolver.query(
        "orders",
        ["id"],
        where=and_(cmp("total", "gte", Decimal("10")), cmp("person_id", "eq", var("person"))),
        order_by=[asc("id")],
        variables=[{"person": P["zoe"]}, {"person": P["abc"]}, {"person": P["bob"]}],
    )
    assert _ids(row_sets) == [[1, 2, 7], [4, 10], []]


async def test_composite_keys_are_exact(resolver: Conformance) -> None:
    """Two key columns; 'VIP' is not 'vip' on any engine."""
    sets = [("zoe", "vip"), ("zoe", "VIP"), ("abc", "vip"), ("nihon", "fr"), ("emile", "fr"), ("zoe", "vip")]
    row_sets = await resolver.query(
        "tags",
        ["weight"],
        where=and_(cmp("person_id", "eq", var("p")), cmp("tag", "eq", var("t"))),
        variables=[{"p": P[p], "t": t} for p, t in sets],
    )
    assert row_sets == [[[1]], [], [[3]], [], [[5]], [[1]]]
    assert len(resolver.statements) == 1


async def test_text_keys_are_case_and_accent_sensitive(resolver: Conformance) -> None:
    names = ["abc", "ABC", "Abc", "émile", "ÉMILE", "emile", "Zoë", "Zoe", "日本", "abc "]
    row_sets = await resolver.query(
        "people", ["name"], where=cmp("name", "eq", var("name")), variables=[{"name": n} for n in names]
    )
    assert row_sets == [[["abc"]], [["ABC"]], [], [["émile"]], [["ÉMILE"]], [], [["Zoë"]], [], [["日本"]], []]


async def test_variables_used_otherwise_still_answer_each_set(resolver: Conformance) -> None:
    """A variable under OR or in a range is not a key: each set is answered on its own."""
    row_sets = await resolver.query(
        "orders",
        ["id"],
        where=cmp("total", "gt", var("minimum")),
        order_by=[asc("id")],
        variables=[{"minimum": Decimal("250")}, {"minimum": Decimal("5000")}, {"minimum": Decimal("99")}],
    )
    assert _ids(row_sets) == [[6, 9], [], [2, 3, 4, 6, 9]]


async def test_a_set_missing_a_variable_is_invalid(resolver: Conformance) -> None:
    request = resolver.request(
        "orders", ["id"], where=cmp("person_id", "eq", var("person")), variables=[{"person": P["zoe"]}, {}]
    )
    details = await expect_error(grpc.StatusCode.INVALID_ARGUMENT, resolver.run(request))
    assert "person" in details


async def test_a_thousand_keys_is_one_statement(resolver: Conformance) -> None:
    keys = [uuid.UUID(int=i) for i in range(1, 995)] + [P[k] for k in ("zoe", "abc", "emile", "nihon", "bob", "ABC")]
    assert len(set(keys)) == 1000
    row_sets = await resolver.query(
        "orders",
        ["id"],
        where=cmp("person_id", "eq", var("p")),
        order_by=[asc("id")],
        variables=[{"p": k} for k in keys],
    )
    assert len(resolver.statements) == 1
    assert _ids(row_sets) == [[] for _ in range(994)] + [
        ORDER_IDS[k] for k in ("zoe", "abc", "emile", "nihon", "bob", "ABC")
    ]


async def test_a_hundred_thousand_keys(resolver: Conformance) -> None:
    """Correct row sets; as many statements as the reported parameter limit implies, or one where
    the engine binds the whole key list as an array."""
    count = 100_000
    keys = list(range(count, 0, -1))  # descending: row sets must follow the sets, not the table
    row_sets = await resolver.query(
        "orders", ["id", "total"], where=cmp("id", "eq", var("id")), variables=[{"id": k} for k in keys]
    )
    assert len(row_sets) == count
    totals = {i: format(t, "f") for i, _, _, t, _ in ORDERS}
    assert row_sets == [[[k, totals[k]]] if k in totals else [] for k in keys]
    max_parameters = (await resolver.capabilities()).max_parameters
    statements = resolver.statements
    assert len(statements) in (1, math.ceil(count / max_parameters)), (len(statements), max_parameters)
    for statement in statements:
        placeholders = len(set(_PLACEHOLDER.findall(statement.sql)))
        assert placeholders <= max_parameters
    assert sum(s.rows for s in statements) == len(ORDERS)


async def test_only_null_keys(resolver: Conformance) -> None:
    row_sets = await resolver.query(
        "orders", ["id"], where=cmp("person_id", "eq", var("p")), variables=[{"p": None}, {"p": None}]
    )
    assert row_sets == [[], []]


async def test_text_keys_under_a_non_binary_collation(resolver: Conformance) -> None:
    labels = ["abc", "ABC", "aBC", "e", "E", "é", "abc ", "b"]
    row_sets = await resolver.query(
        "labels", ["id"], where=cmp("label", "eq", var("label")), variables=[{"label": x} for x in labels]
    )
    assert row_sets == [[[1]], [[2]], [], [[8]], [[7]], [[6]], [[9]], [[4]]]
