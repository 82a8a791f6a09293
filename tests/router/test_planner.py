"""The planner, with no network (STYLE: the plan is data): a document goes in, a plan comes out.

Each folder under samples/ holds a query against the demo schema and the plan it must produce
(set DBMESH_UPDATE_SNAPSHOTS=1 to rewrite plan.json after an intended change, then review it).
The tests below the snapshot test state the properties that matter in plain assertions."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from importlib import resources
from pathlib import Path

import pytest

from dbmesh.config import RouterConfig
from dbmesh.router.plan import BatchedJoin, Fetch, Parallel, Plan, Sequence, Virtual, plan_to_json
from dbmesh.router.planner import Planner, _nestable
from dbmesh.router.preparation import Preparation
from dbmesh.router.schema import build_graphql_schema
from dbmesh.schema import load_schema

SAMPLES = Path(__file__).parent / "samples"
CASES = sorted(p.name for p in SAMPLES.iterdir() if (p / "query.graphql").exists())


@pytest.fixture(scope="module")
def planner() -> Planner:
    path = Path(str(resources.files("dbmesh.demo").joinpath("schema.py")))
    schema, index = build_graphql_schema(load_schema(path, ["postgres_primary", "mysql_historical", "sqlite_cache"]))
    return Planner(schema, index)


def _plan(planner: Planner, query: str, variables: dict[str, object] | None = None) -> Plan:
    """The plan of `query` through the router's own pipeline (validated, variables coerced)."""
    return Preparation(planner.schema, planner.index, RouterConfig()).plan(query, None, variables)


@pytest.mark.parametrize("case", CASES)
def test_plan_snapshot(planner: Planner, case: str) -> None:
    folder = SAMPLES / case
    plan = _plan(planner, (folder / "query.graphql").read_text())
    produced = json.dumps(plan_to_json(plan, with_selections=True), indent=2) + "\n"
    if os.environ.get("DBMESH_UPDATE_SNAPSHOTS") == "1":
        (folder / "plan.json").write_text(produced)
    assert produced == (folder / "plan.json").read_text()


def test_nested_relations_are_one_batched_join_per_relation_and_level(planner: Planner) -> None:
    plan = _plan(planner, (SAMPLES / "nested_batched_joins" / "query.graphql").read_text())
    nodes = plan.nodes
    assert plan.fetch_count == 5
    joins = {n.path: n for n in nodes.values() if isinstance(n, BatchedJoin)}
    assert set(joins) == {
        ("customers", "allOrders"),
        ("customers", "allOrders", "items"),
        ("customers", "allOrders", "customer"),
        ("customers", "details"),
    }
    orders = joins[("customers", "allOrders")]
    assert orders.fetch.database == "mysql_historical" and orders.fetch.collection == "orders"
    # only what was asked, plus the keys the children join on
    assert [c.name for c in orders.fetch.columns] == ["total_amount", "id", "customer_id"]
    assert dict(orders.fetch.arguments)["limit"] == 5
    root = next(n for n in nodes.values() if isinstance(n, Fetch))
    assert [c.name for c in root.columns] == ["email", "id"]
    assert isinstance(plan.root, Sequence) and isinstance(plan.root.nodes[1], Parallel)


def test_independent_root_fields_run_in_parallel(planner: Planner) -> None:
    plan = _plan(planner, (SAMPLES / "two_roots_in_parallel" / "query.graphql").read_text())
    assert isinstance(plan.root, Parallel)
    assert [n.database for n in plan.root.nodes if isinstance(n, Fetch)] == ["postgres_primary", "mysql_historical"]


def test_composite_root_is_virtual_and_its_relations_join_on_arguments(planner: Planner) -> None:
    plan = _plan(planner, (SAMPLES / "composite_type" / "query.graphql").read_text())
    virtual = next(n for n in plan.nodes.values() if isinstance(n, Virtual))
    assert virtual.type == "CustomerWithHistory"
    joins = [n for n in plan.nodes.values() if isinstance(n, BatchedJoin)]
    assert {(j.fetch.database, j.join[0][0]) for j in joins} == {
        ("postgres_primary", "id"),
        ("mysql_historical", "customer_id"),
    }
    assert all(j.parent == virtual.id for j in joins)
    assert plan.fetch_count == 2  # the virtual object costs no fetch


