"""Running a mutation operation (docs/reference.md §10): one operation is one transaction.

Its `Mutate` steps run in document order inside one coordinator transaction (`dbmesh.coordinator`:
a plain commit when the operation writes one database, two-phase commit across several), each as
Mutate RPCs that return the written rows. A write is never retried and never sent to a fallback:
it goes to its one database or fails. When every step succeeded the transaction commits, and the
steps' rows become the parent rows of the reads their `returning` relations need (the plan's
`root`, run by `router.executor` after commit). When any step fails — or the transaction cannot
begin or commit — it is rolled back and nothing of the operation is applied: the failed step's
own error is reported at its field, and every other field gets TRANSACTION_ABORTED.

Write-through (docs/reference.md §11): a field with `write_through=` returns every column of the
rows it wrote, and those rows go into the outbox of its database (`dbmesh.outbox`) as another
Mutate of the same transaction; after commit the router applies them to the targets before it
answers (`Outbox.committed`: waiting at most `dbmesh.outbox.drainer.INLINE_SECS`, the drainer applies
what is not applied by then). The outbox tables and the table's primary key are looked up before the transaction
begins. Requests built here never set the contract's `replication` flag: only the drainer does, so
a read_only database is never written through the GraphQL API.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson
from graphql import Undefined

from dbmesh.coordinator import Coordinator, Transaction, TransactionAborted
from dbmesh.coordinator._faults import crash_point
from dbmesh.outbox import Outbox, Written
from dbmesh.outbox.store import DELETE, UPSERT, Change
from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.router.errors import CodedError
from dbmesh.router.executor import Outcome
from dbmesh.router.mutation_requests import mutate_requests
from dbmesh.router.plan import Mutate, Plan
from dbmesh.router.requests import LOGICAL, resolve_arguments, to_value
from dbmesh.router.schema import SchemaIndex

if TYPE_CHECKING:
    from dbmesh.router.access import RowAccess

__all__ = ["run_mutations"]

log = logging.getLogger("dbmesh.router")


async def run_mutations(
    plan: Plan,
    index: SchemaIndex,
    coordinator: Coordinator,
    variables: Mapping[str, Any],
    routes: list[dict[str, Any]],
    outbox: Outbox | None = None,
    rows: RowAccess | None = None,
) -> dict[int, Outcome]:
    """Run the plan's `Mutate` steps as one transaction; the outcome of each step (its rows, each
    followed by its database, and its affected row count, or its error). Statements go to
    `routes` for the trace; write-through fields' rows go to `outbox`. With `rows` (a role's row
    filters, `router.access`), updates and deletes reach only rows inside them, inserted rows must
    pass the role's insert check, and `returning` leaves out rows the role cannot read."""
    databases = list(dict.fromkeys(step.database for step in plan.mutations))
    through = {step.id: index.mutations[step.field].write_through for step in plan.mutations}
    if outbox is not None:
        for step in plan.mutations:
            if through[step.id]:
                try:
                    await outbox.prepare(step.database, step.collection)
                except CodedError as exc:
                    return _failed(plan, step, exc)
    try:
        transaction = coordinator.begin(databases)
    except TransactionAborted as exc:
        return {step.id: Outcome(error=exc) for step in plan.mutations}
    outcomes: dict[int, Outcome] = {}
    changes: list[tuple[str, list[Change]]] = []
    for step in plan.mutations:
        targets = through[step.id] if outbox is not None else ()
        try:
            outcomes[step.id], written = await _run_step(step, index, transaction, variables, routes, targets, rows)
            if written is not None and outbox is not None:
                changes.append((step.database, await outbox.record(transaction, written)))
        except CodedError as exc:
            await transaction.rollback()
            return _failed(plan, step, exc)
        except BaseException:  # cancelled: leave nothing open behind
            await transaction.rollback()
            raise
    try:
        await transaction.commit()
    except CodedError as exc:
        log.warning("mutation operation not committed: %s", getattr(exc, "detail", exc.message))
        aborted = TransactionAborted(f"not applied: the operation's transaction did not commit ({exc.message})")
        return {step.id: Outcome(error=aborted) for step in plan.mutations}
    if changes and outbox is not None:
        crash_point("outbox-committed")
        for database, recorded in changes:
            await outbox.committed(database, recorded)
    return outcomes


def _failed(plan: Plan, failed: Mutate, error: CodedError) -> dict[int, Outcome]:
    """`error` at the step that failed, TRANSACTION_ABORTED at every other step."""
    aborted = TransactionAborted(
        f"not applied: the operation's transaction was rolled back because {'.'.join(failed.path)} failed"
    )
    return {step.id: Outcome(error=error if step is failed else aborted) for step in plan.mutations}


async def _run_step(
    step: Mutate,
    index: SchemaIndex,
    transaction: Transaction,
    variables: Mapping[str, Any],
    routes: list[dict[str, Any]],
    targets: tuple[str, ...],
    access: RowAccess | None = None,
) -> tuple[Outcome, Written | None]:
    """Run one field's requests; its outcome, and (with write-through `targets`) the rows it
    wrote, every column of them."""
    arguments = {
        name: value
        for name, template in step.arguments
        if (value := resolve_arguments(template, variables)) is not Undefined
    }
    target = index.model.types[step.type]
    selected = len(step.columns)
    checked = set(access.columns(step.type, step.operation)) if access is not None else set()
    extra = [
        c for c in target.columns if c.name not in {s.name for s in step.columns} and (targets or c.name in checked)
    ]
    returned = [*(c.name for c in step.columns), *(c.name for c in extra)]
    restrict = access.write(step.type, step.operation) if access is not None and step.operation != "insert" else None
    outcome = Outcome()
    written: list[list[Any]] = []
    for request in mutate_requests(step, index, arguments, restrict):
        request.returning.extend(pb.ColumnRef(name=c.name, type=LOGICAL[c.scalar.value]) for c in extra)
        response = await transaction.mutate(step.database, request)
        outcome.affected += response.affected_rows
        if request.returning:
            rows: list[list[Any]] = orjson.loads(response.returning.rows_json)
            readable = rows
            if access is not None:
                named = [dict(zip(returned, row, strict=True)) for row in rows]
                if step.operation == "insert":
                    access.check_insert(step.type, named, ".".join(step.path))
                readable = [
                    row for row, values in zip(rows, named, strict=True) if access.passes(step.type, "filter", values)
                ]
            outcome.rows += [[*row[:selected], step.database] for row in readable] if step.columns else []
            written += rows
        routes += [
            {
                "database": step.database,
                "query": statement.sql,
                "time_ms": round(statement.time_ms, 3),
                "rows": statement.rows,
                "fetch": step.id,
            }
            for statement in response.statements
        ]
    if not targets:
        return outcome, None
    columns = returned
    scalars = {c.name: c.scalar.value for c in target.columns}
    return outcome, Written(
        database=step.database,
        collection=step.collection,
        targets=targets,
        operation=DELETE if step.operation == "delete" else UPSERT,
        columns=tuple(columns),
        values=written,
        rows=[pb.Row(values={c: to_value(v, scalars[c]) for c, v in zip(columns, r, strict=True)}) for r in written],
    )
