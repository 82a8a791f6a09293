"""Fault points for the crash tests: `DBMESH_TEST_CRASH_AT=POINT[#N]` makes the process SIGKILL
itself the N-th time (default: the first) it reaches POINT, e.g. `prepared:1`, `decided`,
`committed:2`, or a sync job's `sync:upserted`, `sync:deleted`, `sync:state-written`,
`sync:committed` (the points are named where `crash_point` is called). Only tests set it; unset, a
point costs one dictionary lookup."""

from __future__ import annotations

import os
import signal

__all__ = ["crash_point"]


def _parse(spec: str) -> tuple[str, int]:
    point, _, nth = spec.partition("#")
    return point, int(nth) if nth else 1


_POINT, _NTH = _parse(os.environ.get("DBMESH_TEST_CRASH_AT", ""))
_seen = 0


def crash_point(name: str) -> None:
    global _seen
    if _POINT and name == _POINT:
        _seen += 1
        if _seen == _NTH:
            os.kill(os.getpid(), signal.SIGKILL)
