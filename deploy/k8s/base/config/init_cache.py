"""Create the SQLite cache database from SQL scripts, run in order, unless it exists already.

The sqlite_cache resolver refuses a missing database file, so this runs once before it: the
`init-cache` init container in Kubernetes (the tables only, sqlite-tables.sql) and the
`sqlite-cache-init` service of docker-compose.yml (the tables, then the sample rows of
deploy/sqlite/sample.sql). The file is built under a temporary name and renamed into place, so a
failed run leaves nothing that a later run would mistake for a finished cache.

usage: python init_cache.py DATABASE SCRIPT...
"""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path

USAGE = "usage: python init_cache.py DATABASE SCRIPT..."


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(USAGE, file=sys.stderr)
        return 2
    database, scripts = Path(argv[0]), [Path(a) for a in argv[1:]]
    if database.exists():
        print(f"{database}: exists, left as it is")
        return 0
    partial = database.with_name(database.name + ".partial")
    partial.unlink(missing_ok=True)
    for script in scripts:
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
    print(f"{database}: created from {', '.join(map(str, scripts))}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
