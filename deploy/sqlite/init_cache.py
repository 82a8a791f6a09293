"""Create the SQLite cache database from an SQL script, unless it exists already.

The sqlite_cache resolver refuses a missing database file, so this runs once before it: the
`sqlite-cache-init` service of docker-compose.yml (sample rows from deploy/sqlite/cache.sql) and the
`init-cache` init container in Kubernetes (tables only; deploy/k8s/base/config/ holds a copy of this
file). The file is built under a temporary name and renamed into place, so a failed run leaves
nothing that a later run would mistake for a finished cache.

usage: python init_cache.py DATABASE SCRIPT
"""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python init_cache.py DATABASE SCRIPT", file=sys.stderr)
        return 2
    database, script = Path(argv[0]), Path(argv[1])
    if database.exists():
        print(f"{database}: exists, left as it is")
        return 0
    partial = database.with_name(database.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        sql = script.read_text(encoding="utf-8")
        conn = sqlite3.connect(partial)
        try:
            conn.executescript(sql)
        finally:
            conn.close()
    except (OSError, sqlite3.Error) as exc:
        partial.unlink(missing_ok=True)
        print(f"init_cache: {database} from {script}: {exc}", file=sys.stderr)
        return 1
    os.replace(partial, database)
    print(f"{database}: created from {script}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
