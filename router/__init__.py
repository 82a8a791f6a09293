"""The dbmesh router: one GraphQL endpoint that plans each query, fans out to the resolver
services over gRPC, batches nested fetches, falls back when a database is down and merges the
results (docs/reference.md §2, §4-§7).

Modules, one concern each: `schema` (GraphQL schema from the schema model), `planner` / `plan`
(the plan as data), `executor` (runs a plan), `requests` (arguments to contract requests),
`traffic` / `breaker` (deadlines, fallbacks, circuit breaking), `shaping` (the response),
`health` (background probes), `metrics`, `service` (the request pipeline), `http` (FastAPI).
"""

from dbmesh.router.http import create_app
from dbmesh.router.service import GraphQLRequest, Router

__all__ = ["GraphQLRequest", "Router", "create_app"]
