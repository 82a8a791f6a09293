"""The access-control benchmark (`python -m bench.auth`): what `[auth]` costs per request;
prints a Markdown report (and writes it to bench/results/auth-latest.md).

- verify: `Authenticator.principal` alone (PyJWT signature and claim checks), per key kind.
- request: `Router.execute` over one SQLite resolver in this process (no HTTP), the same query
  `{ items { id owner } }` on 100 rows: without `[auth]`; with `[auth]` as the admin (no filter);
  as a role whose row filter reads a claim (`owner IN claims.orgs`, every row matches, so the
  three return the same 100 rows). Token
  verification is included in both `[auth]` rows, as the HTTP layer does it per request.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from harness.config import config_toml

from dbmesh.auth.tokens import Authenticator
from dbmesh.config import parse_config
from dbmesh.router import Router
from dbmesh.router.service import GraphQLRequest
from dbmesh.schema import load_schema
from dbmesh.services import create_server

SECRET = "bench-secret-0123456789-abcdefghijklmnop"
SCHEMA = Path(__file__).resolve().parents[1] / "tests" / "access" / "keys_schema.py"
QUERY = GraphQLRequest("{ items { id owner } }")
PERMISSIONS = """
[[permissions]]
role = "member"
type = "Item"
select = { columns = ["id", "owner"], filter = { owner = { _in = "claims.orgs" } } }
"""


def _timed(calls: int, call: Callable[[], object]) -> float:
    """Median of 5 rounds, in microseconds per call."""
    rounds = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(calls):
            call()
        rounds.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(rounds)


def _pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, folder: Path, name: str) -> str:
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (folder / name).write_bytes(public)
    return str(folder / name)


def _verify(folder: Path, calls: int) -> list[tuple[str, float]]:
    claims = {"role": "member", "org": "o1", "exp": int(time.time()) + 3600}
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    kinds = [
        ("HS256 (jwt_secret)", f'jwt_secret = "{SECRET}"', jwt.encode(claims, SECRET, algorithm="HS256")),
        (
            "RS256 (2048-bit key file)",
            f'jwt_public_key_file = "{_pem(rsa_key, folder, "rsa.pem")}"',
            jwt.encode(claims, rsa_key, algorithm="RS256"),
        ),
        (
            "ES256 (P-256 key file)",
            f'jwt_public_key_file = "{_pem(ec_key, folder, "ec.pem")}"',
            jwt.encode(claims, ec_key, algorithm="ES256"),
        ),
    ]
    out = []
    for name, key, token in kinds:
        config = parse_config(config_toml({"only": {"engine": "sqlite", "path": "x.db"}}) + f"\n[auth]\n{key}\n")
        assert config.auth is not None
        authenticator = Authenticator(config.auth, ["member"])
        header = f"Bearer {token}"
        principal = authenticator.principal(header)
        assert principal is not None and principal.role == "member"
        out.append((name, _timed(calls, lambda h=header, a=authenticator: a.principal(h))))
    return out


async def _requests(folder: Path, calls: int) -> list[tuple[str, float]]:
    conn = sqlite3.connect(folder / "only.db")
    conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, owner TEXT NOT NULL)")
    conn.executemany("INSERT INTO items VALUES (?, ?)", [(i, f"o{i % 2}") for i in range(100)])
    conn.commit()
    conn.close()
    database = parse_config(config_toml({"only": {"engine": "sqlite", "path": str(folder / "only.db")}}))
    server = await create_server(database.databases[0], "127.0.0.1:0")
    settings = {"only": {"engine": "sqlite", "path": str(folder / "only.db"), "resolver": f"127.0.0.1:{server.port}"}}
    plain = parse_config(config_toml(settings))
    secured = parse_config(config_toml(settings) + f'\n[auth]\njwt_secret = "{SECRET}"\n' + PERMISSIONS)
    model = load_schema(SCHEMA, ["only"])
    cases = (
        ("no [auth]", plain, None, None),
        ("[auth], admin token (no filter)", secured, "admin", None),
        ("[auth], member token (row filter on a claim, matching every row)", secured, "member", ["o0", "o1"]),
    )
    routers = [Router(config, model) for _, config, _, _ in cases]
    calls_of = []
    for router, (_, _, role, org) in zip(routers, cases, strict=True):
        await router.start(check_schema=False)
        header = f"Bearer {jwt.encode({'role': role, 'orgs': org}, SECRET, algorithm='HS256')}" if role else None

        async def once(r: Router = router, h: str | None = header, expected: int = 100) -> None:
            principal = r.authenticator.principal(h) if r.authenticator is not None else None
            response = await r.execute(QUERY, None, principal)
            assert len(response.body["data"]["items"]) == expected

        await once()
        calls_of.append(once)
    rounds: list[list[float]] = [[] for _ in cases]
    try:
        for _ in range(5):  # the cases take turns, so a drift of the machine hits them alike
            for i, once in enumerate(calls_of):
                start = time.perf_counter()
                for _ in range(calls):
                    await once()
                rounds[i].append((time.perf_counter() - start) / calls * 1e6)
    finally:
        for router in routers:
            await router.stop()
        await server.stop(grace=0)
    return [(name, statistics.median(r)) for (name, *_), r in zip(cases, rounds, strict=True)]


async def main(calls: int) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        verify = _verify(folder, calls)
        requests = await _requests(folder, max(calls // 10, 50))
    load = f"{os.getloadavg()[0]:.2f}"
    lines = [
        "# Access control: cost per request (bench/auth.py)",
        "",
        f"Load average (1 min) when the run ended: {load}, on {os.cpu_count()} CPUs.",
        "",
        f"Median of 5 rounds; {calls} verifications per round, {max(calls // 10, 50)} requests per round"
        " (the three request cases take turns in each round).",
        "",
        "| token verification | µs per token |",
        "|---|---|",
        *(f"| {name} | {us:.1f} |" for name, us in verify),
        "",
        "| `Router.execute` of `{ items { id owner } }` (SQLite, in process) | µs per request |",
        "|---|---|",
        *(f"| {name} | {us:.0f} |" for name, us in requests),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    report = asyncio.run(main(parser.parse_args().calls))
    (Path(__file__).parent / "results" / "auth-latest.md").write_text(report)
    print(report)
