"""`router.requests.build_request`: a planned fetch and its argument values in, the contract's
`QueryRequest` out (docs/reference.md §4, §8), asserted as whole protobuf messages; and every
argument the databases could not take refused with its exact message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.router.errors import BadUserInput
from dbmesh.router.plan import BatchedJoin, Fetch
from dbmesh.router.preparation import Prepared
from dbmesh.router.requests import build_request, key_variables
from dbmesh.router.schema import SchemaIndex

Prepare = Callable[..., Prepared]  # the `prepare` fixture (conftest.py)

UUID_TEXT = "550e8400-e29b-41d4-a716-446655440000"
COLUMNS = [
    pb.ColumnRef(name="id", type=pb.LOGICAL_TYPE_UUID),
    pb.ColumnRef(name="title", type=pb.LOGICAL_TYPE_STRING),
]


def node(prepare: Prepare, query: str, path: tuple[str, ...]) -> Fetch | BatchedJoin:
    found = next(n for n in prepare(query).plan.nodes.values() if n.path == path)
    assert isinstance(found, (Fetch, BatchedJoin))
    return found


@pytest.fixture
def books(prepare: Prepare) -> Fetch | BatchedJoin:
    return node(prepare, "{ books { id title } }", ("books",))


def cmp(column: str, operator: int, **operand: Any) -> pb.Expression:
    return pb.Expression(comparison=pb.Comparison(column=column, operator=operator, operand=pb.Operand(**operand)))  # type: ignore[arg-type]


def group(kind: str, *expressions: pb.Expression) -> pb.Expression:
    inner = pb.And(expressions=expressions) if kind == "and" else pb.Or(expressions=expressions)
    return pb.Expression(**{kind: inner})  # type: ignore[arg-type]


def negation(inner: pb.Expression) -> pb.Expression:
    return pb.Expression(**{"not": pb.Not(expression=inner)})  # type: ignore[arg-type]


def test_where_order_by_limit_and_offset(books: Fetch, index: SchemaIndex) -> None:
    arguments = {
        "where": {
            "title": {"_eq": "Dune", "_like": "D%"},
            "pages": {"_gt": 100},
            "_not": {"pages": {"_is_null": True}},
        },
        "orderBy": [{"title": "DESC"}, {"pages": "ASC"}],
        "limit": 10,
        "offset": 20,
    }
    expected = pb.QueryRequest(
        collection="books",
        columns=COLUMNS,
        predicate=group(
            "and",
            cmp("title", pb.OPERATOR_EQ, value=pb.Value(string="Dune")),
            cmp("title", pb.OPERATOR_LIKE, value=pb.Value(string="D%")),
            cmp("pages", pb.OPERATOR_GT, value=pb.Value(int=100)),
            negation(cmp("pages", pb.OPERATOR_IS_NULL, value=pb.Value(boolean=True))),
        ),
        order_by=[
            pb.OrderBy(column="title", direction=pb.DIRECTION_DESC),
            pb.OrderBy(column="pages", direction=pb.DIRECTION_ASC),
        ],
        limit=10,
        offset=20,
    )
    assert build_request(books, index, arguments) == expected


def test_no_arguments_ask_for_every_row(books: Fetch, index: SchemaIndex) -> None:
    request = build_request(books, index, {})
    assert request == pb.QueryRequest(collection="books", columns=COLUMNS)
    assert not request.HasField("predicate") and not request.HasField("limit") and not request.HasField("offset")


def test_an_or_with_an_empty_branch_matches_everything(books: Fetch, index: SchemaIndex) -> None:
    everything = build_request(books, index, {"where": {"_or": [{"title": {"_eq": "a"}}, {}]}})
    assert not everything.HasField("predicate")
    narrowed = build_request(books, index, {"where": {"pages": {"_lt": 5}, "_or": [{}, {"title": {"_eq": "a"}}]}})
    assert narrowed.predicate == cmp("pages", pb.OPERATOR_LT, value=pb.Value(int=5))
    both = build_request(books, index, {"where": {"_or": [{"title": {"_eq": "a"}}, {"pages": {"_eq": 1}}]}})
    assert both.predicate == group(
        "or",
        cmp("title", pb.OPERATOR_EQ, value=pb.Value(string="a")),
        cmp("pages", pb.OPERATOR_EQ, value=pb.Value(int=1)),
    )


def test_id_values_that_are_uuids_travel_as_uuids_and_others_as_strings(books: Fetch, index: SchemaIndex) -> None:
    where = {"id": {"_in": [UUID_TEXT, UUID_TEXT.upper(), "isbn-42", "7"]}, "authorId": {"_eq": "not-a-uuid"}}
    request = build_request(books, index, {"where": where})
    values = [pb.Value(uuid=UUID_TEXT), pb.Value(uuid=UUID_TEXT), pb.Value(string="isbn-42"), pb.Value(string="7")]
    assert request.predicate == group(
        "and",
        cmp("id", pb.OPERATOR_IN, list=pb.ValueList(values=values)),
        cmp("author_id", pb.OPERATOR_EQ, value=pb.Value(string="not-a-uuid")),
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [(UUID_TEXT, pb.Value(uuid=UUID_TEXT)), ("author-7", pb.Value(string="author-7"))],
    ids=["uuid", "string"],
)
def test_a_declared_id_filter_types_its_value(books: Fetch, index: SchemaIndex, value: str, expected: pb.Value) -> None:
    request = build_request(books, index, {"authorId": value})
    assert request.predicate == cmp("author_id", pb.OPERATOR_EQ, value=expected)
    assert build_request(books, index, {"authorId": None}) == pb.QueryRequest(collection="books", columns=COLUMNS)


def test_a_batched_join_compares_its_key_columns_with_the_variables(prepare: Prepare, index: SchemaIndex) -> None:
    editor = node(prepare, "{ books { editor { name } } }", ("books", "editor"))
    assert build_request(editor, index, {}) == pb.QueryRequest(
        collection="authors",
        columns=[pb.ColumnRef(name="name", type=pb.LOGICAL_TYPE_STRING)],
        predicate=cmp("id", pb.OPERATOR_EQ, variable="k0"),
    )
    assert key_variables([(UUID_TEXT,), ("x",), (None,)], ("ID",)) == [
        pb.VariableSet(values={"k0": pb.Value(uuid=UUID_TEXT)}),
        pb.VariableSet(values={"k0": pb.Value(string="x")}),
        pb.VariableSet(values={"k0": pb.Value(null=True)}),
    ]


def test_eq_null_compares_with_null(books: Fetch, index: SchemaIndex) -> None:
    request = build_request(books, index, {"where": {"pages": {"_eq": None}}})
    assert request.predicate == cmp("pages", pb.OPERATOR_EQ, value=pb.Value(null=True))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"limit": -1}, "books: limit must not be negative (got -1)"),
        ({"offset": -20}, "books: offset must not be negative (got -20)"),
        (
            {"orderBy": [{"title": "ASC", "pages": "DESC"}]},
            "books: orderBy[0] must name exactly one field (got title, pages)",
        ),
        ({"orderBy": [{"id": "ASC"}, {}]}, "books: orderBy[1] must name exactly one field (got none)"),
        ({"where": {"pages": {"_gt": None}}}, "books: where.pages._gt cannot be null"),
        ({"where": {"_and": [{}, {"title": {"_lte": None}}]}}, "books: where._and[1].title._lte cannot be null"),
    ],
)
def test_arguments_the_databases_cannot_take(
    books: Fetch, index: SchemaIndex, arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(BadUserInput) as raised:
        build_request(books, index, arguments)
    assert (raised.value.code, raised.value.message) == ("BAD_USER_INPUT", message)


def test_a_refusal_names_the_field_by_its_response_path(prepare: Prepare, index: SchemaIndex) -> None:
    shelved = node(prepare, "{ shelved: books { id } }", ("shelved",))
    with pytest.raises(BadUserInput) as raised:
        build_request(shelved, index, {"limit": -5})
    assert raised.value.message == "shelved: limit must not be negative (got -5)"


def test_a_literal_negative_limit_gets_no_template(prepare: Prepare) -> None:
    """Planning does not fail on it: it is left to fail when it runs, as a field error."""
    plan = prepare("{ books(limit: -1) { id } shelf(limit: 2) { id } }").plan
    ids = {n.path: n.id for n in plan.nodes.values()}
    assert set(plan.templates) == {ids["shelf",]}
    assert plan.templates[ids["shelf",]].limit == 2
