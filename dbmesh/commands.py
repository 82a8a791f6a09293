"""What each `dbmesh` command does (docs/reference.md §2). `dbmesh.cli` parses arguments and prints errors;
these functions do the work and raise `DbmeshError`s for the user's mistakes."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import shlex
import shutil
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dbmesh import telemetry
from dbmesh.config import Config, DatabaseConfig, load_config
from dbmesh.errors import ConfigError, DbmeshError
from dbmesh.heap import freeze_startup_heap
from dbmesh.mesh import MeshConfig

if TYPE_CHECKING:
    from dbmesh.schema import SchemaModel

__all__ = [
    "check",
    "demo",
    "health",
    "init",
    "outbox",
    "plan",
    "reconcile",
    "resolver",
    "router",
    "sync_run",
    "sync_serve",
    "sync_status",
    "transactions",
    "up",
]

log = logging.getLogger("dbmesh")


def _load(config_path: str, schema_path: str) -> tuple[Config, SchemaModel]:
    # Imported here: the commands without a schema module (reconcile, sync) never load the router
    # or the schema loader.
    from dbmesh.router.access import check_permissions
    from dbmesh.schema import load_schema

    config = load_config(config_path)
    read_only = [d.name for d in config.databases if d.read_only]
    model = load_schema(schema_path, [d.name for d in config.databases], read_only=read_only)
    check_permissions(config, model)  # [[permissions]] against the schema module (docs/reference.md §14)
    return config, model


def _with_resolvers(config: Config, addresses: dict[str, str]) -> Config:
    databases = tuple(d.with_resolver(addresses[d.name]) if d.name in addresses else d for d in config.databases)
    return dataclasses.replace(config, databases=databases)


def _listen_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit it. Without it every response waits ~40 ms for a delayed ACK
    # (Nagle), which the transport does not turn off for a socket handed to uvicorn.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise DbmeshError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(1024)
    sock.setblocking(False)
    return sock


async def _stop_signal() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def serve_router(
    config: Config,
    model: SchemaModel,
    host: str | None,
    port: int | None,
    stop: asyncio.Event,
    on_ready: Callable[[str, Any], Awaitable[None] | None] | None = None,
) -> None:
    """Serve the router until `stop` is set; `on_ready` gets the GraphQL URL (and the router)
    once it listens. With `[telemetry]` its traces are exported while it serves."""
    from dbmesh.router import Router, create_app
    from dbmesh.router.server import create_server

    host = host or config.router.host
    port = config.router.port if port is None else port
    sock = _listen_socket(host, port)
    bound_port = sock.getsockname()[1]
    tracing = telemetry.install(config.telemetry, "dbmesh-router")
    try:
        core = Router(config, model)
        await core.start()
    except BaseException:
        await telemetry.uninstall(tracing)
        raise
    server = create_server(create_app(core, manage_router=False), config.router)
    serving = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if serving.done():
                await serving
                raise DbmeshError(f"the router could not start on {host}:{bound_port}")
            await asyncio.sleep(0.02)
        freeze_startup_heap()
        shown = f"[{host}]" if ":" in host else host
        if on_ready is not None:
            ready = on_ready(f"http://{shown}:{bound_port}/graphql", core)
            if ready is not None:
                await ready
        waiter = asyncio.get_running_loop().create_task(stop.wait())
        await asyncio.wait({serving, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await serving
        await core.stop()
        sock.close()
        await telemetry.uninstall(tracing)


def health_url(url: str) -> str:
    """The URL `dbmesh health --url` probes: a GraphQL URL (path ending in `/graphql`, as `up`
    prints) or a bare origin means the router's `/healthz` beside it; any other URL as given."""
    import httpx

    parsed = httpx.URL(url)
    path = parsed.path
    if path.rstrip("/").endswith("/graphql"):
        path = path.rstrip("/").removesuffix("graphql") + "healthz"
    elif path in ("", "/"):
        path = "/healthz"
    return str(parsed.copy_with(path=path, query=None))


# --- commands ---------------------------------------------------------------------------------


async def resolver(config_path: str, database: str, listen: str | None) -> int:
    from dbmesh.services import serve
    from dbmesh.supervisor import die_with_supervisor

    die_with_supervisor()
    config = load_config(config_path)
    db = config.database(database)
    db.connection()  # its variables are needed here, and only here: fail in one line before serving
    if not listen and db.replicated:
        raise ConfigError(
            f"{config.source}: database {database!r} has several resolver replicas (resolver = {db.resolver!r});"
            " pass --listen with this one's address"
        )
    address = listen or db.resolver
    if not address:
        raise ConfigError(f"{config.source}: database {database!r} has no 'resolver' address; pass --listen")
    tracing = telemetry.install(config.telemetry, "dbmesh-resolver", **{"dbmesh.database": db.name})
    try:
        await serve(db, address, config.mesh)
    finally:
        await telemetry.uninstall(tracing)
    return 0