def test_directives_decide_what_is_fetched(planner: Planner) -> None:
    query = (SAMPLES / "include_with_variable" / "query.graphql").read_text()
    assert _plan(planner, query, {"withOrders": False}).fetch_count == 1
    assert _plan(planner, query, {"withOrders": True}).fetch_count == 2


def test_fields_with_one_response_key_merge(planner: Planner) -> None:
    plan = _plan(planner, (SAMPLES / "fragments_and_aliases_merge" / "query.graphql").read_text())
    a = next(s for s in plan.selections if s.key == "a")
    orders = next(s for s in a.selections if s.key == "allOrders")
    assert [s.key for s in orders.selections] == ["totalAmount", "id"]  # both selections, one fetch
    assert plan.fetch_count == 3


def test_introspection_and_status_need_no_fetch(planner: Planner) -> None:
    plan = _plan(planner, (SAMPLES / "introspection_only" / "query.graphql").read_text())
    assert plan.fetch_count == 0 and plan.root is None and plan.introspection


def test_thousands_of_aliases_plan_with_offsets_not_lines(planner: Planner) -> None:
    """Each field keeps only its offset in the text: planning does not scan the text per field."""
    query = "{\n" + "\n".join(f'  a{i}: customer(id: "{i}") {{ name }}' for i in range(2500)) + "\n}"
    config = RouterConfig(max_aliases=2500, max_root_fields=2500, max_tokens=40_000)
    plan = Preparation(planner.schema, planner.index, config).plan(query)
    assert plan.fetch_count == 2500
    assert [s.offset for s in plan.selections] == [query.index(f"a{i}:") for i in range(2500)]
    assert plan.selections[7].selections[0].offset == query.index("name", query.index("a7:"))


def test_a_relation_served_by_its_parents_databases_is_nested_in_the_parents_fetch(planner: Planner) -> None:
    plan = _plan(planner, (SAMPLES / "nested_batched_joins" / "query.graphql").read_text())
    by_path = {n.path: n for n in plan.nodes.values() if isinstance(n, (Fetch, BatchedJoin))}
    orders = by_path[("customers", "allOrders")]
    assert isinstance(orders, BatchedJoin)
    # items: mysql_historical like its orders -> one call; customer (postgres_primary -> sqlite_cache)
    # and details (postgres_primary alone, unlike customers' chain) -> calls of their own.
    assert [n.path for n in orders.fetch.nested] == [("customers", "allOrders", "items")]
    customers = by_path[("customers",)]
    assert isinstance(customers, Fetch) and customers.nested == ()
    walked: list[tuple[str, ...]] = []

    def walk(node: object) -> None:
        if isinstance(node, (Sequence, Parallel)):
            for child in node.nodes:
                walk(child)
        elif isinstance(node, (Fetch, BatchedJoin)):
            walked.append(node.path)

    walk(plan.root)
    assert ("customers", "allOrders", "items") not in walked  # it runs inside its parent's call
    assert plan.fetch_count == 5  # still a fetch of the plan: costed, filtered, traced as one


def test_no_nesting_across_a_not_found_fallback_or_another_chain() -> None:
    def fetch(database: str, fallbacks: tuple[str, ...] = (), fallback_on: tuple[str, ...] = ("unavailable",)) -> Fetch:
        return Fetch(1, ("x",), "x", "Query", "T", database, fallbacks, fallback_on, "read_primary", "t", (), False)

    parent = fetch("pg", ("cache",))
    child = BatchedJoin(replace(fetch("pg", ("cache",)), id=2, many=True), 1, (("a", 0),), ("ID",))
    assert _nestable(parent, child)
    assert not _nestable(parent, replace(child, fetch=replace(child.fetch, fallbacks=())))
    assert not _nestable(parent, replace(child, fetch=replace(child.fetch, affinity="read_replica")))
    per_key = replace(child.fetch, many=False, fallback_on=("not_found", "unavailable"))
    assert not _nestable(parent, replace(child, fetch=per_key))
    assert not _nestable(replace(parent, fallback_on=("not_found", "unavailable")), child)
