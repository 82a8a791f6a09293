"""The four measured requests: what is asked, and how a request body is built from customer ids.

Both targets get byte-for-byte the same POST bodies: the correctness check builds them here, and
wrk's Lua script builds them from the same `prefix` + ids joined by `separator` + `suffix`
(`BodyTemplate`), picking random ids from the generated customers.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

__all__ = ["BATCH_SIZE", "FANOUT_YEAR", "SCENARIOS", "BodyTemplate", "Scenario", "by_query"]

BATCH_SIZE = 100
FANOUT_YEAR = 2023

POINT = """query Point($id: ID!) {
  customer(id: $id) { id email name createdAt }
}"""

NESTED = """query Nested($id: ID!) {
  customer(id: $id) {
    id email name
    allOrders { id orderDate totalAmount items { productId quantity price } }
  }
}"""

BATCH = f"""query Batch($ids: [ID!]) {{
  customers(where: {{id: {{_in: $ids}}}}, limit: {BATCH_SIZE}) {{
    id email name
    allOrders {{ id orderDate totalAmount }}
  }}
}}"""

FANOUT = f"""query FanOut($id: ID!) {{
  customer(id: $id) {{ id email name }}
  historicalOrders(customerId: $id, year: {FANOUT_YEAR}) {{ id orderDate totalAmount }}
}}"""


@dataclass(frozen=True)
class BodyTemplate:
    """A POST body with its customer ids left out: `prefix + separator.join(ids) + suffix`."""

    prefix: str
    separator: str
    suffix: str

    def body(self, ids: Sequence[str]) -> bytes:
        return (self.prefix + self.separator.join(ids) + self.suffix).encode()


def _template(query: str, variable: str, many: bool) -> BodyTemplate:
    marker = "@@CUSTOMER-IDS@@"
    value: object = [marker] if many else marker
    text = orjson.dumps({"query": query, "variables": {variable: value}}).decode()
    prefix, suffix = text.split(marker)
    return BodyTemplate(prefix, '","' if many else "", suffix)


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    query: str
    variable: str
    ids_per_request: int

    @property
    def template(self) -> BodyTemplate:
        return _template(self.query, self.variable, self.ids_per_request > 1)

    def pick(self, rng: random.Random, ids: Sequence[str]) -> list[str]:
        return [rng.choice(ids) for _ in range(self.ids_per_request)]

    def body(self, ids: Sequence[str]) -> bytes:
        return self.template.body(ids)


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("point", "one customer by id (PostgreSQL)", POINT, "id", 1),
    Scenario(
        "nested",
        "a customer with its orders and their items (PostgreSQL, then MariaDB twice)",
        NESTED,
        "id",
        1,
    ),
    Scenario(
        "batch",
        f"{BATCH_SIZE} random customers with their orders (PostgreSQL, then MariaDB)",
        BATCH,
        "ids",
        BATCH_SIZE,
    ),
    Scenario(
        "fanout",
        f"two root fields on two databases: a customer and its {FANOUT_YEAR} orders",
        FANOUT,
        "id",
        1,
    ),
)


def by_query(query: str) -> Scenario | None:
    """The scenario whose query text is exactly `query`."""
    for scenario in SCENARIOS:
        if scenario.query == query:
            return scenario
    return None