async def router(config_path: str, schema_path: str, host: str | None, port: int | None) -> int:
    config, model = _load(config_path, schema_path)
    missing = [d.name for d in config.databases if not d.resolver]
    if missing:
        raise ConfigError(
            f"{config.source}: database {missing[0]!r} has no 'resolver' address (dbmesh router needs one per database)"
        )
    stop = await _stop_signal()

    def ready(url: str, _router: object) -> None:
        print(f"dbmesh router serving {url}", flush=True)

    await serve_router(config, model, host, port, stop, ready)
    return 0


async def up(
    config_path: str,
    schema_path: str,
    host: str | None,
    port: int | None,
    *,
    banner: Callable[[str], None] | None = None,
) -> int:
    from dbmesh.supervisor import Supervisor

    config, model = _load(config_path, schema_path)
    config.check_connections()  # every resolver is started here: one line now, not one per resolver log
    stop = await _stop_signal()
    supervisor = Supervisor(config_path, config, stopping=stop)
    try:
        addresses = await supervisor.start()
        if stop.is_set():
            return 0
        config = _with_resolvers(config, addresses)

        def ready(url: str, _router: object) -> None:
            print(f"dbmesh is serving {url}", flush=True)
            if banner:
                banner(url)

        await serve_router(config, model, host, port, stop, ready)
    finally:
        await supervisor.stop()
    return 0


async def demo(data_dir: str, host: str, port: int) -> int:
    from dbmesh.demo import EXAMPLE_QUERY, customer_id, prepare

    config_path, schema_path = prepare(Path(data_dir))

    def banner(url: str) -> None:
        body = json.dumps({"query": EXAMPLE_QUERY, "variables": {"id": customer_id(1)}})
        command = _own_command()
        plan = f"{command} plan -c {_shown(config_path)} -s {_shown(schema_path)} '{PLAN_EXAMPLE}'"
        print(f"\nOpen {url} in a browser (GraphiQL), or try:\n", flush=True)
        print(f"curl -s {url} -H 'content-type: application/json' -d '{body}'\n", flush=True)
        print("The plan of a query (which database serves what, in which order), in another terminal:\n", flush=True)
        print(f"{plan}\n", flush=True)
        if command != "dbmesh":
            where = "is not on PATH here" if shutil.which("dbmesh") is None else "on PATH is another install"
            print(f"(dbmesh {where}: run it as {command})\n", flush=True)

    return await up(str(config_path), str(schema_path), host, port, banner=banner)


PLAN_EXAMPLE = "{ customers(limit: 3) { id allOrders { id items { quantity } } } }"


def _own_command() -> str:
    """How to run this dbmesh from the working directory: `dbmesh` when that is on PATH and is this
    one, else this one's script (e.g. `.venv/bin/dbmesh` after `make demo`), else `python -m dbmesh`."""
    candidates = [Path(sys.argv[0]), Path(sys.executable).parent / "dbmesh"]
    script = next((c for c in candidates if c.name == "dbmesh" and c.is_file()), None)
    if script is None:
        return f"{shlex.quote(sys.executable)} -m dbmesh"
    on_path = shutil.which("dbmesh")
    if on_path is not None and Path(on_path).resolve() == script.resolve():
        return "dbmesh"
    return _shown(script)


def _shown(path: Path) -> str:
    """`path` relative to the working directory when it is under it, quoted for a shell."""
    absolute = path.absolute()
    with contextlib.suppress(ValueError):
        return shlex.quote(str(absolute.relative_to(Path.cwd())))
    return shlex.quote(str(absolute))


async def check(config_path: str, schema_path: str, *, offline: bool, as_json: bool = False) -> int:
    """One line per database, or with `as_json` one JSON document (docs/reference.md §2);
    exit 1 on any problem. With `as_json` a config or schema that does not load is the document
    `{"ok": false, "error": LINE}` as well as the usual error line."""
    try:
        report = await _check_report(config_path, schema_path, offline=offline)
    except DbmeshError as exc:
        if as_json:
            print(json.dumps({"ok": False, "error": str(exc)}, indent=2))
        raise
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        for line in _check_lines(report, schema_path):
            print(line)
    return 0 if report["ok"] else 1


