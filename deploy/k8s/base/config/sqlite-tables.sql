-- The federation's tables in SQLite's dialect: the only copy. Used by
--   - the init-cache init container (Kubernetes) and the sqlite-cache-init service (compose),
--     which create the sqlite_cache database from it with init_cache.py (compose adds the sample
--     rows of deploy/sqlite/sample.sql; filling the cache from postgres_primary is a job of its own);
--   - `dbmesh demo`, whose three SQLite databases are made from it (dbmesh/demo/tables.sql links
--     here, so the wheel ships it);
--   - the tests and the benchmark (harness/ddl.py).
-- Every database made from it has all four tables; each serves those the schema routes to it.
BEGIN;

CREATE TABLE IF NOT EXISTS customers (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS customer_details (
    customer_id TEXT PRIMARY KEY REFERENCES customers (id),
    phone TEXT NOT NULL,
    address TEXT NOT NULL,
    preferred_timezone TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS orders (
    id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    order_date DATE NOT NULL,
    total_amount DECIMAL(10, 2) NOT NULL
);

CREATE INDEX IF NOT EXISTS orders_customer ON orders (customer_id);
CREATE INDEX IF NOT EXISTS orders_date ON orders (order_date);

CREATE TABLE IF NOT EXISTS order_items (
    order_id TEXT NOT NULL REFERENCES orders (id),
    product_id TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    price DECIMAL(10, 2) NOT NULL,
    PRIMARY KEY (order_id, product_id)
);

COMMIT;
