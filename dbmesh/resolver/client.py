"""The client of the resolver services (docs/reference.md §8), shared by everything that calls them:
the router, and jobs that are not GraphQL (sync, reconciliation, the transaction coordinator).
None of them imports another's code to reach a database.

One `ResolverClient` per database: one gRPC channel (HTTP/2 multiplexes every concurrent call),
the database's deadline (`timeout_secs`) on every call, and the request's W3C trace context in the
`traceparent` metadata key. With `[mesh]` (dbmesh/mesh.py) its channels send the mesh token on every
call and speak TLS.

A database whose `resolver` names several replicas (docs/reference.md §15: an array of addresses,
or `dns:///NAME:PORT`, re-resolved by gRPC as replicas come and go) gets two channels over them:

* reads (Query outside a transaction, Status, GetSchema, Recover) go over a `round_robin`
  channel, which spreads calls over every replica that is connected; a read that fails because
  the replica it reached is unreachable (UNAVAILABLE from the transport, not the resolver's own
  "database 'x' ..." message) is tried again on the next replica, up to one attempt per listed
  replica (`DNS_READ_ATTEMPTS` for `dns:///`), within the call's one deadline;
* writes and transactions (Mutate, Begin, a Query inside a transaction, Prepare, Commit,
  Rollback, EnsureSystemTables) go over a `pick_first` channel, `stub`, which keeps to one
  replica while it is connected, so a transaction's calls reach the replica holding it; they
  are never retried.

`call_error` is the one place a `grpc.aio.AioRpcError` becomes a dbmesh error:

    CallError                       a call to one database's resolver failed
     ├── DATABASE_UNAVAILABLE       the resolver or its database cannot be reached, the call was
     │                              cancelled, or the resolver refused the mesh token
     │                              (`unavailable`: fallbacks apply)
     ├── DATABASE_TIMEOUT           the deadline passed (`unavailable` too)
     ├── READ_ONLY_DATABASE         a write to a database that refuses writes
     ├── PERMISSION_DENIED          the database refused the statement (privileges)
     ├── BAD_USER_INPUT             the resolver refused the request (INVALID_ARGUMENT)
     ├── CONSTRAINT_VIOLATION       a write broke a constraint (FAILED_PRECONDITION, ALREADY_EXISTS)
     ├── DATABASE_BUSY              the resolver is at a limit (RESOURCE_EXHAUSTED: open transactions)
     └── DATABASE_ERROR             anything else the database said
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import grpc

from dbmesh.config import DatabaseConfig
from dbmesh.errors import CodedError
from dbmesh.mesh import MeshConfig, channel
from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.resolver.v1 import resolver_pb2_grpc as pb_grpc

__all__ = ["DNS_READ_ATTEMPTS", "CallError", "ResolverClient", "call_error", "replica_unreachable"]

# Attempts of one read over `dns:///` replicas, whose number the client does not know.
DNS_READ_ATTEMPTS = 3

_OPTIONS = [
    ("grpc.max_receive_message_length", 256 * 1024 * 1024),
    ("grpc.keepalive_time_ms", 30_000),
    # Reconnect quickly once a resolver is back (the default backoff grows to two minutes).
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2_000),
]

_ROUND_ROBIN = ("grpc.service_config", json.dumps({"loadBalancingConfig": [{"round_robin": {}}]}))

# The resolver says this (services/errors.py) when a database refused a write for lack of rights
# rather than because the database is configured read-only.
_READ_ONLY_PREFIX = "read-only"


class CallError(CodedError):
    def __init__(self, database: str, code: str, message: str, *, unavailable: bool = False, detail: str = "") -> None:
        super().__init__(message)
        self.database = database
        self.code = code
        self.unavailable = unavailable
        self.detail = detail or message  # what the resolver or gRPC said, for logs only
        # Every database tried before giving up, this one last (set by a fallback chain).
        self.attempts: list[Any] = []


def call_error(exc: grpc.aio.AioRpcError, database: str) -> CallError:
    """The dbmesh error for a failed call to `database`'s resolver."""
    error = _classify(exc, database)
    error.detail = exc.details() or exc.code().name
    return error


def replica_unreachable(exc: grpc.aio.AioRpcError, database: str) -> bool:
    """Whether a call failed because the replica it reached could not be reached (or went away),
    rather than because the resolver answered that its database is unavailable."""
    details = exc.details() or ""
    return exc.code() == grpc.StatusCode.UNAVAILABLE and not details.startswith(f"database {database!r}")


