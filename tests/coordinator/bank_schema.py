"""The bank as a GraphQL API (tests/coordinator/bank.py), for the router-driven crash tests: each
database's `accounts` and `transfers`, and PostgreSQL's `guard`, with mutation fields to write
them, so a transfer is one GraphQL mutation across PostgreSQL, MariaDB (and SQLite)."""

from dbmesh import database, types


@types.object
class Account:
    id: int
    balance: int


@types.object
class Transfer:
    id: int
    amount: int


@types.object(table="accounts")
class MyAccount:
    id: int
    balance: int


@types.object(table="transfers")
class MyTransfer:
    id: int
    amount: int


@types.object(table="transfers")
class SqTransfer:
    id: int
    amount: int


@types.object(table="guard")
class Guard:
    id: int


@types.object
class Query:
    @database("bank_pg")
    def accounts(self) -> list[Account]: ...


@types.object
class Mutation:
    @database("bank_pg")
    def update_accounts(self) -> list[Account]: ...

    @database("bank_pg")
    def insert_transfers(self) -> list[Transfer]: ...

    @database("bank_pg")
    def insert_guards(self) -> list[Guard]: ...

    @database("bank_my")
    def update_my_accounts(self) -> list[MyAccount]: ...

    @database("bank_my")
    def insert_my_transfers(self) -> list[MyTransfer]: ...

    @database("bank_sq")
    def insert_sq_transfers(self) -> list[SqTransfer]: ...
