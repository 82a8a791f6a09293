"""The `[mesh]` table (docs/reference.md §14, "Mesh"): each mistake is one exact line naming the key
(and the file), the token never appears in an error, `repr`, `check` output or a resolver's log,
and the TLS files are relative to the configuration file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from harness.config import database_toml, mesh_toml
from mesh_security.conftest import TOKEN
from mesh_security.mesh_pki import Pki

from dbmesh.config import parse_config
from dbmesh.errors import ConfigError
from dbmesh.mesh import MeshConfig
from dbmesh.services import create_server

REPO = Path(__file__).resolve().parents[2]
BASE = database_toml("c", {"engine": "sqlite", "path": "x.db"})


def _error(mesh: str, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as raised:
        parse_config(mesh + "\n" + BASE, source="dbmesh.toml", environ=environ or {})
    return str(raised.value)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("[mesh]\ntokn = 'x'", "dbmesh.toml: mesh: unknown key 'tokn' (did you mean 'token'?)"),
        ("[mesh]\ntoken = 'short'", "dbmesh.toml: mesh.token: must be at least 16 characters, got 5"),
        ("[mesh]\ntoken = ''", "dbmesh.toml: mesh.token: must not be empty"),
        (
            "[mesh]\ntoken = '${DBMESH_MESH_TOKEN}'",
            "dbmesh.toml: mesh.token: environment variable 'DBMESH_MESH_TOKEN' is not set and has no default",
        ),
        (
            "[mesh]\ntoken = '${DBMESH MESH}'",
            "dbmesh.toml: mesh.token: malformed reference (expected ${NAME} or ${NAME:-default})",
        ),
        ("[mesh]\ntoken = 12345678901234567890", "dbmesh.toml: mesh.token: expected a string, got an integer"),
        (
            "[mesh]\ntoken = 'abcdefgh ijklmnopqrs'",
            "dbmesh.toml: mesh.token: must be printable ASCII without spaces (it is sent as gRPC metadata)",
        ),
        (
            "[mesh]\ntoken = 'abcdefghijklmnopqrsé'",
            "dbmesh.toml: mesh.token: must be printable ASCII without spaces (it is sent as gRPC metadata)",
        ),
        (
            "[mesh]\ntls_cert = 'a.crt'",
            "dbmesh.toml: mesh: tls_cert needs tls_key (give the certificate and its private key together)",
        ),
        (
            "[mesh]\ntls_key = 'a.key'",
            "dbmesh.toml: mesh: tls_key needs tls_cert (give the certificate and its private key together)",
        ),
        (
            "[mesh]\ntls_ca = 'ca.crt'",
            "dbmesh.toml: mesh: tls_ca needs tls_cert and tls_key (mTLS: every end presents a certificate)",
        ),
        ("[mesh]\ntls_cert = 5\ntls_key = 'k'", "dbmesh.toml: mesh.tls_cert: expected a string, got an integer (5)"),
        ("[mesh]\ntls_cert = ''\ntls_key = 'k'", "dbmesh.toml: mesh.tls_cert: must not be empty"),
        ("mesh = 'on'", "dbmesh.toml: mesh: expected a table, got a string"),
        (
            "[mesh]\ntoken = 'abcdefghijklmnopqrs'\n[FraiseQL.mesh]\ntoken = 'abcdefghijklmnopqrs'",
            "dbmesh.toml: both [mesh] and [FraiseQL.mesh] are present; use one",
        ),
    ],
)
def test_a_mistake_is_one_exact_line(table: str, message: str) -> None:
    assert _error(table) == message


def test_a_wrong_type_or_short_token_is_never_echoed() -> None:
    secret = "s3cr3t"
    assert secret not in _error(f"[mesh]\ntoken = '{secret}'")
    assert "1234567" not in _error("[mesh]\ntoken = 12345678901234567890")


def test_the_token_is_substituted_and_kept_out_of_repr(tmp_path: Path) -> None:
    config = parse_config(
        "[mesh]\ntoken = '${DBMESH_MESH_TOKEN}'\ntls_cert = 'tls/c.crt'\ntls_key = '/abs/c.key'\n" + BASE,
        source=str(tmp_path / "dbmesh.toml"),
        environ={"DBMESH_MESH_TOKEN": TOKEN},
    )
    assert config.mesh.token == TOKEN
    assert config.mesh.tls_cert == tmp_path / "tls" / "c.crt"  # relative to the config file
    assert config.mesh.tls_key == Path("/abs/c.key")
    assert TOKEN not in repr(config) and TOKEN not in str(config.mesh)
    assert config.mesh.describe() == "token, TLS"


def test_no_table_is_no_security() -> None:
    mesh = parse_config(BASE).mesh
    assert (mesh.token, mesh.tls, mesh.describe()) == (None, False, "plaintext, no token")
    assert mesh.server_credentials() is None and mesh.channel_credentials() is None


# --- the PEM files -------------------------------------------------------------------------------


def _files(pki: Pki, tmp_path: Path, **override: str) -> MeshConfig:
    keys = {"tls_cert": str(pki.server.cert), "tls_key": str(pki.server.key), "tls_ca": str(pki.ca), **override}
    return parse_config(BASE + mesh_toml(keys), source=str(tmp_path / "dbmesh.toml")).mesh


def _file_error(mesh: MeshConfig) -> str:
    with pytest.raises(ConfigError) as raised:
        mesh.check_files()
    return str(raised.value)


def test_pem_file_mistakes(pki: Pki, tmp_path: Path) -> None:
    (tmp_path / "plain.txt").write_text("not a certificate\n")
    source = tmp_path / "dbmesh.toml"
    missing = tmp_path / "missing.crt"
    assert _file_error(_files(pki, tmp_path, tls_cert="missing.crt")) == (
        f"{source}: mesh.tls_cert: file not found ({missing})"
    )
    assert _file_error(_files(pki, tmp_path, tls_ca="plain.txt")) == (
        f"{source}: mesh.tls_ca: {tmp_path / 'plain.txt'} is not a PEM certificate"
        " (no '-----BEGIN CERTIFICATE-----' line)"
    )
    assert _file_error(_files(pki, tmp_path, tls_key=str(pki.server.cert))) == (
        f"{source}: mesh.tls_key: {pki.server.cert} is not a PEM private key (no '-----BEGIN PRIVATE KEY-----' line)"
    )
    assert _file_error(_files(pki, tmp_path, tls_cert=str(pki.server.key))) == (
        f"{source}: mesh.tls_cert: {pki.server.key} is not a PEM certificate (no '-----BEGIN CERTIFICATE-----' line)"
    )
    assert _file_error(_files(pki, tmp_path, tls_cert=str(tmp_path))) == (
        f"{source}: mesh.tls_cert: cannot read {tmp_path}: Is a directory"
    )
    _files(pki, tmp_path).check_files()  # the good set reads


async def test_a_resolver_with_a_bad_pem_file_does_not_start(pki: Pki, tmp_path: Path) -> None:
    config = parse_config(
        BASE + mesh_toml({"tls_cert": "nope.crt", "tls_key": str(pki.server.key)}), source=str(tmp_path / "d.toml")
    )
    with pytest.raises(ConfigError, match=r"mesh\.tls_cert: file not found"):
        await create_server(config.databases[0], "127.0.0.1:0", config.mesh)


def _dbmesh(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dbmesh", *args], capture_output=True, text=True, cwd=cwd, timeout=60, check=False
    )


def _project(tmp_path: Path, demo: tuple[dict[str, dict[str, Any]], Path], mesh: dict[str, Any]) -> Path:
    databases, schema = demo
    config = tmp_path / "dbmesh.toml"
    config.write_text("".join(database_toml(n, s) + "\n" for n, s in databases.items()) + mesh_toml(mesh))
    (tmp_path / "schema.py").write_text(schema.read_text())
    return config


def test_check_reads_the_files_and_never_shows_the_token(
    pki: Pki, tmp_path: Path, demo: tuple[dict[str, dict[str, Any]], Path]
) -> None:
    mesh = {"token": TOKEN, "tls_cert": str(pki.server.cert), "tls_key": str(pki.server.key), "tls_ca": str(pki.ca)}
    config = _project(tmp_path, demo, mesh)
    text = _dbmesh("check", "-c", str(config), "-s", "schema.py", "--offline", cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    assert "ok    mesh: token, mTLS" in text.stdout.splitlines()
    report = _dbmesh("check", "-c", str(config), "-s", "schema.py", "--offline", "--json", cwd=tmp_path)
    assert json.loads(report.stdout)["mesh"] == "token, mTLS"
    assert TOKEN not in text.stdout + text.stderr + report.stdout + report.stderr

    config = _project(tmp_path, demo, {**mesh, "tls_ca": "ca-missing.crt"})
    failed = _dbmesh("check", "-c", str(config), "-s", "schema.py", "--offline", cwd=tmp_path)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    assert failed.stderr.strip() == (
        f"dbmesh: error: {config}: mesh.tls_ca: file not found ({tmp_path / 'ca-missing.crt'})"
    )


def test_health_with_a_missing_config_is_one_line(tmp_path: Path) -> None:
    result = _dbmesh("health", "--resolver", "127.0.0.1:1", "-c", "nope.toml", cwd=tmp_path)
    assert (result.returncode, result.stderr.strip()) == (1, "dbmesh: error: nope.toml: configuration file not found")