def _classify(exc: grpc.aio.AioRpcError, database: str) -> CallError:
    code = exc.code()
    details = exc.details() or ""
    if code == grpc.StatusCode.UNAVAILABLE:
        if details.startswith(f"database {database!r}"):
            # The resolver answered: its own message names the database and why it is unreachable.
            message = details
        else:  # gRPC itself: the resolver cannot be reached
            if "failed to connect" in details.lower() or "connection refused" in details.lower():
                details = "its resolver cannot be reached"
            message = f"database {database!r} is unavailable: {details}"
        return CallError(database, "DATABASE_UNAVAILABLE", message, unavailable=True)
    if code == grpc.StatusCode.UNAUTHENTICATED:  # never says why: the token is not echoed anywhere
        message = f"database {database!r} is unavailable: its resolver refused the mesh token ([mesh] token)"
        return CallError(database, "DATABASE_UNAVAILABLE", message, unavailable=True)
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return CallError(
            database, "DATABASE_TIMEOUT", f"database {database!r} did not answer in time", unavailable=True
        )
    if code == grpc.StatusCode.PERMISSION_DENIED:
        if details.startswith(_READ_ONLY_PREFIX):
            return CallError(database, "READ_ONLY_DATABASE", f"database {database!r} is read-only")
        return CallError(database, "PERMISSION_DENIED", f"database {database!r} refused the statement: {details}")
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return CallError(database, "DATABASE_BUSY", f"database {database!r} is busy: {details}")
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return CallError(database, "BAD_USER_INPUT", f"database {database!r} refused the request: {details}")
    if code in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.ALREADY_EXISTS):
        # The resolver names the database and the constraint, never a value (services.constraints).
        return CallError(database, "CONSTRAINT_VIOLATION", details or f"database {database!r}: a constraint failed")
    if code == grpc.StatusCode.CANCELLED:
        return CallError(
            database, "DATABASE_UNAVAILABLE", f"the call to database {database!r} was cancelled", unavailable=True
        )
    # The resolver's messages already name the database ("database 'x': ...").
    return CallError(database, "DATABASE_ERROR", details or f"database {database!r} failed")


