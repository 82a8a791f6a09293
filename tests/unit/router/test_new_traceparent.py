"""`new_traceparent` (router/service.py): a W3C traceparent, sampled, with fresh non-zero ids."""

from __future__ import annotations

import re

from dbmesh.router.service import new_traceparent

W3C = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-01")


def test_each_is_a_sampled_w3c_traceparent_with_its_own_ids() -> None:
    made = [new_traceparent() for _ in range(1000)]
    ids = [W3C.fullmatch(t) for t in made]
    assert all(ids)
    assert len({m.group(1) for m in ids if m}) == 1000 and len({m.group(2) for m in ids if m}) == 1000
    assert all(m.group(1) != "0" * 32 and m.group(2) != "0" * 16 for m in ids if m)
