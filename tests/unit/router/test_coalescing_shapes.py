"""The shape a fetch coalesces by (router.coalescing.shaped): its literal `column = value`
conjuncts become variables, so requests that differ only in those values share a shape and each
keeps its values as its own variable set; anything else about a request keeps it apart."""

from __future__ import annotations

from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.router.coalescing import shaped
from dbmesh.router.requests import all_of


def _eq(column: str, value: pb.Value, operator: int = pb.OPERATOR_EQ) -> pb.Expression:
    return pb.Expression(comparison=pb.Comparison(column=column, operator=operator, operand=pb.Operand(value=value)))  # type: ignore[arg-type]


def _request(*conjuncts: pb.Expression, limit: int | None = None) -> pb.QueryRequest:
    request = pb.QueryRequest(collection="customers", columns=[pb.ColumnRef(name="id")], limit=limit)
    if (predicate := all_of(list(conjuncts))) is not None:
        request.predicate.CopyFrom(predicate)
    return request


def _key(request: pb.QueryRequest) -> bytes:
    found = shaped(request)
    assert found is not None
    return found[0].SerializeToString(deterministic=True)


def test_requests_that_differ_in_values_share_a_shape_and_keep_their_values() -> None:
    one = _request(_eq("id", pb.Value(uuid="00000000-0000-0000-0000-000000000001")), _eq("n", pb.Value(int=1)))
    two = _request(_eq("id", pb.Value(uuid="00000000-0000-0000-0000-000000000002")), _eq("n", pb.Value(int=2)))
    assert _key(one) == _key(two)
    found = shaped(two)
    assert found is not None
    shape, sets = found
    assert [c.comparison.operand.variable for c in getattr(shape.predicate, "and").expressions] == [
        "dbmesh_c0",
        "dbmesh_c1",
    ]
    assert [dict(s.values) for s in sets] == [
        {"dbmesh_c0": pb.Value(uuid="00000000-0000-0000-0000-000000000002"), "dbmesh_c1": pb.Value(int=2)}
    ]
    assert getattr(two.predicate, "and").expressions[1].comparison.operand.value.int == 2  # the request is untouched


def test_strings_stay_in_the_shape() -> None:
    # PostgreSQL's char(n) compares 'ab' equal to 'ab  ': a key match by text would miss the row.
    assert _key(_request(_eq("code", pb.Value(string="a")))) != _key(_request(_eq("code", pb.Value(string="b"))))
    found = shaped(_request(_eq("code", pb.Value(string="a"))))
    assert found is not None and [dict(s.values) for s in found[1]] == [{}]


def test_other_operators_kinds_paging_and_columns_stay_in_the_shape() -> None:
    base = _key(_request(_eq("id", pb.Value(int=1))))
    assert _key(_request(_eq("id", pb.Value(int=2)))) == base
    assert _key(_request(_eq("id", pb.Value(int=1), pb.OPERATOR_GT))) != _key(
        _request(_eq("id", pb.Value(int=2), pb.OPERATOR_GT))
    )
    assert _key(_request(_eq("price", pb.Value(float=1.5)))) != _key(_request(_eq("price", pb.Value(float=2.5))))
    assert _key(_request(_eq("id", pb.Value(null=True)))) != base  # `= null` is IS NULL, not a key
    assert _key(_request(_eq("id", pb.Value(int=1)), limit=2)) != base


def test_own_variable_sets_each_get_the_literal_values() -> None:
    request = _request(_eq("tenant", pb.Value(int=7)))
    request.variables.extend([pb.VariableSet(values={"k0": pb.Value(int=i)}) for i in (1, 2)])
    found = shaped(request)
    assert found is not None
    assert not found[0].variables
    assert [dict(s.values) for s in found[1]] == [{"k0": pb.Value(int=i), "dbmesh_c0": pb.Value(int=7)} for i in (1, 2)]


def _nesting(child: pb.QueryRequest, parent: pb.QueryRequest) -> pb.QueryRequest:
    parent.nested.append(pb.NestedQuery(request=child, keys=[pb.NestedKey(variable="k0", parent_column=0)]))
    return parent


def test_nested_requests_are_part_of_the_shape() -> None:
    one = _nesting(_request(limit=5), _request(_eq("id", pb.Value(int=1))))
    two = _nesting(_request(limit=5), _request(_eq("id", pb.Value(int=2))))
    other = _nesting(_request(limit=6), _request(_eq("id", pb.Value(int=1))))
    assert _key(one) == _key(two) != _key(other)
    assert _key(one) != _key(_request(_eq("id", pb.Value(int=1))))


def test_transactions_replicas_and_clashing_names_never_join() -> None:
    assert shaped(pb.QueryRequest(collection="c", transaction_id="t1")) is None
    assert shaped(pb.QueryRequest(collection="c", replica="h:1")) is None
    clash = _request()
    clash.variables.append(pb.VariableSet(values={"dbmesh_c0": pb.Value(int=1)}))
    assert shaped(clash) is None
