"""Sync jobs (docs/reference.md §12): `[[sync]]` copies or moves rows from a source database's table
to a target's, in keyset batches, through the resolvers; each batch and the job's state
(`dbmesh_sync_state` in the target) are one transaction, and a `move` batch's copy and delete are
one two-phase commit (dbmesh.coordinator).

    config    the [[sync]] tables
    where     `where` to a predicate, typed by the source's schema; relative times
    state     the job's row in dbmesh_sync_state
    job       one run of one job: the batches
    runner    running jobs with their resolvers and coordinator; summary lines; status
    serve     cron schedules and the lease that makes each due run happen once
"""