class ResolverClient:
    """Calls to one database's resolver service."""

    def __init__(self, config: DatabaseConfig, mesh: MeshConfig | None = None) -> None:
        if not config.resolver:
            raise ValueError(f"database {config.name!r} has no resolver address")
        self.config = config
        self.name = config.name
        self.timeout = float(config.timeout_secs)
        self.channel = channel(config.resolver, mesh, _OPTIONS)
        self.stub = pb_grpc.ResolverStub(self.channel)
        # One resolver: reads share `channel` and `stub` (None here), exactly as writes do.
        self.read_channel: grpc.aio.Channel | None = None
        self.read_stub: pb_grpc.ResolverStub | None = None
        self.read_attempts = 1
        if config.replicated:
            self.read_channel = channel(config.resolver, mesh, [*_OPTIONS, _ROUND_ROBIN])
            self.read_stub = pb_grpc.ResolverStub(self.read_channel)
            self.read_attempts = len(config.resolver_addresses) or DNS_READ_ATTEMPTS

    @staticmethod
    def _metadata(traceparent: str | None) -> tuple[tuple[str, str], ...]:
        return (("traceparent", traceparent),) if traceparent else ()

    async def _call(self, method: Any, request: Any, timeout: float | None, traceparent: str | None) -> Any:  # noqa: ASYNC109
        try:
            return await method(request, timeout=timeout or self.timeout, metadata=self._metadata(traceparent))
        except grpc.aio.AioRpcError as exc:
            raise call_error(exc, self.name) from None

    async def _read(self, name: str, request: Any, timeout: float | None, traceparent: str | None) -> Any:  # noqa: ASYNC109
        """The read RPC `name` over the read channel, tried on another replica while the one it
        reached is unreachable (see the module docstring), all within one deadline."""
        if self.read_stub is None:
            return await self._call(getattr(self.stub, name), request, timeout, traceparent)
        method = getattr(self.read_stub, name)
        deadline = time.monotonic() + (timeout or self.timeout)
        metadata = self._metadata(traceparent)
        for attempt in range(1, self.read_attempts + 1):
            try:
                return await method(request, timeout=max(deadline - time.monotonic(), 0.001), metadata=metadata)
            except grpc.aio.AioRpcError as exc:
                last = attempt == self.read_attempts or time.monotonic() >= deadline
                if last or not replica_unreachable(exc, self.name):
                    raise call_error(exc, self.name) from None
        raise AssertionError("unreachable")  # pragma: no cover - the last attempt returns or raises

    async def query(
        self,
        request: pb.QueryRequest,
        traceparent: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> pb.QueryResponse:
        """One Query call. A response with a row set per variable set (one when there are none) and
        an answer per nested request is the contract: any other count is a `DATABASE_ERROR`, never
        silently truncated."""
        response: pb.QueryResponse = (
            await self._call(self.stub.Query, request, timeout, traceparent)
            if request.transaction_id
            else await self._read("Query", request, timeout, traceparent)
        )
        expected = max(1, len(request.variables))
        if len(response.row_sets) != expected:
            raise CallError(
                self.name,
                "DATABASE_ERROR",
                f"resolver of {self.name!r} returned {len(response.row_sets)} row sets for {expected} variable sets",
            )
        if not _answers_nested(request, response):  # each level's row sets: router.executor
            raise CallError(
                self.name, "DATABASE_ERROR", f"resolver of {self.name!r} did not answer every nested request"
            )
        return response

    async def status(self, replica: str = "", timeout: float | None = None) -> pb.StatusResponse:  # noqa: ASYNC109
        response: pb.StatusResponse = await self._read("Status", pb.StatusRequest(replica=replica), timeout, None)
        return response

    async def schema(self) -> pb.Schema:
        response: pb.Schema = await self._read("GetSchema", pb.GetSchemaRequest(), None, None)
        return response

    async def close(self) -> None:
        await self.channel.close()
        if self.read_channel is not None:
            await self.read_channel.close()

    # --- writes and transactions (the transaction coordinator, dbmesh.coordinator) --------------

    async def mutate(
        self,
        request: pb.MutateRequest,
        timeout: float | None = None,  # noqa: ASYNC109
        *,
        replication: bool = False,
    ) -> pb.MutateResponse:
        """One Mutate call; `replication` marks it as dbmesh's own replication (sets the request's
        flag), which a read_only database accepts and the GraphQL API never sends."""
        if replication:
            request.replication = True
        response: pb.MutateResponse = await self._call(self.stub.Mutate, request, timeout, None)
        return response

    async def insert_new(self, request: pb.MutateRequest) -> bool:
        """An insert that is a compare-and-set: True when the row was inserted, False when a row
        with its key exists (ALREADY_EXISTS); any other failure raises."""
        try:
            await self.stub.Mutate(request, timeout=self.timeout)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.ALREADY_EXISTS:
                return False
            raise call_error(exc, self.name) from None
        return True

    async def mutate_many(
        self,
        requests: Sequence[pb.MutateRequest],
        *,
        transaction_id: str = "",
        commit: bool,
        replication: bool = False,
    ) -> pb.MutateManyResponse:
        """`requests` in order in one transaction, in one call: the open `transaction_id`, or a new
        one; `commit` commits it after the last (else a new one stays open: the response names it)."""
        request = pb.MutateManyRequest(
            requests=requests, transaction_id=transaction_id, commit=commit, replication=replication
        )
        response: pb.MutateManyResponse = await self._call(self.stub.MutateMany, request, None, None)
        return response

    async def begin(self, global_id: str = "", *, replication: bool = False) -> str:
        """Open a transaction (preparable when `global_id` is given; dbmesh's own replication's
        when `replication`, see `mutate`); its transaction id."""
        request = pb.BeginRequest(global_id=global_id, replication=replication)
        response: pb.BeginResponse = await self._call(self.stub.Begin, request, None, None)
        return response.transaction_id

    async def prepare(self, transaction_id: str) -> None:
        await self._call(self.stub.Prepare, pb.PrepareRequest(transaction_id=transaction_id), None, None)

    async def commit(self, transaction_id: str) -> None:
        await self._call(self.stub.Commit, pb.CommitRequest(transaction_id=transaction_id), None, None)

    async def rollback(self, transaction_id: str) -> None:
        await self._call(self.stub.Rollback, pb.RollbackRequest(transaction_id=transaction_id), None, None)

    async def finish_prepared(self, global_id: str, *, commit: bool) -> bool:
        """COMMIT or ROLLBACK the prepared transaction `global_id`: True when done now, False when
        the database has no such prepared transaction (already finished, or never prepared)."""
        method, request = (
            (self.stub.Commit, pb.CommitRequest(global_id=global_id))
            if commit
            else (self.stub.Rollback, pb.RollbackRequest(global_id=global_id))
        )
        try:
            await method(request, timeout=self.timeout)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return False
            raise call_error(exc, self.name) from None
        return True

    async def recover(self) -> list[pb.PreparedTransaction]:
        """dbmesh's prepared transactions of this database that are in doubt."""
        response: pb.RecoverResponse = await self._read("Recover", pb.RecoverRequest(), None, None)
        return list(response.transactions)

    async def ensure_system_tables(
        self, tables: list[str], transaction_id: str = "", *, replication: bool = False
    ) -> list[str]:
        """Create dbmesh's own `dbmesh_` tables named in `tables` where they do not exist yet
        (inside the open transaction `transaction_id` when given; as dbmesh's own replication
        when `replication`, see `mutate`); the names of those created."""
        request = pb.EnsureSystemTablesRequest(tables=tables, transaction_id=transaction_id, replication=replication)
        response: pb.EnsureSystemTablesResponse = await self._call(self.stub.EnsureSystemTables, request, None, None)
        return list(response.created)


def _answers_nested(request: pb.QueryRequest, response: pb.QueryResponse) -> bool:
    """Whether `response` has an answer for each request nested in `request`, at every depth."""
    return len(response.nested) == len(request.nested) and all(
        _answers_nested(item.request, answer) for item, answer in zip(request.nested, response.nested, strict=True)
    )
