"""Bad tokens get HTTP 401 and one fixed UNAUTHENTICATED error, whatever is wrong with them
(docs/reference.md §14), on every path into the API: POST, GET, a batch, a persisted query.
A request without a token gets the anonymous role; health endpoints stay open."""

from __future__ import annotations

import base64
import hashlib
import logging
import time
import warnings
from typing import Any

import httpx
import jwt
import orjson
import pytest
from access_data import SECRET, token
from cryptography.hazmat.primitives.asymmetric import rsa
from harness.mesh import InProcessMesh
from jwt.warnings import InsecureKeyLengthWarning

REFUSED = {"errors": [{"message": "Unauthenticated.", "extensions": {"code": "UNAUTHENTICATED"}}]}
QUERY = "{ customers { id } }"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(claims: dict[str, Any]) -> str:
    """An `alg: none` token: header and payload, no signature."""
    return f"{_b64(orjson.dumps({'alg': 'none', 'typ': 'JWT'}))}.{_b64(orjson.dumps(claims))}."


def _forged() -> str:
    """A real token of tenant a whose payload is changed to tenant b, the signature kept."""
    header, _, signature = token(tenant="a").split(".")
    payload = jwt.decode(token(tenant="b"), options={"verify_signature": False})
    return f"{header}.{_b64(orjson.dumps(payload))}.{signature}"


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": "https://id.example.com", "aud": "dbmesh", "exp": now + 300, "sub": "u1"}
    claims["https://dbmesh/claims"] = {"role": "customer", "tenant": "a"}
    claims.update(changes)
    return claims


def _hs512() -> str:
    """A token signed with the right secret but HS512 (PyJWT warns the key is short for it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return token(algorithm="HS512")


_OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
BAD_TOKENS = {
    "expired": token(exp=int(time.time()) - 10),
    "not yet valid": token(nbf=int(time.time()) + 600),
    "wrong issuer": token(iss="https://evil.example.com"),
    "wrong audience": token(aud="someone-else"),
    "no audience": jwt.encode({k: v for k, v in _claims().items() if k != "aud"}, SECRET, algorithm="HS256"),
    "wrongly signed": token(key="another-secret-that-is-long-enough-000"),
    "forged payload": _forged(),
    "alg none": _unsigned(_claims()),
    "RS256 instead of HS256": token(key=_OTHER_KEY, algorithm="RS256"),
    "HS512 with the secret": _hs512(),
    "unknown role": token(role="root"),
    "role not a string": jwt.encode(_claims(**{"https://dbmesh/claims": {"role": ["admin"]}}), SECRET),
    "no role": jwt.encode(_claims(**{"https://dbmesh/claims": {}}), SECRET),
    "not a JWT": "not.a.token",
    "garbage": "%%%",
}


@pytest.mark.parametrize("bad", BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
async def test_every_bad_token_is_401_and_says_nothing_more(secured: InProcessMesh, bad: str) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(secured.url, json={"query": QUERY}, headers={"Authorization": f"Bearer {bad}"})
    assert response.status_code == 401
    assert response.json() == REFUSED


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer a b", token(), f"Token {token()}"])
async def test_a_malformed_authorization_header_is_401(secured: InProcessMesh, header: str) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(secured.url, json={"query": QUERY}, headers={"Authorization": header})
    assert (response.status_code, response.json()) == (401, REFUSED)


async def test_every_path_is_guarded(secured: InProcessMesh) -> None:
    bad = {"Authorization": f"Bearer {BAD_TOKENS['expired']}"}
    good = {"Authorization": f"Bearer {token()}"}
    query_hash = hashlib.sha256(QUERY.encode()).hexdigest()
    persisted = {"persistedQuery": {"version": 1, "sha256Hash": query_hash}}
    async with httpx.AsyncClient() as client:
        batch = await client.post(secured.url, json=[{"query": QUERY}, {"query": QUERY}], headers=bad)
        get = await client.get(secured.url, params={"query": QUERY}, headers=bad)
        stored = await client.post(secured.url, json={"query": QUERY, "extensions": persisted}, headers=bad)
        graphiql_request = await client.post(
            secured.url, json={"query": "{ __schema { queryType { name } } }"}, headers={**bad, "Accept": "*/*"}
        )
        for refused in (batch, get, stored, graphiql_request):
            assert (refused.status_code, refused.json()) == (401, REFUSED)
        ok_get = await client.get(secured.url, params={"query": QUERY}, headers=good)
        assert ok_get.json() == {"data": {"customers": [{"id": "c1"}]}}
        ok_batch = await client.post(secured.url, json=[{"query": QUERY}], headers=good)
        assert ok_batch.json() == [{"data": {"customers": [{"id": "c1"}]}}]
        base = secured.url.removesuffix("/graphql")
        for path in ("/healthz", "/readyz?partial=true", "/metrics"):
            assert (await client.get(base + path)).status_code == 200, path


async def test_no_token_is_the_anonymous_role(secured: InProcessMesh) -> None:
    body = await secured.post('{ __type(name: "Customer") { fields { name } } }')
    assert body == {"data": {"__type": {"fields": [{"name": "name"}]}}}
    body = await secured.post("{ orders { id } }")
    assert body["errors"][0]["message"] == "Cannot query field 'orders' on type 'Query'."
    # customer(id:) is gone too: its required argument filters a column the role cannot read.
    body = await secured.post('{ __type(name: "Query") { fields { name } } }')
    assert body == {"data": {"__type": {"fields": [{"name": "customers"}, {"name": "databaseStatus"}]}}}


async def test_tokens_never_reach_the_logs(secured: InProcessMesh, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for bad in BAD_TOKENS.values():
        await secured.post(QUERY, token=bad)
    logged = caplog.text
    assert "token refused" in logged
    for bad in BAD_TOKENS.values():
        for part in bad.split("."):
            if len(part) > 8:
                assert part not in logged
    assert SECRET not in logged
