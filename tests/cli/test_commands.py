"""The `dbmesh` command as a user runs it (docs/reference.md §2): every mistake is ONE line naming what and
where, with a non-zero exit and never a traceback; `check`, `plan`, `up`, `demo` do their jobs."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from harness.config import database_toml
from harness.mesh import UpProcess

from dbmesh.demo import EXAMPLE_QUERY, customer_id, prepare

REPO = Path(__file__).resolve().parents[2]


def dbmesh(*args: str, cwd: Path = REPO, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dbmesh", *args], capture_output=True, text=True, cwd=cwd, timeout=timeout
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("dbmesh: error:")]
    assert len(lines) == 1, result.stderr
    return lines[0].removeprefix("dbmesh: error: ")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return prepare(tmp_path_factory.mktemp("demo"))


def test_bad_config_is_one_line(tmp_path: Path, demo: tuple[Path, Path]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(database_toml("x", {"engine": "sqlite", "path": "x.db", "pool_sise": 3}))
    message = one_line_error(dbmesh("check", "-c", str(bad), "-s", str(demo[1]), "--offline"))
    assert message == f"{bad}: databases[0] (x): unknown key 'pool_sise' (did you mean 'pool_size'?)"


def test_missing_config_file(demo: tuple[Path, Path]) -> None:
    message = one_line_error(dbmesh("plan", "-c", "/nope/dbmesh.toml", "-s", str(demo[1]), "{ __typename }"))
    assert message == "/nope/dbmesh.toml: configuration file not found"


def test_bad_schema_is_one_line(tmp_path: Path, demo: tuple[Path, Path]) -> None:
    schema = tmp_path / "schema.py"
    schema.write_text(
        "from dbmesh import types, database\n\n@types.object\nclass Query:\n"
        "    @database('nowhere')\n    def things(self) -> list['Thing']: ...\n\n"
        "@types.object\nclass Thing:\n    id: int\n"
    )
    message = one_line_error(dbmesh("check", "-c", str(demo[0]), "-s", str(schema), "--offline"))
    assert message == (
        f"{schema}: Query.things: unknown database 'nowhere'; "
        "configured databases: mysql_historical, postgres_primary, sqlite_cache"
    )


def test_bad_query_for_plan(demo: tuple[Path, Path]) -> None:
    message = one_line_error(dbmesh("plan", "-c", str(demo[0]), "-s", str(demo[1]), "{ customers { nope } }"))
    assert message == "query: Cannot query field 'nope' on type 'Customer'. Did you mean 'name'?"


def test_router_needs_resolver_addresses(demo: tuple[Path, Path]) -> None:
    message = one_line_error(dbmesh("router", "-c", str(demo[0]), "-s", str(demo[1])))
    assert (
        message
        == f"{demo[0]}: database 'postgres_primary' has no 'resolver' address (dbmesh router needs one per database)"
    )


def test_resolver_needs_an_address(demo: tuple[Path, Path]) -> None:
    message = one_line_error(dbmesh("resolver", "-c", str(demo[0]), "--database", "postgres_primary"))
    assert message == f"{demo[0]}: database 'postgres_primary' has no 'resolver' address; pass --listen"
    unknown = one_line_error(dbmesh("resolver", "-c", str(demo[0]), "--database", "nope", "--listen", "127.0.0.1:0"))
    assert unknown == f"{demo[0]}: unknown database 'nope' (known: postgres_primary, mysql_historical, sqlite_cache)"


def test_check_offline_and_online(demo: tuple[Path, Path]) -> None:
    offline = dbmesh("check", "-c", str(demo[0]), "-s", str(demo[1]), "--offline")
    assert offline.returncode == 0, offline.stderr
    assert [line.split()[:2] for line in offline.stdout.splitlines()[:3]] == [
        ["ok", "postgres_primary"],
        ["ok", "mysql_historical"],
        ["ok", "sqlite_cache"],
    ]
    online = dbmesh("check", "-c", str(demo[0]), "-s", str(demo[1]))
    assert online.returncode == 0, online.stdout + online.stderr
    assert all(line.startswith("ok ") and "connected" in line for line in online.stdout.splitlines())


def test_check_names_a_missing_column_and_an_unreachable_database(tmp_path: Path) -> None:
    config, schema = prepare(tmp_path)
    conn = sqlite3.connect(tmp_path / "cache.db")
    conn.execute("ALTER TABLE customers DROP COLUMN email")
    conn.commit()
    conn.close()
    (tmp_path / "historical.db").unlink()
    result = dbmesh("check", "-c", str(config), "-s", str(schema))
    assert result.returncode == 1
    lines = {line.split()[1]: line for line in result.stdout.splitlines() if line.startswith(("ok", "FAIL"))}
    assert lines["postgres_primary"].startswith("ok ")
    assert lines["sqlite_cache"] == (
        f"FAIL  sqlite_cache (sqlite, {tmp_path}/cache.db): Customer (served by Query.customers): "
        "table 'customers' in database 'sqlite_cache' has no column 'email'"
    )
    historical = lines["mysql_historical"]
    assert historical.startswith("FAIL  mysql_historical") and "unable to open database file" in historical
    assert "password" not in result.stdout


def test_plan_prints_the_tree_and_json(demo: tuple[Path, Path]) -> None:
    tree = dbmesh("plan", "-c", str(demo[0]), "-s", str(demo[1]), "{ customers(limit: 2) { name allOrders { id } } }")
    assert tree.returncode == 0, tree.stderr
    assert tree.stdout.splitlines() == [
        "query: 2 fetches",
        "  Sequence",
        "    Fetch #1 customers(limit: 2): postgres_primary -> sqlite_cache.customers[name, id]",
        "    BatchedJoin #2 customers.allOrders: mysql_historical.orders[id] on customer_id = #1[1]",
    ]
    as_json = dbmesh("plan", "-c", str(demo[0]), "-s", str(demo[1]), "--json", "{ customers { id } }")
    assert '"kind": "Fetch"' in as_json.stdout


async def test_up_refuses_a_schema_the_databases_do_not_have(tmp_path: Path) -> None:
    config, schema = prepare(tmp_path)
    conn = sqlite3.connect(tmp_path / "historical.db")
    conn.execute("ALTER TABLE orders RENAME COLUMN total_amount TO total")
    conn.commit()
    conn.close()
    result = await asyncio.to_thread(dbmesh, "up", "-c", str(config), "-s", str(schema), "--port", "0")
    message = one_line_error(result)
    assert message == (
        "Order (served by Query.orders): table 'orders' in database 'mysql_historical' has no column 'total_amount'"
    )


async def test_up_serves_says_which_resolver_died_restarts_it_and_stops_cleanly(tmp_path: Path) -> None:
    config, schema = prepare(tmp_path)
    up = await UpProcess(config, schema).start()
    try:
        async with httpx.AsyncClient() as client:
            body = (
                await client.post(up.url, json={"query": EXAMPLE_QUERY, "variables": {"id": customer_id(1)}})
            ).json()
        assert body["data"]["customer"]["name"] == "Grace Lovelace"
        pid = up.kill_resolver("mysql_historical")
        restarted = await up.wait_restarted("mysql_historical")
        assert restarted != pid
        assert any(f"resolver mysql_historical (pid {pid}) exited with code -9" in line for line in up.output)
    finally:
        assert await up.stop() == 0
    for child in up.pids.values():  # every resolver stopped with the router
        with pytest.raises(ProcessLookupError):
            os.kill(child, 0)


async def test_demo_serves_the_example_query(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "dbmesh", "demo", "--port", "0", "--data", str(tmp_path / "data")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=tmp_path,
    )
    try:
        assert process.stdout is not None
        url = ""
        while not url:
            line = await asyncio.to_thread(process.stdout.readline)
            assert line, "dbmesh demo exited before serving"
            if line.startswith("dbmesh is serving "):
                url = line.split()[-1]
        async with httpx.AsyncClient() as client:
            body = (await client.post(url, json={"query": EXAMPLE_QUERY, "variables": {"id": customer_id(1)}})).json()
            page = await client.get(url, headers={"accept": "text/html"})
        assert body["data"]["customer"]["id"] == customer_id(1)
        assert {s["name"] for s in body["data"]["databaseStatus"]} == {
            "postgres_primary",
            "mysql_historical",
            "sqlite_cache",
        }
        assert "graphiql" in page.text.lower()
    finally:
        process.send_signal(signal.SIGINT)
        assert await asyncio.to_thread(process.wait, 30) == 0
        if process.stdout:
            process.stdout.close()


def test_plan_needs_no_variables_and_checks_given_ones(demo: tuple[Path, Path]) -> None:
    query = (
        "query($id: ID!, $more: Boolean = false) { customer(id: $id) { name allOrders @include(if: $more) { id } } }"
    )
    without = dbmesh("plan", "-c", str(demo[0]), "-s", str(demo[1]), query)
    assert without.returncode == 0, without.stderr
    assert without.stdout.splitlines()[:2] == [
        "query: 1 fetch",
        "  Fetch #1 customer(id: $id): postgres_primary -> sqlite_cache.customers[name]",
    ]
    more = dbmesh("plan", "-c", str(demo[0]), "-s", str(demo[1]), "--variables", '{"more": true}', query)
    assert more.stdout.splitlines()[0] == "query: 2 fetches"
    bad = one_line_error(dbmesh("plan", "-c", str(demo[0]), "-s", str(demo[1]), "--variables", '{"more": 3}', query))
    assert bad == "query: Variable '$more' has invalid value: Boolean cannot represent a non boolean value: 3"
    assert one_line_error(dbmesh("plan", "-c", str(demo[0]), "-s", str(demo[1]), "--variables", "{", query)) == (
        "--variables: not JSON (Expecting property name enclosed in double quotes at position 1)"
    )