async def _check_report(config_path: str, schema_path: str, *, offline: bool) -> dict[str, Any]:
    """What `check` found: per database ok/error and its tables, the schema's summary."""
    from dbmesh.schema.check import schema_problems

    config, model = _load(config_path, schema_path)
    config.check_connections()
    config.mesh.check_files()  # [mesh] TLS files: one line now, not a resolver that cannot start
    databases: list[dict[str, Any]] = []
    results: list[tuple[str | None, dict[str, set[str]] | None]] = [(None, None)] * len(config.databases)
    if not offline:
        results = list(await asyncio.gather(*(_check_database(db) for db in config.databases)))
    for db, (error, tables) in zip(config.databases, results, strict=True):
        problems = [error] if error else [] if tables is None else schema_problems(model, db.name, tables)
        databases.append(
            {
                "name": db.name,
                "engine": db.engine,
                "description": db.describe(),
                "ok": not problems,
                "connected": None if offline else not error,
                "tables": None if tables is None or error else len(tables),
                "problems": problems,
            }
        )
    schema = {
        "path": schema_path,
        "types": len(model.types),
        "root_fields": len(model.query),
        "warnings": list(model.warnings),
    }
    return {
        "ok": all(d["ok"] for d in databases),
        "offline": offline,
        "databases": databases,
        "schema": schema,
        "mesh": config.mesh.describe(),  # never the token
    }


def _check_lines(report: dict[str, Any], schema_path: str) -> list[str]:
    lines = [f"warning: {warning}" for warning in report["schema"]["warnings"]]
    for db in report["databases"]:
        problems = db["problems"]
        if problems:
            more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
            lines.append(f"FAIL  {db['description']}: {problems[0]}{more}")
        elif report["offline"]:
            lines.append(f"ok    {db['description']}: configuration valid (not connected: --offline)")
        else:
            lines.append(f"ok    {db['description']}: connected, {db['tables']} tables and views")
    if report["mesh"] != MeshConfig().describe():
        lines.append(f"ok    mesh: {report['mesh']}")
    if report["offline"]:
        schema = report["schema"]
        lines.append(f"ok    schema {schema_path}: {schema['types']} types, {schema['root_fields']} root fields")
    return lines


async def _check_database(db: DatabaseConfig) -> tuple[str | None, dict[str, set[str]]]:
    from dbmesh.services.engines import create_engine
    from dbmesh.services.errors import ResolverError

    engine = create_engine(db)
    try:
        await engine.open()
        status = await engine.status()
        if not status.connected:
            return status.error or "not reachable", {}
        catalog = await engine.introspect()
        return None, {name: set(c.columns) for name, c in catalog.collections.items()}
    except ResolverError as exc:
        return exc.message, {}
    except Exception as exc:
        return engine.map_error(exc).message, {}
    finally:
        await engine.close()


async def init(config_path: str, output: str, *, force: bool, running: bool) -> int:
    """`dbmesh init`: write the schema module of the configured databases (docs/reference.md §15)."""
    from dbmesh.router.schema import build_graphql_schema
    from dbmesh.scaffold import init_schema

    print(await init_schema(config_path, output, force=force, running=running, graphql=build_graphql_schema))
    return 0


