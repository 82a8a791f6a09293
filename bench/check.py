"""Before anything is timed: the mesh and the baseline must return EQUAL data.

For every scenario, `samples` requests built from seeded random customer ids go to both targets
with tracing on; the `data` of the two answers must be equal (same keys, same values, same order),
neither may carry `errors`, and the answers must not be trivially empty. Any difference raises
`Mismatch` naming the scenario, the request and the first differing path. The traces also give
the statements each request ran: the mesh's `extensions.trace.routes` against its plan's fetch
count, and the baseline's own count.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from bench.scenarios import SCENARIOS, Scenario

__all__ = ["Mismatch", "ScenarioCheck", "check", "first_difference"]


class Mismatch(AssertionError):
    """The mesh and the baseline disagree (or one of them failed)."""


@dataclass
class ScenarioCheck:
    scenario: str
    samples: int = 0
    plan_fetches: int = 0
    mesh_statements: list[int] = field(default_factory=list)
    baseline_statements: list[int] = field(default_factory=list)
    mesh_sql: list[str] = field(default_factory=list)  # the first traced request's statements
    baseline_sql: list[str] = field(default_factory=list)

    @property
    def statements_match_plan(self) -> bool:
        return bool(self.mesh_statements) and all(n == self.plan_fetches for n in self.mesh_statements)

    def as_json(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "plan_fetches": self.plan_fetches,
            "mesh_statements": sorted(set(self.mesh_statements)),
            "baseline_statements": sorted(set(self.baseline_statements)),
            "statements_match_plan": self.statements_match_plan,
            "mesh_sql": self.mesh_sql,
            "baseline_sql": self.baseline_sql,
        }


def first_difference(a: Any, b: Any, path: str = "data") -> str | None:
    """The path of the first difference between two JSON values, with both values; None if equal."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            if key not in a or key not in b:
                return f"{path}.{key}: only in {'mesh' if key in a else 'baseline'}"
            if (found := first_difference(a[key], b[key], f"{path}.{key}")) is not None:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            if (found := first_difference(x, y, f"{path}[{i}]")) is not None:
                return found
        return None if len(a) == len(b) else f"{path}: {len(a)} items in the mesh, {len(b)} in the baseline"
    if a == b and type(a) is type(b):
        return None
    return f"{path}: mesh {a!r} != baseline {b!r}"


def _non_trivial(scenario: str, data: dict[str, Any]) -> bool:
    """Whether an answer has the rows the scenario is about (so two empty answers cannot agree)."""
    if scenario == "point":
        return data.get("customer") is not None
    if scenario == "nested":
        customer = data.get("customer") or {}
        return any(order["items"] for order in customer.get("allOrders") or [])
    if scenario == "batch":
        return any(c["allOrders"] for c in data.get("customers") or [])
    return data.get("customer") is not None and bool(data.get("historicalOrders"))


async def _post(client: httpx.AsyncClient, url: str, target: str, payload: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(url, content=orjson.dumps(payload), headers={"content-type": "application/json"})
    if response.status_code != 200:
        raise Mismatch(f"{target} answered HTTP {response.status_code}: {response.text[:500]}")
    body: dict[str, Any] = response.json()
    if body.get("errors"):
        raise Mismatch(f"{target} answered with errors: {orjson.dumps(body['errors']).decode()[:1000]}")
    return body


async def _check_scenario(
    client: httpx.AsyncClient,
    scenario: Scenario,
    mesh_url: str,
    baseline_url: str,
    ids: Sequence[str],
    samples: int,
    seed: int,
) -> ScenarioCheck:
    rng = random.Random(f"{seed}:{scenario.name}")
    result = ScenarioCheck(scenario.name)
    non_trivial = 0
    for sample in range(samples):
        payload = orjson.loads(scenario.body(scenario.pick(rng, ids)))
        payload["extensions"] = {"trace": True}
        mesh = await _post(client, mesh_url, "the mesh", payload)
        direct = await _post(client, baseline_url, "the baseline", payload)
        difference = first_difference(mesh.get("data"), direct.get("data"))
        if difference is not None:
            raise Mismatch(
                f"scenario {scenario.name!r}, sample {sample}: the mesh and the baseline disagree at {difference}\n"
                f"variables: {orjson.dumps(payload['variables']).decode()[:600]}"
            )
        non_trivial += _non_trivial(scenario.name, mesh["data"])
        trace = mesh["extensions"]["trace"]
        routes = trace["routes"]
        result.plan_fetches = int(trace["plan"]["fetches"])
        result.mesh_statements.append(len(routes))
        baseline_routes = direct["extensions"]["trace"]["routes"]
        result.baseline_statements.append(len(baseline_routes))
        if sample == 0:
            result.mesh_sql = [f"{r['database']}: {r['query']}" for r in routes]
            result.baseline_sql = [f"{r['database']}: {r['query']}" for r in baseline_routes]
        result.samples += 1
    if samples and non_trivial == 0:
        raise Mismatch(f"scenario {scenario.name!r}: all {samples} sampled answers were empty; the data is wrong")
    return result


async def check(
    mesh_url: str, baseline_url: str, ids: Sequence[str], samples: int = 20, seed: int = 1
) -> dict[str, ScenarioCheck]:
    """Compare the two targets on `samples` requests per scenario; raises `Mismatch`."""
    async with httpx.AsyncClient(timeout=120) as client:
        return {s.name: await _check_scenario(client, s, mesh_url, baseline_url, ids, samples, seed) for s in SCENARIOS}
