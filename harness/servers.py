"""Throwaway PostgreSQL and MariaDB servers for the test suite.

The suite never depends on the machine's own database services: they may be absent (CI), configured
unsuitably (the system PostgreSQL has ``max_prepared_transactions = 0``, which two-phase-commit tests
need) and must not be stopped or killed by fault tests. Instead each server here is started from the
installed binaries in a private temp directory, on a free 127.0.0.1 port, and can be stopped,
killed (a crash) and restarted at will. Settings trade durability against a *machine* crash (no
fsync) for speed, but never against a process kill: what was committed survives ``kill()``.

Each server process is a direct child of the test process, so it is always reaped (no zombies, no
stale PID confusion after a kill). ``cleanup()`` is idempotent and also registered with ``atexit``
as a safety net; a test process that is itself SIGKILLed still leaks its servers (nothing can run
then), so the temp directories are named ``dbmesh-test-*`` to make strays easy to find.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pymysql

__all__ = [
    "BinaryNotFoundError",
    "DatabaseInfo",
    "MariaDBServer",
    "PostgresServer",
    "ServerError",
    "free_port",
]

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
POLL_INTERVAL_S = 0.02
LOG_TAIL_LINES = 40
PORT_ATTEMPTS = 3

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_PORT_IN_USE = re.compile(r"address already in use|could not bind|bind on tcp/ip port|errno: 98", re.I)
_INSTALL_HINT = "install them with scripts/ensure-db-binaries (apt-get install postgresql mariadb-server)"


class ServerError(RuntimeError):
    """A throwaway server could not be initialised, started, stopped or queried."""


class BinaryNotFoundError(ServerError):
    """A required server binary is not installed; the message says which and how to get it."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now (bind port 0, read it, close).

    Another process may take it before the server binds it; the servers retry with a new port
    when their first start fails because the address is in use.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class DatabaseInfo:
    """Where one database on a throwaway server lives: everything a dbmesh config entry needs."""

    engine: str  # "postgresql" or "mysql", as in dbmesh's config
    host: str
    port: int
    user: str
    password: str
    database: str

    def dsn(self) -> str:
        """The database as a URL, e.g. ``postgresql://postgres@127.0.0.1:5433/test``."""
        return f"{self.engine}://{self.user}@{self.host}:{self.port}/{self.database}"


def _checked_identifier(name: str) -> str:
    """Reject database names that would need quoting tricks; tests only need plain identifiers."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"database name {name!r} must match {_IDENTIFIER.pattern}")
    return name


def _clean_env(*prefixes: str) -> dict[str, str]:
    """The current environment minus variables (PG*, MYSQL*) that would redirect the tools."""
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


def _tail(path: Path, offset: int = 0, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a log file written after ``offset`` (or a note if there is none)."""
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            text = fh.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"(no log at {path}: {exc})"
    return "\n".join(text.splitlines()[-lines:]) or f"(log {path} is empty)"


def _process_state(pid: int) -> str | None:
    """The one-letter /proc state of ``pid`` ("Z" for a zombie), or None if it no longer exists."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def _children_of(pid: int) -> list[int]:
    """PIDs whose parent is ``pid`` (read from /proc; empty where /proc is unavailable)."""
    children = []
    for stat_path in glob.glob("/proc/[0-9]*/stat"):
        try:
            fields = Path(stat_path).read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(stat_path.split("/")[2]))
    return children


def _wait_gone(pids: list[int], timeout: float) -> None:
    """Wait until every pid has exited (a zombie counts: it holds no memory, sockets or files)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(_process_state(pid) in (None, "Z") for pid in pids):
            return
        time.sleep(POLL_INTERVAL_S)
    raise ServerError(f"processes {pids} still alive {timeout}s after SIGKILL")


def _wait_stopped(pid: int, timeout: float = 5.0) -> None:
    """Wait until a SIGSTOPped process has actually stopped (signal delivery is asynchronous)."""
    deadline = time.monotonic() + timeout
    while _process_state(pid) not in ("T", "t", None) and time.monotonic() < deadline:
        time.sleep(0.001)


