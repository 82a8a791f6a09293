"""The cross-database transaction coordinator (docs/reference.md §10).

One `Coordinator` per router (built from the config and the router's resolver clients, started
and stopped with it) hands out one `Transaction` per mutation operation: a database transaction per
database the operation writes; one database commits plainly, several by two-phase commit with the
decision made durable in the coordinator log first (`twophase`). `recover` resolves in-doubt
prepared transactions (`recovery`), on start and every `[transactions] recovery_interval_secs`.
It talks to databases only through their resolvers (`dbmesh.resolver.client`) and imports nothing
from the router or the services.
"""

from dbmesh.coordinator.coordinator import Coordinator
from dbmesh.coordinator.errors import TransactionAborted
from dbmesh.coordinator.log import LogEntry
from dbmesh.coordinator.recovery import InDoubt, Resolution
from dbmesh.coordinator.transaction import Transaction

__all__ = ["Coordinator", "InDoubt", "LogEntry", "Resolution", "Transaction", "TransactionAborted"]
