"""Per request, before any fetch: the `limit` of every list field against `max_limit`, and the
estimated cost of the plan against `max_cost` (docs/reference.md §14).

The cost is the number of rows the plan could fetch, summed over its fetches:
- a root list fetches at most its `limit`: the argument (a literal or a variable), else the
  field's schema default, else `default_limit`, else — unbounded — `UNBOUNDED_ROWS` (100) rows;
- a single object (a root field or a relation) fetches 1 row per parent row;
- a relation list fetches its limit per row of its parent fetch, else — unbounded —
  `UNBOUNDED_RELATION_ROWS` (10) rows per parent row (a one-to-many fan-out, as GraphQL cost
  analyses commonly assume for a list without a slicing argument);
- a composite root (`Virtual`) fetches nothing and has one row.
So `customers(limit: 10) { allOrders(limit: 5) { customer { name } } }` costs 10 + 10*5 + 10*5*1
= 110, `customer(id: ...) { allOrders { items { quantity } } }` 1 + 10 + 10*10 = 111, and a
thousand customers with their orders and items 1000 + 10,000 + 100,000 = 111,000. Assuming
`max_limit` for an unbounded list instead would refuse such ordinary queries (10**8 and more with
the defaults); deep unbounded nesting is still refused (customers -> allOrders -> customer ->
allOrders ... six levels down costs over 10**8), and what an assumption underestimates is stopped
while fetching by `max_response_rows` (`router.budget`). A limit
depends on variables, so this runs per request; it reads each plan node once.

Errors: a `limit` above `max_limit` is BAD_USER_INPUT `"<field path>: limit must be at most N
(got M)"`; a cost above `max_cost` is QUERY_TOO_COMPLEX `"Query is too complex: estimated cost C
rows exceeds the maximum of N."`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dbmesh.config import RouterConfig
from dbmesh.router.graphql_errors import request_error
from dbmesh.router.plan import BatchedJoin, Fetch, Plan, Virtual
from dbmesh.router.requests import effective_limit, resolve_arguments

__all__ = ["UNBOUNDED_RELATION_ROWS", "UNBOUNDED_ROWS", "Refused", "estimate", "request_limits"]

UNBOUNDED_ROWS = 100
UNBOUNDED_RELATION_ROWS = 10


class Refused(Exception):
    """A request refused by a limit before any fetch: its GraphQL error."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error["message"])
        self.error = error


def _limit(fetch: Fetch, variables: Mapping[str, Any], config: RouterConfig) -> int:
    """The most rows `fetch` returns per parent row."""
    if not fetch.many:
        return 1
    template = dict(fetch.arguments).get("limit")
    limit = effective_limit(resolve_arguments(template, variables), fetch.many, config.default_limit)
    if limit is None:
        return UNBOUNDED_ROWS if fetch.owner == "Query" else UNBOUNDED_RELATION_ROWS
    limit = int(limit)
    if limit > config.max_limit:
        path = ".".join(fetch.path)
        raise Refused(
            request_error(f"{path}: limit must be at most {config.max_limit} (got {limit})", "BAD_USER_INPUT")
        )
    return max(limit, 0)


def estimate(plan: Plan, variables: Mapping[str, Any], config: RouterConfig) -> int:
    """The rows `plan` could fetch (see the module docstring); raises `Refused` for a limit above
    `max_limit`. Parents have smaller ids than their children, so one pass in id order suffices."""
    rows: dict[int, int] = {}
    cost = 0
    for node_id in sorted(plan.nodes):
        node = plan.nodes[node_id]
        if isinstance(node, Virtual):
            rows[node_id] = 1
            continue
        fetch = node.fetch if isinstance(node, BatchedJoin) else node
        parent_rows = rows.get(node.parent, 0) if isinstance(node, BatchedJoin) else 1
        rows[node_id] = parent_rows * _limit(fetch, variables, config)
        cost += rows[node_id]
    return cost


def request_limits(plan: Plan, variables: Mapping[str, Any], config: RouterConfig) -> dict[str, Any] | None:
    """The error refusing this request of `plan` before any fetch, or None."""
    try:
        cost = estimate(plan, variables, config)
    except Refused as refused:
        return refused.error
    if cost > config.max_cost:
        return request_error(
            f"Query is too complex: estimated cost {cost} rows exceeds the maximum of {config.max_cost}.",
            "QUERY_TOO_COMPLEX",
        )
    return None