def plan(config_path: str, schema_path: str, query: str, *, as_json: bool, variables: str | None = None) -> int:
    from dbmesh.router.plan import describe_plan, plan_to_json
    from dbmesh.router.preparation import Preparation
    from dbmesh.router.schema import build_graphql_schema

    if query.startswith("@"):
        try:
            query = Path(query[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise DbmeshError(f"{query[1:]}: {exc.strerror}") from None
    try:
        values = json.loads(variables) if variables else None
    except json.JSONDecodeError as exc:
        raise DbmeshError(f"--variables: not JSON ({exc.msg} at position {exc.pos})") from None
    if values is not None and not isinstance(values, dict):
        raise DbmeshError("--variables: must be a JSON object")
    config, model = _load(config_path, schema_path)
    schema, index = build_graphql_schema(model)
    try:
        the_plan = Preparation(schema, index, config.router).plan(query, variables=values)
    except ValueError as exc:
        raise DbmeshError(f"query: {exc}") from None
    if as_json:
        print(json.dumps(plan_to_json(the_plan, with_selections=True), indent=2))
    else:
        print(describe_plan(the_plan))
    return 0


async def health(
    url: str | None,
    resolver_address: str | None,
    timeout: float,  # noqa: ASYNC109
    config_path: str | None = None,
) -> int:
    """Exit 0 when the router at `url` or the resolver at `resolver_address` answers as healthy;
    over TLS with the `[mesh]` certificates of `config_path` when given (health needs no token)."""
    if url:
        import httpx

        probed = health_url(url)
        logging.getLogger("httpx").setLevel(logging.WARNING)  # a healthcheck prints only its failure
        try:
            async with httpx.AsyncClient(timeout=timeout) as client:
                response = await client.get(probed)
        except httpx.HTTPError as exc:
            raise DbmeshError(f"{probed}: {exc or type(exc).__name__}") from None
        if response.status_code != 200:
            raise DbmeshError(f"{probed}: HTTP {response.status_code}")
        return 0
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from dbmesh.mesh import channel

    assert resolver_address is not None
    mesh = load_config(config_path).mesh if config_path else None
    async with channel(resolver_address, mesh) as opened:
        try:
            answer = await health_pb2_grpc.HealthStub(opened).Check(health_pb2.HealthCheckRequest(), timeout=timeout)
        except grpc.aio.AioRpcError as exc:
            raise DbmeshError(f"resolver {resolver_address}: {exc.code().name}") from None
    if answer.status != health_pb2.HealthCheckResponse.SERVING:
        raise DbmeshError(f"resolver {resolver_address}: not serving")
    return 0


async def transactions(config_path: str, *, recover: bool) -> int:
    """`dbmesh transactions`: in-doubt and recent transactions, or (`recover`) resolve the in-doubt
    ones, one line each (docs/reference.md §10). Exit 3 when `recover` leaves some in doubt."""
    from dbmesh.coordinator import Coordinator
    from dbmesh.resolver.client import CallError, ResolverClient

    config = load_config(config_path)
    missing = [d.name for d in config.databases if not d.resolver]
    if missing:
        raise ConfigError(
            f"{config.source}: database {missing[0]!r} has no 'resolver' address (dbmesh transactions needs one per"
            " database)"
        )
    clients = {d.name: ResolverClient(d, config.mesh) for d in config.databases}
    coordinator = Coordinator(config, clients)
    try:
        if recover:
            resolutions = await coordinator.recover(strict=True)
            for resolution in resolutions:
                print(resolution.line())
            if not resolutions:
                print("no transactions in doubt")
            return 3 if any(r.action.startswith(("left", "failed", "lost")) for r in resolutions) else 0
        in_doubt = await coordinator.in_doubt(strict=True)
        for item in in_doubt:
            owner = "alive" if item.owner_alive else "gone"
            print(
                f"in doubt: {item.global_id} on {item.database} (transaction {item.transaction_id},"
                f" decision {item.decision}, coordinator {item.owner} {owner})"
            )
        if not in_doubt:
            print("no transactions in doubt")
        for entry in await coordinator.history():
            state = "finished" if entry.finished_at is not None else "unfinished"
            databases = ", ".join(p.database for p in entry.participants) or "-"
            print(f"{entry.decision}: transaction {entry.transaction_id} ({state}; {databases})")
        return 0
    except CallError as exc:
        raise DbmeshError(exc.message) from None
    finally:
        for client in clients.values():
            await client.close()


async def outbox(config_path: str) -> int:
    """`dbmesh outbox`: pending write-through changes per written database and target (count,
    age of the oldest), one line each (docs/reference.md §11), then one line per database that
    could not be read. Exit 3 when some could not (what was read is still listed)."""
    from dbmesh.outbox import pending_changes
    from dbmesh.resolver.client import ResolverClient

    config = load_config(config_path)
    missing = [d.name for d in config.databases if not d.resolver]
    if missing:
        raise ConfigError(
            f"{config.source}: database {missing[0]!r} has no 'resolver' address (dbmesh outbox needs one per database)"
        )
    clients = {d.name: ResolverClient(d, config.mesh) for d in config.databases}
    try:
        backlog, failed = await pending_changes(clients)
    finally:
        for client in clients.values():
            await client.close()
    for entry in backlog:
        print(entry.line())
    if not backlog and not failed:
        print("no pending write-through changes")
    for error in failed:
        print(f"not read: {error.message}")
    return 3 if failed else 0


# --- sync jobs (docs/reference.md §12) -----------------------------------------------------------


@contextlib.asynccontextmanager
async def _resolvers_for(config: Config, names: list[str]) -> Any:
    """`config` with a resolver address for each of `names`: a database without a `resolver` key
    gets a resolver service in this process for as long as the command runs (stopped after),
    with the config's [mesh] settings like any other resolver."""
    started = []
    addresses: dict[str, str] = {}
    try:
        for name in names:
            db = config.database(name)
            if not db.resolver:
                from dbmesh.services import create_server  # here: only when some database has no resolver

                db.connection()  # its settings' one-line error before anything starts
                running = await create_server(db, "127.0.0.1:0", config.mesh)
                started.append(running)
                addresses[name] = f"127.0.0.1:{running.port}"
        yield _with_resolvers(config, addresses)
    finally:
        for running in started:
            await running.stop(grace=1.0)


async def sync_run(config_path: str, names: list[str]) -> int:
    """`dbmesh sync run`: each job once now; a progress bar on a terminal, else one summary line
    per job. Exit 1 when a job failed."""
    from dbmesh.sync.runner import Jobs, databases_used, progress_bar, select_jobs

    config = load_config(config_path)
    jobs = select_jobs(config, names)
    failed = False
    async with _resolvers_for(config, databases_used(config, jobs)) as served, Jobs(served, jobs) as runner:
        for job in jobs:
            if sys.stderr.isatty():
                with progress_bar(job) as advance:
                    result = await runner.run(job, advance)
            else:
                result = await runner.run(job)
            print(result.line(), flush=True)
            failed = failed or result.error is not None
    return 1 if failed else 0


async def sync_status(config_path: str) -> int:
    """`dbmesh sync status`: each job's last run, rows, high-water mark, lag and last error.
    Exit 3 when some job's state could not be read."""
    from dbmesh.sync.runner import databases_used, select_jobs, status_lines

    config = load_config(config_path)
    jobs = select_jobs(config, [])
    targets = list(dict.fromkeys(job.target for job in jobs))
    async with _resolvers_for(config, [n for n in databases_used(config, jobs) if n in targets]) as served:
        lines, ok = await status_lines(served, jobs)
    for line in lines:
        print(line)
    return 0 if ok else 3


async def sync_serve(config_path: str) -> int:
    """`dbmesh sync serve`: run each job with a `schedule` when it is due, until SIGINT/SIGTERM; one
    summary line per run. With several such processes each due run happens once (dbmesh.sync.serve)."""
    from datetime import datetime

    from dbmesh.sync.job import RunResult
    from dbmesh.sync.runner import Jobs, databases_used, select_jobs
    from dbmesh.sync.serve import Scheduler

    config = load_config(config_path)
    jobs = [job for job in select_jobs(config, []) if job.schedule]
    if not jobs:
        raise ConfigError(f"{config.source}: no sync job has a 'schedule' (dbmesh sync serve runs scheduled jobs)")
    stop = await _stop_signal()

    def report(result: RunResult, due: datetime) -> None:
        print(f"{result.line()} (scheduled for {due.isoformat().replace('+00:00', 'Z')})", flush=True)

    async with _resolvers_for(config, databases_used(config, jobs)) as served, Jobs(served, jobs) as runner:
        scheduler = Scheduler(runner, jobs, report)
        names = ", ".join(f"{job.name} ({job.schedule})" for job in jobs)
        print(f"dbmesh sync serve: {len(jobs)} scheduled jobs: {names}", flush=True)
        await scheduler.serve(stop)
    return 0


async def reconcile(
    config_path: str, table: str, source: str, target: str, options: Any, *, target_table: str | None, as_json: bool
) -> int:
    """`dbmesh reconcile` (docs/reference.md §13): exit 0 when the tables are equal, 1 when they differ.
    A database without a `resolver` address gets one in this process for the command's duration
    (its checksums are then computed here, still next to the database's own driver)."""
    from dbmesh.reconcile import Side
    from dbmesh.reconcile import reconcile as compare
    from dbmesh.resolver.client import ResolverClient

    config = load_config(config_path)
    config.database(source), config.database(target)  # an unknown name: one line, before anything starts
    async with _resolvers_for(config, [source, target]) as served:
        clients = [ResolverClient(served.database(name), served.mesh) for name in (source, target)]
        try:
            sides = (Side(source, table, clients[0]), Side(target, target_table or table, clients[1]))
            result = await compare(*sides, options)
        finally:
            for client in clients:
                await client.close()
    if as_json:
        print(json.dumps(result.document()))
    else:
        print("\n".join(result.lines()))
    return 0 if result.equal else 1
