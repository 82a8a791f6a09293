"""The benchmark's own throwaway PostgreSQL and MariaDB servers (never the machine's own services).

They are `harness/servers.py`'s servers, the test suite's too (private data dirs, free ports,
started from the installed binaries, cleaned up even on failure) with a bigger InnoDB buffer pool,
so that the 100,000 orders and 300,000 items stay in memory as the 10,000 customers do in
PostgreSQL's default 128 MB of shared buffers: the benchmark measures dbmesh, not the disk.
"""

from __future__ import annotations

from harness.servers import DatabaseInfo, MariaDBServer, PostgresServer, ServerError

__all__ = ["BenchMariaDB", "BenchPostgres", "DatabaseInfo", "ServerError"]

INNODB_BUFFER_POOL = "512M"


class BenchPostgres(PostgresServer):
    dir_prefix = "dbmesh-bench-pg-"


class BenchMariaDB(MariaDBServer):
    dir_prefix = "dbmesh-bench-mariadb-"

    def _common_args(self) -> list[str]:
        return [
            f"--innodb-buffer-pool-size={INNODB_BUFFER_POOL}" if arg.startswith("--innodb-buffer-pool-size=") else arg
            for arg in super()._common_args()
        ]
