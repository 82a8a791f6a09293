"""The coordinator tests' world: a bank whose money moves between a PostgreSQL and a MariaDB
database (and, in some cases, a SQLite one), behind real resolvers, and what the databases
themselves say about it afterwards.

Each database has `accounts (id, balance)` with account 1 holding `OPENING`, and `transfers
(id, amount)`: a transfer debits PostgreSQL's account, credits MariaDB's and records its id in
both (and in SQLite's `transfers`, when it takes part). PostgreSQL also has `guard`, whose unique
key is checked only at commit (DEFERRABLE INITIALLY DEFERRED), so a transfer can be made to fail
at PREPARE TRANSACTION.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from conformance.backends import Backend, MysqlBackend, PostgresBackend, SqliteBackend
from harness.config import config_toml, server_settings, toml_value

from dbmesh.coordinator import Transaction
from dbmesh.resolver.v1 import resolver_pb2 as pb

__all__ = ["MY", "OPENING", "PG", "SQ", "Bank", "bank_config", "transfer", "transfer_mutation"]

PG, MY, SQ = "bank_pg", "bank_my", "bank_sq"
OPENING = 1_000_000

_TABLES = (
    "CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance BIGINT NOT NULL)",
    "CREATE TABLE transfers (id INTEGER PRIMARY KEY, amount BIGINT NOT NULL)",
)
_GUARD = "CREATE TABLE guard (id INTEGER, CONSTRAINT guard_once UNIQUE (id) DEFERRABLE INITIALLY DEFERRED)"


def bank_config(databases: dict[str, dict[str, Any]], resolvers: dict[str, str], transactions: dict[str, Any]) -> str:
    """A config file: each database at its resolver, then `[transactions]`."""
    entries = {name: {**settings, "resolver": resolvers[name]} for name, settings in databases.items()}
    text = config_toml(entries)
    return text + "\n[transactions]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in transactions.items())


@dataclass
class Bank:
    pg: PostgresBackend
    my: MysqlBackend
    sq: SqliteBackend | None
    pg_name: str
    my_name: str

    @staticmethod
    async def create(pg: PostgresBackend, my: MysqlBackend, sq: SqliteBackend | None) -> Bank:
        backends: list[Backend] = [pg, my] + ([sq] if sq else [])
        for backend in backends:
            for ddl in _TABLES:
                await backend.execute(ddl)
            await backend.execute("INSERT INTO accounts (id, balance) VALUES (1, %d)" % OPENING)
        await pg.execute(_GUARD)
        pg_name = str((await pg.fetch("SELECT current_database()"))[0][0])
        my_name = str((await my.fetch("SELECT DATABASE()"))[0][0])
        return Bank(pg, my, sq, pg_name, my_name)

    def settings(self) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {
            PG: {**server_settings(self.pg.info), "timeout_secs": 10, "transaction_idle_secs": 2},
            MY: {**server_settings(self.my.info), "timeout_secs": 10, "transaction_idle_secs": 2},
        }
        if self.sq is not None:
            found[SQ] = {"engine": "sqlite", "path": str(self.sq.path), "transaction_idle_secs": 2}
        return found

    async def transfer_ids(self, backend: Backend) -> set[int]:
        return {int(r[0]) for r in await backend.fetch("SELECT id FROM transfers")}

    async def balance(self, backend: Backend) -> int:
        return int((await backend.fetch("SELECT balance FROM accounts WHERE id = 1"))[0][0])

    async def prepared(self) -> list[str]:
        """Prepared transactions left in either database, as the servers themselves list them
        (XA RECOVER is server-wide: those of this database are the ones with its branch)."""
        left = [
            str(r[0])
            for r in await self.pg.fetch("SELECT gid FROM pg_prepared_xacts WHERE database = current_database()")
        ]
        for _format, gtrid, bqual, data in await self.my.fetch("XA RECOVER"):
            raw = data if isinstance(data, bytes) else str(data).encode()
            if raw[gtrid : gtrid + bqual] == self.my_name.encode():
                left.append(raw[:gtrid].decode())
        return left

    async def state(self) -> dict[str, Any]:
        """Everything a transfer changes, as the databases say."""
        state: dict[str, Any] = {
            "pg_ids": await self.transfer_ids(self.pg),
            "my_ids": await self.transfer_ids(self.my),
            "pg_balance": await self.balance(self.pg),
            "my_balance": await self.balance(self.my),
            "prepared": await self.prepared(),
        }
        if self.sq is not None:
            state["sq_ids"] = await self.transfer_ids(self.sq)
        return state


def _value(v: int) -> pb.Value:
    return pb.Value(int=v)


def _insert(table: str, **values: int) -> pb.MutateRequest:
    return pb.MutateRequest(
        collection=table, insert=pb.Insert(rows=[pb.Row(values={k: _value(v) for k, v in values.items()})])
    )


async def _balance(tx: Transaction, database: str) -> int:
    request = pb.QueryRequest(
        collection="accounts",
        columns=[pb.ColumnRef(name="balance")],
        predicate=pb.Expression(
            comparison=pb.Comparison(column="id", operator=pb.OPERATOR_EQ, operand=pb.Operand(value=_value(1)))
        ),
    )
    response = await tx.query(database, request)
    rows: list[list[int]] = json.loads(response.row_sets[0].rows_json)
    return rows[0][0]


async def _set_balance(tx: Transaction, database: str, balance: int) -> None:
    predicate = pb.Expression(
        comparison=pb.Comparison(column="id", operator=pb.OPERATOR_EQ, operand=pb.Operand(value=_value(1)))
    )
    update = pb.Update(predicate=predicate, set={"balance": _value(balance)})
    await tx.mutate(database, pb.MutateRequest(collection="accounts", update=update))


async def transfer(
    tx: Transaction, transfer_id: int, amount: int, *, order: Sequence[str] = (PG, MY), fail: str = ""
) -> None:
    """One transfer's writes in `tx`, database by database in `order`. `fail`: "field" makes the
    last write a duplicate key (a field that fails), "prepare" makes PostgreSQL's Prepare fail."""
    for database in order:
        if database == SQ:
            await tx.mutate(SQ, _insert("transfers", id=transfer_id, amount=amount))
            continue
        balance = await _balance(tx, database)
        await tx.mutate(database, _insert("transfers", id=transfer_id, amount=amount))
        await _set_balance(tx, database, balance - amount if database == PG else balance + amount)
        if database == PG and fail == "prepare":
            for _ in range(2):
                await tx.mutate(PG, _insert("guard", id=transfer_id))
    if fail == "field":
        await tx.mutate(order[-1], _insert("transfers", id=transfer_id, amount=amount))


