"""Write-through (docs/reference.md §11): the outbox that makes a write's copies in its
write-through targets certain.

- `record` (in the write's own transaction, another Mutate in the coordinator's `Transaction`):
  one `dbmesh_outbox` row per written row and target in the WRITTEN database, with the row as it
  is after the write and a per-row version increasing in commit order.
- `Outbox` (one per router, started with it): a drainer per (written database, target) that
  applies pending changes to the target right after commit and retries until applied; a lease
  (`dbmesh_outbox_drainers`, compare-and-set) lets one router at a time drain one target, so
  changes are applied in version order; the target's `dbmesh_applied` keeps each row's newest
  applied version, so a change applied twice (a router killed between applying and marking it)
  changes nothing and an old change never overwrites a newer one. It also knows which rows have
  pending changes, for `isStale`.
- `pending_changes` for `dbmesh outbox`.

It talks to databases only through their resolvers and imports nothing from the router or the
services.
"""

from dbmesh.outbox.drainer import Outbox, PendingRows
from dbmesh.outbox.keys import row_key
from dbmesh.outbox.record import Written, record
from dbmesh.outbox.report import TargetBacklog, pending_changes

__all__ = ["Outbox", "PendingRows", "TargetBacklog", "Written", "pending_changes", "record", "row_key"]
