-- Sample data for docker-compose.yml: the postgres_primary database (customers and their details),
-- in the tables of 01-tables.sql. Run once by the postgres image on an empty volume.

INSERT INTO customers (id, email, name, created_at) VALUES
    ('00000000-0000-4000-8000-000000000001', 'ada.lovelace@example.com', 'Ada Lovelace', '2021-10-25 05:29:32+00'),
    ('00000000-0000-4000-8000-000000000002', 'grace.hopper@example.com', 'Grace Hopper', '2020-10-22 19:41:08+00'),
    ('00000000-0000-4000-8000-000000000003', 'linus.torvalds@example.com', 'Linus Torvalds', '2020-05-02 22:32:14+00'),
    ('00000000-0000-4000-8000-000000000004', 'barbara.liskov@example.com', 'Barbara Liskov', '2022-10-10 12:30:20+00'),
    ('00000000-0000-4000-8000-000000000005', 'ken.thompson@example.com', 'Ken Thompson', '2021-08-11 04:42:32+00'),
    ('00000000-0000-4000-8000-000000000006', 'margaret.hamilton@example.com', 'Margaret Hamilton', '2022-01-04 13:51:05+00'),
    ('00000000-0000-4000-8000-000000000007', 'dennis.ritchie@example.com', 'Dennis Ritchie', '2021-07-31 00:08:56+00'),
    ('00000000-0000-4000-8000-000000000008', 'frances.allen@example.com', 'Frances Allen', '2021-03-03 16:02:33+00'),
    ('00000000-0000-4000-8000-000000000009', 'edsger.dijkstra@example.com', 'Edsger Dijkstra', '2021-12-12 21:55:41+00'),
    ('00000000-0000-4000-8000-000000000010', 'radia.perlman@example.com', 'Radia Perlman', '2021-09-02 23:24:28+00'),
    ('00000000-0000-4000-8000-000000000011', 'alan.turing@example.com', 'Alan Turing', '2021-04-09 07:16:43+00'),
    ('00000000-0000-4000-8000-000000000012', 'donald.knuth@example.com', 'Donald Knuth', '2022-03-21 16:51:47+00');

INSERT INTO customer_details (customer_id, phone, address, preferred_timezone) VALUES
    ('00000000-0000-4000-8000-000000000001', '+1-555-0001', '1 Main Street', 'Europe/Paris'),
    ('00000000-0000-4000-8000-000000000002', '+1-555-0002', '2 Main Street', 'America/New_York'),
    ('00000000-0000-4000-8000-000000000003', '+1-555-0003', '3 Main Street', 'Asia/Tokyo'),
    ('00000000-0000-4000-8000-000000000005', '+1-555-0005', '5 Main Street', 'Europe/Paris'),
    ('00000000-0000-4000-8000-000000000006', '+1-555-0006', '6 Main Street', 'America/New_York'),
    ('00000000-0000-4000-8000-000000000007', '+1-555-0007', '7 Main Street', 'Asia/Tokyo'),
    ('00000000-0000-4000-8000-000000000009', '+1-555-0009', '9 Main Street', 'Europe/Paris'),
    ('00000000-0000-4000-8000-000000000010', '+1-555-0010', '10 Main Street', 'America/New_York'),
    ('00000000-0000-4000-8000-000000000011', '+1-555-0011', '11 Main Street', 'Asia/Tokyo');
