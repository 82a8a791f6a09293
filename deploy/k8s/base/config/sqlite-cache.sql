-- The sqlite_cache database's tables, created empty on the cache's volume by the init-cache init
-- container when the file does not exist yet (deploy/k8s/base/config/init_cache.py). Filling the
-- cache from postgres_primary is a job of its own; the sample rows are compose's only.
BEGIN;

CREATE TABLE IF NOT EXISTS customers (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

COMMIT;
