"""dbmesh's own state tables (docs/reference.md §10), owned by the service: their definitions,
the DDL that creates them, and the catalog entries they get (EnsureSystemTables).

    dbmesh_transactions   the coordinator log: one row per transaction that wrote several databases
    dbmesh_coordinators   the heartbeat of each live coordinator (router)
    dbmesh_decisions      the commit record of a SQLite participant, in that database
    dbmesh_outbox         write-through changes (docs/reference.md §11), in the written database:
                          one row per change and target, written in the write's transaction
    dbmesh_outbox_drainers  which router drains the outbox for each target (a lease)
    dbmesh_applied        in a write-through target: the newest change applied to each row
    dbmesh_sync_state     in a sync job's target (docs/reference.md §12): one row per job, its
                          high-water mark and counts, written in the transaction of each batch
    dbmesh_sync_leases    in a sync job's target: which `dbmesh sync serve` process runs the job's
                          due run (a lease), and the last scheduled time it ran for

The column types (VARCHAR, TEXT, BIGINT) mean the same on PostgreSQL, MySQL and SQLite, so one
definition serves every engine. The catalog entry is built from the definition rather than
introspected, because a table created inside an open transaction is not visible to the pooled
connection that introspection uses until that transaction commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dbmesh.services.catalog import CollectionInfo, ColumnInfo, Logical
from dbmesh.services.errors import InvalidArgument

__all__ = ["SYSTEM_TABLES", "SystemTable", "system_tables"]


@dataclass(frozen=True)
class _Column:
    name: str
    sql_type: str
    logical: Logical
    nullable: bool = False


@dataclass(frozen=True)
class SystemTable:
    name: str
    columns: tuple[_Column, ...]
    primary_key: tuple[str, ...]

    def ddl(self) -> str:
        columns = ", ".join(f"{c.name} {c.sql_type}{'' if c.nullable else ' NOT NULL'}" for c in self.columns)
        return f"CREATE TABLE IF NOT EXISTS {self.name} ({columns}, PRIMARY KEY ({', '.join(self.primary_key)}))"

    def collection(self) -> CollectionInfo:
        columns = {c.name: ColumnInfo(c.name, c.sql_type, c.logical, nullable=c.nullable) for c in self.columns}
        return CollectionInfo(self.name, columns, self.primary_key)


def _id(name: str) -> _Column:
    return _Column(name, "VARCHAR(64)", Logical.STRING)


def _ms(name: str, nullable: bool = False) -> _Column:
    return _Column(name, "BIGINT", Logical.INT, nullable)


SYSTEM_TABLES = {
    table.name: table
    for table in (
        SystemTable(
            "dbmesh_transactions",
            (
                _id("transaction_id"),
                _Column("decision", "VARCHAR(16)", Logical.STRING),  # commit | abort | pending
                _Column("decided_in", "VARCHAR(64)", Logical.STRING),  # the SQLite database holding it, or ''
                _id("owner"),
                _Column("participants", "TEXT", Logical.STRING),  # JSON
                _ms("created_at"),
                _ms("decided_at", nullable=True),
                _ms("finished_at", nullable=True),
            ),
            ("transaction_id",),
        ),
        SystemTable(
            "dbmesh_coordinators",
            (_id("owner"), _ms("lease_until"), _ms("started_at"), _Column("process", "VARCHAR(255)", Logical.STRING)),
            ("owner",),
        ),
        SystemTable(
            "dbmesh_outbox",
            (
                _id("target"),
                _id("collection"),
                _Column("row_key", "VARCHAR(255)", Logical.STRING),  # JSON: the primary key's values
                _ms("version"),  # per row, increasing in commit order
                _Column("operation", "VARCHAR(16)", Logical.STRING),  # upsert | delete
                _Column("row_data", "TEXT", Logical.STRING),  # JSON: the row as written (contract values)
                _ms("created_at"),
                _ms("applied_at", nullable=True),
            ),
            ("target", "collection", "row_key", "version"),
        ),
        SystemTable(
            "dbmesh_outbox_drainers",
            (_id("target"), _id("owner"), _ms("lease_until")),
            ("target",),
        ),
        SystemTable(
            "dbmesh_applied",
            (
                _id("collection"),
                _Column("row_key", "VARCHAR(255)", Logical.STRING),
                _ms("version"),
                _ms("applied_at"),
            ),
            ("collection", "row_key"),
        ),
        SystemTable(
            "dbmesh_sync_state",
            (
                _id("job"),
                _Column("high_water", "TEXT", Logical.STRING, nullable=True),  # JSON: [cursor, key...]
                _ms("rows_copied"),  # totals over every run
                _ms("rows_deleted"),
                _ms("run_started_at", nullable=True),  # the run that wrote this row
                _ms("last_run_at", nullable=True),  # the last run that finished (ok or failed)
                _ms("last_rows", nullable=True),  # rows copied by that run
                _Column("last_error", "TEXT", Logical.STRING, nullable=True),
                _ms("updated_at"),
            ),
            ("job",),
        ),
        SystemTable(
            "dbmesh_sync_leases",
            (_id("job"), _id("owner"), _ms("lease_until"), _ms("scheduled_for")),
            ("job",),
        ),
        SystemTable(
            "dbmesh_decisions",
            (_id("transaction_id"), _Column("decision", "VARCHAR(16)", Logical.STRING), _ms("decided_at")),
            ("transaction_id",),
        ),
    )
}


def system_tables(names: Sequence[str]) -> list[SystemTable]:
    """The definitions of `names`; an unknown name is INVALID_ARGUMENT naming it."""
    found = []
    for name in names:
        table = SYSTEM_TABLES.get(name)
        if table is None:
            known = ", ".join(sorted(SYSTEM_TABLES))
            raise InvalidArgument(f"unknown system table {name[:70]!r} (known: {known})")
        found.append(table)
    return found