def transfer_mutation(transfer_id: int, amount: int, *, order: Sequence[str] = (PG, MY), fail: str = "") -> str:
    """`transfer` as one GraphQL mutation of the bank's API (bank_schema.py): the same writes,
    database by database in `order` (each field is one write, in document order)."""
    row = f"objects: [{{id: {transfer_id}, amount: {amount}}}]"
    account = "where: {id: {_eq: 1}}"
    fields: list[str] = []
    for database in order:
        if database == SQ:
            fields.append(f"insertSqTransfers({row})")
        elif database == PG:
            fields += [f"insertTransfers({row})", f"updateAccounts({account}, inc: {{balance: {-amount}}})"]
            if fail == "prepare":  # guard's unique key is checked at PREPARE TRANSACTION
                fields.append(f"insertGuards(objects: [{{id: {transfer_id}}}, {{id: {transfer_id}}}])")
        else:
            fields += [f"insertMyTransfers({row})", f"updateMyAccounts({account}, inc: {{balance: {amount}}})"]
    if fail == "field":  # the last database's transfer row again: a duplicate key
        fields.append(fields[-2] if order[-1] != SQ else fields[-1])
    return "mutation { " + " ".join(f"f{n}: {f} {{ affectedRows }}" for n, f in enumerate(fields)) + " }"
