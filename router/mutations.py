"""Running a mutation operation (docs/reference.md §10): one operation is one transaction.

Its `Mutate` steps run in document order inside one coordinator transaction (`dbmesh.coordinator`:
a plain commit when the operation writes one database, two-phase commit across several), each as
Mutate RPCs that return the written rows. A write is never retried and never sent to a fallback:
it goes to its one database or fails. When every step succeeded the transaction commits, and the
steps' rows become the parent rows of the reads their `returning` relations need (the plan's
`root`, run by `router.executor` after commit). When any step fails — or the transaction cannot
begin or commit — it is rolled back and nothing of the operation is applied: the failed step's
own error is reported at its field, and every other field gets TRANSACTION_ABORTED.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson
from graphql import Undefined

from dbmesh.coordinator import Coordinator, Transaction, TransactionAborted
from dbmesh.router.errors import CodedError
from dbmesh.router.executor import Outcome
from dbmesh.router.mutation_requests import mutate_requests
from dbmesh.router.plan import Mutate, Plan
from dbmesh.router.requests import resolve_arguments
from dbmesh.router.schema import SchemaIndex

__all__ = ["run_mutations"]

log = logging.getLogger("dbmesh.router")


async def run_mutations(
    plan: Plan,
    index: SchemaIndex,
    coordinator: Coordinator,
    variables: Mapping[str, Any],
    routes: list[dict[str, Any]],
) -> dict[int, Outcome]:
    """Run the plan's `Mutate` steps as one transaction; the outcome of each step (its rows, each
    followed by its database, and its affected row count, or its error). Statements go to
    `routes` for the trace."""
    databases = list(dict.fromkeys(step.database for step in plan.mutations))
    try:
        transaction = coordinator.begin(databases)
    except TransactionAborted as exc:
        return {step.id: Outcome(error=exc) for step in plan.mutations}
    outcomes: dict[int, Outcome] = {}
    for step in plan.mutations:
        try:
            outcomes[step.id] = await _run_step(step, index, transaction, variables, routes)
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
) -> Outcome:
    arguments = {
        name: value
        for name, template in step.arguments
        if (value := resolve_arguments(template, variables)) is not Undefined
    }
    outcome = Outcome()
    for request in mutate_requests(step, index, arguments):
        response = await transaction.mutate(step.database, request)
        outcome.affected += response.affected_rows
        if step.columns:
            rows: list[list[Any]] = orjson.loads(response.returning.rows_json)
            outcome.rows += [[*row, step.database] for row in rows]
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
    return outcome
