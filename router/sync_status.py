"""The built-in `syncStatus` field (docs/reference.md §12): one entry per `[[sync]]` job of the config,
in config order, read when a request asks for it from the job's state row in its target
(`dbmesh_sync_state`, dbmesh.sync.state) through the router's resolver clients.

    type SyncStatus { name: String!  lastRun: DateTime  rows: Int  highWaterMark: String
                      lagSeconds: Float  error: String }

`rows` is what the last run copied, `highWaterMark` the JSON of its tuple cursor, `lagSeconds` the
time since the last run started, `error` the last run's error, or why the state could not be read.
A job that never ran (its target has no state table or row yet) has only its name.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from graphql import GraphQLField, GraphQLFloat, GraphQLInt, GraphQLNonNull, GraphQLObjectType, GraphQLString

from dbmesh.config import Config
from dbmesh.resolver.client import CallError, ResolverClient
from dbmesh.router.scalars import DateTimeScalar
from dbmesh.sync.config import SyncJob
from dbmesh.sync.runner import lag_seconds
from dbmesh.sync.state import read_state

__all__ = ["SYNC_STATUS", "SyncStatusReader", "sync_status_type"]

SYNC_STATUS = "syncStatus"


def sync_status_type() -> GraphQLObjectType:
    return GraphQLObjectType(
        "SyncStatus",
        {
            "name": GraphQLField(GraphQLNonNull(GraphQLString)),
            "lastRun": GraphQLField(DateTimeScalar, description="When the last run finished."),
            "rows": GraphQLField(GraphQLInt, description="Rows the last run copied."),
            "highWaterMark": GraphQLField(GraphQLString, description="The tuple cursor reached, as JSON."),
            "lagSeconds": GraphQLField(GraphQLFloat, description="Seconds since the last run started."),
            "error": GraphQLField(GraphQLString, description="The last run's error, or why it cannot be read."),
        },
        description="A [[sync]] job, from its state in its target (docs/reference.md §12).",
    )


class SyncStatusReader:
    def __init__(self, config: Config, clients: Mapping[str, ResolverClient]) -> None:
        self.jobs = config.sync
        self.clients = clients

    async def read(self) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(self._entry(job) for job in self.jobs)))

    async def _entry(self, job: SyncJob) -> dict[str, Any]:
        entry: dict[str, Any] = dict.fromkeys(("lastRun", "rows", "highWaterMark", "lagSeconds", "error"))
        entry["name"] = job.name
        try:
            state = await read_state(self.clients[job.target], job.name)
        except CallError as exc:
            if exc.code != "BAD_USER_INPUT":  # no state table yet: never run
                entry["error"] = exc.message
            return entry
        if state.last_run_at is not None:
            entry["lastRun"] = datetime.fromtimestamp(state.last_run_at / 1000, UTC).isoformat().replace("+00:00", "Z")
        entry["rows"] = state.last_rows
        entry["highWaterMark"] = None if state.high_water is None else orjson.dumps(state.high_water).decode()
        entry["lagSeconds"] = lag_seconds(state, time.time())
        entry["error"] = state.last_error
        return entry
