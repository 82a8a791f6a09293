"""The `dbmesh` command (docs/reference.md §2): up, router, resolver, demo, check, init, plan, health,
transactions, outbox, sync.

Every command exits non-zero with ONE human-readable line on bad input (what is wrong and where:
file, key or line), never a traceback: `main` is the single place exceptions become that line.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

from dbmesh.errors import DbmeshError

__all__ = ["main"]

log = logging.getLogger("dbmesh")

T = TypeVar("T")


class UsageError(DbmeshError):
    """A command-line mistake the parser could not catch."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dbmesh", description="One GraphQL API in front of many databases (PostgreSQL, MySQL, SQLite)."
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--version", action=_VersionAction)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(p: argparse.ArgumentParser, schema: bool = True) -> None:
        p.add_argument("-c", "--config", required=True, help="the TOML configuration (docs/reference.md §3)")
        if schema:
            p.add_argument("-s", "--schema", required=True, help="the schema module (docs/reference.md §4)")

    def with_address(p: argparse.ArgumentParser) -> None:
        p.add_argument("--host", help="router address (default: [router] host, else 127.0.0.1)")
        p.add_argument("--port", type=int, help="router port (default: [router] port, else 8000)")

    up = commands.add_parser(
        "up",
        help="start a resolver per database and the router",
        description="Start a resolver process per database and the router; print the GraphQL URL once all "
        "answer. Ctrl+C (SIGINT) or SIGTERM stops every part and exits 0.",
    )
    with_config(up)
    with_address(up)

    router = commands.add_parser("router", help="the router alone (resolvers at their `resolver` keys)")
    with_config(router)
    with_address(router)

    resolver = commands.add_parser("resolver", help="one resolver service for one database")
    with_config(resolver, schema=False)
    resolver.add_argument("--database", required=True, help="the configured database it serves")
    resolver.add_argument("--listen", help="host:port (default: the database's `resolver` key)")

    demo = commands.add_parser(
        "demo",
        help="serve sample SQLite databases with an example schema",
        description="Create sample SQLite databases and serve them as `up` does; print the URL, an example "
        "query and how to run `plan` on the demo. Ctrl+C stops everything and exits 0.",
    )
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--data", default=".dbmesh-demo", help="where the sample databases go (default .dbmesh-demo)")

    check = commands.add_parser("check", help="validate config and schema, connect to every database")
    with_config(check)
    check.add_argument("--offline", action="store_true", help="validate without connecting")
    check.add_argument("--json", action="store_true", help="print one JSON document (for scripts)")

    init = commands.add_parser(
        "init",
        help="write a schema module from what the databases hold",
        description="Read every configured database's tables through its resolver and write a schema module: a "
        "type per table, relations from foreign keys and from <type>_id columns, a list and a by-key field per "
        "table on Query (docs/reference.md §15). Starts its own resolvers unless --running.",
    )
    with_config(init, schema=False)
    init.add_argument("-o", "--output", default="schema.py", help="the module to write (default schema.py)")
    init.add_argument("--force", action="store_true", help="overwrite the output file if it exists")
    init.add_argument(
        "--running", action="store_true", help="ask the resolvers running at the databases' `resolver` addresses"
    )

    plan = commands.add_parser("plan", help="print the query plan of a query without running it")
    with_config(plan)
    plan.add_argument("query", help="the GraphQL query text, or @FILE to read it from a file")
    plan.add_argument("--json", action="store_true", help="print the plan as JSON")
    plan.add_argument("--variables", help="variables as a JSON object (they matter only to @skip/@include)")

    transactions = commands.add_parser(
        "transactions",
        help="list in-doubt and recently decided cross-database transactions; --recover resolves them",
        description="List dbmesh's in-doubt (prepared) transactions in every PostgreSQL and MySQL database and the "
        "coordinator log's recent decisions (docs/reference.md §10). Needs the resolvers running at the "
        "databases' `resolver` addresses.",
        epilog="exit status: 0 listed, or (--recover) every in-doubt transaction resolved; 1 an error (bad "
        "config, a resolver or database unreachable); 3 (--recover) some left in doubt (their router is "
        "alive, or a participant could not be finished now).",
    )
    with_config(transactions, schema=False)
    transactions.add_argument(
        "--recover", action="store_true", help="resolve every in-doubt transaction and print what was done"
    )

    outbox = commands.add_parser(
        "outbox",
        help="pending write-through changes per target (count, oldest age)",
        description="List the write-through changes not yet applied to their targets, per written database and "
        "target, with the age of the oldest (docs/reference.md §11). Needs the resolvers running at the "
        "databases' `resolver` addresses.",
        epilog="exit status: 0 listed; 1 an error (bad config); 3 some database could not be read (what could "
        "be read is listed, then one line per database that could not).",
    )
    with_config(outbox, schema=False)

    sync = commands.add_parser(
        "sync",
        help="sync jobs ([[sync]]): run them now, show their state, or run them on their schedules",
        description="Copy or move rows between databases as the config's [[sync]] jobs say (docs/reference.md "
        "§12). A database without a `resolver` address gets a resolver in this process.",
    )
    sync_commands = sync.add_subparsers(dest="sync_command", required=True, metavar="SUBCOMMAND")
    sync_run = sync_commands.add_parser(
        "run",
        help="run jobs now",
        description="Run the named jobs (default: all) once now: a progress bar on a terminal, otherwise one "
        "summary line per job (rows copied, rows deleted, seconds, high-water mark).",
        epilog="exit status: 0 every job ran; 1 a job failed (its line says why) or a bad config.",
    )
    with_config(sync_run, schema=False)
    sync_run.add_argument("names", nargs="*", metavar="NAME", help="the jobs to run (default: all)")
    sync_status = sync_commands.add_parser(
        "status",
        help="each job's last run, rows, high-water mark, lag and last error",
        epilog="exit status: 0 listed; 1 a bad config; 3 some job's state could not be read.",
    )
    with_config(sync_status, schema=False)
    sync_serve = sync_commands.add_parser(
        "serve",
        help="run jobs on their schedules until stopped",
        description="Run each job that has a `schedule` (cron, UTC) when it is due, until SIGINT or SIGTERM; one "
        "summary line per run. With several serving processes each due run happens once.",
    )
    with_config(sync_serve, schema=False)
    reconcile = commands.add_parser(
        "reconcile", help="compare a table in two databases: rows only in one, rows that differ (exit 0/1/2)"
    )
    with_config(reconcile, schema=False)
    reconcile.add_argument("table", metavar="TABLE", help="the table (in the source database)")
    reconcile.add_argument("--source", required=True, help="the configured database compared from (e.g. legacy)")
    reconcile.add_argument("--target", required=True, help="the configured database compared with (e.g. new)")
    reconcile.add_argument("--target-table", help="the table's name in the target (default: TABLE)")
    reconcile.add_argument("--key", help="key columns, comma-separated (default: the source's primary key)")
    reconcile.add_argument("--columns", help="compared columns, comma-separated (default: those both tables have)")
    reconcile.add_argument("--where", help="only rows matching this JSON filter (§4 operators), on both sides")
    reconcile.add_argument("--json", action="store_true", help="print one JSON document (for scripts)")
    reconcile.add_argument("--show", type=_count, default=20, help="keys listed per kind of difference (default 20)")

    health = commands.add_parser("health", help="exit 0 when a router or resolver answers (for healthchecks)")
    target = health.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--url",
        help="a router URL: its /healthz or /readyz, or the GraphQL URL `up` prints "
        "(http://127.0.0.1:8000/graphql), which probes the /healthz beside it",
    )
    target.add_argument("--resolver", help="a resolver's host:port (gRPC health check)")
    health.add_argument("--timeout", type=float, default=3.0)
    health.add_argument("-c", "--config", help="with --resolver: dbmesh.toml whose [mesh] TLS files to use")
    return parser


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative (got {value})")
    return value


