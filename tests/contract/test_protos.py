"""The committed stubs are what `make protos` generates from the contract today (STYLE: the
contract first): a change to resolver.proto without regenerating fails here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROTO = "dbmesh/resolver/v1/resolver.proto"
GENERATED = ["resolver_pb2.py", "resolver_pb2.pyi", "resolver_pb2_grpc.py", "resolver_pb2_grpc.pyi"]


def test_committed_stubs_are_not_stale(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{REPO / 'protos'}",
            f"--python_out={tmp_path}",
            f"--grpc_python_out={tmp_path}",
            f"--mypy_out={tmp_path}",
            f"--mypy_grpc_out={tmp_path}",
            str(REPO / "protos" / PROTO),
        ],
        check=True,
        env=env,
    )
    for name in GENERATED:
        fresh = (tmp_path / "dbmesh/resolver/v1" / name).read_text()
        committed = (REPO / "dbmesh/resolver/v1" / name).read_text()
        assert fresh == committed, f"{name} is stale: run `make protos`"


def test_the_contract_is_versioned_and_complete() -> None:
    from dbmesh.resolver.v1 import resolver_pb2 as pb

    service = pb.DESCRIPTOR.services_by_name["Resolver"]
    assert service.full_name == "dbmesh.resolver.v1.Resolver"
    assert {m.name for m in service.methods} == {
        "GetCapabilities",
        "GetSchema",
        "Query",
        "Mutate",
        "MutateMany",
        "Begin",
        "Prepare",
        "Commit",
        "Rollback",
        "Recover",
        "Status",
        "EnsureSystemTables",
        "Checksum",
    }
