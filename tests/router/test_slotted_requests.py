"""Slotted requests (router.requests `Slotted`): the request of a fetch whose variables are only
comparison values is built once per plan and each execution sets its own values in a copy. What
an execution gets must be what `build_request` builds from its variables, and nothing one
execution did (its values, a role's row filter ANDed into its copy) may reach another's."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from graphql import Undefined

from dbmesh.config import RouterConfig
from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.router.plan import BatchedJoin, Fetch, Plan
from dbmesh.router.preparation import Preparation
from dbmesh.router.requests import all_of, build_request, resolve_arguments
from dbmesh.router.schema import build_graphql_schema
from dbmesh.schema import load_schema

UUID_A = "6b1e9a52-3f0e-4d7e-9d55-0b3c1d2e4f60"
UUID_B = "0f5c2d3e-1a2b-4c5d-8e9f-a0b1c2d3e4f5"


@pytest.fixture(scope="module")
def preparation() -> Preparation:
    path = Path(str(resources.files("dbmesh.demo").joinpath("schema.py")))
    schema, index = build_graphql_schema(load_schema(path, ["postgres_primary", "mysql_historical", "sqlite_cache"]))
    return Preparation(schema, index, RouterConfig())


def _plan(preparation: Preparation, query: str, variables: dict[str, Any]) -> tuple[Plan, dict[str, Any]]:
    prepared = preparation.prepare(query, None, variables)
    assert not hasattr(prepared, "errors"), prepared
    return prepared.plan, prepared.variables  # type: ignore[union-attr]


def _built(preparation: Preparation, node: Fetch | BatchedJoin, variables: dict[str, Any]) -> pb.QueryRequest:
    """What the executor builds without a slotted request (executor `_unfiltered`)."""
    fetch = node.fetch if isinstance(node, BatchedJoin) else node
    arguments = {
        name: value
        for name, template in fetch.arguments
        if (value := resolve_arguments(template, variables)) is not Undefined
    }
    return build_request(node, preparation.planner.index, arguments)


CASES = [
    ("query ($id: ID!) { customer(id: $id) { id name } }", [{"id": UUID_A}, {"id": UUID_B}, {"id": "not-a-uuid"}]),
    (
        "query ($c: ID!, $y: Int!) { historicalOrders(customerId: $c, year: $y) { id } }",
        [{"c": "c1", "y": 2024}, {"c": "c2", "y": 1999}],
    ),
    (
        "query ($y: Int!) { customers(limit: 3) { id historicalOrders(year: $y) { id } } }",
        [{"y": 2023}, {"y": 2024}],
    ),
]


@pytest.mark.parametrize(("query", "runs"), CASES)
def test_a_slotted_request_is_what_build_request_builds(
    preparation: Preparation, query: str, runs: list[dict[str, Any]]
) -> None:
    for variables in runs:
        plan, coerced = _plan(preparation, query, variables)
        slotted = [n for n in plan.nodes.values() if n.id in plan.slotted]
        assert slotted, "the fetch reading the variables has a slotted request"
        for node in slotted:
            assert isinstance(node, (Fetch, BatchedJoin))
            filled = plan.slotted[node.id].fill(coerced)
            assert filled is not None
            assert filled == _built(preparation, node, coerced)


def test_one_executions_values_and_row_filter_do_not_reach_the_next(preparation: Preparation) -> None:
    query = "query ($id: ID!) { customer(id: $id) { id name } }"
    plan, first = _plan(preparation, query, {"id": UUID_A})
    (node_id,) = plan.slotted
    slotted = plan.slotted[node_id]
    template_before = pb.QueryRequest()
    template_before.CopyFrom(slotted.request)

    mine = slotted.fill(first)
    assert mine is not None and UUID_A in str(mine)
    # what the executor does for a role with a row filter: AND it into the execution's copy
    role_filter = pb.Expression(
        comparison=pb.Comparison(
            column="region", operator=pb.OPERATOR_EQ, operand=pb.Operand(value=pb.Value(string="EU-only"))
        )
    )
    combined = all_of([mine.predicate, role_filter])
    assert combined is not None
    mine.predicate.CopyFrom(combined)
    mine.limit = 999

    plan_again, second = _plan(preparation, query, {"id": UUID_B})
    assert plan_again is plan  # the plan cache hands out the same plan, and its slotted request
    theirs = plan.slotted[node_id].fill(second)
    assert theirs is not None
    assert UUID_A not in str(theirs) and "EU-only" not in str(theirs) and theirs.limit != 999
    assert theirs == _built(preparation, plan.nodes[node_id], second)  # type: ignore[arg-type]
    assert slotted.request == template_before


def test_a_null_or_missing_value_falls_back_to_building_the_request(preparation: Preparation) -> None:
    query = "query ($c: ID) { orders(customerId: $c) { id } }"
    plan, coerced = _plan(preparation, query, {"c": None})
    (node_id,) = plan.slotted
    assert plan.slotted[node_id].fill(coerced) is None  # the filter drops out: another shape
    assert plan.slotted[node_id].fill({}) is None
    built = _built(preparation, plan.nodes[node_id], coerced)  # type: ignore[arg-type]
    assert not built.HasField("predicate")


def test_fetches_whose_variables_shape_the_request_are_not_slotted(preparation: Preparation) -> None:
    for query, variables in [
        ("query ($n: Int) { customers(limit: $n) { id } }", {"n": 2}),
        ('query ($c: ID) { orders(customerId: $c, where: {id: {_eq: "x"}}) { id } }', {"c": "c1"}),
    ]:
        plan, _ = _plan(preparation, query, variables)
        assert not plan.slotted, query
