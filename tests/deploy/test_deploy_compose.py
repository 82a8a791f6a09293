"""docker-compose.yml: valid per the Compose Specification schema and Compose's own loader, every
dbmesh service starts from the shipped config and schema with the env file's variables, health
gates the start order, and the sample data matches the schema on real PostgreSQL, MariaDB and
SQLite. Deliberately broken copies fail the check that guards them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import asyncpg
import pymysql
import pytest
from deploy_checks import (
    COMPOSE_FILE,
    REPO,
    Obj,
    ToolError,
    compose_config,
    compose_mesh_problems,
    compose_processes,
    compose_resolver_problems,
    compose_schema_problems,
    copy_compose_project,
    edit,
    host_path,
    mount_link_problems,
    need,
    process_problems,
    run,
    tool,
)
from harness.servers import DatabaseInfo

DEPLOY = REPO / "deploy"
DBMESH_SERVICES = ["resolver-mysql-historical", "resolver-postgres-primary", "resolver-sqlite-cache", "router"]


def example_env() -> dict[str, str]:
    lines = (DEPLOY / ".env.example").read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_compose_file_validates_against_the_compose_specification() -> None:
    assert need(compose_schema_problems, COMPOSE_FILE) == []


def test_compose_loads_the_file(compose: Obj) -> None:
    assert sorted(compose["services"]) == sorted([*DBMESH_SERVICES, "mysql", "postgres", "sqlite-cache-init"])
    assert compose["services"]["router"]["ports"][0]["published"] == "8000"


def test_every_dbmesh_service_passes_dbmesh_check_offline(compose: Obj) -> None:
    """The real CLI on the bind-mounted deploy/dbmesh.toml and deploy/schema.py, with the
    environment Compose gives each service from the env file."""
    processes = list(compose_processes(compose))
    assert sorted(p.where.rsplit(" ", 1)[1] for p in processes) == DBMESH_SERVICES
    schema = (DEPLOY / "schema.py").read_text(encoding="utf-8")
    assert process_problems(processes, schema) == []


def test_resolver_addresses_are_the_resolver_services(compose: Obj) -> None:
    assert compose_resolver_problems(compose) == []


def test_health_gates_the_start_order(compose: Obj) -> None:
    services = compose["services"]
    for name, service in services.items():
        for dependency, condition in service.get("depends_on", {}).items():
            if condition["condition"] == "service_healthy":
                assert services[dependency].get("healthcheck", {}).get("test"), f"{name} waits for {dependency}"
    assert set(services["router"]["depends_on"]) == {s for s in DBMESH_SERVICES if s != "router"}
    assert services["resolver-postgres-primary"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["resolver-mysql-historical"]["depends_on"]["mysql"]["condition"] == "service_healthy"
    init = services["resolver-sqlite-cache"]["depends_on"]["sqlite-cache-init"]
    assert init["condition"] == "service_completed_successfully"
    assert services["router"]["healthcheck"]["test"] == [
        "CMD", "dbmesh", "health", "--url", "http://127.0.0.1:8000/healthz"
    ]  # fmt: skip
    for name in DBMESH_SERVICES[:-1]:  # over the mesh's mTLS: the certificate files named by the config
        assert services[name]["healthcheck"]["test"] == [
            "CMD", "dbmesh", "health", "--resolver", "127.0.0.1:50051", "-c", "/etc/dbmesh/dbmesh.toml"
        ]  # fmt: skip


def test_databases_load_the_sample_data_at_init(compose: Obj) -> None:
    for name, folder in (("postgres", "postgres"), ("mysql", "mysql")):
        (mount,) = [v for v in compose["services"][name]["volumes"] if v["target"] == "/docker-entrypoint-initdb.d"]
        assert mount["read_only"] and Path(mount["source"]).name == folder
        assert sorted(p.name for p in (DEPLOY / "compose" / "initdb" / folder).glob("*.sql"))


def test_env_file_is_an_example_and_the_real_one_is_ignored() -> None:
    assert set(example_env()) == {
        "POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB",
        "MYSQL_USER", "MYSQL_PASSWORD", "MYSQL_DATABASE", "MYSQL_ROOT_PASSWORD", "DBMESH_MESH_TOKEN",
    }  # fmt: skip
    ignored = subprocess.run(["git", "check-ignore", "-q", "deploy/.env"], cwd=REPO, check=False)
    assert ignored.returncode == 0, "deploy/.env must be git-ignored"


def test_a_missing_env_file_is_reported(tmp_path: Path) -> None:
    project = copy_compose_project(tmp_path, env_file=False)
    with pytest.raises(ToolError, match=r"deploy/\.env"):
        compose_config(project)


# --- the sample data on real servers -----------------------------------------------------------


def sqlite_cache_init(compose: Obj, cache: Path) -> list[str | Path]:
    """The sqlite-cache-init service's command, run here: its container paths mapped back to the
    bind-mounted files, the cache file put at `cache`."""
    service = compose["services"]["sqlite-cache-init"]
    entrypoint, (database, *scripts) = service["entrypoint"], service["command"]
    assert entrypoint[0] == "python" and database == "/var/lib/dbmesh/cache.db"
    mapped = [host_path(service, path) for path in (entrypoint[1], *scripts)]
    assert all(mapped), (entrypoint, scripts)
    program, *sql = [p for p in mapped if p is not None]
    return [sys.executable, program, cache, *sql]


def test_no_mounted_folder_holds_a_link_out_of_it(compose: Obj) -> None:
    assert mount_link_problems(compose) == []


def test_sqlite_cache_init_mounts_the_shared_tables_and_the_sample_rows(compose: Obj) -> None:
    deploy = Path(compose["services"]["sqlite-cache-init"]["volumes"][1]["source"]).parents[3]  # the copy's
    assert sqlite_cache_init(compose, Path("/cache.db"))[1:] == [
        deploy / "k8s/base/config/init_cache.py", Path("/cache.db"),
        deploy / "k8s/base/config/sqlite-tables.sql", deploy / "sqlite/sample.sql",
    ]  # fmt: skip


async def test_sample_data_matches_the_schema(
    compose: Obj, pg_database: DatabaseInfo, mysql_database: DatabaseInfo, tmp_path: Path
) -> None:
    """What the images' init step loads (the sqlite cache exactly as compose's sqlite-cache-init
    runs it), loaded into real servers, then `dbmesh check` (online) with the deployed config:
    every table and column the schema needs is there."""
    pg = await asyncpg.connect(
        host=pg_database.host, port=pg_database.port, user=pg_database.user, database=pg_database.database
    )
    try:
        for script in sorted((DEPLOY / "compose/initdb/postgres").glob("*.sql")):
            await pg.execute(script.read_text(encoding="utf-8"))
    finally:
        await pg.close()
    user = f"deploy_{mysql_database.database}"[:32]
    my = pymysql.connect(
        host=mysql_database.host, port=mysql_database.port, user=mysql_database.user, password=mysql_database.password,
        database=mysql_database.database, client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS, autocommit=True,
    )  # fmt: skip
    try:
        with my.cursor() as cursor:
            for script in sorted((DEPLOY / "compose/initdb/mysql").glob("*.sql")):
                cursor.execute(script.read_text(encoding="utf-8"))
                while cursor.nextset():
                    pass
            cursor.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'sample-password'")
            cursor.execute(f"GRANT SELECT ON `{mysql_database.database}`.* TO '{user}'@'%'")
    finally:
        my.close()
    cache = tmp_path / "cache.db"
    init = run(sqlite_cache_init(compose, cache))
    assert init.returncode == 0, init.stderr

    certs = run(["sh", DEPLOY / "tls" / "make-certs.sh", tmp_path / "tls"])  # what the README says to run
    assert certs.returncode == 0, certs.stderr
    config = (DEPLOY / "dbmesh.toml").read_text(encoding="utf-8")
    for old, new, count in (
        ("port = 5432", f"port = {pg_database.port}", 1),
        ("port = 3306", f"port = {mysql_database.port}", 1),
        ('path = "/var/lib/dbmesh/cache.db"', f'path = "{cache}"', 1),
        ('"/etc/dbmesh-tls/', f'"{tmp_path}/tls/', 3),
    ):
        assert config.count(old) == count
        config = config.replace(old, new)
    (tmp_path / "dbmesh.toml").write_text(config, encoding="utf-8")
    env = {
        "POSTGRES_HOST": pg_database.host, "POSTGRES_DB": pg_database.database,
        "POSTGRES_USER": pg_database.user, "POSTGRES_PASSWORD": "trust-auth-ignores-it",
        "MYSQL_HOST": mysql_database.host, "MYSQL_DATABASE": mysql_database.database,
        "MYSQL_USER": user, "MYSQL_PASSWORD": "sample-password",
        "DBMESH_MESH_TOKEN": example_env()["DBMESH_MESH_TOKEN"],
    }  # fmt: skip
    try:
        result = run(
            [tool("dbmesh"), "check", "-c", tmp_path / "dbmesh.toml", "-s", DEPLOY / "schema.py"],
            env={"PATH": "/usr/bin:/bin", **env},
        )
    finally:
        my = pymysql.connect(
            host=mysql_database.host,
            port=mysql_database.port,
            user=mysql_database.user,
            password=mysql_database.password,
        )
        with my.cursor() as cursor:
            cursor.execute(f"DROP USER IF EXISTS '{user}'@'%'")
        my.close()
    assert result.returncode == 0, result.stdout + result.stderr
    assert [line.split()[0] for line in result.stdout.splitlines()] == ["ok", "ok", "ok", "ok"]
    assert result.stdout.splitlines()[-1] == "ok    mesh: token, mTLS"


# --- deliberately broken copies ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("broken", "old", "new", "expected"),
    [
        (
            "a list written as a string",
            "  tmpfs: [/tmp]\n  cap_drop: [ALL]\n",
            "  tmpfs: [/tmp]\n  cap_drop: ALL\n",
            "'ALL' is not of type 'array'",
        ),
        (
            "an unknown service key",
            "    network_mode: none\n",
            "    network_mode: none\n    restart_policy: never\n",
            "Unevaluated properties are not allowed ('restart_policy' was unexpected)",
        ),
        (
            "an unknown depends_on condition",
            "        condition: service_completed_successfully",
            "        condition: service_finished",
            "'service_finished' is not one of",
        ),
    ],
)
def test_broken_copy_fails_the_compose_specification(
    compose_copy: Path, broken: str, old: str, new: str, expected: str
) -> None:
    edit(compose_copy / "docker-compose.yml", old, new)
    problems = need(compose_schema_problems, compose_copy / "docker-compose.yml")
    assert len(problems) == 1 and expected in problems[0], (broken, problems)
    with pytest.raises(ToolError):
        compose_config(compose_copy)


@pytest.mark.parametrize(
    ("broken", "old", "new", "expected"),
    [
        # Valid per the schema; only Compose's loader knows the service does not exist.
        (
            "a dependency on a missing service",
            "      mysql:\n        condition: service_healthy",
            "      mariadb:\n        condition: service_healthy",
            "depends on undefined service",
        ),
        (
            "an undeclared named volume",
            "      - mysql-data:/var/lib/mysql",
            "      - mysql-dat:/var/lib/mysql",
            "undefined volume mysql-dat",
        ),
        (
            "an undeclared network",
            "    networks: [mesh, mysql-net]",
            "    networks: [mesh, mysql-network]",
            "undefined network mysql-network",
        ),
    ],
)
def test_broken_copy_passes_the_schema_but_fails_compose_itself(
    compose_copy: Path, broken: str, old: str, new: str, expected: str
) -> None:
    edit(compose_copy / "docker-compose.yml", old, new)
    assert need(compose_schema_problems, compose_copy / "docker-compose.yml") == []
    with pytest.raises(ToolError, match=expected):
        compose_config(compose_copy)


def test_broken_env_file_fails_dbmesh_check(compose_copy: Path) -> None:
    """An env file without MYSQL_PASSWORD: Compose starts the containers; the MySQL resolver, the only
    process that uses that password, cannot load its database's connection settings."""
    edit(compose_copy / "deploy/.env", "MYSQL_PASSWORD=change-me-mysql\n", "")
    schema = (DEPLOY / "schema.py").read_text(encoding="utf-8")
    problems = process_problems(compose_processes(compose_config(compose_copy)), schema)
    assert problems == [
        "compose service resolver-mysql-historical: dbmesh: error: <dir>/dbmesh.toml: databases[1].password "
        "(mysql_historical): environment variable 'MYSQL_PASSWORD' is not set and has no default"
    ]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            'resolver = "dns:///resolver-sqlite-cache:50051"',
            'resolver = "dns:///resolver-sqlite-cache:50052"',
            "sqlite_cache: resolver dns:///resolver-sqlite-cache:50052: "
            "service resolver-sqlite-cache listens on 0.0.0.0:50051",
        ),
        (
            'resolver = "dns:///resolver-mysql-historical:50051"',
            'resolver = "dns:///resolver-postgres-primary:50051"',
            "mysql_historical: resolver dns:///resolver-postgres-primary:50051: "
            "service resolver-postgres-primary does not run its resolver",
        ),
    ],
)
def test_broken_resolver_address_fails(compose_copy: Path, old: str, new: str, expected: str) -> None:
    edit(compose_copy / "deploy/dbmesh.toml", old, new)
    assert compose_resolver_problems(compose_config(compose_copy)) == [expected]


