"""Passwords never reach logs, errors, traces or `check` output (docs/reference.md §3), even when they are
wrong and every part of dbmesh reports the failure."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
from harness.config import config_toml, server_settings
from harness.mesh import UpProcess
from harness.servers import DatabaseInfo

SECRET = "hunter2-Zq9-not-the-password"
SCHEMA = Path(__file__).with_name("schema.py")
REPO = Path(__file__).resolve().parents[2]


def _config(tmp_path: Path, db: DatabaseInfo) -> Path:
    config = tmp_path / "dbmesh.toml"
    vault = {**server_settings(db), "password": "${VAULT_PASSWORD}", "timeout_secs": 3}
    config.write_text(config_toml({"vault": vault}, {"tracing": "always"}))
    return config


async def test_a_wrong_password_is_reported_without_the_password(tmp_path: Path, mysql_database: DatabaseInfo) -> None:
    config = _config(tmp_path, mysql_database)
    env = {"VAULT_PASSWORD": SECRET}
    check = subprocess.run(
        [sys.executable, "-m", "dbmesh", "check", "-c", str(config), "-s", str(SCHEMA)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **env},
        timeout=60,
    )
    assert check.returncode == 1
    assert check.stdout.startswith("FAIL  vault (mysql,") and "Access denied" in check.stdout
    up = await UpProcess(config, SCHEMA, env={**env}).start()
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            body = (await client.post(up.url, json={"query": "{ notes { id } }"})).json()
            status = (await client.post(up.url, json={"query": "{ databaseStatus { name connected error } }"})).json()
            metrics = (await client.get(up.url.replace("/graphql", "/metrics"))).text
    finally:
        await up.stop()
    assert body["data"] == {"notes": None}
    assert body["errors"][0]["extensions"]["code"] in ("DATABASE_UNAVAILABLE", "DATABASE_ERROR")
    assert status["data"]["databaseStatus"][0]["connected"] is False
    everything = "".join(up.output) + check.stdout + check.stderr + str(body) + str(status) + metrics
    assert SECRET not in everything
    assert "Access denied" in str(body) + str(status)  # the reason is there, the secret is not
