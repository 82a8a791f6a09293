"""Names (docs/reference.md §4 "Types" and "Names"): snake_case, camelCase and table names."""

from __future__ import annotations

import pytest

from dbmesh.schema.naming import pluralize, table_name, to_camel, to_snake


@pytest.mark.parametrize(
    ("name", "snake"),
    [
        ("Customer", "customer"),
        ("OrderItem", "order_item"),
        ("CustomerWithHistory", "customer_with_history"),
        ("HTTPStatus", "http_status"),
        ("Order2Item", "order2_item"),
        ("orderDate", "order_date"),
        ("order_date", "order_date"),
    ],
)
def test_to_snake(name: str, snake: str) -> None:
    assert to_snake(name) == snake


@pytest.mark.parametrize(
    ("name", "camel"),
    [
        ("all_orders", "allOrders"),
        ("order_date", "orderDate"),
        ("latency_ms", "latencyMs"),
        ("id", "id"),
        ("customer_id", "customerId"),
        ("user_ID", "userID"),
        ("from_", "from"),
        ("_private_thing", "_privateThing"),
        ("a__b", "aB"),
    ],
)
def test_to_camel(name: str, camel: str) -> None:
    assert to_camel(name) == camel


@pytest.mark.parametrize(
    ("class_name", "table"),
    [
        ("Customer", "customers"),
        ("OrderItem", "order_items"),
        ("CustomerDetails", "customer_details"),
        ("Category", "categories"),
        ("Day", "days"),
        ("Address", "addresses"),
        ("Box", "boxes"),
        ("Match", "matches"),
        ("Wish", "wishes"),
        ("Status", "statuses"),
        ("OrderStatus", "order_statuses"),
        ("Bus", "buses"),
        ("Alias", "aliases"),
        ("Analysis", "analyses"),
        ("Axis", "axes"),
        ("Settings", "settings"),
        ("News", "news"),
        ("Categories", "categories"),
    ],
)
def test_table_name(class_name: str, table: str) -> None:
    assert table_name(class_name) == table


def test_pluralize_is_idempotent_on_plurals() -> None:
    for word in ("customers", "addresses", "categories", "statuses", "analyses"):
        assert pluralize(word) == word
