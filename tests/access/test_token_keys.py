"""Public keys and JWKS files (docs/reference.md §14): RS256 for an RSA key, ES256 for an EC P-256
key, a JWKS key chosen by `kid`; algorithm confusion (an HS256 token whose HMAC key is the public
key's PEM bytes) and keys of the wrong kind are refused with the same 401. A role's filter may
read a claim through a dotted path (`claims.org.id`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from harness.mesh import InProcessMesh

SCHEMA = Path(__file__).with_name("keys_schema.py")
REFUSED = {"errors": [{"message": "Unauthenticated.", "extensions": {"code": "UNAUTHENTICATED"}}]}
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PERMISSIONS = """
[[permissions]]
role = "member"
type = "Item"
select = { columns = ["id", "owner"], filter = { owner = { _eq = "claims.org.id" } } }
"""


def _pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _claims(org: str = "o1") -> dict[str, Any]:
    return {"role": "member", "org": {"id": org}}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _confused(pem: bytes) -> str:
    """HS256 signed with the public key's PEM as the secret (PyJWT itself refuses to make one)."""
    signing = f"{_b64(orjson.dumps({'alg': 'HS256', 'typ': 'JWT'}))}.{_b64(orjson.dumps(_claims()))}"
    return f"{signing}.{_b64(hmac.new(pem, signing.encode(), hashlib.sha256).digest())}"


async def _mesh(folder: Path, auth: str) -> InProcessMesh:
    conn = sqlite3.connect(folder / "only.db")
    conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, owner TEXT NOT NULL)")
    conn.executemany("INSERT INTO items VALUES (?, ?)", [(1, "o1"), (2, "o2")])
    conn.commit()
    conn.close()
    databases = {"only": {"engine": "sqlite", "path": str(folder / "only.db")}}
    return await InProcessMesh(databases, SCHEMA, {}, extra_toml=auth + PERMISSIONS).start()


async def _post(mesh: InProcessMesh, token: str) -> tuple[int, Any]:
    async with httpx.AsyncClient() as client:
        response = await client.post(
            mesh.url, json={"query": "{ items { id } }"}, headers={"Authorization": f"Bearer {token}"}
        )
    return response.status_code, response.json()


MINE = (200, {"data": {"items": [{"id": 1}]}})


@pytest.fixture
async def rsa_mesh(tmp_path: Path) -> AsyncIterator[InProcessMesh]:
    (tmp_path / "rsa.pem").write_bytes(_pem(RSA_KEY))
    mesh = await _mesh(tmp_path, f'[auth]\njwt_public_key_file = "{tmp_path / "rsa.pem"}"\n')
    yield mesh
    await mesh.stop()


async def test_rs256_key_file(rsa_mesh: InProcessMesh) -> None:
    assert await _post(rsa_mesh, jwt.encode(_claims(), RSA_KEY, algorithm="RS256")) == MINE
    assert await _post(rsa_mesh, jwt.encode(_claims(), OTHER_RSA, algorithm="RS256")) == (401, REFUSED)
    assert await _post(rsa_mesh, jwt.encode(_claims(), EC_KEY, algorithm="ES256")) == (401, REFUSED)
    assert await _post(rsa_mesh, _confused(_pem(RSA_KEY))) == (401, REFUSED)
    assert await _post(rsa_mesh, jwt.encode(_claims(), RSA_KEY, algorithm="PS256")) == (401, REFUSED)


async def test_es256_key_file(tmp_path: Path) -> None:
    (tmp_path / "ec.pem").write_bytes(_pem(EC_KEY))
    mesh = await _mesh(tmp_path, f'[auth]\njwt_public_key_file = "{tmp_path / "ec.pem"}"\n')
    try:
        assert await _post(mesh, jwt.encode(_claims(), EC_KEY, algorithm="ES256")) == MINE
        theirs = await _post(mesh, jwt.encode(_claims("o2"), EC_KEY, algorithm="ES256"))
        assert theirs == (200, {"data": {"items": [{"id": 2}]}})
        assert await _post(mesh, jwt.encode(_claims(), RSA_KEY, algorithm="RS256")) == (401, REFUSED)
        assert await _post(mesh, _confused(_pem(EC_KEY))) == (401, REFUSED)
    finally:
        await mesh.stop()


def _jwk(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    algorithm = jwt.algorithms.RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else jwt.algorithms.ECAlgorithm
    jwk: dict[str, Any] = json.loads(algorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid}


async def test_jwks_file_picks_the_key_by_kid(tmp_path: Path) -> None:
    keys = {"keys": [_jwk(RSA_KEY, "rsa-1"), _jwk(EC_KEY, "ec-1")]}
    (tmp_path / "jwks.json").write_text(json.dumps(keys))
    mesh = await _mesh(tmp_path, f'[auth]\njwks_file = "{tmp_path / "jwks.json"}"\n')
    try:
        rs = jwt.encode(_claims(), RSA_KEY, algorithm="RS256", headers={"kid": "rsa-1"})
        es = jwt.encode(_claims(), EC_KEY, algorithm="ES256", headers={"kid": "ec-1"})
        assert await _post(mesh, rs) == MINE
        assert await _post(mesh, es) == MINE
        refused = {
            "unknown kid": jwt.encode(_claims(), RSA_KEY, algorithm="RS256", headers={"kid": "rsa-2"}),
            "no kid": jwt.encode(_claims(), RSA_KEY, algorithm="RS256"),
            "other key, same kid": jwt.encode(_claims(), OTHER_RSA, algorithm="RS256", headers={"kid": "rsa-1"}),
            "kid of the other key": jwt.encode(_claims(), RSA_KEY, algorithm="RS256", headers={"kid": "ec-1"}),
        }
        for name, token in refused.items():
            assert await _post(mesh, token) == (401, REFUSED), name
    finally:
        await mesh.stop()


async def test_federation_fields_need_a_token_and_the_admin_role(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "only.db")
    conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, owner TEXT NOT NULL)")
    conn.commit()
    conn.close()
    databases = {"only": {"engine": "sqlite", "path": str(tmp_path / "only.db")}}
    auth = '[auth]\njwt_secret = "federation-secret-0123456789-abcdef"\n'
    mesh = await InProcessMesh(databases, SCHEMA, {"federation": True}, extra_toml=auth + PERMISSIONS).start()
    try:
        sdl = {"query": "{ _service { sdl } }"}
        admin = jwt.encode({"role": "admin"}, "federation-secret-0123456789-abcdef", algorithm="HS256")
        member = jwt.encode(_claims(), "federation-secret-0123456789-abcdef", algorithm="HS256")
        async with httpx.AsyncClient() as client:
            anonymous = await client.post(mesh.url, json=sdl)
            assert (anonymous.status_code, anonymous.json()) == (401, REFUSED)
            served = await client.post(mesh.url, json=sdl, headers={"Authorization": f"Bearer {admin}"})
            assert "type Item" in served.json()["data"]["_service"]["sdl"]
            refused = await client.post(mesh.url, json=sdl, headers={"Authorization": f"Bearer {member}"})
            assert [e["message"] for e in refused.json()["errors"]] == [
                "Cannot query field '_service' on type 'Query'."
            ]
    finally:
        await mesh.stop()
