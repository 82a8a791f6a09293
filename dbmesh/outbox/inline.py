"""Applying a router's own write-through changes before it answers the write (docs/reference.md
§11), so that an acknowledged write is already in every write-through target that is up.

Right after the write's transaction commits, the router that committed it reads, for each target,
the pending changes of the rows it wrote: its own, and any older ones of the same rows not applied
yet (a target that was down, another router's). Every older change of those rows committed before
its own (its write held the rows' locks until its commit), so a read after the commit sees them
all. It applies them with `apply.apply_changes`, the drainer's one transaction of two calls. It
takes no lease: the target's `dbmesh_applied` makes a drainer or another router applying the same
rows at the same time harmless (each row's entry is locked before its changes are applied; a change
not newer than the applied version is skipped; of two first changes of a row only one can insert
its entry, the other's whole transaction fails and is left to the drainer). So a row never moves
backwards, and no change of one row is skipped by a newer one applied first.
"""

from __future__ import annotations

from collections.abc import Sequence

from dbmesh.coordinator._requests import rows
from dbmesh.outbox.apply import apply_changes
from dbmesh.outbox.keys import KeyCache
from dbmesh.outbox.store import Change, change_columns, decode_change, pending_query
from dbmesh.resolver.client import ResolverClient

__all__ = ["apply_committed"]


async def apply_committed(
    source: ResolverClient, target: ResolverClient, changes: Sequence[Change], keys: KeyCache
) -> list[Change]:
    """Apply `changes` (committed, all for `target`) and the other pending changes of their rows
    in `source`'s outbox to `target`; every change applied or found applied there (to be marked
    applied). Raises CallError; then nothing of them is applied."""
    found: dict[tuple[str, str, int], Change] = {(c.collection, c.row_key, c.version): c for c in changes}
    collections = list(dict.fromkeys(c.collection for c in changes))
    for collection in collections:
        row_keys = list(dict.fromkeys(c.row_key for c in changes if c.collection == collection))
        request = pending_query(changes[0].target, rows=(collection, row_keys))
        for pending in map(decode_change, rows(await source.query(request), change_columns)):
            found.setdefault((pending.collection, pending.row_key, pending.version), pending)
    key_columns = {c: await keys.primary_key(source, c) for c in collections}
    await apply_changes(target, list(found.values()), key_columns)
    return list(found.values())
