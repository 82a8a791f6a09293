-- Sample data for docker-compose.yml: the sqlite_cache database, a copy of some customers that
-- answers when postgres_primary is down. The sqlite-cache-init service runs init_cache.py with the
-- tables (deploy/k8s/base/config/sqlite-tables.sql), then this.

BEGIN;

INSERT INTO customers (id, email, name, created_at) VALUES
    ('00000000-0000-4000-8000-000000000001', 'ada.lovelace@example.com', 'Ada Lovelace', '2021-10-25 05:29:32'),
    ('00000000-0000-4000-8000-000000000002', 'grace.hopper@example.com', 'Grace Hopper', '2020-10-22 19:41:08'),
    ('00000000-0000-4000-8000-000000000003', 'linus.torvalds@example.com', 'Linus Torvalds', '2020-05-02 22:32:14'),
    ('00000000-0000-4000-8000-000000000004', 'barbara.liskov@example.com', 'Barbara Liskov', '2022-10-10 12:30:20'),
    ('00000000-0000-4000-8000-000000000005', 'ken.thompson@example.com', 'Ken Thompson', '2021-08-11 04:42:32'),
    ('00000000-0000-4000-8000-000000000006', 'margaret.hamilton@example.com', 'Margaret Hamilton', '2022-01-04 13:51:05'),
    ('00000000-0000-4000-8000-000000000007', 'dennis.ritchie@example.com', 'Dennis Ritchie', '2021-07-31 00:08:56'),
    ('00000000-0000-4000-8000-000000000008', 'frances.allen@example.com', 'Frances Allen', '2021-03-03 16:02:33');

COMMIT;