class _ManagedServer(ABC):
    """Life cycle shared by both engines: private dirs, a child process, start/stop/kill, cleanup."""

    engine: ClassVar[str]
    default_user: ClassVar[str]
    stop_signal: ClassVar[signal.Signals]
    dir_prefix: ClassVar[str]

    host: str
    port: int
    user: str
    password: str
    database: str

    def __init__(self, base_dir: Path | None = None, port: int | None = None) -> None:
        self._locate_binaries()
        self.host = "127.0.0.1"
        self.port = port if port is not None else free_port()
        self.user = self.default_user
        self.password = ""
        self.database = "test"
        self._port_fixed = port is not None
        self._owns_base_dir = base_dir is None or not base_dir.exists()
        self.base_dir = Path(tempfile.mkdtemp(prefix=self.dir_prefix)) if base_dir is None else base_dir
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.base_dir / "data"
        self.log_path = self.data_dir / "server.log"
        self.last_start_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._cleaned = False
        atexit.register(self.cleanup)

    # -- engine specifics -------------------------------------------------------------------------

    @abstractmethod
    def _locate_binaries(self) -> None:
        """Find the engine's binaries or raise BinaryNotFoundError."""

    @abstractmethod
    def _is_initialized(self) -> bool:
        """Whether the data dir holds a complete, initialised cluster."""

    @abstractmethod
    def _initialize(self) -> None:
        """Create the data dir from nothing (initdb / mariadb-install-db)."""

    @abstractmethod
    def _server_command(self) -> list[str]:
        """The command line that runs the server in the foreground with all our settings."""

    @abstractmethod
    def _is_ready(self) -> bool:
        """Whether the just-started server accepts connections."""

    @abstractmethod
    def create_database(self, name: str) -> None:
        """Create a fresh, empty database ``name`` (dropping any existing one)."""

    @abstractmethod
    def drop_database(self, name: str) -> None:
        """Drop database ``name`` if it exists (even with open connections, where possible)."""

    def _popen_kwargs(self) -> dict[str, Any]:
        """Extra Popen arguments (user switching) for every server-side command."""
        return {}

    def _kill_tree(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL the server process (engines with child processes override this)."""
        proc.kill()
        proc.wait()

    # -- life cycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Initialise the data dir on first use, start the server and wait until it accepts
        connections. A no-op while running; works after ``stop()`` and after ``kill()``."""
        if self._cleaned:
            raise ServerError(f"{self.engine} server at {self.base_dir} was cleaned up")
        if self.is_running():
            return
        began = time.monotonic()
        first_start = not self._is_initialized()
        if first_start:
            shutil.rmtree(self.data_dir, ignore_errors=True)  # a half-made dir from a failed init
            self._initialize()
        self._start_process()
        if first_start:
            self.create_database(self.database)
        self.last_start_seconds = time.monotonic() - began

    def _start_process(self) -> None:
        """Launch the server, retrying on a fresh port if an auto-picked port was taken meanwhile."""
        for attempt in range(PORT_ATTEMPTS):
            try:
                self._launch_and_wait()
            except ServerError as exc:
                if self._port_fixed or attempt == PORT_ATTEMPTS - 1 or not _PORT_IN_USE.search(str(exc)):
                    raise
                self.port = free_port()
            else:
                self._port_fixed = True  # restarts must come back on the same port
                return

    def _launch_and_wait(self) -> None:
        """Start the server process with its output in the log; raise with the log tail on failure."""
        log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                self._server_command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.base_dir,
                env=_clean_env("PG", "MYSQL"),
                start_new_session=True,  # Ctrl-C in the terminal must not hit the server first
                **self._popen_kwargs(),
            )
        try:
            self._wait_ready(log_offset)
        except BaseException:
            self.kill()  # never leave a half-started server behind (also on Ctrl-C)
            raise

    def _wait_ready(self, log_offset: int) -> None:
        """Poll until the server accepts connections; raise with the new log lines if it dies or
        takes longer than START_TIMEOUT_S."""
        assert self._proc is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._is_ready():
            if self._proc.poll() is not None:
                raise self._failure(f"exited during startup (code {self._proc.returncode})", log_offset)
            if time.monotonic() > deadline:
                raise self._failure(f"did not accept connections within {START_TIMEOUT_S}s", log_offset)
            time.sleep(POLL_INTERVAL_S)

    def _failure(self, what: str, log_offset: int = 0) -> ServerError:
        """An error naming the server and carrying the tail of its log."""
        return ServerError(
            f"{self.engine} server on port {self.port} ({self.data_dir}) {what}; "
            f"log tail:\n{_tail(self.log_path, log_offset)}"
        )

    def stop(self) -> None:
        """Shut the server down cleanly and wait for it to exit. A no-op when not running."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(self.stop_signal)
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.kill()
                raise self._failure(f"did not stop within {STOP_TIMEOUT_S}s (killed)") from None
        self._proc = None

    def kill(self) -> None:
        """SIGKILL the server (a crash: no shutdown, no checkpoint); ``start()`` then recovers."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            self._kill_tree(proc)
        proc.wait()
        self._proc = None

    def restart(self) -> None:
        """Clean stop followed by start; the port and data are kept."""
        self.stop()
        self.start()

    def is_running(self) -> bool:
        """Whether the server process is alive (it may still be starting up or shutting down)."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The server's (postmaster's) PID while running."""
        return self._proc.pid if self.is_running() and self._proc is not None else None

    def cleanup(self) -> None:
        """Stop the server if running and delete everything it wrote. Safe to call repeatedly."""
        if self._cleaned:
            return
        self._cleaned = True
        atexit.unregister(self.cleanup)
        try:
            self.stop()  # kills the server itself if a clean stop times out
        finally:
            self._remove_files()

    def _remove_files(self) -> None:
        """Delete the base dir if we created it, else only what we put inside it."""
        if self._owns_base_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)
        else:
            for path in self._owned_paths():
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)

    def _owned_paths(self) -> list[Path]:
        """Paths inside a caller-supplied base dir that this server created."""
        return [self.data_dir]

    # -- connection details -----------------------------------------------------------------------

    def info(self, database: str | None = None) -> DatabaseInfo:
        """Connection details for ``database`` (default: "test") on this server."""
        return DatabaseInfo(
            engine=self.engine,
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            database=database or self.database,
        )

    def dsn(self, database: str | None = None) -> str:
        """The database as a URL, e.g. ``postgresql://postgres@127.0.0.1:PORT/test``."""
        return self.info(database).dsn()

    def __repr__(self) -> str:
        state = "running" if self.is_running() else "stopped"
        return f"<{type(self).__name__} {self.host}:{self.port} {state} {self.data_dir}>"


