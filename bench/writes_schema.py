"""The write benchmark's schema (bench/writes.py): accounts in PostgreSQL (`pg`), ledger
entries in MariaDB (`maria`), customers in PostgreSQL written through to the SQLite `cache`."""

from decimal import Decimal
from uuid import UUID

from dbmesh import database, types


@types.object
class Account:
    id: int
    balance: Decimal


@types.object
class Entry:
    id: UUID
    account_id: int
    amount: Decimal


@types.object
class Customer:
    id: int
    email: str


@types.object
class Query:
    @database("pg")
    def accounts(self) -> list[Account]: ...


@types.object
class Mutation:
    @database("pg")
    def update_accounts(self) -> list[Account]: ...

    @database("maria")
    def insert_entries(self) -> list[Entry]: ...

    @database("pg", write_through="cache")
    def update_customers(self) -> list[Customer]: ...
