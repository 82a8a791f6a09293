"""Build the response `data` from what the fetches returned, following the plan's selections.

Response keys (aliases), `__typename`, nested relations joined by key, consistency fields and
`databaseStatus` are filled here. A failed fetch nulls only the fields it serves, with ONE error
per failed fetch at the first path it nulled (docs/reference.md §5). A null in a non-null field propagates to
the nearest nullable parent, as the GraphQL spec requires ("Cannot return null for non-nullable
field ..."), with an error at the field's path. An Int column holding a value outside 32 bits is
a field error too ("Int cannot represent non 32-bit signed integer value: ..."), never a silent
64-bit Int.

`isStale` is true when `last_sync` is older than the type's `max_staleness`, and also when the
row was read from a write-through target that has not applied the row's newest change yet (the
`pending` callback: the router's outbox, docs/reference.md §11); with neither a `last_sync` nor a
pending change it is null.

A mutation field's result (`affectedRows`, `returning`) is shaped from its step's outcome; a
step that failed or was rolled back nulls the field with its one error (`router.mutations`).

Error `locations` come from each selection's offset in the query text (`Plan.source`), turned into a line and
column only for errors reported (once per offset): planning never scans the text per field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from graphql import Source
from graphql.language import get_location

from dbmesh.router.errors import CallError, CodedError
from dbmesh.router.executor import Outcome
from dbmesh.router.graphql_errors import graphql_error
from dbmesh.router.plan import BatchedJoin, FieldSelection, Plan

__all__ = ["PendingChange", "Shaper"]

Path = list[str | int]

# GraphQL's Int is a signed 32-bit integer (GraphQL spec, "Int"): a larger value is a field error.
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1


class _NonNull(Exception):
    """A null (or unrepresentable value) in the non-null field `selection`, at `path`."""

    def __init__(self, path: Path, message: str, selection: FieldSelection) -> None:
        super().__init__(message)
        self.path = path
        self.message = message
        self.selection = selection


def _is_stale(last_sync: Any, max_staleness_secs: float, now: datetime) -> bool | None:
    if last_sync is None:
        return None
    synced = datetime.fromisoformat(str(last_sync))
    if synced.tzinfo is None:
        synced = synced.replace(tzinfo=UTC)
    return (now - synced).total_seconds() > max_staleness_secs


# (database that served the row, its type, its selected GraphQL fields -> values): a pending change?
PendingChange = Callable[[str, str, Mapping[str, Any]], bool]


class Shaper:
    def __init__(
        self,
        plan: Plan,
        outcomes: Mapping[int, Outcome],
        status: Callable[[], Sequence[Mapping[str, Any]]],
        pending: PendingChange | None = None,
        sync_status: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        self.plan = plan
        self.sync_status = sync_status  # read by the router when syncStatus is asked for
        self.pending = pending
        self.outcomes = outcomes
        self.status = status  # called only when databaseStatus is asked for
        self.now = datetime.now(UTC)
        self.errors: list[dict[str, Any]] = []
        self._reported: set[int] = set()
        self._locations: dict[int, tuple[int, int]] = {}
        self._source: Source | None = None

    # --- errors ---------------------------------------------------------------------------------

    def _location(self, offset: int) -> list[tuple[int, int]]:
        """The (line, column) of `offset` in the query, computed once per offset."""
        if offset < 0 or offset > len(self.plan.source):
            return []
        if offset not in self._locations:
            if self._source is None:
                self._source = Source(self.plan.source)
            where = get_location(self._source, offset)
            self._locations[offset] = (where.line, where.column)
        return [self._locations[offset]]

    def _error(self, message: str, path: Path, selection: FieldSelection, code: str, **extensions: Any) -> None:
        locations = self._location(selection.offset)
        self.errors.append(graphql_error(message, code, locations=locations, path=path, extensions=extensions))

    def _fetch_failed(self, fetch: int, error: CodedError, path: Path, selection: FieldSelection) -> None:
        if fetch in self._reported:
            return
        self._reported.add(fetch)
        extensions: dict[str, Any] = {}
        if isinstance(error, CallError):
            extensions["database"] = error.database
            tried = [a.database for a in error.attempts]
            if len(tried) > 1:
                extensions["tried"] = tried
        self._error(error.message, path, selection, error.code, **extensions)

    def _null(self, exc: _NonNull) -> None:
        """The error of a null that propagated: located at the non-null field, not the parent it nulled."""
        self._error(exc.message, exc.path, exc.selection, "INTERNAL_SERVER_ERROR")

    # --- shaping --------------------------------------------------------------------------------

    def data(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for s in self.plan.selections:
            if s.kind == "typename":
                out[s.key] = s.typename
            elif s.kind == "database_status":
                out[s.key] = [self._status(entry, s.selections) for entry in self.status()]
            elif s.kind == "sync_status":
                out[s.key] = [self._status(entry, s.selections) for entry in self.sync_status]
            elif s.kind == "root":
                out[s.key] = self._root(s)
            elif s.kind == "mutation":
                out[s.key] = self._mutation(s)
            # introspection fields are answered by graphql-core (router.service)
        return out

    def _status(self, entry: Mapping[str, Any], selections: tuple[FieldSelection, ...]) -> dict[str, Any]:
        return {s.key: (s.typename if s.kind == "typename" else entry[s.field]) for s in selections}

    def _root(self, s: FieldSelection) -> Any:
        outcome = self.outcomes.get(s.fetch)
        path: Path = [s.key]
        if outcome is None:
            return None
        if outcome.error is not None:
            self._fetch_failed(s.fetch, outcome.error, path, s)
            return None
        try:
            return self._items(outcome.rows, s, path)
        except _NonNull as exc:
            self._null(exc)
            return None

    def _mutation(self, s: FieldSelection) -> dict[str, Any] | None:
        outcome = self.outcomes.get(s.fetch)
        if outcome is None:
            return None
        if outcome.error is not None:
            self._fetch_failed(s.fetch, outcome.error, [s.key], s)
            return None
        out: dict[str, Any] = {}
        for sub in s.selections:
            if sub.kind == "typename":
                out[sub.key] = sub.typename
            elif sub.kind == "affected_rows":
                out[sub.key] = outcome.affected
            else:
                try:
                    out[sub.key] = self._items(outcome.rows, sub, [s.key, sub.key])
                except _NonNull as exc:
                    self._null(exc)
                    return None
        return out

    def _items(self, rows: list[list[Any]], s: FieldSelection, path: Path) -> Any:
        if not s.many:
            return self._object(rows[0], s.selections, path) if rows else None
        items: list[Any] = []
        for i, row in enumerate(rows):
            try:
                items.append(self._object(row, s.selections, [*path, i]))
            except _NonNull as exc:
                if not s.item_nullable:
                    raise
                self._null(exc)
                items.append(None)
        return items

    def _object(self, row: list[Any], selections: tuple[FieldSelection, ...], path: Path) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for s in selections:
            kind = s.kind
            if kind == "column":
                value = row[s.index]
                if s.int32 and value is not None and not _INT_MIN <= value <= _INT_MAX:
                    message = f"Int cannot represent non 32-bit signed integer value: {value}"
                    if not s.nullable:
                        raise _NonNull([*path, s.key], message, s)
                    self._error(message, [*path, s.key], s, "INTERNAL_SERVER_ERROR")
                    value = None
                elif value is None and not s.nullable:
                    raise _NonNull(
                        [*path, s.key], f"Cannot return null for non-nullable field {s.parent_type}.{s.field}.", s
                    )
                out[s.key] = value
            elif kind == "relation":
                out[s.key] = self._relation(row, s, [*path, s.key])
            elif kind == "typename":
                out[s.key] = s.typename
            elif kind == "source_database":
                out[s.key] = row[-1]
            elif kind == "is_stale":
                out[s.key] = self._is_stale(row, s, selections)
        return out

    def _is_stale(self, row: list[Any], s: FieldSelection, selections: tuple[FieldSelection, ...]) -> bool | None:
        if self.pending is not None:
            fields = {c.field: row[c.index] for c in selections if c.kind == "column"}
            if self.pending(row[-1], s.parent_type, fields):
                return True
        return _is_stale(row[s.index], s.max_staleness_secs, self.now)

    def _relation(self, row: list[Any], s: FieldSelection, path: Path) -> Any:
        outcome = self.outcomes.get(s.fetch)
        if outcome is None:
            return None
        if outcome.error is not None:
            self._fetch_failed(s.fetch, outcome.error, path, s)
            return None
        node = self.plan.nodes[s.fetch]
        assert isinstance(node, BatchedJoin)
        key = tuple(row[index] for _, index in node.join)
        rows = outcome.by_key.get(key, [])
        try:
            return self._items(rows, s, path)
        except _NonNull as exc:
            self._null(exc)
            return None
