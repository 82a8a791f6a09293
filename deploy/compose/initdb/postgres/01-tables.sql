-- The postgres_primary database's tables (customers and their details) in PostgreSQL's dialect:
-- the only copy. The postgres image runs it on an empty volume (/docker-entrypoint-initdb.d)
-- before 02-sample.sql; the tests and the benchmark create their tables from it (harness/ddl.py).

CREATE TABLE customers (
    id uuid PRIMARY KEY,
    email text NOT NULL UNIQUE,
    name text NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE TABLE customer_details (
    customer_id uuid PRIMARY KEY REFERENCES customers (id),
    phone text NOT NULL,
    address text NOT NULL,
    preferred_timezone text NOT NULL
);
