-- The mysql_historical database's tables (orders and their items) in MySQL/MariaDB's dialect: the
-- only copy. The mariadb image runs it on an empty volume (/docker-entrypoint-initdb.d, in
-- MYSQL_DATABASE) before 02-sample.sql; the tests and the benchmark create their tables from it
-- (harness/ddl.py).

CREATE TABLE orders (
    id CHAR(36) PRIMARY KEY,
    customer_id CHAR(36) NOT NULL,
    order_date DATE NOT NULL,
    total_amount DECIMAL(10, 2) NOT NULL,
    INDEX orders_customer (customer_id),
    INDEX orders_date (order_date)
);

CREATE TABLE order_items (
    order_id CHAR(36) NOT NULL,
    product_id CHAR(36) NOT NULL,
    quantity INT NOT NULL,
    price DECIMAL(10, 2) NOT NULL,
    PRIMARY KEY (order_id, product_id)
);
