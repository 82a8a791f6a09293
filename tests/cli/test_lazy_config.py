"""A process needs only the variables of what it uses (docs/reference.md §3): the router starts
without a database's password, host or user; that database's resolver, `check` (also `--offline`)
and `up` name the unset variable in one line."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from harness.demo import demo_databases
from harness.mesh import database_toml
from test_commands import REPO, dbmesh, one_line_error

from dbmesh.demo import prepare
from dbmesh.supervisor import free_port

SECRET_VARIABLES = ("DBMESH_TEST_PG_HOST", "DBMESH_TEST_PG_USER", "DBMESH_TEST_PG_PASSWORD")


def mesh_files(folder: Path) -> tuple[Path, Path, str]:
    """The demo's schema and a config whose first database is PostgreSQL reached through unset
    variables (every database has a resolver address); (config, schema, that database's name)."""
    _, schema = prepare(folder)
    databases = demo_databases(folder)
    first = next(iter(databases))
    databases[first] = {
        "engine": "postgresql",
        "host": "${DBMESH_TEST_PG_HOST}",
        "database": "app",
        "username": "${DBMESH_TEST_PG_USER}",
        "password": "${DBMESH_TEST_PG_PASSWORD}",
    }
    text = "".join(
        database_toml(name, {**settings, "resolver": f"127.0.0.1:{free_port()}"})
        for name, settings in databases.items()
    )
    config = folder / "mesh.toml"
    config.write_text(text, encoding="utf-8")
    return config, schema, first


def without_secrets() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key not in SECRET_VARIABLES}


def unset(config: Path, name: str, key: str, variable: str) -> str:
    return f"{config}: databases[0].{key} ({name}): environment variable '{variable}' is not set and has no default"


def test_check_offline_and_up_name_the_first_unset_connection_variable(tmp_path: Path) -> None:
    config, schema, name = mesh_files(tmp_path)
    message = one_line_error(dbmesh("check", "-c", str(config), "-s", str(schema), "--offline"))
    assert message == unset(config, name, "host", "DBMESH_TEST_PG_HOST")
    message = one_line_error(dbmesh("up", "-c", str(config), "-s", str(schema), "--port", "0"))
    assert message == unset(config, name, "host", "DBMESH_TEST_PG_HOST")
    config.write_text(config.read_text().replace("${DBMESH_TEST_PG_HOST}", "db.internal"))
    message = one_line_error(dbmesh("check", "-c", str(config), "-s", str(schema), "--offline"))
    assert message == unset(config, name, "username", "DBMESH_TEST_PG_USER")


def test_the_resolver_of_that_database_needs_its_password(tmp_path: Path) -> None:
    config, _, name = mesh_files(tmp_path)
    config.write_text(config.read_text().replace("${DBMESH_TEST_PG_HOST}", "db").replace("${DBMESH_TEST_PG_USER}", "u"))
    message = one_line_error(dbmesh("resolver", "-c", str(config), "--database", name))
    assert message == unset(config, name, "password", "DBMESH_TEST_PG_PASSWORD")


async def test_the_router_starts_and_answers_without_any_database_variable(tmp_path: Path) -> None:
    config, schema, _ = mesh_files(tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "dbmesh", "router", "-c", str(config), "-s", str(schema), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
        env=without_secrets(),
    )
    output: list[str] = []
    try:
        assert process.stdout is not None
        url = ""
        while not url:
            line = await asyncio.to_thread(process.stdout.readline)
            assert line, "dbmesh router exited before serving:\n" + "".join(output)
            output.append(line)
            if line.startswith("dbmesh router serving "):
                url = line.split()[-1]
        async with httpx.AsyncClient() as client:
            alive = await client.get(url.removesuffix("graphql") + "healthz")
            body = (await client.post(url, json={"query": "{ __typename }"})).json()
        assert alive.status_code == 200
        assert body == {"data": {"__typename": "Query"}}
    finally:
        process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(process.wait, 30)
        if process.stdout:
            output += process.stdout.readlines()
            process.stdout.close()
    assert code == 0, "".join(output)
    assert not any("DBMESH_TEST_PG" in line for line in output)
