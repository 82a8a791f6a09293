"""The federation's tables (customers, customer_details, orders, order_items), read from the SQL
files deploy/ ships: one file per engine dialect, the only copies, so that the tests and the
benchmark create exactly the tables that compose, Kubernetes and `dbmesh demo` create.

- PostgreSQL: customers and customer_details (what postgres_primary holds);
- MySQL/MariaDB: orders and order_items (what mysql_historical holds);
- SQLite: all four (what the cache and the demo's databases are made from).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["MYSQL", "POSTGRESQL", "SQLITE", "statements"]

_DEPLOY = Path(__file__).resolve().parents[1] / "deploy"

POSTGRESQL = _DEPLOY / "compose" / "initdb" / "postgres" / "01-tables.sql"
MYSQL = _DEPLOY / "compose" / "initdb" / "mysql" / "01-tables.sql"
SQLITE = _DEPLOY / "k8s" / "base" / "config" / "sqlite-tables.sql"


def statements(path: Path) -> list[str]:
    """The file's statements one by one, without comments: for drivers that run one statement per
    call (PyMySQL, aiomysql). The files hold DDL only, with no `;` or `--` inside a literal."""
    lines = [line.split("--", 1)[0] for line in path.read_text(encoding="utf-8").splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
