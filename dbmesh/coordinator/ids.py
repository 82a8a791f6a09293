"""Names of the coordinator's transactions (docs/reference.md §10).

A coordinator process has an owner id, fresh at every start. Each mutation operation gets a
transaction id `<owner>.<random>`, and each PostgreSQL or MySQL participant the global id
`dbmesh.<owner>.<random>.<n>` (n: the participant's number in the operation). The `dbmesh` prefix
is what the resolvers' Recover filters on (services/transactions.py), so recovery never sees, let
alone touches, prepared transactions that other programs own; the owner in the id tells recovery
whose transaction it is while the coordinator log has no row for it yet.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

__all__ = ["PREFIX", "Name", "global_id", "new_owner", "new_transaction_id", "parse_global_id"]

PREFIX = "dbmesh"
_GLOBAL_ID = re.compile(rf"{PREFIX}\.([0-9a-f]{{12}})\.([0-9a-f]{{16}})\.([0-9]{{1,4}})")


def new_owner() -> str:
    """A coordinator process's id: 12 hex digits."""
    return secrets.token_hex(6)


def new_transaction_id(owner: str) -> str:
    return f"{owner}.{secrets.token_hex(8)}"


def global_id(transaction_id: str, participant: int) -> str:
    """The global id of participant number `participant` (at most 43 characters)."""
    return f"{PREFIX}.{transaction_id}.{participant}"


@dataclass(frozen=True)
class Name:
    """What a global id says: whose transaction, which one, which participant."""

    owner: str
    transaction_id: str
    participant: int


def parse_global_id(text: str) -> Name | None:
    """The parts of a coordinator's global id; None for any other id."""
    match = _GLOBAL_ID.fullmatch(text)
    if match is None:
        return None
    owner, random, participant = match.groups()
    return Name(owner, f"{owner}.{random}", int(participant))