def test_broken_copy_mounting_a_folder_with_a_link_out_of_it_fails(compose_copy: Path) -> None:
    """The old layout: deploy/sqlite mounted whole, init_cache.py in it a link to base/config/."""
    (compose_copy / "deploy/sqlite/init_cache.py").symlink_to("../k8s/base/config/init_cache.py")
    edit(
        compose_copy / "docker-compose.yml",
        "      - ./deploy/k8s/base/config/init_cache.py:/opt/dbmesh-init/init_cache.py:ro\n",
        "      - ./deploy/sqlite:/opt/dbmesh-init:ro\n",
    )
    assert mount_link_problems(compose_config(compose_copy)) == [
        "sqlite-cache-init: init_cache.py in the folder mounted at /opt/dbmesh-init links to "
        "../k8s/base/config/init_cache.py, outside the folder"
    ]


# --- the mesh's token and certificates ----------------------------------------------------------


def test_every_dbmesh_service_gets_the_mesh_token_and_certificates(compose: Obj) -> None:
    assert compose_mesh_problems(compose) == []
    assert sorted(compose["secrets"]) == ["mesh-tls-ca", "mesh-tls-cert", "mesh-tls-key"]
    for secret in compose["secrets"].values():
        assert Path(secret["file"]).parent.name == "tls"
    ignored = subprocess.run(["git", "check-ignore", "-q", "deploy/tls/tls.key"], cwd=REPO, check=False)
    assert ignored.returncode == 0, "deploy/tls/tls.key must be git-ignored"


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        (
            "deploy/.env",
            "DBMESH_MESH_TOKEN=change-me-mesh-token-0123456789\n",
            "",
            "compose service router: DBMESH_MESH_TOKEN is not set (deploy/.env)",
        ),
        (
            "docker-compose.yml",
            "    target: /etc/dbmesh-tls/ca.crt\n",
            "    target: /etc/dbmesh-tls/ca.pem\n",
            "compose service router: mesh.tls_ca /etc/dbmesh-tls/ca.crt: no compose secret is mounted there",
        ),
    ],
    ids=["no-token", "ca-elsewhere"],
)
def test_broken_copy_fails_the_mesh_check(compose_copy: Path, file: str, old: str, new: str, expected: str) -> None:
    edit(compose_copy / file, old, new)
    assert expected in compose_mesh_problems(compose_config(compose_copy))
