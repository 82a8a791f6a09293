"""Query cases as data: `cases/<name>/request.json` is a `QueryRequest` in protobuf JSON form and
`expected.json` the one result every engine must give: the rows (a JSON array of rows, each the
requested columns' canonical values in order), or `{"error": CODE, "contains": TEXT}`.
The rows they expect are those of `dataset.py`."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest
from google.protobuf import json_format

from conformance.client import expect_error
from conformance.conftest import Conformance
from dbmesh.resolver.v1 import resolver_pb2 as pb

CASES = Path(__file__).parent / "cases"


def _load(name: str) -> tuple[pb.QueryRequest, object]:
    folder = CASES / name
    request = json_format.Parse((folder / "request.json").read_text(encoding="utf-8"), pb.QueryRequest())
    expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    return request, expected


def test_cases_are_well_formed() -> None:
    names = sorted(p.name for p in CASES.iterdir())
    assert len(names) >= 50
    for name in names:
        assert sorted(p.name for p in (CASES / name).iterdir()) == ["expected.json", "request.json"], name
        _load(name)


@pytest.mark.parametrize("name", sorted(p.name for p in CASES.iterdir()))
async def test_case(resolver: Conformance, name: str) -> None:
    request, expected = _load(name)
    if isinstance(expected, dict):
        details = await expect_error(grpc.StatusCode[expected["error"]], resolver.run(request))
        assert expected["contains"] in details
        return
    row_sets = await resolver.run(request)
    assert len(row_sets) == 1
    assert row_sets[0] == expected
