"""Load and validate dbmesh's TOML configuration (docs/reference.md §3).

The file holds one or more ``[[databases]]`` tables and an optional ``[router]`` table. The design
guide's spelling, ``[[FraiseQL.databases]]`` and ``[FraiseQL.router]``, is accepted identically; each
section may come from either place, but not from both in one file.

Rules docs/reference.md §3 leaves open, decided here:

* ``${VAR}`` and ``${VAR:-default}`` are substituted in every string value, also inside longer strings
  and arrays. ``:-`` takes the default when the variable is unset *or empty*, as in POSIX shells and
  Docker Compose; the default is literal text up to the first ``}`` (no nesting). ``$$`` is a literal
  ``$``, so ``$${X}`` gives ``${X}``; a ``$`` followed by anything else is kept as it is. An unset
  variable without a default, an unterminated ``${`` or a malformed ``${...}`` is an error.
* A process needs only the variables of what it uses. Loading substitutes and validates what every
  process needs: the tables' keys, names, engines, pool sizes, timeouts, ``read_only``, ``resolver``,
  ``replicas``, the transaction settings and ``[router]``. A database's *connection settings*
  (``host``, ``port``, ``database``, ``username``, ``password``, sqlite's ``path``) are substituted
  and validated when :meth:`DatabaseConfig.connection` is first called (the attributes of the same
  names call it), from the environment as it is then: the router, which never connects to a
  database, starts without the databases' passwords; a resolver needs those of its own database.
  :meth:`Config.check_connections` validates them all now (``dbmesh check``, also ``--offline``).
* Numbers and booleans may be written as strings, so that they can come from the environment
  (``port = "${PGPORT:-5432}"``): ``"5432"`` is read as an integer, ``"true"``/``"false"`` as booleans.
* ``engine`` is case-insensitive; ``postgres`` means ``postgresql`` and ``mariadb`` means ``mysql``.
* PostgreSQL and MySQL need ``host`` and ``database``; ``port`` defaults to 5432 / 3306. ``username``
  and ``password`` have no default: ``None`` leaves them to the driver (``PGUSER``, the OS user, ...)
  rather than guessing a superuser name.
* SQLite needs ``path`` and rejects the network keys (``host``, ``port``, ``database``, ``username``,
  ``password``, ``replicas``); the other engines reject ``path`` (both checked at load). A relative
  ``path`` (``~`` expanded) is resolved against the configuration file's directory, or the working
  directory for text given to :func:`parse_config` without a file name; ``:memory:`` is refused
  because each resolver keeps a pool of connections, which must share one database file.
* ``read_write = false`` (the guide's) means ``read_only = true``; giving both so that they disagree
  is an error. ``resolver`` and ``replicas`` entries are ``host:port`` (IPv6 as ``[::1]:port``).
* ``resolver`` may name several replicas of the database's resolver (docs/reference.md §15): an
  array of ``IP:port`` (one family: gRPC's static ``ipv4:``/``ipv6:`` target; an array of one may be
  any ``host:port``), or ``dns:///NAME:PORT`` (every address the name resolves to, re-resolved).
  Hostnames in an array of several are refused (no gRPC target takes them; their DNS name is the
  ``dns:///`` form), and so are duplicates. :attr:`DatabaseConfig.resolver` is then the gRPC target.
* ``max_transactions`` (default 8, at least 1) is how many open transactions (``Begin``) a resolver
  holds at once, each on a connection of its own outside the read pool; ``transaction_idle_secs``
  (default 30, greater than 0) is how long one may sit idle before the resolver rolls it back
  (docs/reference.md §8, §10).
* ``[router]`` also takes dbmesh's health and breaker settings (``probe_interval_secs`` 5,
  ``breaker_failures`` 3, ``breaker_reset_secs`` 5; docs/reference.md §6, §7), the parsed-document
  cache (``document_cache_size`` 512 documents, ``document_cache_bytes`` 16 MiB, 0 turns it off) and
  the request limits of docs/reference.md §14: ``max_aliases`` 30, ``max_root_fields`` 20,
  ``max_limit`` 10000 (the largest ``limit`` a field may ask), ``default_limit`` (the ``limit`` of a
  list field that gives none; unset: no limit), ``max_cost`` 1000000, ``max_body_bytes`` 1 MiB (at
  least 1024), ``max_batch_operations`` 10 (operations in one batched request), ``max_query_bytes``
  256 KiB (at least 64), ``max_response_rows`` 1000000 and ``max_response_bytes`` 64 MiB (at least
  1024). Each is an integer of at least 1 unless said otherwise. ``request_read_secs`` (default 10,
  greater than 0) is how long a client may take to send one request's head and body before the
  router closes the connection; ``max_tokens`` (default 15000) bounds the parser's tokens (at most
  half ``max_query_bytes``).
* ``[transactions]`` (docs/reference.md §10): ``log_database`` names the database that holds the
  coordinator log (default: the first PostgreSQL database that is not ``read_only``; none: operations
  that write several databases are refused); it must be a configured database and not
  ``read_only``. ``recovery_interval_secs`` (default 10, greater than 0) is how often every router
  resolves in-doubt transactions and renews its heartbeat; ``lease_secs`` (default 30, greater than
  ``recovery_interval_secs``) is how long a router's heartbeat keeps others from aborting its
  transactions in flight; ``history_secs`` (default 86400, greater than 0) is how long finished
  transactions stay listed by ``dbmesh transactions``.
* ``[telemetry]`` (docs/reference.md §15): ``otlp_endpoint`` (required in the table) is the OTLP/gRPC
  collector the router and every resolver export their traces to, ``http://host:port`` (plaintext)
  or ``https://host:port`` (TLS), without a path or credentials. No table: no telemetry.
* ``[mesh]`` (docs/reference.md §14): the token and TLS files between routers and resolvers, parsed
  and checked by :mod:`dbmesh.mesh`. No table: plaintext and no token.
* The first problem found is reported as one :class:`~dbmesh.errors.ConfigError` line:
  ``FILE: KEY (DATABASE): PROBLEM``. Password values are never echoed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import ipaddress
import math
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dbmesh.auth.config import AuthConfig, Permission, parse_auth, parse_permissions
from dbmesh.errors import ConfigError
from dbmesh.mesh import MeshConfig, parse_mesh

if TYPE_CHECKING:
    from dbmesh.sync.config import SyncJob

__all__ = [
    "Config",
    "Connection",
    "DatabaseConfig",
    "RouterConfig",
    "TelemetryConfig",
    "TransactionsConfig",
    "load_config",
    "parse_config",
]

ENGINES = ("mysql", "postgresql", "sqlite")
_ENGINE_ALIASES = {"postgres": "postgresql", "mariadb": "mysql"}
_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}
_TRACING_MODES = ("off", "request", "always")
_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_ADDRESS = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[^\s:\[\]/]+):([0-9]{1,5})")
_DNS_TARGET = re.compile(r"dns:///([A-Za-z0-9_.-]+):([0-9]{1,5})")
_LIST_TARGETS = ("ipv4:", "ipv6:")
_SECRET_KEYS = frozenset({"password", "token", "jwt_secret"})
_NETWORK_KEYS = ("host", "port", "database", "username", "password", "replicas")


@dataclass(frozen=True)
class Connection:
    """A database's connection settings, substituted and validated (what only its resolver needs).

    The network engines have ``host``, ``port``, ``database`` and maybe ``username`` and
    ``password``; sqlite has only ``path`` (absolute). ``password`` is left out of ``repr``.
    """

    host: str | None = None
    port: int | None = None
    database: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    path: str | None = None


class _PendingConnection:
    """A database's connection keys as written; substituted and validated on first use, then kept.

    Equal to another when written the same way in the same place; its ``repr`` shows no values.
    """

    def __init__(self, table: _Table, engine: str, base_dir: Path) -> None:
        self._table = table
        self._engine = engine
        self._base_dir = base_dir
        self._resolved: Connection | None = None

    def resolve(self) -> Connection:
        if self._resolved is None:
            self._resolved = _parse_connection(self._table, self._engine, self._base_dir)
        return self._resolved

    def _key(self) -> tuple[Any, ...]:
        table = self._table
        written = {key: value for key, value in table.values.items() if key in _CONNECTION_KEYS}
        return (table.source, table.path, self._engine, self._base_dir, repr(sorted(written.items())))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _PendingConnection) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"<connection settings of {self._table.path}, substituted on first use>"


@dataclass(frozen=True)
class DatabaseConfig:
    """One ``[[databases]]`` table (docs/reference.md §3).

    Built by :func:`parse_config`, its connection settings are substituted on first use
    (:meth:`connection`); built directly, ``settings`` is a ready :class:`Connection`. No password
    appears in ``repr`` or ``str``.
    """

    name: str
    engine: str
    settings: Connection | _PendingConnection = field(default_factory=Connection, repr=False)
    pool_size: int = 10
    timeout_secs: float = 30.0
    read_only: bool = False
    # The gRPC target of this database's resolver: ``host:port``, ``dns:///NAME:PORT``, or for an
    # array of replicas the static ``ipv4:A:P,B:P`` / ``ipv6:[A]:P,[B]:P`` target.
    resolver: str | None = None
    replicas: tuple[str, ...] = ()
    # Open transactions (Begin) a resolver holds at once, each on a connection of its own outside
    # the read pool, and how long one may sit idle before it is rolled back (docs/reference.md §8).
    max_transactions: int = 8
    transaction_idle_secs: float = 30.0

    def connection(self) -> Connection:
        """The connection settings, substituted and validated now the first time they are asked for.

        Only a process that connects to this database needs its variables (passwords, hosts); an
        unset one is the :class:`ConfigError` loading would have raised, e.g.
        ``FILE: databases[0].password (pg): environment variable 'X' is not set and has no default``.
        """
        if isinstance(self.settings, Connection):
            return self.settings
        return self.settings.resolve()

    @property
    def host(self) -> str | None:
        return self.connection().host

    @property
    def port(self) -> int | None:
        return self.connection().port

    @property
    def database(self) -> str | None:
        return self.connection().database

    @property
    def username(self) -> str | None:
        return self.connection().username

    @property
    def password(self) -> str | None:
        return self.connection().password

    @property
    def path(self) -> str | None:
        return self.connection().path

    @property
    def replicated(self) -> bool:
        """Whether ``resolver`` may reach several replicas (an array of several, or ``dns:///``)."""
        return self.resolver is not None and self.resolver.startswith(("dns:", *_LIST_TARGETS))

    @property
    def resolver_addresses(self) -> tuple[str, ...]:
        """Each ``host:port`` the resolver key lists: one for a single address, none for
        ``dns:///`` (DNS names the replicas) or no key."""
        if not self.resolver or self.resolver.startswith("dns:"):
            return ()
        if self.resolver.startswith(_LIST_TARGETS):
            return tuple(self.resolver.split(":", 1)[1].split(","))
        return (self.resolver,)

    def with_resolver(self, address: str) -> DatabaseConfig:
        """Return a copy whose resolver service listens at ``address`` (``host:port``, or the
        ``ipv4:``/``ipv6:`` target of several, as :meth:`with_resolvers` makes it), as ``up`` assigns."""
        if address.startswith(_LIST_TARGETS):
            return self.with_resolvers(address.split(":", 1)[1].split(","))
        if problem := _address_problem(address):
            raise ValueError(problem)
        return dataclasses.replace(self, resolver=address)

    def with_resolvers(self, addresses: Sequence[str]) -> DatabaseConfig:
        """Return a copy whose resolver replicas listen at ``addresses``, as written in an array."""
        for address in addresses:
            if problem := _address_problem(address):
                raise ValueError(problem)
        if listed := _replicas_problem(addresses):
            raise ValueError(listed[1])
        return dataclasses.replace(self, resolver=_replicas_target(addresses))

    def describe(self) -> str:
        """One line safe to print (no password), e.g. ``pg (postgresql, 127.0.0.1:5432/production)``.

        It shows connection settings, so it raises what :meth:`connection` raises.
        """
        settings = self.connection()
        if self.engine == "sqlite":
            where = settings.path or ""
        else:
            host = settings.host
            host = f"[{host}]" if host and ":" in host else host
            where = f"{host}:{settings.port}/{settings.database}"
        return f"{self.name} ({self.engine}, {where})"


@dataclass(frozen=True)
class RouterConfig:
    """The ``[router]`` table (docs/reference.md §3, §14), with health, breaker and cache settings (§6, §7)."""

    host: str = "127.0.0.1"
    port: int = 8000
    tracing: str = "request"
    max_depth: int = 15
    graphiql: bool = True
    introspection: bool = True
    probe_interval_secs: float = 5.0
    breaker_failures: int = 3
    breaker_reset_secs: float = 5.0
    document_cache_size: int = 512
    # Limits on what one request may ask (docs/reference.md §14). default_limit None: no limit.
    max_aliases: int = 30
    max_root_fields: int = 20
    max_limit: int = 10_000
    default_limit: int | None = None
    max_cost: int = 1_000_000
    max_body_bytes: int = 1024 * 1024
    max_batch_operations: int = 10
    max_query_bytes: int = 256 * 1024
    max_response_rows: int = 1_000_000
    max_response_bytes: int = 64 * 1024 * 1024
    document_cache_bytes: int = 16 * 1024 * 1024
    request_read_secs: float = 10.0
    max_tokens: int = 15_000  # the parser's bound (Apollo Router's default), at most max_query_bytes // 2
    federation: bool = False  # an Apollo Federation 2 subgraph (docs/reference.md §15)
    coalesce: bool = True  # concurrent fetches of one shape share a resolver call (docs/reference.md §7)


@dataclass(frozen=True)
class TransactionsConfig:
    """The ``[transactions]`` table (docs/reference.md §10): the coordinator log and recovery."""

    log_database: str | None = None  # after loading: the default applied (None: there is none)
    recovery_interval_secs: float = 10.0
    lease_secs: float = 30.0
    history_secs: float = 86400.0


@dataclass(frozen=True)
class TelemetryConfig:
    """The ``[telemetry]`` table (docs/reference.md §15): where OpenTelemetry traces go."""

    otlp_endpoint: str


@dataclass(frozen=True)
class Config:
    """A whole, validated configuration; ``source`` is the file it came from, or ``<config>``."""

    databases: tuple[DatabaseConfig, ...]
    router: RouterConfig
    source: str
    transactions: TransactionsConfig = field(default_factory=TransactionsConfig)
    telemetry: TelemetryConfig | None = None  # None: no [telemetry] table, no traces exported
    mesh: MeshConfig = field(default_factory=MeshConfig)  # [mesh] (dbmesh/mesh.py): token and mTLS to resolvers
    sync: tuple[SyncJob, ...] = ()  # the [[sync]] jobs (dbmesh.sync.config)
    auth: AuthConfig | None = None  # None: no [auth] table, every request may do everything (§14)
    permissions: tuple[Permission, ...] = ()

    def database(self, name: str) -> DatabaseConfig:
        """The database called ``name``; a :class:`ConfigError` listing the known names otherwise."""
        for database in self.databases:
            if database.name == name:
                return database
        known = ", ".join(database.name for database in self.databases)
        raise ConfigError(f"{self.source}: unknown database {name!r} (known: {known})")

    def check_connections(self) -> None:
        """Substitute and validate every database's connection settings now, as ``dbmesh check`` does;
        the first problem is raised as its :class:`ConfigError`."""
        for database in self.databases:
            database.connection()


_CONNECTION_KEYS = tuple(item.name for item in dataclasses.fields(Connection))
_DATABASE_KEYS = (
    *(item.name for item in dataclasses.fields(DatabaseConfig) if item.name != "settings"),
    *_CONNECTION_KEYS,
    "read_write",
)
_ROUTER_KEYS = tuple(item.name for item in dataclasses.fields(RouterConfig))
_TRANSACTIONS_KEYS = tuple(item.name for item in dataclasses.fields(TransactionsConfig))
_TELEMETRY_KEYS = tuple(item.name for item in dataclasses.fields(TelemetryConfig))
_OTLP_ENDPOINT = re.compile(r"(https?)://(\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]@?#]+)(?::([0-9]{1,5}))?/?")


def load_config(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate the configuration file at ``path`` (docs/reference.md §3); ``environ``: os.environ."""
    source = os.fspath(path)
    try:
        data = Path(source).read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{source}: configuration file not found") from None
    except OSError as error:
        raise ConfigError(f"{source}: cannot read configuration file: {error.strerror or error}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"{source}: not valid UTF-8 (byte {error.start})") from None
    return parse_config(text, source=source, environ=environ)


def parse_config(text: str, source: str = "<config>", environ: Mapping[str, str] | None = None) -> Config:
    """Validate configuration ``text``; ``source`` names it in errors and anchors relative sqlite paths."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{source}: invalid TOML: {error}") from None
    env = os.environ if environ is None else environ
    base_dir = Path.cwd() if source.startswith("<") else Path(source).parent
    sections = _sections(document, source)

    where, entries = _section(sections, "databases", source) or ("databases", [])
    if not isinstance(entries, list):
        got = _type_name(entries)
        raise ConfigError(f"{source}: {where}: expected an array of tables ([[{where}]]), got {got}")
    if not entries:
        raise ConfigError(f"{source}: no databases configured (add a [[{where}]] table)")
    seen: dict[str, str] = {}
    databases = tuple(
        _parse_database(_table(source, f"{where}[{index}]", entry, env), seen, base_dir)
        for index, entry in enumerate(entries)
    )
    router = RouterConfig()
    if found := _section(sections, "router", source):
        router = _parse_router(_table(source, found[0], found[1], env))
    found = _section(sections, "transactions", source)
    table = _table(source, found[0], found[1], env) if found else _Table(source, "transactions", {}, env)
    transactions = _parse_transactions(table, databases)
    found = _section(sections, "telemetry", source)
    telemetry = _parse_telemetry(_table(source, found[0], found[1], env)) if found else None
    found = _section(sections, "mesh", source)
    mesh = parse_mesh(_table(source, found[0], found[1], env), base_dir) if found else MeshConfig()
    sync = _parse_sync_jobs(_section(sections, "sync", source), source, env, databases)
    found = _section(sections, "auth", source)
    auth = parse_auth(_table(source, found[0], found[1], env), base_dir) if found else None
    found = _section(sections, "permissions", source)
    permissions = parse_permissions(source, found[0], found[1], auth) if found else ()
    return Config(
        databases=databases,
        router=router,
        source=source,
        transactions=transactions,
        telemetry=telemetry,
        mesh=mesh,
        sync=sync,
        auth=auth,
        permissions=permissions,
    )


def _parse_sync_jobs(
    found: tuple[str, Any] | None, source: str, env: Mapping[str, str], databases: tuple[DatabaseConfig, ...]
) -> tuple[SyncJob, ...]:
    """The `[[sync]]` jobs (docs/reference.md §12), parsed by dbmesh.sync.config."""
    if found is None:
        return ()
    from dbmesh.sync.config import parse_sync

    where, entries = found
    if not isinstance(entries, list):
        raise ConfigError(f"{source}: {where}: expected an array of tables ([[{where}]]), got {_type_name(entries)}")
    return parse_sync([_table(source, f"{where}[{i}]", entry, env) for i, entry in enumerate(entries)], databases)


def _sections(document: dict[str, Any], source: str) -> list[tuple[str, dict[str, Any]]]:
    """The top level and, when present, the ``FraiseQL`` table, each checked for unknown keys."""
    sections: list[tuple[str, dict[str, Any]]] = [("", document)]
    fraiseql = document.get("FraiseQL")
    if fraiseql is not None:
        if not isinstance(fraiseql, dict):
            raise ConfigError(f"{source}: FraiseQL: expected a table, got {_type_name(fraiseql)}")
        sections.append(("FraiseQL.", fraiseql))
    for prefix, table in sections:
        known: tuple[str, ...] = ("databases", "router", "transactions", "telemetry", "mesh", "sync", "auth")
        known += ("permissions",) + (() if prefix else ("FraiseQL",))
        for key in table:
            if key not in known:
                where = f"{prefix.rstrip('.')}: unknown key" if prefix else "unknown top-level key"
                raise ConfigError(f"{source}: {where} {key!r}{_suggestion(key, known)}")
    return sections


def _section(sections: list[tuple[str, dict[str, Any]]], key: str, source: str) -> tuple[str, Any] | None:
    """``(where, value)`` of ``key`` from the top level or ``FraiseQL``; both at once is an error."""
    found = [(prefix + key, table[key]) for prefix, table in sections if key in table]
    if len(found) > 1:
        spelled = [f"[[{where}]]" if key == "databases" else f"[{where}]" for where, _ in found]
        raise ConfigError(f"{source}: both {spelled[0]} and {spelled[1]} are present; use one")
    return found[0] if found else None


def _table(source: str, path: str, value: Any, environ: Mapping[str, str]) -> _Table:
    """Wrap ``value`` for validation as the table at ``path``; anything but a table is an error."""
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: {path}: expected a table, got {_type_name(value)}")
    return _Table(source, path, value, environ)


def _parse_database(table: _Table, seen: dict[str, str], base_dir: Path) -> DatabaseConfig:
    name = table.required_string("name")
    if not _NAME.fullmatch(name):
        raise table.error(f"invalid name {name!r} (expected [a-z_][a-z0-9_]*)", "name")
    if name in seen:
        raise table.error(f"duplicate name {name!r} (also {seen[name]})", "name")
    seen[name] = table.path
    table.label = f" ({name})"
    table.check_keys(_DATABASE_KEYS)

    given_engine = table.required_string("engine")
    engine = _ENGINE_ALIASES.get(given_engine.lower(), given_engine.lower())
    if engine not in ENGINES:
        known = ", ".join(ENGINES)
        aliases = ", ".join(sorted(_ENGINE_ALIASES))
        raise table.error(f"unknown engine {given_engine!r} (known: {known}; aliases: {aliases})", "engine")

    read_only = table.boolean("read_only")
    read_write = table.boolean("read_write")
    if read_write is not None:
        if read_only is not None and read_only == read_write:
            raise table.error(
                f"read_only = {_show(read_only)} contradicts read_write = {_show(read_write)} (give only one)"
            )
        read_only = not read_write
    values: dict[str, Any] = {
        "name": name,
        "engine": engine,
        "pool_size": table.integer("pool_size", 10, minimum=1),
        "timeout_secs": table.positive_number("timeout_secs", 30.0),
        "read_only": bool(read_only),
        "resolver": table.resolver("resolver"),
        "max_transactions": table.integer("max_transactions", 8, minimum=1),
        "transaction_idle_secs": table.positive_number("transaction_idle_secs", 30.0),
    }
    if engine == "sqlite":
        for key in _NETWORK_KEYS:
            if key in table.values:
                raise table.error("not allowed for engine 'sqlite' (a sqlite database is its 'path')", key)
    elif "path" in table.values:
        raise table.error(f"not allowed for engine {engine!r} ('path' is for sqlite)", "path")
    else:
        values["replicas"] = table.addresses("replicas")
    return DatabaseConfig(**values, settings=_PendingConnection(table, engine, base_dir))


def _parse_connection(table: _Table, engine: str, base_dir: Path) -> Connection:
    """The connection keys of a database table whose other keys were validated at load."""
    if engine == "sqlite":
        path = table.required_string("path", "for sqlite")
        if path == ":memory:":
            raise table.error("':memory:' is not supported (a resolver's pool needs a database file)", "path")
        return Connection(path=os.path.normpath((base_dir / Path(path).expanduser()).absolute()))
    return Connection(
        host=table.required_string("host", f"for {engine}"),
        port=table.integer("port", _DEFAULT_PORTS[engine], minimum=1, maximum=65535),
        database=table.required_string("database", f"for {engine}"),
        username=table.string("username"),
        # An empty password (e.g. "${DB_PASSWORD:-}" for a local server) means none.
        password=table.string("password", allow_empty=True) or None,
    )


def _parse_router(table: _Table) -> RouterConfig:
    default = RouterConfig()
    table.check_keys(_ROUTER_KEYS)
    tracing = table.string("tracing")
    if tracing is not None and tracing not in _TRACING_MODES:
        known = ", ".join(_TRACING_MODES)
        raise table.error(f"unknown tracing mode {tracing!r} (known: {known})", "tracing")
    max_limit = table.integer("max_limit", default.max_limit, minimum=1)
    default_limit = table.optional_integer("default_limit", minimum=1)
    if default_limit is not None and default_limit > max_limit:
        raise table.error(f"must be at most max_limit ({max_limit}), got {default_limit}", "default_limit")
    return RouterConfig(
        host=table.string("host") or default.host,
        port=table.integer("port", default.port, minimum=0, maximum=65535),
        tracing=tracing or default.tracing,
        max_depth=table.integer("max_depth", default.max_depth, minimum=1),
        graphiql=table.flag("graphiql", default.graphiql),
        introspection=table.flag("introspection", default.introspection),
        probe_interval_secs=table.positive_number("probe_interval_secs", default.probe_interval_secs),
        breaker_failures=table.integer("breaker_failures", default.breaker_failures, minimum=1),
        breaker_reset_secs=table.positive_number("breaker_reset_secs", default.breaker_reset_secs),
        document_cache_size=table.integer("document_cache_size", default.document_cache_size, minimum=0),
        max_aliases=table.integer("max_aliases", default.max_aliases, minimum=1),
        max_root_fields=table.integer("max_root_fields", default.max_root_fields, minimum=1),
        max_limit=max_limit,
        default_limit=default_limit,
        max_cost=table.integer("max_cost", default.max_cost, minimum=1),
        max_body_bytes=table.integer("max_body_bytes", default.max_body_bytes, minimum=1024),
        max_batch_operations=table.integer("max_batch_operations", default.max_batch_operations, minimum=1),
        max_query_bytes=table.integer("max_query_bytes", default.max_query_bytes, minimum=64),
        max_response_rows=table.integer("max_response_rows", default.max_response_rows, minimum=1),
        max_response_bytes=table.integer("max_response_bytes", default.max_response_bytes, minimum=1024),
        document_cache_bytes=table.integer("document_cache_bytes", default.document_cache_bytes, minimum=0),
        request_read_secs=table.positive_number("request_read_secs", default.request_read_secs),
        max_tokens=table.integer("max_tokens", default.max_tokens, minimum=1),
        federation=table.flag("federation", default.federation),
        coalesce=table.flag("coalesce", default.coalesce),
    )


def _parse_transactions(table: _Table, databases: tuple[DatabaseConfig, ...]) -> TransactionsConfig:
    default = TransactionsConfig()
    table.check_keys(_TRANSACTIONS_KEYS)
    log_database = table.string("log_database")
    if log_database is None:
        log_database = next((d.name for d in databases if d.engine == "postgresql" and not d.read_only), None)
    else:
        found = next((d for d in databases if d.name == log_database), None)
        if found is None:
            known = ", ".join(d.name for d in databases)
            raise table.error(f"unknown database {log_database!r} (known: {known})", "log_database")
        if found.read_only:
            raise table.error(f"database {log_database!r} is read_only; the log is written", "log_database")
    interval = table.positive_number("recovery_interval_secs", default.recovery_interval_secs)
    lease = table.positive_number("lease_secs", default.lease_secs)
    if lease <= interval:
        raise table.error(
            f"must be greater than recovery_interval_secs ({interval:g}), got {lease:g}"
            " (a router renews its lease at every recovery)",
            "lease_secs",
        )
    return TransactionsConfig(
        log_database=log_database,
        recovery_interval_secs=interval,
        lease_secs=lease,
        history_secs=table.positive_number("history_secs", default.history_secs),
    )


def _parse_telemetry(table: _Table) -> TelemetryConfig:
    table.check_keys(_TELEMETRY_KEYS)
    endpoint = table.required_string("otlp_endpoint")
    if "@" in endpoint:  # user:password@host: not echoed
        raise table.error("must not hold credentials (user:password@)", "otlp_endpoint")
    match = _OTLP_ENDPOINT.fullmatch(endpoint)
    if match is None:
        raise table.error(
            f"expected 'http://host:port' or 'https://host:port' (an OTLP/gRPC collector), got {endpoint!r}",
            "otlp_endpoint",
        )
    if match.group(3) is not None and not 1 <= int(match.group(3)) <= 65535:
        raise table.error(f"port must be between 1 and 65535, got {endpoint!r}", "otlp_endpoint")
    return TelemetryConfig(otlp_endpoint=endpoint)


class _Table:
    """One TOML table being validated: typed, substituted reads, and errors that say where."""

    def __init__(self, source: str, path: str, values: dict[str, Any], environ: Mapping[str, str]) -> None:
        self.source = source
        self.path = path
        self.values = values
        self.environ = environ
        self.label = ""

    def error(self, problem: str, key: str | None = None) -> ConfigError:
        where = f"{self.path}.{key}" if key else self.path
        return ConfigError(f"{self.source}: {where}{self.label}: {problem}")

    def wrong_type(self, key: str, expected: str, value: Any) -> ConfigError:
        got = _type_name(value)
        if key not in _SECRET_KEYS and isinstance(value, str | int | float):
            got += f" ({_show(value)})"
        return self.error(f"expected {expected}, got {got}", key)

    def check_keys(self, known: Sequence[str]) -> None:
        for key in self.values:
            if key not in known:
                raise self.error(f"unknown key {key!r}{_suggestion(key, known)}")

    def _get(self, key: str, value: Any = None) -> Any:
        """The value of ``key`` (or the given item of it), with ``${...}`` substituted in strings."""
        if value is None:
            value = self.values.get(key)
        if not isinstance(value, str):
            return value
        try:
            return _substitute(value, self.environ, secret=key in _SECRET_KEYS)
        except ValueError as error:
            raise self.error(str(error), key) from None

    def string(self, key: str, *, allow_empty: bool = False) -> str | None:
        value = self._get(key)
        if value is not None and not isinstance(value, str):
            raise self.wrong_type(key, "a string", value)
        if value == "" and not allow_empty:
            raise self.error("must not be empty", key)
        return value

    def required_string(self, key: str, reason: str = "") -> str:
        value = self.string(key)
        if value is None:
            raise self.error(f"missing required key {key!r}" + (f" ({reason})" if reason else ""))
        return value

    def integer(self, key: str, default: int, *, minimum: int, maximum: int | None = None) -> int:
        value = self._get(key)
        if value is None:
            return default
        if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.wrong_type(key, "an integer", value)
        if maximum is not None and not minimum <= value <= maximum:
            raise self.error(f"must be between {minimum} and {maximum}, got {value}", key)
        if value < minimum:
            raise self.error(f"must be at least {minimum}, got {value}", key)
        return value

    def optional_integer(self, key: str, *, minimum: int) -> int | None:
        return None if self._get(key) is None else self.integer(key, minimum, minimum=minimum)

    def positive_number(self, key: str, default: float) -> float:
        value = self._get(key)
        if value is None:
            return default
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = float(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.wrong_type(key, "a number", value)
        if not (math.isfinite(value) and value > 0):
            raise self.error(f"must be a number greater than 0, got {_show(value)}", key)
        return float(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self.boolean(key)
        return default if value is None else value

    def boolean(self, key: str) -> bool | None:
        value = self._get(key)
        if value is None:
            return None
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            value = value.strip().lower() == "true"
        if not isinstance(value, bool):
            raise self.wrong_type(key, "a boolean", value)
        return value

    def address(self, key: str, item: Any = None) -> str | None:
        """A ``host:port`` string: the value of ``key``, or ``item`` of a list (``key`` names it)."""
        value = self._get(key, item)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.wrong_type(key, "a 'host:port' string", value)
        if problem := _address_problem(value):
            raise self.error(problem, key)
        return value

    def resolver(self, key: str) -> str | None:
        """The resolver key as a gRPC target: ``host:port``, ``dns:///NAME:PORT`` or an array of
        replicas (see the module docstring)."""
        written = self.values.get(key)
        if isinstance(written, list):
            addresses = self.addresses(key)
            if not addresses:
                raise self.error("an empty array (list at least one 'host:port')", key)
            if problem := _replicas_problem(addresses):
                index, message = problem
                raise self.error(message, key if index is None else f"{key}[{index}]")
            return _replicas_target(addresses)
        value = self._get(key)
        if isinstance(value, str) and value.startswith("dns:"):
            match = _DNS_TARGET.fullmatch(value)
            if match is None:
                raise self.error(f"expected 'dns:///NAME:PORT', got {value!r}", key)
            if not 1 <= int(match.group(2)) <= 65535:
                raise self.error(f"port must be between 1 and 65535, got {value!r}", key)
            return value
        return self.address(key)

    def addresses(self, key: str) -> tuple[str, ...]:
        items = self.values.get(key, [])
        if not isinstance(items, list):
            raise self.wrong_type(key, "an array of 'host:port' strings", items)
        return tuple(self.address(f"{key}[{index}]", item) or "" for index, item in enumerate(items))


def _substitute(value: str, environ: Mapping[str, str], *, secret: bool = False) -> str:
    """Expand ``${VAR}``, ``${VAR:-default}`` and ``$$`` in ``value``; ValueError says what is wrong."""
    parts: list[str] = []
    position = 0
    while (dollar := value.find("$", position)) >= 0:
        parts.append(value[position:dollar])
        following = value[dollar + 1 : dollar + 2]
        if following != "{":
            parts.append("$")
            position = dollar + (2 if following == "$" else 1)
            continue
        end = value.find("}", dollar + 2)
        if end < 0:
            raise ValueError("unterminated '${' (write '$${' for a literal '${')")
        name, has_default, default = value[dollar + 2 : end].partition(":-")
        if not _VARIABLE.fullmatch(name):
            shown = "" if secret else f" {value[dollar : end + 1]!r}"
            raise ValueError(f"malformed reference{shown} (expected ${{NAME}} or ${{NAME:-default}})")
        found = environ.get(name)
        if has_default and not found:
            found = default
        if found is None:
            raise ValueError(f"environment variable {name!r} is not set and has no default")
        parts.append(found)
        position = end + 1
    parts.append(value[position:])
    return "".join(parts)


def _address_problem(address: str) -> str | None:
    match = _ADDRESS.fullmatch(address)
    if match is None:
        return f"expected 'host:port' (IPv6 as '[::1]:port'), got {address!r}"
    if not 1 <= int(match.group(2)) <= 65535:
        return f"port must be between 1 and 65535, got {address!r}"
    return None


def _ip_family(address: str) -> str | None:
    """``ipv4`` or ``ipv6`` for an ``IP:port`` address, None for a hostname."""
    host = address.rsplit(":", 1)[0].removeprefix("[").removesuffix("]")
    try:
        return f"ipv{ipaddress.ip_address(host).version}"
    except ValueError:
        return None


def _replicas_problem(addresses: Sequence[str]) -> tuple[int | None, str] | None:
    """What is wrong with an array of valid ``host:port`` replica addresses: (index or None, problem)."""
    if len(addresses) == 1:
        return None
    for index, address in enumerate(addresses):
        if address in addresses[:index]:
            return index, f"{address!r} is listed twice"
        if _ip_family(address) is None:
            return index, (
                f"{address!r} is not an IP address: an array of replicas takes 'IP:port' entries;"
                " replicas behind one DNS name are 'dns:///NAME:PORT'"
            )
    if len({_ip_family(address) for address in addresses}) > 1:
        return None, "mixes IPv4 and IPv6 addresses (list one family, or use 'dns:///NAME:PORT')"
    return None


def _replicas_target(addresses: Sequence[str]) -> str:
    """The gRPC target of valid replica addresses: the address itself when there is one."""
    if len(addresses) == 1:
        return addresses[0]
    return f"{_ip_family(addresses[0])}:{','.join(addresses)}"


def _suggestion(key: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _type_name(value: Any) -> str:
    """The TOML name of ``value``'s type, for messages (``bool`` first: it is an ``int``)."""
    names = [(bool, "a boolean"), (int, "an integer"), (float, "a float"), (str, "a string")]
    names += [(list, "an array"), (dict, "a table")]
    return next((name for kind, name in names if isinstance(value, kind)), "a date or time")


def _show(value: Any) -> str:
    """``value`` as TOML would write it, shortened: one line, for messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