# ---------------------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------------------

_PG_TOOLS = ("initdb", "postgres", "psql")


def _version_key(bindir: str) -> tuple[int, ...]:
    """Sort key: the numeric version in a path like /usr/lib/postgresql/15/bin."""
    return tuple(int(n) for n in re.findall(r"\d+", bindir)) or (0,)


def find_postgres_bindir() -> Path:
    """The newest directory holding initdb, postgres and psql (Debian, RHEL, pg_config, PATH)."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    candidates += sorted(glob.glob("/usr/pgsql-*/bin"), key=_version_key, reverse=True)
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True)
            candidates.append(out.stdout.strip())
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(str(Path(initdb).parent))
    for bindir in candidates:
        if all(os.access(Path(bindir, tool), os.X_OK) for tool in _PG_TOOLS):
            return Path(bindir)
    raise BinaryNotFoundError(
        f"PostgreSQL server binaries ({', '.join(_PG_TOOLS)}) not found under /usr/lib/postgresql/*/bin, "
        f"/usr/pgsql-*/bin or PATH; {_INSTALL_HINT}"
    )


def _best_utf8_locale() -> str:
    """C.UTF-8 when the system has it (Unicode-aware lower()/upper()), else plain C."""
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        out = subprocess.run(["locale", "-a"], capture_output=True, text=True, check=True).stdout
        if any(name.lower().replace("-", "") == "c.utf8" for name in out.split()):
            return "C.UTF-8"
    return "C"


class PostgresServer(_ManagedServer):
    """One throwaway PostgreSQL cluster, superuser "postgres" with trust auth, database "test".

    PostgreSQL refuses to run as root, so when the suite runs as root every server-side command runs
    as the ``postgres`` OS user, which then owns the base dir. A caller-supplied ``base_dir`` must be
    reachable by that user.
    """

    engine = "postgresql"
    default_user = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown, what pg_ctl stop -m fast sends
    dir_prefix = "dbmesh-test-pg-"

    def __init__(self, base_dir: Path | None = None, port: int | None = None) -> None:
        super().__init__(base_dir, port)
        self.socket_dir = self.base_dir / "sock"
        self._prepare_dirs()

    def _locate_binaries(self) -> None:
        self.bindir = find_postgres_bindir()
        self._os_user = self._resolve_os_user()

    def _resolve_os_user(self) -> pwd.struct_passwd | None:
        """The account to run as: "postgres" when we are root, else ourselves (None)."""
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam("postgres")
        except KeyError:
            raise BinaryNotFoundError(
                "running as root, but PostgreSQL refuses to run as root and there is no 'postgres' "
                f"OS user to run it as; {_INSTALL_HINT}"
            ) from None

    def _prepare_dirs(self) -> None:
        """Create the socket dir and hand the base dir to the account the server runs as."""
        self.socket_dir.mkdir(exist_ok=True)
        if self._os_user is not None:
            for path in (self.base_dir, self.socket_dir):
                os.chown(path, self._os_user.pw_uid, self._os_user.pw_gid)
        self.base_dir.chmod(0o700)

    def _popen_kwargs(self) -> dict[str, Any]:
        if self._os_user is None:
            return {}
        return {"user": self._os_user.pw_uid, "group": self._os_user.pw_gid, "extra_groups": []}

    def _owned_paths(self) -> list[Path]:
        return [self.data_dir, self.socket_dir]

    def _is_initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists() and (self.data_dir / "global" / "pg_control").exists()

    def _initialize(self) -> None:
        """initdb with the fastest safe options: trust auth, no fsync, UTF8."""
        cmd = [
            str(self.bindir / "initdb"),
            f"--pgdata={self.data_dir}",
            "--auth=trust",
            "--no-sync",
            "--encoding=UTF8",
            f"--locale={_best_utf8_locale()}",
            f"--username={self.user}",
        ]
        result = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            cwd=self.base_dir,
            env=_clean_env("PG"),
            **self._popen_kwargs(),
        )
        if result.returncode != 0:
            raise ServerError(f"initdb failed ({result.returncode}) for {self.data_dir}:\n{result.stderr}")

    def _server_command(self) -> list[str]:
        """postgres in the foreground, tuned for speed but not for losing commits on kill().

        fsync/full_page_writes off only matter if the *machine* crashes. synchronous_commit stays
        on: with it off, commits from the last ~200 ms live only in shared memory and a SIGKILL
        loses them (measured: 41 of 1001 rows), which would make crash tests flaky. With fsync off
        it costs a write() per commit (~25 us).
        """
        settings = {
            "listen_addresses": self.host,
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
            "max_prepared_transactions": "20",
            "max_connections": "200",
            "fsync": "off",
            "synchronous_commit": "on",
            "full_page_writes": "off",
        }
        cmd = [str(self.bindir / "postgres"), "-D", str(self.data_dir)]
        for key, value in settings.items():
            cmd += ["-c", f"{key}={value}"]
        return cmd

    def _is_ready(self) -> bool:
        """postmaster.pid names our process and says "ready" (exactly what pg_ctl -w checks)."""
        assert self._proc is not None
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        return len(lines) >= 8 and lines[0].strip() == str(self._proc.pid) and lines[7].strip() == "ready"

    def _kill_tree(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL the postmaster and its children, like a machine crash.

        The postmaster is frozen first so it cannot fork while its children are listed. Waiting for
        the children matters: PostgreSQL refuses to start while any of them still holds the old
        shared memory segment. (The orphans are reaped by init; a zombie counts as gone.)
        """
        proc.send_signal(signal.SIGSTOP)
        _wait_stopped(proc.pid)
        children = _children_of(proc.pid)
        proc.kill()
        proc.wait()
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        _wait_gone(children, STOP_TIMEOUT_S)

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL through psql (one ``-c`` per statement, so CREATE DATABASE works); return stdout."""
        cmd = [str(self.bindir / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
        cmd += ["-h", self.host, "-p", str(self.port), "-U", self.user, "-d", database]
        for statement in filter(None, (s.strip() for s in sql.split(";"))):
            cmd += ["-c", statement]
        result = subprocess.run(cmd, capture_output=True, text=True, env=_clean_env("PG"), timeout=60)
        if result.returncode != 0:
            raise ServerError(f"psql on port {self.port} failed: {result.stderr.strip()}")
        return result.stdout

    def create_database(self, name: str) -> None:
        self.drop_database(name)
        self.psql(f'CREATE DATABASE "{_checked_identifier(name)}"')

    def drop_database(self, name: str) -> None:
        self.psql(f'DROP DATABASE IF EXISTS "{_checked_identifier(name)}" WITH (FORCE)')


# ---------------------------------------------------------------------------------------------------
# MariaDB
# ---------------------------------------------------------------------------------------------------

ER_ACCESS_DENIED = 1045
_SBIN_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin", "/sbin"])


def find_mariadb_binaries() -> tuple[Path, Path]:
    """(mariadbd, mariadb-install-db) from PATH plus the sbin directories, or BinaryNotFoundError."""
    server = shutil.which("mariadbd", path=_SBIN_PATH)
    install_db = shutil.which("mariadb-install-db", path=_SBIN_PATH)
    if server is None or install_db is None:
        missing = [name for name, found in (("mariadbd", server), ("mariadb-install-db", install_db)) if not found]
        raise BinaryNotFoundError(
            f"MariaDB binaries not found on PATH or in sbin: {', '.join(missing)}; {_INSTALL_HINT}"
        )
    return Path(server), Path(install_db)


class MariaDBServer(_ManagedServer):
    """One throwaway MariaDB server: root with an empty password over TCP, database "test".

    Settings trade durability for speed and pin what tests depend on: utf8mb4 with MariaDB's default
    utf8mb4_general_ci collation, and time_zone +00:00.
    """

    engine = "mysql"
    default_user = "root"
    stop_signal = signal.SIGTERM  # clean shutdown
    dir_prefix = "dbmesh-test-mariadb-"

    def _locate_binaries(self) -> None:
        self.server_bin, self.install_db_bin = find_mariadb_binaries()

    def _common_args(self) -> list[str]:
        """Options that both the bootstrap and the server get (so InnoDB files match)."""
        args = [
            "--no-defaults",
            f"--datadir={self.data_dir}",
            "--innodb-buffer-pool-size=64M",
            "--innodb-log-file-size=16M",
            # 2, not 0: write the redo log to the OS at every commit (no fsync). With 0 a SIGKILL
            # loses up to a second of commits, prepared XA transactions included (measured: every
            # row of a 1000-commit burst lost), which crash and 2PC recovery tests cannot live with.
            "--innodb-flush-log-at-trx-commit=2",
            "--innodb-doublewrite=0",
            "--skip-log-bin",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_general_ci",
        ]
        if os.geteuid() == 0:
            args.append("--user=root")  # mariadbd refuses to run as root unless told to
        return args

    def _is_initialized(self) -> bool:
        return (self.data_dir / "mysql" / "user.frm").exists() or (self.data_dir / "mysql" / "global_priv.frm").exists()

    def _initialize(self) -> None:
        """mariadb-install-db with root reachable by password (empty), not only by unix socket."""
        cmd = [
            str(self.install_db_bin),
            *self._common_args(),
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--skip-name-resolve",
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, cwd=self.base_dir, env=_clean_env("MYSQL"))
        if result.returncode != 0:
            output = "\n".join((result.stdout + result.stderr).splitlines()[-LOG_TAIL_LINES:])
            raise ServerError(f"mariadb-install-db failed ({result.returncode}) for {self.data_dir}:\n{output}")

    def _server_command(self) -> list[str]:
        return [
            str(self.server_bin),
            *self._common_args(),
            f"--port={self.port}",
            f"--bind-address={self.host}",
            f"--socket={self.socket_path}",
            f"--pid-file={self.base_dir / 'mysqld.pid'}",
            "--max-connections=300",
            "--default-time-zone=+00:00",
            "--skip-name-resolve",
        ]

    def _owned_paths(self) -> list[Path]:
        return [self.data_dir, self.socket_path, self.base_dir / "mysqld.pid"]

    @property
    def socket_path(self) -> Path:
        """The server's private unix socket."""
        return self.base_dir / "mysqld.sock"

    def connect(self, database: str | None = None) -> pymysql.connections.Connection:
        """A blocking PyMySQL connection over TCP (for setup code; tests should use aiomysql)."""
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            database=database,
            autocommit=True,
            connect_timeout=5,
            read_timeout=120,
            write_timeout=120,
        )

    def _is_ready(self) -> bool:
        """A root login over the private unix socket succeeds; a refused login fails fast.

        Not over TCP: while our server is still starting (or has failed to bind), another process
        may be listening on the port, and a login attempt there could hang or mislead. The socket
        is opened here because PyMySQL leaks its own unix socket when the connect is refused.
        """
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(2)
            sock.connect(str(self.socket_path))
        except OSError:
            sock.close()
            return False
        conn = pymysql.connect(
            unix_socket=str(self.socket_path),
            user=self.user,
            password=self.password,
            read_timeout=5,
            write_timeout=5,
            defer_connect=True,
        )
        try:
            conn.connect(sock)  # closes sock itself if the handshake fails
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
        except pymysql.err.MySQLError as exc:
            if exc.args and exc.args[0] == ER_ACCESS_DENIED:
                raise self._failure(f"refused the root login: {exc}") from None
            return False
        finally:
            if conn.open:
                conn.close()
        return True

    def execute(self, sql: str, database: str | None = None) -> list[tuple[Any, ...]]:
        """Run one statement over a fresh connection and return its rows."""
        with self.connect(database) as conn, conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())

    def create_database(self, name: str) -> None:
        self.drop_database(name)
        self.execute(f"CREATE DATABASE `{_checked_identifier(name)}`")

    def drop_database(self, name: str) -> None:
        self.execute(f"DROP DATABASE IF EXISTS `{_checked_identifier(name)}`")
