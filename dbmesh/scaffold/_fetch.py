"""Each database's schema as its resolver reports it (GetSchema, docs/reference.md §8), for
`dbmesh init` (§15): from resolver processes started as `dbmesh up` starts them, on free local
ports (the `resolver` keys may name remote hosts or a running mesh's ports), or with `running`
from the resolvers already serving at the databases' `resolver` addresses."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import sys
from collections.abc import Sequence

from dbmesh.config import Config, DatabaseConfig
from dbmesh.errors import ConfigError, DbmeshError
from dbmesh.resolver.client import CallError, ResolverClient
from dbmesh.resolver.v1 import resolver_pb2 as pb

__all__ = ["fetch_schemas"]


async def fetch_schemas(config: Config, config_path: str, *, running: bool) -> dict[str, pb.Schema]:
    """database name -> its schema; the first database that cannot be read is a `DbmeshError`."""
    if running:
        missing = [d.name for d in config.databases if not d.resolver]
        if missing:
            raise ConfigError(
                f"{config.source}: database {missing[0]!r} has no 'resolver' address "
                "(dbmesh init --running asks the resolvers there)"
            )
        return await _ask(config.databases, config)
    from dbmesh.supervisor import Supervisor

    config.check_connections()  # one line now, not one per resolver's log
    local = tuple(dataclasses.replace(d, resolver=None) for d in config.databases)
    supervisor = Supervisor(config_path, dataclasses.replace(config, databases=local))
    try:
        with contextlib.redirect_stdout(sys.stderr):  # its progress lines; stdout says what was written
            addresses = await supervisor.start()
        return await _ask([d.with_resolver(addresses[d.name]) for d in config.databases], config)
    finally:
        await supervisor.stop()


async def _ask(databases: Sequence[DatabaseConfig], config: Config) -> dict[str, pb.Schema]:
    clients = [ResolverClient(d, config.mesh) for d in databases]
    try:
        answers = await asyncio.gather(*(c.schema() for c in clients), return_exceptions=True)
    finally:
        for client in clients:
            await client.close()
    schemas: dict[str, pb.Schema] = {}
    for db, answer in zip(databases, answers, strict=True):
        if isinstance(answer, CallError):
            raise DbmeshError(f"cannot introspect: {_reason(answer, db.name)}")
        if isinstance(answer, BaseException):
            raise answer
        schemas[db.name] = answer
    return schemas


def _reason(error: CallError, database: str) -> str:
    """The resolver's own sentence when it answered one (it names the database, never a DSN or a
    password): the client's message for an UNAVAILABLE that mentions a refused connection says
    the resolver cannot be reached even when it is the database that refused."""
    return error.detail if error.detail.startswith(f"database {database!r}") else str(error)