def _list(text: str | None) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip()) if text else ()


def _reconcile(args: argparse.Namespace) -> int:
    """`dbmesh reconcile` exits 2 on an error (0 equal, 1 differ), so errors are reported here."""
    from dbmesh import commands
    from dbmesh.reconcile import Options

    options = Options(key=_list(args.key), columns=_list(args.columns), where=args.where, show=args.show)
    try:
        return _arun(
            commands.reconcile(
                args.config,
                args.table,
                args.source,
                args.target,
                options,
                target_table=args.target_table,
                as_json=args.json,
            )
        )
    except DbmeshError as exc:
        print(f"dbmesh: error: {exc}", file=sys.stderr)
    except OSError as exc:
        print(f"dbmesh: error: {exc.strerror or exc}", file=sys.stderr)
    return 2


class _VersionAction(argparse.Action):
    """`--version`: the version is read from the package metadata only when asked for (reading
    it costs every command ~10 ms of start-up, `importlib.metadata`)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        print(f"dbmesh {_version()}")  # on stdout, as argparse's own "version" action
        parser.exit()


def _version() -> str:
    """This install's version, from the package metadata (pyproject.toml's `version`)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("dbmesh")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed (not on Windows), else asyncio's own.

    Every dbmesh process is an event loop moving small messages (HTTP, gRPC, database
    protocols): uvloop's libuv loop takes about 13 % off the CPU of a request in the router
    and in each resolver (bench/results/peer-round1.md)."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _arun(coro: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run` on the loop of `_loop_factory`."""
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(coro)


def _run(args: argparse.Namespace) -> int:
    from dbmesh import commands

    if args.command == "resolver":
        return _arun(commands.resolver(args.config, args.database, args.listen))
    if args.command == "router":
        return _arun(commands.router(args.config, args.schema, args.host, args.port))
    if args.command == "up":
        return _arun(commands.up(args.config, args.schema, args.host, args.port))
    if args.command == "demo":
        return _arun(commands.demo(args.data, args.host, args.port))
    if args.command == "check":
        return _arun(commands.check(args.config, args.schema, offline=args.offline, as_json=args.json))
    if args.command == "init":
        return _arun(commands.init(args.config, args.output, force=args.force, running=args.running))
    if args.command == "plan":
        return commands.plan(args.config, args.schema, args.query, as_json=args.json, variables=args.variables)
    if args.command == "transactions":
        return _arun(commands.transactions(args.config, recover=args.recover))
    if args.command == "outbox":
        return _arun(commands.outbox(args.config))
    if args.command == "sync" and args.sync_command == "run":
        return _arun(commands.sync_run(args.config, args.names))
    if args.command == "sync" and args.sync_command == "status":
        return _arun(commands.sync_status(args.config))
    if args.command == "sync" and args.sync_command == "serve":
        return _arun(commands.sync_serve(args.config))
    if args.command == "reconcile":
        return _reconcile(args)
    if args.command == "health":
        return _arun(commands.health(args.url, args.resolver, args.timeout, args.config))
    raise UsageError(f"unknown command {args.command!r}")  # pragma: no cover - argparse checks


def main(argv: Sequence[str] | None = None) -> int:
    # `dbmesh up` forks resolver processes after gRPC is loaded; gRPC's fork handlers are only
    # for children that keep using the parent's gRPC, and break fork+exec (grpc/grpc#43055).
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return _run(args)
    except DbmeshError as exc:
        print(f"dbmesh: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        print(f"dbmesh: error: {exc.strerror or exc}", file=sys.stderr)
        return 1
